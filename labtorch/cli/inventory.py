"""`labtorch inventory from-ansible`: turn an Ansible inventory into a pyinfra inventory file."""

from __future__ import annotations

from pathlib import Path

import click

from labtorch.inventory_ansible import read_ansible_inventory, render_inventory


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

    Hosts, ansible_host/user/port/key, become and groups are mapped; passwords are never copied.
    To use the Ansible inventory live instead, run
    `LABTORCH_ANSIBLE_INVENTORY=SOURCE pyinfra inventory/ansible.py deploy.py`.
    """
    room = read_ansible_inventory(source, vault_password_file=vault_password_file)
    for warning in room.warnings:
        click.echo(f"labtorch: warning: {warning}", err=True)
    text = render_inventory(room, source)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}: {len(room.hosts)} hosts, {len(room.groups)} groups", err=True)
    else:
        click.echo(text, nl=False)
