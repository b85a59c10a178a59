"""One compliance check of a room: load the inventory, gather every host in parallel (one remote
command each), evaluate, and return a ``CheckRun``.

This is the only module of ``labtorch.check`` that talks to hosts (through pyinfra's API); the
evaluation is pure (``evaluate``) and so is the parsing (``gather.parse_snapshot``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import gevent
from pyinfra.api import Config, Inventory, State
from pyinfra.api.exceptions import ConnectError, PyinfraError
from pyinfra.api.facts import get_fact
from pyinfra.api.host import Host
from pyinfra.context import ctx_config, ctx_host, ctx_state

from labtorch.check.evaluate import (
    check_error_report,
    evaluate_host,
    settings_error_report,
    unreachable_report,
)
from labtorch.check.gather import CheckSnapshot, parse_snapshot
from labtorch.check.model import CheckRun, HostReport
from labtorch.errors import LabtorchError
from labtorch.roles.settings import DEFAULTS, Settings

#: Stands for the SSH user's home while the remote command is built; replaced by ``~``.
_HOME = "/labtorch_home_placeholder"


@dataclass(frozen=True)
class Gathered:
    """What came back from one host: its raw output, or why it could not be checked
    (``unreachable``: no answer; ``error``: gathering broke on this host)."""

    output: str | None
    unreachable: str | None = None
    error: BaseException | None = None


def load_inventory(path: Path, state: State | None = None,
                   config: Config | None = None) -> Inventory:
    """Load a pyinfra inventory file as ``pyinfra INVENTORY ...`` would (with group_data/).

    Like pyinfra's CLI, the inventory file runs with a (not yet initialised) ``state`` and
    ``config`` in context; pass the ones the check will use.
    """
    if not path.is_file():
        raise LabtorchError(
            f"inventory {path} not found",
            fix="pass the path of a pyinfra inventory file (e.g. inventory/room1.py)")
    from pyinfra_cli.inventory import make_inventory_from_files

    state = state or State(check_for_changes=False)
    config = config or Config()
    try:
        with ctx_state.use(state), ctx_config.use(config):
            inventory = make_inventory_from_files(str(path), cwd=os.getcwd())
    except SystemExit as err:  # an inventory may refuse with SystemExit("message")
        raise LabtorchError(f"cannot load inventory {path}: {err}") from err
    except Exception as err:  # an inventory is Python: any error in it lands here
        raise LabtorchError(
            f"cannot load inventory {path}: {err}",
            fix="run `pyinfra INVENTORY debug-inventory` to see the problem") from err
    if not list(inventory):
        raise LabtorchError(f"inventory {path} lists no hosts", fix="add hosts to it")
    return inventory


def host_settings(host: Host, *, home: str = _HOME, os: str | None = None) -> Settings:
    """The host's labtorch settings, read as the deploy reads them (``labtorch.roles``).

    Before the host answered, its home is a placeholder (a prefix there is sent as ``~/...``)
    and its OS is ``labtorch_os`` or "linux"; afterwards both come from the host itself.
    """
    data = {name: value for name in DEFAULTS if (value := host.data.get(name)) is not None}
    os_name = data.get("labtorch_os") or os or "linux"
    return Settings.from_data(data, host=host.name, home=home, os=os_name)


def remote_prefix(settings: Settings) -> str:
    prefix = settings.conda_prefix
    return "~" + prefix[len(_HOME):] if prefix.startswith(_HOME) else prefix


def fix_command(inventory: Path, host: str, deploy: str = "deploy.py") -> str:
    """The command that re-provisions one host (what ``check --fix`` runs for all drifted)."""
    return shlex.join(["pyinfra", str(inventory), deploy, "--limit", host, "-y"])


def gather(state: State, kwargs_by_host: dict[Host, dict[str, object]],
           command_timeout: int) -> dict[Host, Gathered]:
    """Run the check command on every host at once (``state.pool`` greenlets).

    Never raises for one host: an unexpected error there becomes that host's ``Gathered.error``.
    """

    def one(host: Host) -> Gathered:
        with ctx_state.use(state), ctx_host.use(host):
            try:
                host.connect(raise_exceptions=True, show_errors=False)
            except ConnectError as err:
                return Gathered(None, f"cannot connect: {err}")
            except (OSError, PyinfraError) as err:
                return Gathered(None, f"cannot connect: {err}")
            try:
                output = get_fact(state, host, CheckSnapshot,
                                  kwargs={**kwargs_by_host[host], "_timeout": command_timeout},
                                  apply_failed_hosts=False)
            except (OSError, PyinfraError) as err:
                output = ""
                reason = str(err)
            else:
                reason = "the check command did not complete (connection lost or timed out)"
            finally:
                with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                    host.disconnect()
            if not output.strip():
                return Gathered(None, reason)
            return Gathered(output)

    greenlets = {host: state.pool.spawn(one, host) for host in kwargs_by_host}
    gevent.joinall(list(greenlets.values()))
    return {host: _outcome(greenlet) for host, greenlet in greenlets.items()}


def _outcome(greenlet: gevent.Greenlet) -> Gathered:
    """A finished greenlet's ``Gathered``; the exception it died of, as that host's error."""
    value = greenlet.value if greenlet.successful() else None
    if isinstance(value, Gathered):
        return value
    error = greenlet.exception or value  # a killed greenlet "succeeds" with GreenletExit
    if not isinstance(error, BaseException):
        error = RuntimeError("the check of this host ended without a result")
    return Gathered(None, error=error)


@contextlib.contextmanager
def _pyinfra_quiet() -> Iterator[None]:
    """Silence pyinfra's own log while checking (failures land in the report), then restore it."""
    logger = logging.getLogger("pyinfra")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def run_check(inventory_path: Path, *, parallel: int | None = None, connect_timeout: int = 10,
              command_timeout: int = 300, kernel_timeout: int = 60,
              deploy: str = "deploy.py") -> CheckRun:
    """Check every host of the inventory; one ``HostReport`` per host, in inventory order."""
    with _pyinfra_quiet():
        return _run_check(inventory_path, parallel=parallel, connect_timeout=connect_timeout,
                          command_timeout=command_timeout, kernel_timeout=kernel_timeout,
                          deploy=deploy)


def _run_check(inventory_path: Path, *, parallel: int | None, connect_timeout: int,
               command_timeout: int, kernel_timeout: int, deploy: str) -> CheckRun:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = time.monotonic()
    state = State(check_for_changes=False)
    config = Config(PARALLEL=parallel or 0, CONNECT_TIMEOUT=connect_timeout)
    inventory = load_inventory(inventory_path, state, config)
    state.init(inventory, config)
    room_default = inventory_path.stem

    hosts = list(inventory)
    reports: dict[str, HostReport] = {}
    settings: dict[Host, Settings] = {}
    for host in hosts:
        room = str(host.data.get("labtorch_room") or room_default)
        try:
            settings[host] = host_settings(host)
        except LabtorchError as err:
            reports[host.name] = settings_error_report(host.name, room, err)
    kwargs = {
        host: {"conda_prefix": remote_prefix(s), "env_name": s.env_name,
               "kernel_timeout": int(host.data.get("labtorch_verify_kernel_timeout")
                                     or kernel_timeout)}
        for host, s in settings.items()
    }
    gathered = gather(state, kwargs, command_timeout) if kwargs else {}
    for host, result in gathered.items():
        room = str(host.data.get("labtorch_room") or room_default)
        fix = fix_command(inventory_path, host.name, deploy)
        try:
            reports[host.name] = host_report(host, room, result, settings[host], fix)
        except Exception as err:  # one host's bad data never stops the rest of the room
            reports[host.name] = check_error_report(host.name, room, err, fix=fix)
    return CheckRun(
        started_at=started,
        inventory=str(inventory_path.resolve()),
        hosts=tuple(reports[h.name] for h in hosts),
        duration_s=time.monotonic() - clock,
    )


def host_report(host: Host, room: str, result: Gathered, settings: Settings,
                fix: str) -> HostReport:
    """One host's report from what was gathered there (may raise on data it cannot read;
    ``_run_check`` turns that into a failing report for this host alone)."""
    if result.error is not None:
        return check_error_report(host.name, room, result.error, fix=fix)
    if result.output is None:
        return unreachable_report(host.name, room, result.unreachable or "")
    snapshot = parse_snapshot(result.output, remote_prefix(settings))
    try:
        seen = host_settings(host, home=snapshot.system.home or "/root", os=snapshot.system.os)
    except LabtorchError as err:
        return settings_error_report(host.name, room, err)
    return evaluate_host(host.name, room, snapshot, seen, fix=fix)
