"""What `labtorch lab up` writes for tools: a pyinfra inventory and an OpenSSH client config.

``inventory.py`` (pyinfra)::

    lab = [("pc01", {"ssh_hostname": "127.77.42.1", "ssh_user": "root", ...}), ...]
    linux = ["pc01", ...]
    gpu_pascal = ["pc01"]          # one group per GPU family of the room

Every host carries ``labtorch_simulated = True``, ``labtorch_lab_profile``,
``labtorch_lab_family`` and ``labtorch_lab_mirror`` (``{"base", "pypi", "pytorch",
"installers"}``; ``pytorch`` holds ``{variant}``), and the site settings a real room keeps in
group_data, derived from the lab's mirror (:func:`site_settings`), so that this file is the one to
deploy with: ``pyinfra .lab/inventory.py labtorch.deploys.room`` downloads nothing from outside
the lab. Host keys are pinned in ``known_hosts`` (strict checking); login is by key only.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from labtorch.lab.hosts import Host


class Lab(Protocol):
    """What these writers read of a lab (``labtorch.lab.control.Lab`` has it). A protocol, so
    that this module never imports ``control`` (which imports this one)."""

    @property
    def state_dir(self) -> Path: ...

    @property
    def name(self) -> str: ...

    @property
    def block(self) -> int: ...

    @property
    def hosts(self) -> Sequence[Host]: ...

    @property
    def mirror(self) -> dict[str, Any]: ...

    @property
    def ssh_key(self) -> Path: ...

    @property
    def known_hosts(self) -> Path: ...

    @property
    def mirror_urls(self) -> dict[str, str]: ...


def site_settings(mirror: dict[str, Any]) -> dict[str, Any]:
    """The labtorch settings a deploy to the lab needs, derived from its ``mirror`` record:

    - PyPI, PyTorch wheel index and installer directory: the lab mirror's URLs;
    - the installer: the lab's conda STAND-IN (tests/standins/conda), pinned by the sha256 of the
      bytes the lab publishes (computed here, on the controller, from the mirror's own files);
    - torch 2.13 (the only release the lab mirror carries) without torchvision/torchaudio, Python
      3.11 (the stand-in's envs are venvs of the hosts' /usr/bin/python3), per-user installs
      (each simulated host has its own home; /opt is shared by all of them), ``--no-compile``.
    """
    settings: dict[str, Any] = {
        "labtorch_torch_spec": "2.13",
        "labtorch_python": "3.11",
        "labtorch_include_torchvision": False,
        "labtorch_include_torchaudio": False,
        "labtorch_install_scope": "user",
        "labtorch_kernel_scope": "user",
        "labtorch_pip_extra_args": ("--no-compile",),
    }
    urls = mirror.get("urls") or {}
    if urls:
        settings.update(labtorch_pytorch_index_url=urls["pytorch"],
                        labtorch_pypi_index_url=urls["pypi"],
                        labtorch_installer_mirror=urls["installers"])
    folder = mirror.get("installers_dir")
    installers = sorted(Path(folder).glob("Miniforge3-*-Linux-*.sh")) if folder else []
    if installers:
        path = installers[0]
        settings["labtorch_conda_version"] = path.name[len("Miniforge3-"):].rsplit("-Linux-", 1)[0]
        settings["labtorch_installer_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return settings


def host_data(lab: Lab) -> dict[str, dict[str, Any]]:
    """The pyinfra data of every host, by host name (connection, lab facts, site settings)."""
    common = {
        **site_settings(lab.mirror),
        "ssh_user": "root",
        "ssh_key": str(lab.ssh_key),
        "ssh_known_hosts_file": str(lab.known_hosts),
        "ssh_strict_host_key_checking": "yes",
        "labtorch_simulated": True,
        "labtorch_lab_name": lab.name,
        "labtorch_lab_mirror": lab.mirror_urls,
    }
    return {
        h.name: {**common, "ssh_hostname": h.address, "ssh_port": h.port,
                 "labtorch_lab_profile": h.profile, "labtorch_lab_family": h.family}
        for h in lab.hosts
    }


def write_inventory(lab: Lab) -> None:
    """Write ``<state>/inventory.py``: groups ``lab`` (hosts with data), ``linux``, ``gpu_*``."""
    data = host_data(lab)
    families: dict[str, list[str]] = defaultdict(list)
    for h in lab.hosts:
        families[f"gpu_{h.family.replace('-', '_')}"].append(h.name)
    lines = [
        f'"""pyinfra inventory of the simulated lab in {lab.state_dir}.',
        "",
        "Written by `labtorch lab up`; rewritten on every `up`, so do not edit. Deploy with:",
        "",
        f"    pyinfra {lab.state_dir / 'inventory.py'} labtorch.deploys.room",
        '"""',
        "",
        "lab = [",
        *(f"    ({name!r}, {row!r})," for name, row in data.items()),
        "]",
        f"linux = {[h.name for h in lab.hosts]!r}",
        *(f"{group} = {names!r}" for group, names in sorted(families.items())),
        "",
    ]
    (lab.state_dir / "inventory.py").write_text("\n".join(lines))


def write_ssh_config(lab: Lab) -> None:
    """Write ``<state>/ssh_config`` for ``ssh -F <state>/ssh_config pc01``."""
    blocks = [f"# OpenSSH client config of the simulated lab in {lab.state_dir}\n"]
    for h in lab.hosts:
        blocks.append(f"Host {h.name}\n    HostName {h.address}\n    Port {h.port}\n")
    names = " ".join(h.name for h in lab.hosts)
    blocks.append(
        f"Host {names} 127.77.{lab.block}.*\n"
        "    User root\n"
        f"    IdentityFile {lab.ssh_key}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {lab.known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
        "    PasswordAuthentication no\n"
        "    BatchMode yes\n"
        "    ConnectTimeout 10\n"
        "    LogLevel ERROR\n"
    )
    (lab.state_dir / "ssh_config").write_text("\n".join(blocks))
