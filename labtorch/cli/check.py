"""`labtorch check`, `report`, `inventory-report` and `schedule`: compliance re-checks of a room.

``labtorch check INVENTORY`` exits 0 when every host complies, 1 when a checked host drifted or
failed, 3 when a host could not be checked (the unreachable hosts are named), 2 on bad input
(the exit codes of :mod:`labtorch.cli`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import click
from rich.console import Console

from labtorch.check import history, render, schedule
from labtorch.check.model import CheckRun, HostReport, room_summary
from labtorch.cli.codes import EXIT_UNREACHABLE
from labtorch.cli.output import (
    deprecated,
    format_option,
    output_option,
    show,
    to_stdout,
    write,
)
from labtorch.errors import LabtorchError

#: The room deploy in pyinfra's module form (``pyinfra INVENTORY labtorch.deploys.room``).
PACKAGED_DEPLOY = "labtorch.deploys.room"

_inventory_arg = click.argument(
    "inventory", type=click.Path(dir_okay=False, path_type=Path), metavar="INVENTORY"
)


def _console() -> Console:
    """stdout console; when stdout is not a terminal (cron, CI logs) tables get 160 columns
    instead of rich's 80 so that no cell is cut."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


@click.command()
@_inventory_arg
@click.option("--fix", is_flag=True,
              help="Re-run the deploy on drifted or failed hosts only, then check again.")
@click.option("--deploy", "deploy_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The deploy file --fix runs (default: the packaged deploy, "
              f"{PACKAGED_DEPLOY}).")
@format_option
@output_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Deprecated: also write the run as JSON to FILE ('-': stdout, no table); "
              "use --format json [--output FILE].")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML (one testcase per host × check).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the self-contained HTML report (with the trend from the history).")
@click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep check-<time>.{html,json,xml} and latest.* in this folder.")
@click.option("--no-history", is_flag=True, help="Do not store this run in the history.")
@click.option("--parallel", type=click.IntRange(min=1), default=None,
              help="Hosts checked at once (default: pyinfra's, 20 × CPU cores).")
@click.option("--connect-timeout", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seconds to wait for a host's SSH connection before calling it unreachable.")
@click.option("--testinfra", "with_testinfra", is_flag=True,
              help="Also run the testinfra suite (shipped in labtorch/check/suite) over every host "
              "(in parallel when pytest-xdist is installed) and add its verdict as a column "
              "(slower: a round trip per assertion).")
def check(inventory: Path, fix: bool, deploy_file: Path | None, output_format: str,
          output: Path | None, json_out: Path | None,
          junit_out: Path | None, html_out: Path | None, reports_dir: Path | None,
          no_history: bool, parallel: int | None, connect_timeout: int,
          with_testinfra: bool) -> None:
    """Re-check every host of INVENTORY: fresh facts, re-plan (a changed plan is drift) and the
    verification, one remote command per Linux host (four PowerShell scripts per Windows PC),
    all hosts in parallel. Each host's verdict is printed on stderr as soon as it is known; the
    table (or JSON) follows on stdout or in --output FILE."""
    from labtorch.check.run import fix_command, run_check

    deploy_name = str(deploy_file) if deploy_file else PACKAGED_DEPLOY
    if json_out is not None:
        deprecated("--json FILE", "--format json [--output FILE]")
    table_quiet = json_out == Path("-") or output_format == "json" or not to_stdout(output)

    def progress(report: HostReport) -> None:  # live: one line per host as it finishes
        click.echo(f"labtorch: {report.host}: {report.status}", err=True)

    def checked() -> CheckRun:
        run = run_check(inventory, parallel=parallel, connect_timeout=connect_timeout,
                        deploy=deploy_name, on_report=progress)
        if with_testinfra:
            from labtorch.check import testinfra

            results = testinfra.run_suite(inventory, len(run.hosts))
            run = testinfra.merge(run, results,
                                  {h.host: fix_command(inventory, h.host, deploy_name)
                                   for h in run.hosts})
        return run

    console = _console()
    run = checked()
    _show(console, run, quiet=table_quiet)
    if fix and run.drifted:
        _store(run, no_history, json_out=None, junit_out=None, html_out=None, reports_dir=None)
        deploy = _find_deploy(inventory, deploy_file)
        click.echo(f"labtorch: fixing {len(run.drifted)} host(s): {', '.join(run.drifted)}",
                   err=True)
        rc = run_fix(inventory, deploy, run.drifted)
        if rc != 0:
            click.echo(f"labtorch: the deploy exited {rc}; checking again to see what is left",
                       err=True)
        run = checked()
        _show(console, run, quiet=table_quiet)
    elif fix:
        click.echo("labtorch: nothing to fix", err=True)
    _store(run, no_history, json_out, junit_out, html_out, reports_dir)
    if output_format == "json":
        write(render.to_json(run), output)
    elif not to_stdout(output):
        show(render.check_table(run), *render.problem_lines(run), _summary(run), output=output)
    if run.unreachable:
        click.echo(f"labtorch: could not check {len(run.unreachable)} host(s): "
                   f"{', '.join(run.unreachable)}", err=True)
    sys.exit(run.exit_code)


@click.command("inventory-report")
@_inventory_arg
@format_option
@output_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Deprecated: also write the versions per host as JSON to FILE ('-': stdout, "
              "no table); use --format json [--output FILE].")
@click.option("--parallel", type=click.IntRange(min=1), default=None,
              help="Hosts asked at once (default: pyinfra's, 20 × CPU cores).")
@click.option("--connect-timeout", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seconds to wait for a host's SSH connection before calling it unreachable.")
def inventory_report(inventory: Path, output_format: str, output: Path | None,
                     json_out: Path | None, parallel: int | None, connect_timeout: int) -> None:
    """Per host: GPU(s), compute capability, driver and its CUDA version, conda, Python, torch
    version and variant (one remote command per Linux host, four scripts per Windows PC;
    nothing is stored or changed)."""
    import json

    from labtorch.check.model import versions_dict
    from labtorch.check.run import run_check

    if json_out is not None:
        deprecated("--json FILE", "--format json [--output FILE]")
    run = run_check(inventory, parallel=parallel, connect_timeout=connect_timeout)
    data = [{"host": h.host, "room": h.room, "reachable": h.status != "unreachable",
             **versions_dict(h.versions)} for h in run.hosts]
    if json_out is not None:
        _write(json_out, json.dumps(data, indent=2) + "\n")
    if output_format == "json":
        write(json.dumps(data, indent=2) + "\n", output)
    elif json_out != Path("-"):
        show(render.inventory_table(run), output=output)
    if run.unreachable:
        click.echo(f"labtorch: could not reach {', '.join(run.unreachable)}", err=True)
        sys.exit(EXIT_UNREACHABLE)


@click.command()
@click.argument("inventory", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the report (default: <state dir>/reports/report.html).")
@click.option("--last", type=click.IntRange(min=1), default=60, show_default=True,
              help="How many stored runs the trend shows.")
def report(inventory: Path | None, html_out: Path | None, last: int) -> None:
    """Render the newest stored check (of INVENTORY, if given) and the compliance trend per room
    as a self-contained HTML report."""
    with history.History() as store:
        key = str(inventory.resolve()) if inventory else None
        run = store.latest(key)
        if run is None:
            raise LabtorchError(
                f"no stored check run{' for ' + str(inventory) if inventory else ''} in "
                f"{store.path}", fix="run `labtorch check INVENTORY` first")
        trend = store.trend(run.inventory, last=last)
    out = html_out or history.state_dir() / "reports" / "report.html"
    _write(out, render.to_html(run, trend))
    _console().print(render.check_table(run))
    click.echo(f"report: {out}")


@click.command("schedule")
@click.argument("inventory", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--every", type=click.Choice(["hourly", "daily", "weekly"]), default="daily",
              show_default=True)
@click.option("--at", "at", default="06:00", show_default=True,
              help="Time of day HH:MM (the minute past the hour for --every hourly).")
@click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where each run keeps its reports (default: <state dir>/reports/<name>).")
@click.option("--backend", type=click.Choice(["auto", "systemd", "cron", "windows"]),
              default="auto", show_default=True,
              help="auto: systemd when it runs, else cron; Windows controllers get the schtasks "
              "command printed.")
@click.option("--name", default=None, help="Schedule name (default: the inventory's file name).")
@click.option("--remove", is_flag=True, help="Remove the schedule labtorch created.")
def schedule_cmd(inventory: Path | None, every: str, at: str, reports_dir: Path | None,
                 backend: str, name: str | None, remove: bool) -> None:
    """Run `labtorch check INVENTORY` on a timer on this admin machine (systemd timer or cron
    entry; on Windows the equivalent Task Scheduler command is printed)."""
    if name is None:
        if inventory is None:
            raise LabtorchError("schedule needs an INVENTORY or --name",
                                fix="e.g. `labtorch schedule inventory/room1.py`")
        name = schedule.schedule_name(inventory)
    chosen = _backend(backend)
    if remove:
        _remove_schedule(name, chosen)
        return
    if inventory is None or not inventory.is_file():
        raise LabtorchError(f"inventory {inventory} not found",
                            fix="pass the path of a pyinfra inventory file")
    reports = (reports_dir or history.state_dir() / "reports" / name).resolve()
    command = (*_labtorch_argv(chosen), "check", str(inventory.resolve()),
               "--reports-dir", str(reports))
    environment = (("LABTORCH_STATE_DIR", str(history.state_dir().resolve())),)
    sched = schedule.Schedule(name=name, command=command, workdir=Path.cwd(),
                              every=cast(schedule.Every, every), at=at, environment=environment)
    if chosen == "windows":
        click.echo("Run this in an elevated prompt on the controller:")
        click.echo(schedule.schtasks_create(sched))
        return
    if chosen == "systemd":
        unit_dir, systemctl = _systemd_scope()
        paths = schedule.install_systemd(sched, unit_dir, systemctl, _run)
        click.echo(f"installed {', '.join(str(p) for p in paths)}; "
                   f"timer {sched.unit}.timer enabled ({schedule.on_calendar(sched)})")
        if os.geteuid() != 0:
            click.echo("note: user timers run only while you are logged in unless you run "
                       "`loginctl enable-linger`")
    else:
        schedule.write_crontab(schedule.cron_add(schedule.read_crontab(), sched))
        click.echo(f"crontab entry added:\n{schedule.cron_block(sched)}", nl=False)
    click.echo(f"reports will be kept in {reports}")


COMMANDS: list[click.Command] = [check, report, inventory_report, schedule_cmd]


# --- helpers ------------------------------------------------------------------------------------


def fix_argv(inventory: Path, deploy: Path | str, hosts: Sequence[str]) -> list[str]:
    """``pyinfra INVENTORY DEPLOY --limit h1 --limit h2 -y`` (pyinfra takes one host name or
    glob per ``--limit``; "h1,h2" would match no host)."""
    limits = [arg for host in hosts for arg in ("--limit", host)]
    return [sys.executable, "-m", "pyinfra", str(inventory), str(deploy), *limits, "-y"]


def run_fix(inventory: Path, deploy: Path | str, hosts: Sequence[str]) -> int:
    """Re-run the deploy on ``hosts`` only; returns pyinfra's exit code."""
    return subprocess.run(fix_argv(inventory, deploy, hosts), check=False).returncode


def _find_deploy(inventory: Path, deploy_file: Path | None) -> Path | str:
    """The deploy file given with --deploy (it must exist), else the packaged deploy."""
    if deploy_file is None:
        return PACKAGED_DEPLOY
    if not deploy_file.is_file():
        raise LabtorchError(f"no deploy file at {deploy_file}",
                            fix=f"pass an existing --deploy FILE, or leave it out to run "
                                f"{PACKAGED_DEPLOY}")
    return deploy_file


def _show(console: Console, run: CheckRun, quiet: bool) -> None:
    if quiet:
        return
    console.print(render.check_table(run))
    for line in render.problem_lines(run):
        console.print(line, markup=False)
    console.print(_summary(run), markup=False)


def _summary(run: CheckRun) -> str:
    summary = ", ".join(
        f"{room}: {s['compliant']}/{s['total']} compliant"
        for room, s in ((r, room_summary(run, r)) for r in run.rooms))
    return summary or "no hosts"


def _store(run: CheckRun, no_history: bool, json_out: Path | None, junit_out: Path | None,
           html_out: Path | None, reports_dir: Path | None) -> None:
    trend = []
    if not no_history:
        with history.History() as store:
            store.add(run)
            trend = store.trend(run.inventory)
    if json_out is not None:
        _write(json_out, render.to_json(run))
    if junit_out is not None:
        _write(junit_out, render.to_junit(run))
    if html_out is not None:
        _write(html_out, render.to_html(run, trend))
    if reports_dir is not None:
        stamp = run.started_at.replace(":", "").replace("-", "")
        for suffix, text in (("html", render.to_html(run, trend)), ("json", render.to_json(run)),
                             ("xml", render.to_junit(run))):
            _write(reports_dir / f"check-{stamp}.{suffix}", text)
            _write(reports_dir / f"latest.{suffix}", text)


def _write(path: Path, text: str) -> None:
    """A report file (``-``: stdout), never over a system file: :func:`output.write`."""
    from labtorch.cli.output import write

    write(text, path, option="a report path")


def _backend(choice: str) -> str:
    if choice != "auto":
        return choice
    if sys.platform == "win32":
        return "windows"
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        return "systemd"
    return "cron"


def _systemd_scope() -> tuple[Path, tuple[str, ...]]:
    if os.geteuid() == 0:
        return Path("/etc/systemd/system"), ("systemctl",)
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "systemd" / "user", ("systemctl", "--user")


def _labtorch_argv(backend: str) -> tuple[str, ...]:
    script = Path(sys.executable).parent / ("labtorch.exe" if backend == "windows" else "labtorch")
    if script.exists():
        return (str(script),)
    found = shutil.which("labtorch")
    return (found,) if found else (sys.executable, "-c",
                                   "from labtorch.cli import main; main()")


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabtorchError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}",
                            fix="check that systemd runs here, or use --backend cron")


def _remove_schedule(name: str, backend: str) -> None:
    if backend == "windows":
        click.echo("Run this in an elevated prompt on the controller:")
        click.echo(schedule.schtasks_delete(name))
        return
    if backend == "systemd":
        unit_dir, systemctl = _systemd_scope()
        removed = schedule.remove_systemd(name, unit_dir, systemctl, _run)
        click.echo(f"removed {', '.join(map(str, removed))}" if removed
                   else f"no labtorch schedule {name!r} in {unit_dir}; nothing removed")
        return
    before = schedule.read_crontab()
    after = schedule.cron_remove(before, name)
    if after == before:
        click.echo(f"no labtorch schedule {name!r} in the crontab; nothing removed")
        return
    schedule.write_crontab(after)
    click.echo(f"removed the crontab entry of {name!r}")
