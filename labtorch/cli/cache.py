"""`labtorch cache`: the room cache (serve, stop, status, verify, unit). docs/room-cache.md."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labtorch import compat
from labtorch.cache import server
from labtorch.cache.nginx import CacheConfig, systemd_unit

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
            max_size: str, daemon: bool = True) -> CacheConfig:
    urls = tuple(upstreams) or tuple(default_upstreams(mirror))
    return CacheConfig(address, port, state_dir.resolve(), urls, max_size, daemon)


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
    ]):
        func = option(func)
    return func


@click.group()
def cache() -> None:
    """The room cache: one download per room for installers, wheels and conda packages."""


@cache.command()
@_serving_options
def serve(state_dir: Path, address: str, port: int, upstreams: tuple[str, ...], mirror: str,
          max_size: str) -> None:
    """Start (or reload) the room cache; hosts use it through labtorch_cache_url."""
    config = _config(state_dir, address, port, upstreams, mirror, max_size)
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
         max_size: str) -> None:
    """Print a systemd unit for a room server (writes its nginx.conf to --state-dir)."""
    config = _config(state_dir, address, port, upstreams, mirror, max_size, daemon=False)
    server._write_config(config)
    click.echo(systemd_unit(config, server.nginx_binary()), nl=False)
