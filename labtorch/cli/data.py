"""`labtorch data`: refresh the release and installer knowledge into the reviewed overlay.

    labtorch data refresh                                   # the official PyTorch index
    labtorch data refresh --index http://mirror/whl/{variant}/simple --lock locks/room1.yaml
    labtorch data refresh --snapshot saved-index/           # offline, from a saved snapshot
    labtorch data installers --from DIR_OR_URL              # Miniforge pins + checksums

Shipped files are never edited: what is learned goes to the overlay
(``$LABTORCH_OVERLAY`` or ``$XDG_DATA_HOME/labtorch/overlay.yaml``), after a review diff.
"""

from __future__ import annotations

from pathlib import Path

import click
from packaging.version import InvalidVersion, Version

from labtorch import compat
from labtorch.errors import LabtorchError
from labtorch.overlay import overlay_path, read_overlay, write_overlay


@click.group()
def data() -> None:
    """Refresh the release data (torch releases, installers) from an index."""


@data.command("refresh")
@click.option("--index", "index_url", metavar="URL",
              help="Wheel index, a template with {variant} (default: the official "
                   "https://download.pytorch.org/whl/{variant}); a site mirror or the room "
                   "cache works the same.")
@click.option("--snapshot", "snapshot", metavar="DIR", type=click.Path(file_okay=False),
              help="Read a snapshot saved by --save-snapshot instead of the network.")
@click.option("--save-snapshot", "save_to", metavar="DIR", type=click.Path(file_okay=False),
              help="Also save every listing and metadata file read, for later offline runs.")
@click.option("--since", metavar="X.Y",
              help="Oldest release line to learn (default: the newest shipped line).")
@click.option("--lock", "locks", multiple=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="A room lock: show which of its hosts would move and why. Repeatable.")
@click.option("--overlay", "overlay_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Where the overlay goes (default: $LABTORCH_OVERLAY or the user data dir).")
@click.option("--dry-run", is_flag=True, help="Print the review diff, write nothing.")
def refresh(index_url: str | None, snapshot: str | None, save_to: str | None,
            since: str | None, locks: tuple[str, ...], overlay_file: str | None,
            dry_run: bool) -> None:
    """Learn torch releases, variants, Pythons and companion pins from a wheel index."""
    from labtorch.refresh import refresh as learn
    from labtorch.release_index import IndexSource

    if index_url and snapshot:
        raise LabtorchError("--index and --snapshot both given", fix="use one of them")
    target = Path(overlay_file) if overlay_file else overlay_path()
    current_overlay = read_overlay(target)
    texts = compat.shipped_texts()
    data_now = compat.parse(texts, overlay=current_overlay)
    location = snapshot or index_url or data_now.index_url_template
    source = IndexSource(location, save_to=Path(save_to) if save_to else None)
    shipped = compat._yaml("releases.yaml", texts["releases.yaml"])
    result = learn(source, data_now, shipped, current_overlay, since=_since(since))
    data_new = compat.parse(texts, overlay=result.overlay)  # validated before it is written
    click.echo(f"release data refresh from {source.described()}")
    if not result.patches:
        click.echo("  the index lists no torch release at or after "
                   f"{since or data_now.releases[0].line}")
    for line in result.changes or ["  no change: the data already knows what the index lists"]:
        click.echo(line)
    for note in result.notes:
        click.echo(f"  note: {note}")
    if not dry_run:
        write_overlay(result.overlay, target)
        click.echo(f"overlay written to {target} (shipped data unchanged)")
    for lock_file in locks:
        _show_moves(Path(lock_file), data_new)


def _since(text: str | None) -> Version | None:
    if text is None:
        return None
    try:
        version = Version(text)
    except InvalidVersion as err:
        raise LabtorchError(f"--since {text!r} is not a release line",
                            fix="write it like 2.14") from err
    return Version(f"{version.major}.{version.minor}.0")


def _show_moves(path: Path, data_new: compat.Compat) -> None:
    from labtorch.room_lock import moves, read_lock

    lock = read_lock(path)
    if lock is None:
        raise LabtorchError(f"room lock {path} not found",
                            fix="pass the lock file the room's labtorch_lock_file names")
    moving, staying = moves(lock, data_new)
    click.echo(f"room lock {path}: {len(moving)} of {len(lock.hosts)} host(s) would move "
               f"(run `labtorch lock update INVENTORY` to move them)")
    for move in moving:
        click.echo(f"  → {move.line()}")
    for line in staying:
        click.echo(f"  = {line}")


@data.command("installers")
@click.option("--from", "where", required=True, metavar="DIR|URL",
              help="The release's files: a Miniforge release directory (GitHub release or the "
                   "site's mirror of it) holding the installers' .sha256 files.")
@click.option("--version", "version", required=True, metavar="VERSION",
              help="The Miniforge release, e.g. 25.11.0-1.")
@click.option("--overlay", "overlay_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Where the overlay goes (default: $LABTORCH_OVERLAY or the user data dir).")
@click.option("--dry-run", is_flag=True, help="Print the review diff, write nothing.")
def installers(where: str, version: str, overlay_file: str | None, dry_run: bool) -> None:
    """Refresh the pinned Miniforge release and checksums from its published .sha256 files."""
    from labtorch.installers_refresh import refresh_installers

    target = Path(overlay_file) if overlay_file else overlay_path()
    current = read_overlay(target) or {}
    new_overlay, lines = refresh_installers(where, version, current)
    click.echo(f"installer refresh from {where}")
    for line in lines:
        click.echo(line)
    if not dry_run:
        write_overlay(new_overlay, target)
        click.echo(f"overlay written to {target} (shipped data unchanged)")
