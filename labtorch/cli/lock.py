"""`labtorch lock`: resolve `latest` once per room, and move the room when the admin says so.

    labtorch lock update inventory/room1.py     # resolve (or move) the room; prints who moves
    labtorch lock show locks/room1.yaml         # what each host is locked to

The lock file is the one the hosts' ``labtorch_lock_file`` names; ``--lock FILE`` overrides it.
`update` asks every host for its GPU facts (one command each, in parallel), plans it with
``latest`` and today's data (shipped plus overlay), and records release, variant, Python,
companions and, where the wheel index lists it, the wheel's sha256.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from labtorch.errors import LabtorchError


@click.group()
def lock() -> None:
    """The room lock: which torch each host of a room stays on until the room moves."""


@lock.command("show")
@click.argument("lock_file", type=click.Path(dir_okay=False))
def show(lock_file: str) -> None:
    """Print what each host of LOCK_FILE is locked to."""
    from labtorch.room_lock import read_lock

    room = read_lock(Path(lock_file))
    if room is None:
        raise LabtorchError(f"room lock {lock_file} not found",
                            fix="run `labtorch lock update INVENTORY` first")
    click.echo(f"room lock {lock_file} (resolved {room.resolved_at})")
    for name, entry in sorted(room.hosts.items()):
        sha = f" sha256 {entry.sha256[:12]}…" if entry.sha256 else ""
        click.echo(f"  {name}: {entry.describe()}, Python {entry.python}, torchvision "
                   f"{entry.torchvision or '-'}, torchaudio {entry.torchaudio or '-'}{sha}")


@lock.command("update")
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--lock", "lock_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="The lock file (default: what the hosts' labtorch_lock_file names).")
@click.option("--connect-timeout", default=10, show_default=True, metavar="S")
@click.option("--command-timeout", default=120, show_default=True, metavar="S")
def update(inventory: str, lock_file: str | None, connect_timeout: int,
           command_timeout: int) -> None:
    """Resolve `latest` for every host of INVENTORY into the room lock (moves the room)."""
    from labtorch.room_lock import (
        RoomLock,
        entry_for,
        follows_lock,
        now,
        read_lock,
        why_move,
        write_lock,
    )

    hosts = _gather(Path(inventory), connect_timeout, command_timeout)
    paths = {settings.lock_file for _facts, settings, _err in hosts.values()
             if settings is not None and settings.lock_file}
    if lock_file is None:
        if len(paths) != 1:
            raise LabtorchError(
                "the hosts name " + ("no labtorch_lock_file" if not paths else
                                     f"several lock files ({', '.join(sorted(paths))})"),
                fix="set labtorch_lock_file once for the room (group_data), or pass --lock FILE")
        lock_file = paths.pop()
    path = Path(lock_file)
    old = read_lock(path) or RoomLock({})
    entries = dict(old.hosts)
    failed = 0
    click.echo(f"room lock {path}: resolving `latest` for {len(hosts)} host(s)")
    for name, (facts, settings, error) in hosts.items():
        if error is not None or facts is None or settings is None:
            failed += 1
            click.echo(f"  ! {name}: {error or 'no GPU facts'} (kept as it was)")
            continue
        if not follows_lock(settings.policy):
            click.echo(f"  = {name}: torch spec {settings.policy.torch!r} pins it already "
                       f"(not locked)")
            entries.pop(name, None)
            continue
        try:
            plan = _plan(facts, settings, name)
        except LabtorchError as err:
            failed += 1
            click.echo(f"  ! {name}: {err.what} (kept as it was)")
            continue
        file, sha = _wheel_hash(plan)
        entry = entry_for(plan, facts, settings.policy, sha256=sha, file=file)
        before = old.entry(name)
        if before is None:
            click.echo(f"  + {name}: {entry.describe()} (Python {entry.python})")
        elif (before.torch, before.variant) != (entry.torch, entry.variant):
            click.echo(f"  → {name}: {before.describe()} → {entry.describe()} "
                       f"({why_move(before, plan)})")
        else:
            click.echo(f"  = {name}: stays on {entry.describe()}")
        entries[name] = entry
    write_lock(path, RoomLock(entries, now()))
    click.echo(f"room lock written to {path}; deploy with `pyinfra {inventory} deploy.py`")
    if failed:
        raise SystemExit(1)


def _plan(facts, settings, name):  # type: ignore[no-untyped-def]
    from labtorch.planner import plan_host

    return plan_host(facts, settings.policy, os=settings.os, host=name)


def _wheel_hash(plan) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    """The torch wheel file and sha256 the plan's index lists (None, None when unknown)."""
    from labtorch.refresh import wheel_facts
    from labtorch.release_index import http_get, parse_listing

    if plan.variant == "cpu" and "{variant}" in plan.index_url:
        return None, None
    url = plan.index_url.rstrip("/") + "/torch/"
    try:
        got = http_get(url, timeout=10, retries=1)
    except LabtorchError:
        return None, None
    if got is None:
        return None, None
    platform = "windows" if plan.os == "windows" else "linux"
    for file in parse_listing(got[1].decode("utf-8", "replace"), got[0], url):
        facts = wheel_facts(file.filename)
        if facts and (str(facts[0]), facts[1], facts[2], str(facts[3])) == (
                plan.torch, plan.variant, platform, plan.python):
            return file.filename, file.sha256
    return None, None


def _gather(inventory: Path, connect_timeout: int, command_timeout: int):  # type: ignore[no-untyped-def]
    """host -> (GpuFacts | None, Settings | None, error text | None), every host at once."""
    import gevent
    from pyinfra.api import Config, State
    from pyinfra.api.facts import get_fact
    from pyinfra.context import ctx_host, ctx_state

    from labtorch.check.run import _pyinfra_quiet, host_settings, load_inventory
    from labtorch.facts.gpu import NvidiaGpus
    from labtorch.windows import is_windows_host
    from labtorch.windows.facts import WindowsGpus

    state = State(check_for_changes=False)
    config = Config(CONNECT_TIMEOUT=connect_timeout)
    loaded = load_inventory(inventory, state, config)
    state.init(loaded, config)

    def one(host):  # type: ignore[no-untyped-def]
        try:
            settings = host_settings(host, os="windows" if is_windows_host(host) else None)
        except LabtorchError as err:
            return None, None, err.what
        with ctx_state.use(state), ctx_host.use(host):
            try:
                host.connect(raise_exceptions=True, show_errors=False)
                fact = WindowsGpus if is_windows_host(host) else NvidiaGpus
                facts = get_fact(state, host, fact, kwargs={"_timeout": command_timeout},
                                 apply_failed_hosts=False)
            except Exception as err:  # one host that cannot answer never stops the room
                return None, settings, f"no GPU facts: {err or type(err).__name__}"
            finally:
                with contextlib.suppress(Exception):
                    host.disconnect()
        return facts, settings, None

    with _pyinfra_quiet():
        greenlets = {host.name: state.pool.spawn(one, host) for host in loaded}
        gevent.joinall(list(greenlets.values()))
    results = {}
    for name, greenlet in greenlets.items():
        results[name] = greenlet.value if greenlet.successful() else (
            None, None, f"gathering failed: {greenlet.exception}")
    return results
