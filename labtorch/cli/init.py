"""`labtorch init ROOM`: start a room's inventory and its settings (never overwrites)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("room")
@click.option("--windows", is_flag=True, help="The room's PCs run Windows (@winssh hosts).")
@click.option("--from-ansible", "ansible", type=click.Path(exists=True), default=None,
              help="Take the PCs and groups from this Ansible inventory (file or folder).")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("inventory"), show_default=True,
              help="Folder of inventories (group data goes to its group_data/).")
def init(room: str, windows: bool, ansible: str | None, folder: Path) -> None:
    """Write inventory/ROOM.py and inventory/group_data/ROOM.py (every setting, its default and
    one line of meaning). Refuses, writing nothing, when either file exists."""
    from labtorch.room_files import room_files, write_room

    files = room_files(room, folder, windows=windows, ansible=ansible)
    for note in files.notes:
        click.echo(f"labtorch: warning: {note}", err=True)
    write_room(files)
    click.echo(f"wrote {files.inventory} and {files.group_data}")
    click.echo(f"next: list the PCs in {files.inventory}, adjust {files.group_data}, then")
    click.echo(f"      pyinfra {files.inventory} labtorch.deploys.room --dry")
