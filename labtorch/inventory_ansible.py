"""Use a room's existing Ansible inventory (INI or YAML, with group_vars/host_vars) as is.

Ansible itself reads the inventory: ``ansible-inventory -i SOURCE --list`` (ansible-core, run as
a program, the way testinfra does it) prints every host with its variables already merged from
group_vars and host_vars in Ansible's own precedence. This module maps that onto pyinfra:

=================================  ===========================================================
Ansible                            pyinfra / labtorch
=================================  ===========================================================
``ansible_host``                   ``ssh_hostname``
``ansible_user``                   ``ssh_user``
``ansible_port``                   ``ssh_port``
``ansible_ssh_private_key_file``   ``ssh_key``
``ansible_become`` / ``_user``     ``_sudo`` / ``_sudo_user``
``ansible_connection=local``       the host becomes ``@local``
``ansible_connection=winrm|psrp``  ``@winssh/<host>`` in group ``windows`` (reached over
or ``ansible_shell_type=            OpenSSH by the winssh connector, not WinRM)
powershell|cmd``
groups (children flattened)        groups of the same name (``-`` and other characters → ``_``)
``labtorch_*`` and other vars      copied as host data
=================================  ===========================================================

Passwords are never copied: ``ansible_password``, ``ansible_ssh_pass``,
``ansible_become_password`` and their aliases are dropped with a warning naming the host and the
variable (never the value). labtorch connects with SSH keys and needs passwordless sudo.

>>> room = map_inventory({"_meta": {"hostvars": {"pc01": {"ansible_host": "10.0.0.11",
...     "ansible_port": 2222, "ansible_password": "x"}}}, "all": {"children": ["lab"]},
...     "lab": {"hosts": ["pc01"]}})
>>> room.hosts["pc01"]
{'ssh_hostname': '10.0.0.11', 'ssh_port': 2222}
>>> room.groups
{'lab': ['pc01']}
>>> room.warnings
('pc01: ansible_password is set in the Ansible inventory and was not copied (labtorch never \
copies passwords); use an SSH key (ansible_ssh_private_key_file) instead',)
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError

#: The environment variable ``inventory/ansible.py`` reads.
ENV_SOURCE = "LABTORCH_ANSIBLE_INVENTORY"
ENV_VAULT = "LABTORCH_ANSIBLE_VAULT_PASSWORD_FILE"

DIRECT = {
    "ansible_host": "ssh_hostname",
    "ansible_ssh_host": "ssh_hostname",
    "ansible_user": "ssh_user",
    "ansible_ssh_user": "ssh_user",
    "ansible_port": "ssh_port",
    "ansible_ssh_port": "ssh_port",
    "ansible_ssh_private_key_file": "ssh_key",
    "ansible_private_key_file": "ssh_key",
    "ansible_become_user": "_sudo_user",
    "ansible_sudo_user": "_sudo_user",
}
PASSWORDS = (
    "ansible_password", "ansible_ssh_pass", "ansible_ssh_password", "ansible_pass",
    "ansible_become_password", "ansible_become_pass", "ansible_sudo_pass",
    "ansible_sudo_password", "ansible_su_pass", "ansible_su_password",
    "ansible_winrm_password", "ansible_psrp_password", "ansible_httpapi_pass",
)
SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh", "openssh")
WINDOWS_CONNECTIONS = ("winrm", "psrp")
WINDOWS_SHELLS = ("powershell", "cmd", "pwsh")
#: Ansible settings with no pyinfra equivalent that change how a host is reached.
UNMAPPED_REACH = ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args",
                  "ansible_ssh_executable", "ansible_become_method")
WINDOWS_GROUP = "windows"


@dataclass(frozen=True)
class AnsibleRoom:
    """A room read from an Ansible inventory.

    ``hosts`` maps each pyinfra host name to its data, ``groups`` each group to its hosts (in
    inventory order), ``warnings`` says what was not copied and why, ``skipped`` lists hosts that
    cannot be reached by labtorch (with the reason).
    """

    hosts: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]
    warnings: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)


def run_ansible_inventory(source: str | os.PathLike[str], *,
                          vault_password_file: str | None = None) -> dict[str, Any]:
    """Run ``ansible-inventory -i SOURCE --list`` and return its JSON.

    Raises :class:`LabtorchError` when ansible-core is missing, the source does not exist, or
    Ansible cannot read it (with Ansible's own words).
    """
    path = Path(source)
    if not path.exists():
        raise LabtorchError(f"Ansible inventory {str(source)!r} does not exist",
                            fix=f"set {ENV_SOURCE} to your inventory file or folder")
    program = shutil.which("ansible-inventory")
    if program is None:
        beside = Path(sys.executable).with_name("ansible-inventory")  # the venv's copy
        program = str(beside) if beside.exists() else None
    if program is None:
        raise LabtorchError("ansible-inventory is not installed",
                            fix="pip install ansible-core (labtorch depends on it)")
    command = [program, "-i", str(path), "--list"]
    if vault_password_file:
        command += ["--vault-password-file", vault_password_file]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
           "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                            timeout=300)
    if result.returncode != 0:
        said = " ".join(result.stderr.split())[-600:] or f"exit status {result.returncode}"
        raise LabtorchError(f"ansible-inventory could not read {str(source)!r}: {said}",
                            fix="check it with: ansible-inventory -i "
                            f"{source} --list")
    try:
        listed = json.loads(result.stdout)
    except json.JSONDecodeError as err:
        raise LabtorchError(f"ansible-inventory printed no JSON for {str(source)!r} ({err.msg})",
                            fix="check it with: ansible-inventory -i "
                            f"{source} --list") from err
    return listed if isinstance(listed, dict) else {}


def group_name(name: str) -> str:
    """A pyinfra group name (a Python identifier) for an Ansible group name.

    >>> group_name("lab-a"), group_name("2nd_floor"), group_name("class")
    ('lab_a', 'g_2nd_floor', 'class_')
    """
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = f"g_{text}"
    if keyword.iskeyword(text):
        text += "_"
    return text


def _members(listed: Mapping[str, Any], group: str, seen: set[str] | None = None) -> list[str]:
    """Every host of ``group``, its children's included, in order, once."""
    seen = set() if seen is None else seen
    if group in seen:
        return []
    seen.add(group)
    entry = listed.get(group) or {}
    hosts = list(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        hosts += [h for h in _members(listed, child, seen) if h not in hosts]
    return hosts


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def map_host(name: str, hostvars: Mapping[str, Any]) -> tuple[str | None, dict[str, Any],
                                                               list[str]]:
    """Map one Ansible host: (pyinfra host name or None when it cannot be reached, data, warnings).

    Warnings name the host and the variable, never a password's value.
    """
    warnings: list[str] = []
    data: dict[str, Any] = {}
    connection = str(hostvars.get("ansible_connection") or "ssh").lower()
    shell = str(hostvars.get("ansible_shell_type") or "").lower()
    pyinfra_name: str | None = name
    for key in PASSWORDS:
        if key in hostvars:
            warnings.append(f"{name}: {key} is set in the Ansible inventory and was not copied "
                            "(labtorch never copies passwords); "
                            + ("allow passwordless sudo for the SSH user instead"
                               if "become" in key or "sudo" in key or "su_" in key
                               else "use an SSH key (ansible_ssh_private_key_file) instead"))
    for key, value in hostvars.items():
        if key in PASSWORDS:
            continue
        if isinstance(value, str) and "{{" in value:
            warnings.append(f"{name}: {key} is an Ansible template ({value!r}) and was not "
                            "copied; set the rendered value in host_vars")
            continue
        if key in DIRECT:
            data[DIRECT[key]] = int(value) if DIRECT[key] == "ssh_port" else value
        elif key in ("ansible_become", "ansible_sudo"):
            data["_sudo"] = _flag(value)
        elif key in UNMAPPED_REACH:
            warnings.append(f"{name}: {key} has no pyinfra equivalent and was ignored; put it in "
                            "~/.ssh/config for this host if it is needed")
        elif key.startswith("ansible_") or key in ("inventory_hostname", "group_names"):
            continue
        elif key.isidentifier():
            data[key] = value
    if connection == "local":
        pyinfra_name = "@local"
    elif connection in WINDOWS_CONNECTIONS or shell in WINDOWS_SHELLS:
        # reached over OpenSSH by labtorch's winssh connector (encoded PowerShell)
        pyinfra_name = f"@winssh/{name}"
        data.setdefault("ssh_hostname", name)
        data["labtorch_os"] = "windows"
        if connection in WINDOWS_CONNECTIONS:
            warnings.append(f"{name}: ansible_connection={connection}; labtorch reaches Windows "
                            "PCs over OpenSSH (port 22) instead of WinRM")
    elif connection not in SSH_CONNECTIONS:
        return None, {}, [*warnings, f"{name}: ansible_connection={connection} is not supported "
                          "by labtorch (ssh, local, winrm are); host left out"]
    return pyinfra_name, data, warnings


def map_inventory(listed: Mapping[str, Any]) -> AnsibleRoom:
    """Map ``ansible-inventory --list`` JSON onto pyinfra hosts, data and groups."""
    hostvars: Mapping[str, Mapping[str, Any]] = (listed.get("_meta") or {}).get("hostvars") or {}
    order = _members(listed, "all")
    order += [h for h in hostvars if h not in order]
    hosts: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    warnings: list[str] = []
    skipped: dict[str, str] = {}
    for host in order:
        mapped, data, said = map_host(host, hostvars.get(host) or {})
        warnings += said
        if mapped is None:
            skipped[host] = said[-1]
            continue
        hosts[mapped] = data
        names[host] = mapped
    groups: dict[str, list[str]] = {}
    for group in listed:
        if group in ("_meta", "all", "ungrouped"):
            continue
        members = [names[h] for h in _members(listed, group) if h in names]
        if not members:
            continue
        pyinfra_group = group_name(group)
        if pyinfra_group != group:
            warnings.append(f"Ansible group {group!r} is called {pyinfra_group!r} in pyinfra "
                            "(group names must be Python identifiers)")
        groups.setdefault(pyinfra_group, [])
        groups[pyinfra_group] += [h for h in members if h not in groups[pyinfra_group]]
    windows = [h for h, data in hosts.items() if data.get("labtorch_os") == "windows"]
    if windows:
        groups.setdefault(WINDOWS_GROUP, [])
        groups[WINDOWS_GROUP] += [h for h in windows if h not in groups[WINDOWS_GROUP]]
    return AnsibleRoom(hosts, groups, tuple(warnings), skipped)


def read_ansible_inventory(source: str | os.PathLike[str], *,
                           vault_password_file: str | None = None) -> AnsibleRoom:
    """Read an Ansible inventory file or folder into an :class:`AnsibleRoom`."""
    return map_inventory(run_ansible_inventory(source, vault_password_file=vault_password_file))


def pyinfra_groups(room: AnsibleRoom) -> dict[str, Any]:
    """Module-level names for a pyinfra inventory file: ``all`` carries each host's data.

    ``all`` is ``([(host, data), ...], {})``; every other group is a list of host names.
    """
    groups: dict[str, Any] = {"all": ([(h, dict(d)) for h, d in room.hosts.items()], {})}
    for name, members in room.groups.items():
        if name == "all":
            continue
        groups[name] = list(members)
    return groups


def render_inventory(room: AnsibleRoom, source: str) -> str:
    """A static pyinfra inventory file (Python) for ``room``, e.g. for ``-o room.py``."""
    lines = [
        f'"""pyinfra inventory generated by labtorch from the Ansible inventory {source}.',
        "",
        "Regenerate with `labtorch inventory from-ansible` rather than editing by hand.",
    ]
    lines += [f"Not copied: {w}" for w in room.warnings]
    lines += ['"""', ""]
    for name, value in pyinfra_groups(room).items():
        lines.append(f"{name} = {value!r}")
    return "\n".join(lines) + "\n"
