"""Plan before change: each host's ``HostPlan``, printed as one table before anything changes.

pyinfra v3 runs the room deploy (:func:`labtorch.deploys.room`) once per host, in parallel
greenlets, before executing anything.
:func:`plan_for` gathers the host's GPU facts (one remote command), asks the planner, and
records the plan; the greenlet that records the last plan prints the table for the whole room
(to stderr, so ``--json`` output stays pure JSON) and releases the others. ``--dry`` therefore
shows the table and pyinfra's list of pending changes, and nothing runs.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any

import gevent.event
from pyinfra import logger
from pyinfra.api.host import Host
from rich.console import Console
from rich.table import Table

from labtorch.cache.urls import plan_through_cache
from labtorch.cache.wheels import local_wheels, plan_with_local_wheels
from labtorch.errors import LabtorchError
from labtorch.facts.gpu import NvidiaGpus
from labtorch.model import GpuFacts, HostPlan
from labtorch.planner import plan_host
from labtorch.roles import host_settings
from labtorch.room_lock import plan_with_lock

#: Longest a host waits for the others' plans before going on without the table.
TABLE_WAIT_S = 120.0


@dataclass
class _Room:
    expected: int
    rows: dict[str, tuple[GpuFacts, HostPlan | None, str | None]]
    printed: gevent.event.Event


# Keyed by the pyinfra State object itself (weakly), never by id(): a new State can reuse a
# collected one's id and would then see its rooms and plans.
_ROOMS: weakref.WeakKeyDictionary[Any, _Room] = weakref.WeakKeyDictionary()
_PLANS: weakref.WeakKeyDictionary[Any, dict[str, HostPlan]] = weakref.WeakKeyDictionary()


def plan_for(host: Host) -> HostPlan:
    """The plan of ``host`` (computed once per run). Raises ``LabtorchError`` when the site
    policy is impossible for this host; the room table shows that host's error too. The host's
    row is recorded whatever goes wrong, so no other host waits for the table's timeout."""
    plans = _PLANS.setdefault(host.state, {})
    if host.name in plans:
        return plans[host.name]
    from labtorch.windows import is_windows_host  # the one OS decision for the GPU fact
    from labtorch.windows.facts import WindowsGpus

    facts: GpuFacts | None = None
    plan: HostPlan | None = None
    error: Exception | None = None
    try:
        settings = host_settings(host)  # first: a mis-declared Windows host fails before a command
        facts = host.get_fact(WindowsGpus if is_windows_host(host) else NvidiaGpus)
        if settings.lock_file is None:
            plan = plan_host(facts, settings.policy, os=settings.os, host=host.name)
        else:  # the room lock (labtorch.room_lock) pins `latest`
            plan, _entry = plan_with_lock(facts, settings.policy, settings.lock_file,
                                          os=settings.os, host=host.name)
        if settings.cache_url:  # the room cache (docs/room-cache.md): same plan, fetched there
            plan = plan_through_cache(plan, settings.cache_url)
        if settings.wheel_dir:  # the admin's own wheel files, served by the room cache
            plan = with_local_wheels(host, plan, settings.wheel_dir, settings.cache_url)
    except Exception as err:
        error = err
        raise
    finally:  # always this host's row, so the other hosts never wait for TABLE_WAIT_S
        _record(host, facts or GpuFacts(), plan, error)
    assert plan is not None
    for warning in plan.warnings:
        logger.warning(f"{host.print_prefix}{warning}")
    plans[host.name] = plan
    return plan


def with_local_wheels(host: Host, plan: HostPlan, folder: str, cache_url: str | None) -> HostPlan:
    """Use the wheel files of ``labtorch_wheel_dir`` that fit this host's plan (the others are
    named, with why, and left alone)."""
    if not cache_url:
        raise LabtorchError(
            f"labtorch_wheel_dir={folder!r} needs labtorch_cache_url (the cache serves the folder)",
            host=host.name,
            fix=f"run `labtorch cache serve --wheel-dir {folder}` and set labtorch_cache_url",
        )
    try:
        names = os.listdir(folder)
    except OSError as err:
        raise LabtorchError(
            f"labtorch_wheel_dir={folder!r} cannot be read on the controller: {err.strerror}",
            host=host.name,
            fix="point it at the folder of downloaded .whl files on this controller",
        ) from None
    used, rejected = local_wheels(plan, names)
    for name, reason in rejected:
        if "is not pinned by this host's plan" not in reason:
            logger.warning(f"{host.print_prefix}local wheel {name} not used: {reason}")
    return plan_with_local_wheels(plan, used, f"{cache_url.rstrip('/')}/local")


def _record(host: Host, facts: GpuFacts, plan: HostPlan | None, error: Exception | None) -> None:
    state = host.state
    room = _ROOMS.get(state)
    if room is None:
        room = _Room(len(state.inventory.get_active_hosts()), {}, gevent.event.Event())
        _ROOMS[state] = room
    if error is None or isinstance(error, LabtorchError):
        text = None if error is None else str(error)
    else:
        text = f"{host.name}: unexpected {type(error).__name__}: {error}"
    room.rows[host.name] = (facts, plan, text)
    if len(room.rows) >= room.expected and not room.printed.is_set():
        print_table(room.rows)
        room.printed.set()
    else:
        room.printed.wait(TABLE_WAIT_S)


def plan_table(rows: dict[str, tuple[GpuFacts, HostPlan | None, str | None]]) -> Table:
    """One row per host: GPUs, compute capability, driver, variant, torch, Python, warnings."""
    table = Table(title="labtorch plan (nothing has changed yet)", show_lines=False)
    longest = max((len(name) for name in rows), default=4)
    table.add_column("host", no_wrap=True, min_width=longest)  # a host name is never cut
    for column in ("GPUs", "CC", "driver", "variant", "torch", "python", "warnings"):
        table.add_column(column, overflow="fold")
    for name in sorted(rows):
        facts, plan, error = rows[name]
        gpus = ", ".join(g.name or "?" for g in facts.gpus) or "-"
        ccs = ", ".join(sorted({g.compute_capability or "?" for g in facts.gpus})) or "-"
        if plan is None:
            table.add_row(
                name, gpus, ccs, facts.driver_version or "-", "-", "-", "-", f"[red]{error}[/red]"
            )
            continue
        table.add_row(
            name,
            gpus,
            ccs,
            facts.driver_version or "-",
            plan.variant,
            plan.torch,
            plan.python,
            "\n".join(plan.warnings) or "",
        )
    return table


def print_table(rows: dict[str, tuple[GpuFacts, HostPlan | None, str | None]]) -> None:
    """The table at the terminal's width (160 columns when stderr is not a terminal)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=160)
    console.print(plan_table(rows))
