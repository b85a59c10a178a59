"""What ``labtorch init ROOM`` writes: a room's inventory and its group data, every setting shown.

``inventory/<room>.py`` lists the room's PCs in one group named after the room (plus the
Ansible groups with ``--from-ansible``); ``inventory/group_data/<room>.py`` sets every labtorch
setting for that group to its default, each with one line saying what it means, so that the
admin edits values instead of looking names up. Nothing is ever overwritten: when a file exists,
:func:`write_room` stops before writing anything and names it.

>>> "labtorch_torch_spec" in group_data_text("b204")
True
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError
from labtorch.roles.settings import DEFAULTS

#: One line of meaning per setting (the reference page docs/reference/settings.md says more).
MEANINGS: dict[str, str] = {
    "labtorch_torch_spec": 'torch release: "latest", "2.7", "==2.7.1" or a range ">=2.5,<2.8"',
    "labtorch_python": "Python of the env; None: newest the release supports, up to python_max",
    "labtorch_python_max": "newest Python labtorch picks on its own",
    "labtorch_mirror": "mirror row of data/mirrors.yaml: official, tuna, bfsu, aliyun, ustc, ...",
    "labtorch_pytorch_index_url": "your own PyTorch wheel index (with {variant}); None: mirror's",
    "labtorch_pypi_index_url": "your own PyPI index (simple API); None: the mirror's",
    "labtorch_driver_floor": '"minor" (CUDA minor-version compatibility) or "toolkit" (strict)',
    "labtorch_allow_cpu": "plan a CPU build where no GPU build fits (with a warning)",
    "labtorch_include_torchvision": "install torchvision beside torch",
    "labtorch_include_torchaudio": "install torchaudio beside torch",
    "labtorch_env_name": "name of the conda env torch goes into",
    "labtorch_conda_flavor": '"miniforge" or "miniconda"',
    "labtorch_conda_version": "installer version; None: the pin of data/installers.yaml",
    "labtorch_install_scope": '"all": /opt/<flavor> (C:\\labtorch); "user": the SSH user\'s home',
    "labtorch_conda_prefix": "conda folder; None: derived from the scope (ASCII, no spaces)",
    "labtorch_installer_mirror": "directory URL serving the pinned installer file; None: official",
    "labtorch_installer_sha256": "sha256 of the installer; None: data/installers.yaml's pin",
    "labtorch_adopt_conda": "use a complete conda install labtorch did not make",
    "labtorch_accept_defaults_tos": "Miniconda only: accept Anaconda's ToS for `defaults`",
    "labtorch_conda_channels": "conda channels, in order",
    "labtorch_conda_channel_url": "channel server; None: the mirror row's (official: anaconda.org)",
    "labtorch_condarc_mode": '"persistent" (.condarc) or "per-command" (-c on each command)',
    "labtorch_kernel_scope": '"all": system-wide Jupyter kernel; "user": the SSH user\'s',
    "labtorch_kernel_name": "Jupyter kernel name; None: the env name",
    "labtorch_kernel_display_name": 'kernel name users see; None: "Python (<env name>)"',
    "labtorch_ipykernel_spec": "pip requirement for ipykernel",
    "labtorch_pip_extra_args": 'extra pip arguments, e.g. ("--no-compile",)',
    "labtorch_min_free_mib": "refuse to start a conda install with less free disk (MiB)",
    "labtorch_os": 'None: detect; "windows" for PCs where uname does not exist',
    "labtorch_verify_timeout": "seconds the on-host verification may run",
    "labtorch_verify_kernel_timeout": "seconds the verification waits for the Jupyter kernel",
    "labtorch_room": "room name in check reports; None: the inventory file's name",
    "labtorch_lock_file": "room lock the deploy and check follow (labtorch lock update); None",
    "labtorch_lock_newer_is_drift": "a newer release than the lock's counts as drift in the check",
    "labtorch_cache_url": "room cache (labtorch cache serve) all downloads go through; None: off",
    "labtorch_cache_fallback": "a host that cannot reach the cache fetches from upstream instead",
    "labtorch_wheel_dir": "controller folder of hand-downloaded wheels, served by the room cache",
    "labtorch_connect_timeout": "seconds to open a connection to a mirror",
    "labtorch_stall_timeout": "seconds without a byte before a download try is given up",
    "labtorch_net_retries": "tries after the first, per URL, with growing pauses",
    "labtorch_command_timeout": "seconds one remote command may run before the host kills it",
    "labtorch_fallback_mirrors": "data/mirrors.yaml rows tried in order after the site's mirror",
    "labtorch_installer_fallback_urls": "installer folders tried before the fallback mirrors",
    "labtorch_pypi_fallback_urls": "PyPI indexes tried before the fallback mirrors",
}

#: Settings read outside :data:`DEFAULTS` (verify role, check), with their defaults.
EXTRA_DEFAULTS: dict[str, Any] = {
    "labtorch_verify_timeout": 300,
    "labtorch_verify_kernel_timeout": 60,
    "labtorch_room": None,
}

_ROOM = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_WINDOWS_CONNECTION = {
    "ssh_user": ("labadmin", "local administrator account the bootstrap script prepared"),
    "ssh_key": ("~/.ssh/labtorch_ed25519", "the admin's SSH key (never a password)"),
}
_LINUX_CONNECTION = {
    "ssh_user": ("labadmin", "account labtorch logs in as (key only, passwordless sudo)"),
    "ssh_key": ("~/.ssh/labtorch_ed25519", "the admin's SSH key (never a password)"),
    "_sudo": (True, "run the roles with sudo (False when ssh_user is root)"),
}


def all_settings() -> dict[str, Any]:
    """Every labtorch setting with its default, in the order the docs list them."""
    return {**DEFAULTS, **{k: v for k, v in EXTRA_DEFAULTS.items() if k not in DEFAULTS}}


def check_room_name(room: str) -> str:
    """A room name is a pyinfra group name: a Python identifier (``b204``, ``lab_a``)."""
    if not _ROOM.match(room) or keyword.iskeyword(room):
        raise LabtorchError(f"room name {room!r} is not usable as a group name",
                            fix="use letters, digits and '_', starting with a letter "
                                "(e.g. b204 or lab_a)")
    return room


def group_data_text(room: str, *, windows: bool = False) -> str:
    """``group_data/<room>.py``: connection settings, then every labtorch setting."""
    lines = [
        f'"""Settings of room {room} (pyinfra group data of the group {room!r}).',
        "",
        "Every labtorch setting is here with its default and what it means: change the values",
        "your site needs. A host's own data in inventory/{room}.py overrides these. Never put"
        .replace("{room}", room),
        'passwords here: labtorch connects with SSH keys and no setting needs a secret.',
        '"""',
        "",
        "# How to reach the PCs",
    ]
    for key, (value, meaning) in (_WINDOWS_CONNECTION if windows else _LINUX_CONNECTION).items():
        lines.append(f"{key} = {value!r}  # {meaning}")
    lines.append("")
    lines.append("# labtorch settings (default, meaning)")
    settings = all_settings()
    if windows:
        settings["labtorch_os"] = "windows"
    for key, value in settings.items():
        meaning = MEANINGS.get(key, "see docs/reference/settings.md")
        if windows and key == "labtorch_os":
            meaning = "these PCs run Windows (reached by the @winssh connector)"
        lines.append(f"{key} = {value!r}  # {meaning}")
    return "\n".join(lines) + "\n"


def inventory_text(room: str, *, windows: bool = False) -> str:
    """``inventory/<room>.py``: the room's PCs, one example line for the admin to replace."""
    example = (f'("@winssh/{room}-pc01.example.edu", {{}})' if windows
               else f'("{room}-pc01.example.edu", {{}})')
    return "\n".join([
        f'"""Room {room}: the PCs labtorch provisions. Settings: group_data/{room}.py.',
        "",
        f"    pyinfra inventory/{room}.py labtorch.deploys.room --dry   # plan, pending changes",
        f"    pyinfra inventory/{room}.py labtorch.deploys.room         # provision",
        f"    labtorch check inventory/{room}.py                        # re-check",
        "",
        "One entry per PC: (host name or address, {per-host settings}). "
        + ("Windows PCs are written @winssh/NAME." if windows else ""),
        '"""',
        "",
        f"{room} = [",
        f"    {example},  # replace with your PCs",
        "]",
        "",
    ])


@dataclass(frozen=True)
class RoomFiles:
    """The files of one room: where they go and what they hold."""

    inventory: Path
    group_data: Path
    inventory_text: str
    group_data_text: str
    notes: tuple[str, ...] = ()
    ssh_config: Path | None = None
    ssh_config_text: str = ""


def room_files(room: str, folder: Path, *, windows: bool = False,
               ansible: str | None = None) -> RoomFiles:
    """The files ``labtorch init`` writes for ``room`` under ``folder`` (``inventory/``)."""
    check_room_name(room)
    notes: tuple[str, ...] = ()
    text = inventory_text(room, windows=windows)
    ssh_config: Path | None = None
    ssh_text = ""
    if ansible is not None:
        from labtorch.inventory_ansible import (
            read_ansible_inventory,
            render_inventory,
            ssh_config_text,
            with_ssh_config,
        )

        mapped = read_ansible_inventory(ansible)
        if mapped.ssh_options:  # ProxyJump & co. reach pyinfra through an ssh_config
            ssh_config = folder / f"{room}.ssh_config"
            ssh_text = ssh_config_text(mapped, ansible)
            mapped = with_ssh_config(mapped, ssh_config)
        text = render_inventory(mapped, ansible, room_name=room)
        notes = mapped.warnings
        windows = windows or (bool(mapped.hosts) and all(
            d.get("labtorch_os") == "windows" for d in mapped.hosts.values()))
    return RoomFiles(folder / f"{room}.py", folder / "group_data" / f"{room}.py", text,
                     group_data_text(room, windows=windows), notes, ssh_config, ssh_text)


def write_room(files: RoomFiles) -> None:
    """Write both files; refuse (writing nothing) when either exists."""
    for path in (files.inventory, files.group_data, files.ssh_config):
        if path is not None and path.exists():
            raise LabtorchError(f"{path} already exists; labtorch init never overwrites a file",
                                fix="edit that file, remove it, or choose another room name")
    files.group_data.parent.mkdir(parents=True, exist_ok=True)
    files.inventory.write_text(files.inventory_text, encoding="utf-8")
    files.group_data.write_text(files.group_data_text, encoding="utf-8")
    if files.ssh_config is not None:
        files.ssh_config.write_text(files.ssh_config_text, encoding="utf-8")
