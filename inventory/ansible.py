"""pyinfra inventory: a room already described in an Ansible inventory, used as is.

    LABTORCH_ANSIBLE_INVENTORY=/etc/ansible/rooms/b204.ini pyinfra inventory/ansible.py deploy.py

``ansible-inventory --list`` reads the file or folder (INI or YAML, with group_vars/host_vars);
:mod:`labtorch.inventory_ansible` maps hosts, connection settings and groups onto pyinfra's.
Passwords are never copied (a warning names the host and the variable). Set
``LABTORCH_ANSIBLE_VAULT_PASSWORD_FILE`` when the inventory holds vaulted variables.
``inventory/group_data/*.py`` (the site policy) applies as for any other room.
"""

import logging
import os

from labtorch.errors import LabtorchError
from labtorch.inventory_ansible import ENV_SOURCE, ENV_VAULT, pyinfra_groups, read_ansible_inventory

_source = os.environ.get(ENV_SOURCE)
if not _source:
    raise LabtorchError(
        f"{ENV_SOURCE} is not set",
        fix=f"run {ENV_SOURCE}=path/to/hosts.ini pyinfra inventory/ansible.py deploy.py",
    )
_room = read_ansible_inventory(_source, vault_password_file=os.environ.get(ENV_VAULT))
for _warning in _room.warnings:
    logging.getLogger("pyinfra").warning(f"labtorch: {_warning}")
globals().update(pyinfra_groups(_room))
