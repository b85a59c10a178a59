"""`labtorch cache`: the room cache (serve, stop, status, verify, unit). docs/room-cache.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labtorch import compat
from labtorch.cache import server
from labtorch.cache.nginx import CacheConfig, systemd_unit
from labtorch.errors import LabtorchError

DEFAULT_STATE = Path("/var/cache/labtorch-room")
STATE_DIR = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STATE,
    show_default=True, help="Where the cache keeps its files, config and logs.")


def default_upstreams(mirror: str) -> list[str]:
    """The official sources plus the chosen mirror row's (data/mirrors.yaml, installers.yaml)."""
    from labtorch.roles.settings import _installer_table

    data = compat.load()
    urls = [data.index_url_template, "https://pypi.org/simple", "https://conda.anaconda.org"]
    urls += [str(f["upstream"]) for f in _installer_table()["flavors"].values()]
    row = data.mirrors.get(mirror)
    if row is not None:
        urls += [u for u in (row.pypi, row.pytorch_wheels, row.conda_cloud, row.miniforge,
                             row.miniconda) if u]
    return urls


def _config(state_dir: Path, address: str, port: int, upstreams: tuple[str, ...], mirror: str,
            max_size: str, wheel_dir: Path | None, daemon: bool = True) -> CacheConfig:
    urls = tuple(upstreams) or tuple(default_upstreams(mirror))
    return CacheConfig(address, port, state_dir.resolve(), urls, max_size, daemon,
                       wheel_dir=wheel_dir.resolve() if wheel_dir else None)


def _serving_options(func):  # type: ignore[no-untyped-def]
    for option in reversed([
        STATE_DIR,
        click.option("--address", default="0.0.0.0", show_default=True,
                     help="Address the cache listens on (the room's hosts must reach it)."),
        click.option("--port", type=click.IntRange(1, 65535), default=3141, show_default=True),
        click.option("--upstream", "upstreams", multiple=True, metavar="URL",
                     help="An upstream URL the cache may fetch from (repeat); default: the "
                          "official sources and the --mirror row's."),
        click.option("--mirror", default="official", show_default=True,
                     help="The data/mirrors.yaml row whose URLs are upstreams."),
        click.option("--max-size", default="200g", show_default=True,
                     help="Largest size of the cache (nginx size: 500m, 200g)."),
        click.option("--wheel-dir", type=click.Path(exists=True, file_okay=False,
                                                    path_type=Path),
                     help="A folder of hand-downloaded .whl files to serve at /local/ "
                          "(the hosts' labtorch_wheel_dir)."),
    ]):
        func = option(func)
    return func


@click.group()
def cache() -> None:
    """The room cache: one download per room for installers, wheels and conda packages."""


@cache.command()
@_serving_options
def serve(state_dir: Path, address: str, port: int, upstreams: tuple[str, ...], mirror: str,
          max_size: str, wheel_dir: Path | None) -> None:
    """Start (or reload) the room cache; hosts use it through labtorch_cache_url."""
    config = _config(state_dir, address, port, upstreams, mirror, max_size, wheel_dir)
    click.echo(server.serve(config))


@cache.command()
@STATE_DIR
def stop(state_dir: Path) -> None:
    """Stop the room cache (its cached files stay)."""
    click.echo(server.stop(state_dir))


@cache.command()
@STATE_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(state_dir: Path, as_json: bool) -> None:
    """Size, files, hit ratio and upstreams of the room cache."""
    info = server.status(state_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    ratio = "-" if info["hit_ratio"] is None else f"{info['hit_ratio']:.0%}"
    click.echo(f"room cache {info['url'] or '(never served here)'}: "
               f"{'running' if info['running'] else 'stopped'}")
    click.echo(f"  files {info['files']}, {info['bytes'] / 2**20:.1f} MiB; "
               f"requests {info['requests']}, hit ratio {ratio}; free {info['free_mib']} MiB")
    for url in info["upstreams"]:
        click.echo(f"  upstream {url}")
    for line in info["disk_errors"]:
        click.echo(f"  DISK FULL: {line}")


@cache.command()
@STATE_DIR
def verify(state_dir: Path) -> None:
    """Check every cached file against its published sha256; remove the bad ones."""
    from labtorch.roles.settings import _installer_table

    pins = {row["file"]: row["sha256"] for row in _installer_table()["installers"]}
    result = server.verify(state_dir, pins)
    click.echo(f"{len(result.checked)} cached files match their sha256; "
               f"{len(result.bad)} corrupt removed (fetched again on next use); "
               f"{len(result.unknown)} without a published hash (index pages)")
    for key in result.bad:
        click.echo(f"  removed corrupt {key}")


@cache.command()
@_serving_options
def unit(state_dir: Path, address: str, port: int, upstreams: tuple[str, ...], mirror: str,
         max_size: str, wheel_dir: Path | None) -> None:
    """Print a systemd unit for a room server (writes its nginx.conf to --state-dir)."""
    config = _config(state_dir, address, port, upstreams, mirror, max_size, wheel_dir,
                     daemon=False)
    server._write_config(config)
    click.echo(systemd_unit(config, server.nginx_binary()), nl=False)


@cache.command()
@click.argument("facts_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cache-url", required=True, help="The room cache, e.g. http://10.0.0.5:3141.")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_STATE / "fill", show_default=True,
              help="Where the fetched wheels and installers are kept (one folder per plan).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A site setting as in group data (labtorch_torch_spec=2.7, "
                   "labtorch_mirror=tuna, ...); repeat.")
def fill(facts_dir: Path, cache_url: str, dest: Path, settings: tuple[str, ...]) -> None:
    """Fetch every distinct plan of the room (saved nvidia-smi outputs in FACTS_DIR) through
    the cache, once: wheels for each OS x Python x variant, and the conda installers."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from labtorch.cache import fill as filling
    from labtorch.roles.settings import Settings

    data: dict[str, object] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("labtorch_"):
            raise LabtorchError(f"--set {item!r} is not KEY=VALUE with a labtorch_ setting",
                                fix="write e.g. --set labtorch_mirror=tuna")
        data[key] = value
    data["labtorch_cache_url"] = cache_url
    room = filling.room_facts(facts_dir)
    base = Settings.from_data(data, host="fill")
    downloads, errors = filling.distinct_downloads(room, base.policy, cache_url)
    for host, line in sorted(errors.items()):
        click.echo(f"skipped {host}: {line}", err=True)
    click.echo(f"{len(room)} hosts, {len(downloads)} distinct plans: "
               + ", ".join(f"{d.name} ({len(d.hosts)})" for d in downloads))
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        for os_name in sorted({d.os for d in downloads}):
            installer = Settings.from_data(data, host="fill", os=os_name).installer("x86_64")
            filling.fetch_verified(installer.url, installer.sha256,
                                   dest / "installers" / installer.file, progress)
        steps = progress.add_task("wheels (distinct plans)", total=len(downloads))
        for download in downloads:
            filling.run_pip(filling.pip_download_args(download, dest))
            progress.update(steps, advance=1)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    click.echo(f"filled: {len(downloads)} plans and their installers, {size / 2**20:.1f} MiB "
               f"in {dest}")
