"""One compliance check of a room: load the inventory, gather every host in parallel (one remote
command per Linux host, four PowerShell scripts per Windows PC), evaluate, and return a
``CheckRun``.

This is the only module of ``labtorch.check`` that talks to hosts (through pyinfra's API); the
evaluation is pure (``evaluate``) and so is the parsing (``gather.parse_snapshot``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import gevent
from paramiko import SSHException
from pyinfra.api import Config, Inventory, State, StringCommand
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
from labtorch.check.gather import CheckSnapshot, join_parts, parse_snapshot, windows_scripts
from labtorch.check.model import CheckRun, HostReport
from labtorch.errors import LabtorchError
from labtorch.roles.settings import DEFAULTS, Settings, whole_number
from labtorch.windows import is_windows_host
from labtorch.windows.facts import WindowsSystemInfo

#: Stands for the SSH user's home while the remote command is built; replaced by ``~``.
_HOME = "/labtorch_home_placeholder"
#: A Windows PC before it answered: what its settings need (drive, profile) as placeholders, so
#: that data which cannot fit any PC is reported before connecting.
_WINDOWS_PLACEHOLDER = WindowsSystemInfo(os="windows", home="C:\\Users\\labtorch-check")


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
        try:
            said = str(err)
        except Exception:  # pyinfra_cli's UnexpectedExternalError has no usable str()
            cause = err.__cause__ or err.__context__
            said = f"{type(cause or err).__name__}: {cause or err.args}"
        raise LabtorchError(
            f"cannot load inventory {path}: {said}",
            fix="run `pyinfra INVENTORY debug-inventory` to see the problem") from err
    if not list(inventory):
        raise LabtorchError(f"inventory {path} lists no hosts", fix="add hosts to it")
    return inventory


def settings_data(host: Host) -> dict[str, object]:
    """The host's ``labtorch_*`` data that is set (the rest takes the documented defaults)."""
    return {name: value for name in DEFAULTS if (value := host.data.get(name)) is not None}


def host_settings(host: Host, *, home: str = _HOME, os: str | None = None) -> Settings:
    """The host's labtorch settings, read as the deploy reads them (``labtorch.roles``).

    Before the host answered, its home is a placeholder (a prefix there is sent as ``~/...``)
    and its OS is ``labtorch_os`` or "linux"; afterwards both come from the host itself.
    """
    data = settings_data(host)
    os_name = data.get("labtorch_os") or os or "linux"
    return Settings.from_data(data, host=host.name, home=home, os=str(os_name))


def windows_host_settings(host: Host, system: object) -> Settings:
    """A Windows PC's settings as the deploy reads them: Windows path defaults from its system
    facts (:func:`labtorch.windows.layout.windows_settings`)."""
    from labtorch.windows.layout import windows_settings

    return windows_settings(settings_data(host), system, host=host.name)  # type: ignore[arg-type]


def remote_prefix(settings: Settings) -> str:
    prefix = settings.conda_prefix
    return "~" + prefix[len(_HOME):] if prefix.startswith(_HOME) else prefix


def fix_command(inventory: Path, host: str, deploy: str = "deploy.py") -> str:
    """The command that re-provisions one host (what ``check --fix`` runs for all drifted)."""
    return shlex.join(["pyinfra", str(inventory), deploy, "--limit", host, "-y"])


def gather(state: State, kwargs_by_host: dict[Host, dict[str, object]],
           command_timeout: int,
           on_done: Callable[[Host, Gathered], None] | None = None) -> dict[Host, Gathered]:
    """Run the check command on every host at once (``state.pool`` greenlets); ``on_done`` is
    called with each host's result as soon as that host has finished.

    A host's ``_timeout`` in ``kwargs_by_host``: the seconds its command may take (default
    ``command_timeout``). Never raises for one host: an unexpected error there becomes that
    host's ``Gathered.error``.
    """

    def one(host: Host) -> Gathered:
        args = dict(kwargs_by_host[host])
        timeout = int(str(args.pop("_timeout", command_timeout)))
        with ctx_state.use(state), ctx_host.use(host):
            try:
                host.connect(raise_exceptions=True, show_errors=False)
            except ConnectError as err:
                return Gathered(None, f"cannot connect: {err}")
            except (OSError, PyinfraError) as err:
                return Gathered(None, f"cannot connect: {err}")
            try:
                if is_windows_host(host):
                    return gather_windows(host, timeout, **args)
                output = get_fact(state, host, CheckSnapshot, kwargs={**args, "_timeout": timeout},
                                  apply_failed_hosts=False)
            except (OSError, PyinfraError, SSHException) as err:
                return Gathered(None, no_answer(err, timeout))
            except Exception as err:  # bad data on this host: it fails alone, quietly
                return Gathered(None, error=err)
            finally:
                with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                    host.disconnect()
            if not output.strip():
                return Gathered(None, "the check command did not complete "
                                      f"(connection lost, or no answer within {timeout} s)")
            return Gathered(output)

    greenlets = {host: state.pool.spawn(one, host) for host in kwargs_by_host}
    by_greenlet = {greenlet: host for host, greenlet in greenlets.items()}
    results: dict[Host, Gathered] = {}
    for greenlet in gevent.iwait(list(greenlets.values())):
        host = by_greenlet[greenlet]
        results[host] = _outcome(greenlet)
        if on_done is not None:
            on_done(host, results[host])
    return {host: results[host] for host in greenlets}


def no_answer(error: BaseException, timeout: int) -> str:
    """Why a host gave no answer, in words (pyinfra's ``TimeoutError`` carries no message)."""
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout} s"
    return str(error) or type(error).__name__


def gather_windows(host: Host, command_timeout: int, *, kernel_timeout: object = 60) -> Gathered:
    """A Windows PC's snapshot: its system facts, then (with the paths they decide) its GPUs,
    conda install and deployed files (:func:`labtorch.check.gather.windows_scripts`).

    No answer to the system script: the PC is unreachable (with PowerShell's own words when it
    printed some). A later script that fails or times out keeps what came before; the failure
    lands in a ``<part>-error`` part, which the judge names. Inventory data that does not fit
    the PC (a bad prefix) is that host's ``LabtorchError``.
    """
    from labtorch.windows.facts import WindowsSystem, parse_system
    from labtorch.windows.layout import Layout

    def run(text: str) -> tuple[str, str | None]:
        try:
            ok, output = host.run_shell_command(StringCommand(text), _timeout=command_timeout)
        except TimeoutError as err:
            return "", no_answer(err, command_timeout)
        out = "\n".join(output.stdout_lines)
        if out.strip():
            return out, None
        said = " ".join(" ".join(output.stderr_lines).split())[-300:]
        return "", said or ("it failed and printed nothing" if not ok else "it printed nothing")

    system_text, problem = run(WindowsSystem().command())
    if problem:
        return Gathered(None, f"the system script gave no answer: {problem}")
    system = parse_system(system_text)
    try:
        settings = windows_host_settings(host, system)
    except LabtorchError as err:
        return Gathered(None, error=err)
    where = Layout.of(settings, system)
    parts = {"windows-prefix": where.prefix, "windows-system": system_text}
    for name, text in windows_scripts(where, kernel_timeout=int(str(kernel_timeout))).items():
        parts[name], problem = run(text)
        if problem:
            parts[f"{name}-error"] = problem
    return Gathered(join_parts(parts))


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
              deploy: str = "deploy.py",
              on_report: Callable[[HostReport], None] | None = None) -> CheckRun:
    """Check every host of the inventory; one ``HostReport`` per host, in inventory order.
    ``on_report`` gets each host's report as soon as that host is done (live progress)."""
    with _pyinfra_quiet():
        return _run_check(inventory_path, parallel=parallel, connect_timeout=connect_timeout,
                          command_timeout=command_timeout, kernel_timeout=kernel_timeout,
                          deploy=deploy, on_report=on_report)


def _run_check(inventory_path: Path, *, parallel: int | None, connect_timeout: int,
               command_timeout: int, kernel_timeout: int, deploy: str,
               on_report: Callable[[HostReport], None] | None = None) -> CheckRun:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = time.monotonic()
    state = State(check_for_changes=False)
    config = Config(PARALLEL=parallel or 0, CONNECT_TIMEOUT=connect_timeout)
    inventory = load_inventory(inventory_path, state, config)
    state.init(inventory, config)
    room_default = inventory_path.stem

    hosts = list(inventory)
    reports: dict[str, HostReport] = {}
    settings: dict[Host, Settings | None] = {}
    kwargs: dict[Host, dict[str, object]] = {}
    for host in hosts:
        room = str(host.data.get("labtorch_room") or room_default)
        try:
            if is_windows_host(host):  # what can be checked before the PC tells its paths
                windows_host_settings(host, _WINDOWS_PLACEHOLDER)
                settings[host] = None
            else:
                settings[host] = host_settings(host)
            kernel = whole_number(host.data.get("labtorch_verify_kernel_timeout")
                                  or kernel_timeout, "labtorch_verify_kernel_timeout",
                                  host.name, minimum=1)
            verify = whole_number(host.data.get("labtorch_verify_timeout") or command_timeout,
                                  "labtorch_verify_timeout", host.name, minimum=1)
        except LabtorchError as err:
            settings.pop(host, None)
            reports[host.name] = settings_error_report(host.name, room, err)
            if on_report is not None:
                on_report(reports[host.name])
            continue
        given = settings[host]
        kwargs[host] = {"kernel_timeout": kernel,
                        "_timeout": max(command_timeout, verify)}  # verification may take that
        if given is not None:
            kwargs[host].update(conda_prefix=remote_prefix(given), env_name=given.env_name)

    def judged(host: Host, result: Gathered) -> None:
        room = str(host.data.get("labtorch_room") or room_default)
        fix = fix_command(inventory_path, host.name, deploy)
        try:
            reports[host.name] = host_report(host, room, result, settings[host], fix)
        except Exception as err:  # one host's bad data never stops the rest of the room
            reports[host.name] = check_error_report(host.name, room, err, fix=fix)
        if on_report is not None:
            on_report(reports[host.name])

    if kwargs:
        gather(state, kwargs, command_timeout, on_done=judged)
    return CheckRun(
        started_at=started,
        inventory=str(inventory_path.resolve()),
        hosts=tuple(reports[h.name] for h in hosts),
        duration_s=time.monotonic() - clock,
    )


def host_report(host: Host, room: str, result: Gathered, settings: Settings | None,
                fix: str) -> HostReport:
    """One host's report from what was gathered there (may raise on data it cannot read;
    ``_run_check`` turns that into a failing report for this host alone). ``settings`` is None
    for a Windows PC (its settings come from its own system facts)."""
    if isinstance(result.error, LabtorchError):  # its inventory data does not fit the host
        return settings_error_report(host.name, room, result.error)
    if result.error is not None:
        return check_error_report(host.name, room, result.error, fix=fix)
    if result.output is None:
        return unreachable_report(host.name, room, result.unreachable or "")
    snapshot = parse_snapshot(result.output, remote_prefix(settings) if settings else None)
    try:
        if snapshot.system.os == "windows":
            seen = windows_host_settings(host, snapshot.system)
        else:
            seen = host_settings(host, home=snapshot.system.home or "/root",
                                 os=snapshot.system.os)
    except LabtorchError as err:
        return settings_error_report(host.name, room, err)
    report = evaluate_host(host.name, room, snapshot, seen, fix=fix)
    _record_archs(host.name, snapshot)
    return report


def _record_archs(host: str, snapshot: object) -> None:
    """Hand the verification's arch list to the release-data overlay (labtorch.archs_seen);
    a problem there never changes the host's report."""
    from labtorch.archs_seen import observation, record

    plan = getattr(snapshot, "plan", None) or {}
    seen = observation(host, plan.get("plan") if isinstance(plan, dict) else None,
                       getattr(snapshot, "verify", None),
                       getattr(getattr(snapshot, "system", None), "arch", None))
    if seen is not None:
        with contextlib.suppress(OSError, LabtorchError):
            record(seen)
