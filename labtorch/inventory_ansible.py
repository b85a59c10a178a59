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
#: Ansible's extra ssh arguments: their options (ProxyJump, ports, keys, ...) are carried over
#: through an ssh_config the room uses (pyinfra's ``ssh_config_file``).
SSH_ARGS = ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
#: Ansible settings with no pyinfra equivalent that change how a host is reached.
UNMAPPED_REACH = ("ansible_ssh_executable", "ansible_become_method")
#: Short ssh flags that take a value, as ssh_config options.
_SSH_FLAGS = {"-J": "ProxyJump", "-p": "Port", "-i": "IdentityFile", "-l": "User"}
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
    ssh_options: dict[str, dict[str, str]] = field(default_factory=dict)


#: Inventory plugins labtorch lets Ansible use unless ``ANSIBLE_INVENTORY_ENABLED`` is set:
#: Ansible's defaults without ``script`` (which executes files).
SAFE_PLUGINS = "host_list,auto,yaml,ini,toml"
ENV_PLUGINS = "ANSIBLE_INVENTORY_ENABLED"
#: Seconds ansible-inventory may take; a room's inventory reads in about one.
INVENTORY_TIMEOUT_S = 120
#: Files an inventory folder may hold (hosts files, group_vars, host_vars); a folder with more
#: is not an inventory (a home folder, ``..``), and Ansible would try to parse every file in it.
MAX_FOLDER_FILES = 2000


def _refuse_a_folder_that_is_no_inventory(folder: Path) -> None:
    """Count the folder's files (stopping at the limit) and refuse one that holds too many."""
    seen = 0
    for _root, _dirs, files in os.walk(folder):
        seen += len(files)
        if seen > MAX_FOLDER_FILES:
            raise LabtorchError(f"{str(folder)!r} holds more than {MAX_FOLDER_FILES} files, so it "
                                "is not an Ansible inventory folder (Ansible would try to read "
                                "every one of them)",
                                fix="point at the inventory file itself, or at a folder of hosts "
                                "files with its group_vars/ and host_vars/")


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
    if path.is_dir():
        _refuse_a_folder_that_is_no_inventory(path)
    command = [program, "-i", str(path), "--list"]
    if vault_password_file:
        command += ["--vault-password-file", vault_password_file]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
           "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    # Ansible's default plugins include ``script``, which *runs* every executable file of an
    # inventory folder: labtorch (often root) must not run what happens to lie in a folder it was
    # pointed at. An admin who uses dynamic inventory scripts opts in by setting the variable.
    env.setdefault(ENV_PLUGINS, SAFE_PLUGINS)
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                                timeout=INVENTORY_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise LabtorchError(f"ansible-inventory did not finish reading {str(source)!r} within "
                            f"{INVENTORY_TIMEOUT_S} s",
                            fix="point at the inventory file (or its folder of hosts files and "
                            "group_vars/host_vars), and check it with: ansible-inventory -i "
                            f"{source} --list") from err
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


def ssh_options(args: str, host: str) -> tuple[dict[str, str], list[str]]:
    """ssh_config options from ssh command-line arguments (``-o K=V``, ``-J``, ``-p``, ``-i``).

    >>> ssh_options("-o ProxyJump=admin@bastion.example.edu -o StrictHostKeyChecking=yes", "pc1")
    ({'ProxyJump': 'admin@bastion.example.edu', 'StrictHostKeyChecking': 'yes'}, [])
    """
    import shlex

    options: dict[str, str] = {}
    warnings: list[str] = []
    words = shlex.split(args)
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word == "-o" and value:
            key, _, text = value.replace("=", " ", 1).partition(" ")
            options[key] = text.strip()
            index += 2
        elif word.startswith("-o") and len(word) > 2:
            key, _, text = word[2:].replace("=", " ", 1).partition(" ")
            options[key] = text.strip()
            index += 1
        elif word in _SSH_FLAGS and value:
            options[_SSH_FLAGS[word]] = value
            index += 2
        else:
            warnings.append(f"{host}: ssh argument {word!r} has no ssh_config equivalent and "
                            "was ignored; put it in ~/.ssh/config for this host if needed")
            index += 1
    return options, warnings


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def map_host(name: str, hostvars: Mapping[str, Any]) -> tuple[str | None, dict[str, Any],
                                                               list[str]]:
    """Map one Ansible host: (pyinfra host name or None when it cannot be reached, data, warnings).

    Warnings name the host and the variable, never a password's value. Options of Ansible's
    extra ssh arguments come back as ``data["ssh_options"]`` (an ssh_config block's options).
    """
    warnings: list[str] = []
    data: dict[str, Any] = {}
    options: dict[str, str] = {}
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
        elif key in SSH_ARGS and isinstance(value, str):
            found, said = ssh_options(value, name)
            options.update(found)
            warnings += said
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
    if options:
        data["ssh_options"] = options
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
    options: dict[str, dict[str, str]] = {}
    for host in order:
        mapped, data, said = map_host(host, hostvars.get(host) or {})
        warnings += said
        if mapped is None:
            skipped[host] = said[-1]
            continue
        if "ssh_options" in data:
            options[mapped] = data.pop("ssh_options")
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
    return AnsibleRoom(hosts, groups, tuple(once(warnings, order)), skipped, options)


def once(warnings: list[str], hosts: list[str]) -> list[str]:
    """Warnings that differ only by the host they name, said once with the hosts counted.

    >>> once(["pc1: x is ignored", "pc2: x is ignored", "pc1: y"], ["pc1", "pc2"])
    ['pc1, pc2: x is ignored', 'pc1: y']
    """
    by_text: dict[str, list[str]] = {}
    for warning in warnings:
        host, sep, text = warning.partition(": ")
        key = text.replace(repr(host), "{host}") if sep and host in hosts else warning
        by_text.setdefault(key, []).append(host if sep and host in hosts else "")
    lines = []
    for text, named in by_text.items():
        named = [h for h in named if h]
        if not named:
            lines.append(text)
            continue
        who = ", ".join(named) if len(named) <= 3 else (
            f"{', '.join(named[:3])} and {len(named) - 3} more ({len(named)} hosts)")
        lines.append(f"{who}: {text}")
    return lines


def ssh_config_text(room: AnsibleRoom, source: str) -> str:
    """An OpenSSH client config with the ssh options Ansible passed per host (ProxyJump, ...)."""
    same: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for host, options in room.ssh_options.items():  # hosts sharing options share one block
        same.setdefault(tuple(options.items()), []).append(host.split("/", 1)[-1])
    blocks = [f"# ssh options of the Ansible inventory {source}, written by labtorch\n"]
    for shared, names in same.items():
        lines = [f"Host {' '.join(names)}"] + [f"    {key} {value}" for key, value in shared]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def with_ssh_config(room: AnsibleRoom, ssh_config: str | os.PathLike[str]) -> AnsibleRoom:
    """``room`` whose hosts with ssh options use ``ssh_config`` (pyinfra's ``ssh_config_file``)."""
    hosts = {h: ({**d, "ssh_config_file": str(ssh_config)} if h in room.ssh_options else d)
             for h, d in room.hosts.items()}
    return AnsibleRoom(hosts, room.groups, room.warnings, room.skipped, room.ssh_options)


def read_ansible_inventory(source: str | os.PathLike[str], *,
                           vault_password_file: str | None = None) -> AnsibleRoom:
    """Read an Ansible inventory file or folder into an :class:`AnsibleRoom`."""
    return map_inventory(run_ansible_inventory(source, vault_password_file=vault_password_file))


def group_layout(room: AnsibleRoom) -> tuple[dict[str, dict[str, Any]],
                                             dict[str, dict[str, Any]]]:
    """(host data, group data): a value every member of a group shares moves to that group.

    ``ansible-inventory --list`` merges group_vars into each host; this undoes it where it is
    safe, biggest groups first, and each host setting moves to at most one group, so that a
    host's effective data is exactly what Ansible gave it.
    """
    hosts = {h: dict(d) for h, d in room.hosts.items()}
    moved: dict[str, set[str]] = {h: set() for h in hosts}
    groups: dict[str, dict[str, Any]] = {}
    for name in sorted(room.groups, key=lambda g: -len(room.groups[g])):
        members = [h for h in room.groups[name] if h in hosts]
        shared: dict[str, Any] = {}
        if len(members) > 1:
            first = room.hosts[members[0]]
            for key, value in first.items():
                if all(key in room.hosts[m] and room.hosts[m][key] == value
                       and key not in moved[m] for m in members):
                    shared[key] = value
        for member in members:
            for key in shared:
                hosts[member].pop(key, None)
                moved[member].add(key)
        groups[name] = shared
    return hosts, groups


def pyinfra_groups(room: AnsibleRoom) -> dict[str, Any]:
    """Module-level names for a pyinfra inventory file: ``all`` carries each host's own data.

    ``all`` is ``([(host, data), ...], {})``; every other group is ``([host, ...], data)`` with
    the data its members share (:func:`group_layout`).
    """
    hosts, group_data = group_layout(room)
    groups: dict[str, Any] = {"all": ([(h, d) for h, d in hosts.items()], {})}
    for name, members in room.groups.items():
        if name == "all":
            continue
        groups[name] = (list(members), group_data.get(name, {}))
    return groups


def render_inventory(room: AnsibleRoom, source: str, *, room_name: str | None = None) -> str:
    """A static pyinfra inventory file (Python) for ``room``, e.g. for ``-o room.py``: one host
    per line, then each group with the data its members share; ``room_name`` adds a group of
    every host (its settings go to group_data/<room_name>.py)."""
    lines = [
        f'"""pyinfra inventory generated by labtorch from the Ansible inventory {source}.',
        "",
        "Regenerate with `labtorch inventory from-ansible` rather than editing by hand.",
    ]
    lines += [f"Not copied: {w}" for w in room.warnings]
    lines += ['"""', ""]
    groups = pyinfra_groups(room)
    lines.append("# every host with its own data")
    lines.append("all = (")
    lines.append("    [")
    lines += [f"        ({h!r}, {d!r})," for h, d in groups.pop("all")[0]]
    lines.append("    ],")
    lines.append("    {},")
    lines.append(")")
    if room_name and room_name not in groups:
        groups[room_name] = (list(room.hosts), {})
    for name, (members, data) in groups.items():
        lines.append("")
        lines.append(f"# group {name}: {len(members)} host(s)")
        lines.append(f"{name} = (")
        lines.append(f"    {members!r},")
        if data:
            lines.append("    {")
            lines += [f"        {k!r}: {v!r}," for k, v in data.items()]
            lines.append("    },")
        else:
            lines.append("    {},")
        lines.append(")")
    return "\n".join(lines) + "\n"
