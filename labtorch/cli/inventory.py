"""`labtorch inventory from-ansible`: turn an Ansible inventory into a pyinfra inventory file."""

from __future__ import annotations

import re
from pathlib import Path

import click

from labtorch.errors import LabtorchError
from labtorch.inventory_ansible import (
    read_ansible_inventory,
    render_inventory,
    ssh_config_text,
    with_ssh_config,
)


@click.group()
def inventory() -> None:
    """Work with room inventories."""


@inventory.command("from-ansible")
@click.argument("source", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="write the pyinfra inventory here (default: print it)")
@click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
              help="passed to ansible-inventory for vaulted variables")
def from_ansible(source: str, output: str | None, vault_password_file: str | None) -> None:
    """Write a pyinfra inventory (Python) for the Ansible inventory SOURCE (INI, YAML or a folder).

    Hosts, ansible_host/user/port/key, become, groups and the data a group's hosts share are
    mapped; options of ansible_ssh_common_args/extra_args (ProxyJump, ports, keys) go to an
    ssh_config beside OUTPUT that the hosts use; passwords are never copied. To use the Ansible
    inventory live instead, run
    `LABTORCH_ANSIBLE_INVENTORY=SOURCE pyinfra inventory/ansible.py labtorch.deploys.room`.
    """
    room = read_ansible_inventory(source, vault_password_file=vault_password_file)
    if not room.hosts:
        raise LabtorchError(f"{source} lists no hosts: not an Ansible inventory of a room",
                            fix="pass the INI/YAML inventory file (or folder) Ansible uses")
    odd = [h for h in room.hosts if not re.fullmatch(r"[A-Za-z0-9_.:@/\[\]-]{1,253}", h)]
    if odd:
        raise LabtorchError(f"{source} names {len(odd)} host(s) that are no host names, e.g. "
                            f"{odd[0][:40]!r}: not an Ansible inventory of a room",
                            fix="pass the INI/YAML inventory file (or folder) Ansible uses")
    for warning in room.warnings:
        click.echo(f"labtorch: warning: {warning}", err=True)
    if room.ssh_options:
        if not output:
            raise LabtorchError("the Ansible inventory passes ssh options (e.g. ProxyJump) that "
                                "need an ssh_config file beside the inventory",
                                fix="pass -o inventory/ROOM.py (the ssh_config is written "
                                    "beside it)")
        ssh_config = Path(output).with_suffix(".ssh_config")
        ssh_config.write_text(ssh_config_text(room, source), encoding="utf-8")
        room = with_ssh_config(room, ssh_config)
        click.echo(f"wrote {ssh_config}: ssh options of {len(room.ssh_options)} hosts", err=True)
    text = render_inventory(room, source)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}: {len(room.hosts)} hosts, {len(room.groups)} groups", err=True)
    else:
        click.echo(text, nl=False)
