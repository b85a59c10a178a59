"""pyinfra inventory: a room already described in an Ansible inventory, used as is.

    LABTORCH_ANSIBLE_INVENTORY=/etc/ansible/rooms/b204.ini \
        pyinfra inventory/ansible.py labtorch.deploys.room

``ansible-inventory --list`` reads the file or folder (INI or YAML, with group_vars/host_vars);
:mod:`labtorch.inventory_ansible` maps hosts, connection settings and groups onto pyinfra's.
Passwords are never copied (a warning names the host and the variable). Set
``LABTORCH_ANSIBLE_VAULT_PASSWORD_FILE`` when the inventory holds vaulted variables.
``inventory/group_data/*.py`` (the site policy) applies as for any other room. Options of
``ansible_ssh_common_args``/``ansible_ssh_extra_args`` (ProxyJump, ports, keys) reach pyinfra
through an ssh_config written under the temporary folder, one per Ansible inventory.
"""

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from labtorch.errors import LabtorchError
from labtorch.inventory_ansible import (
    ENV_SOURCE,
    ENV_VAULT,
    pyinfra_groups,
    read_ansible_inventory,
    ssh_config_text,
    with_ssh_config,
)

_source = os.environ.get(ENV_SOURCE)
if not _source:
    raise LabtorchError(
        f"{ENV_SOURCE} is not set",
        fix=f"run {ENV_SOURCE}=path/to/hosts.ini pyinfra inventory/ansible.py "
        "labtorch.deploys.room",
    )
_room = read_ansible_inventory(_source, vault_password_file=os.environ.get(ENV_VAULT))
if _room.ssh_options:
    _key = hashlib.sha256(str(Path(_source).resolve()).encode()).hexdigest()[:12]
    _ssh_config = Path(tempfile.gettempdir()) / f"labtorch-ansible-{_key}.ssh_config"
    _ssh_config.write_text(ssh_config_text(_room, _source), encoding="utf-8")
    _room = with_ssh_config(_room, _ssh_config)
for _warning in _room.warnings:
    logging.getLogger("pyinfra").warning(f"labtorch: {_warning}")
globals().update(pyinfra_groups(_room))
