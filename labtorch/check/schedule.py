"""Run ``labtorch check`` on a schedule from the admin machine, keeping every report.

Three back ends, chosen once:

- ``systemd``: a ``labtorch-check-<name>.service`` + ``.timer`` pair in the user's unit folder
  (``~/.config/systemd/user``) or, as root, in ``/etc/systemd/system``;
- ``cron``: one marked block in the user's crontab;
- Windows controllers: the ``schtasks /Create`` command is printed for the admin to run.

Everything labtorch writes carries ``MARKER``; ``remove`` deletes only what carries it, so a unit
or crontab line an admin wrote by hand is never touched.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labtorch.errors import LabtorchError

MARKER = "# Created by `labtorch schedule`; `labtorch schedule --remove` deletes it."
Every = Literal["hourly", "daily", "weekly"]
Runner = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class Schedule:
    """One scheduled check.

    ``name`` becomes the unit / task name (``labtorch-check-<name>``); ``command`` is the full
    argv of the check; ``at`` is "HH:MM" (the minute past the hour for ``hourly``).
    """

    name: str
    command: tuple[str, ...]
    workdir: Path
    every: Every = "daily"
    at: str = "06:00"
    environment: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise LabtorchError(
                f"schedule name {self.name!r} has characters a unit or task name cannot carry",
                fix="use letters, digits, '.', '_' or '-' (--name)",
            )
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", self.at):
            raise LabtorchError(f"--at {self.at!r} is not a time of day",
                                fix="pass it as HH:MM, e.g. --at 06:30")

    @property
    def unit(self) -> str:
        return f"labtorch-check-{self.name}"

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.at.split(":")
        return int(hour), int(minute)


def schedule_name(inventory: Path) -> str:
    """A unit-safe name from an inventory file: ``inventory/room-a101.py`` → ``room-a101``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", inventory.stem) or "lab"


# --- systemd ------------------------------------------------------------------------------------


def on_calendar(schedule: Schedule) -> str:
    """The timer's ``OnCalendar=`` value.

    >>> on_calendar(Schedule("r", ("labtorch",), Path("/"), "weekly", "6:05"))
    'Mon *-*-* 06:05:00'
    """
    hour, minute = schedule.hour_minute
    if schedule.every == "hourly":
        return f"*-*-* *:{minute:02d}:00"
    if schedule.every == "weekly":
        return f"Mon *-*-* {hour:02d}:{minute:02d}:00"
    return f"*-*-* {hour:02d}:{minute:02d}:00"


def systemd_units(schedule: Schedule) -> dict[str, str]:
    """File name → text of the service and timer units."""
    env_lines = "".join(
        f"Environment={_systemd_quote(f'{key}={value}')}\n" for key, value in schedule.environment
    )
    service = (
        f"{MARKER}\n"
        "[Unit]\n"
        f"Description=labtorch compliance check ({schedule.name})\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_systemd_quote(str(schedule.workdir))}\n"
        f"{env_lines}"
        f"ExecStart={' '.join(_systemd_quote(arg) for arg in schedule.command)}\n"
    )
    timer = (
        f"{MARKER}\n"
        "[Unit]\n"
        f"Description=Run the labtorch compliance check ({schedule.name}) {schedule.every}\n\n"
        "[Timer]\n"
        f"OnCalendar={on_calendar(schedule)}\n"
        "Persistent=true\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{schedule.unit}.service": service, f"{schedule.unit}.timer": timer}


def install_systemd(schedule: Schedule, unit_dir: Path, systemctl: Sequence[str],
                    run: Runner) -> list[Path]:
    """Write the units (refusing to overwrite files labtorch did not create), reload systemd
    and enable the timer. ``systemctl`` is e.g. ``("systemctl", "--user")``."""
    units = systemd_units(schedule)
    for name in units:
        _refuse_foreign(unit_dir / name)
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in units.items():
        path = unit_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    run([*systemctl, "daemon-reload"])
    run([*systemctl, "enable", "--now", f"{schedule.unit}.timer"])
    return written


def remove_systemd(name: str, unit_dir: Path, systemctl: Sequence[str], run: Runner) -> list[Path]:
    """Stop and delete the units of schedule ``name`` if labtorch created them."""
    unit = Schedule(name, ("labtorch",), Path("/")).unit
    paths = [p for p in (unit_dir / f"{unit}.timer", unit_dir / f"{unit}.service")
             if _ours(p)]
    if not paths:
        return []
    run([*systemctl, "disable", "--now", f"{unit}.timer"])
    for path in paths:
        path.unlink()
    run([*systemctl, "daemon-reload"])
    return paths


def _refuse_foreign(path: Path) -> None:
    if path.exists() and not _ours(path):
        raise LabtorchError(
            f"{path} exists and was not created by labtorch",
            fix="choose another --name, or move that file away yourself",
        )


def _ours(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(MARKER)
    except OSError:
        return False


def _systemd_quote(arg: str) -> str:
    """Quote one argument for a unit file (systemd's own C-like quoting; '%' doubled)."""
    arg = arg.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- cron ---------------------------------------------------------------------------------------


def cron_block(schedule: Schedule) -> str:
    """The crontab lines for one schedule, between begin/end marker lines."""
    hour, minute = schedule.hour_minute
    when = {
        "hourly": f"{minute} * * * *",
        "daily": f"{minute} {hour} * * *",
        "weekly": f"{minute} {hour} * * 1",
    }[schedule.every]
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in schedule.environment)
    command = f"cd {shlex.quote(str(schedule.workdir))} && " + (f"{env} " if env else "")
    command += shlex.join(schedule.command)
    return (
        f"{_cron_begin(schedule.name)}\n"
        f"{when} {command.replace('%', chr(92) + '%')}\n"
        f"{_cron_end(schedule.name)}\n"
    )


def cron_add(crontab: str, schedule: Schedule) -> str:
    """The crontab with this schedule's block added, or replaced if labtorch wrote it before."""
    return cron_remove(crontab, schedule.name) + cron_block(schedule)


def cron_remove(crontab: str, name: str) -> str:
    """The crontab without schedule ``name``'s marked block; every other line kept as is.

    A block whose end marker is missing (edited by hand) is an error rather than a guess: dropping
    everything after its begin marker would delete the admin's own lines.
    """
    begin, end = _cron_begin(name), _cron_end(name)
    kept, opened_at = [], 0
    for number, line in enumerate(crontab.splitlines(keepends=True), 1):
        stripped = line.rstrip("\n")
        if stripped == begin:
            opened_at = number
        elif opened_at and stripped == end:
            opened_at = 0
        elif not opened_at:
            kept.append(line)
    if opened_at:
        raise LabtorchError(
            f"the crontab's labtorch block {name!r} starting at line {opened_at} has no end "
            f"marker ({end!r}), so labtorch cannot tell its lines from yours",
            fix="fix the crontab by hand (`crontab -e`): delete labtorch's lines of that block, "
                "or add the end marker after them; then run the command again")
    text = "".join(kept)
    return text if not text or text.endswith("\n") else text + "\n"


def read_crontab() -> str:
    """The current user's crontab ('' when there is none).

    Only ``crontab -l`` failing with "no crontab for <user>" means an empty table; any other
    failure is an error, since writing after it would replace the admin's whole crontab.
    """
    try:
        done = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise LabtorchError("crontab is not installed", fix="install cron, or use --backend systemd"
                            ) from err
    return crontab_listing(done.returncode, done.stdout, done.stderr)


def crontab_listing(returncode: int, stdout: str, stderr: str) -> str:
    """The crontab from a ``crontab -l`` result; raises unless it listed one or said none."""
    if returncode == 0:
        return stdout
    if "no crontab for" in stderr.lower():
        return ""
    raise LabtorchError(
        f"`crontab -l` failed (exit {returncode}): {stderr.strip() or 'no message'}",
        fix="check that `crontab -l` works for this user (cron.allow, cron.deny), "
            "or use --backend systemd")


def write_crontab(text: str) -> None:
    done = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise LabtorchError(f"crontab refused the new table: {done.stderr.strip()}",
                            fix="check `crontab -l` and cron's permissions (cron.allow)")


def _cron_begin(name: str) -> str:
    return f"# labtorch schedule {name} begin. {MARKER[2:]}"


def _cron_end(name: str) -> str:
    return f"# labtorch schedule {name} end"


# --- Windows ------------------------------------------------------------------------------------


def schtasks_create(schedule: Schedule) -> str:
    """The ``schtasks /Create`` command that schedules the check on a Windows controller."""
    hour, minute = schedule.hour_minute
    when = {
        "hourly": f"/SC HOURLY /ST 00:{minute:02d}",
        "daily": f"/SC DAILY /ST {hour:02d}:{minute:02d}",
        "weekly": f"/SC WEEKLY /D MON /ST {hour:02d}:{minute:02d}",
    }[schedule.every]
    task = subprocess.list2cmdline(schedule.command)
    return (f'schtasks /Create /TN "labtorch\\{schedule.unit}" /TR "{_schtasks_quote(task)}" '
            f"{when} /F")


def schtasks_delete(name: str) -> str:
    unit = Schedule(name, ("labtorch",), Path("/")).unit
    return f'schtasks /Delete /TN "labtorch\\{unit}" /F'


def _schtasks_quote(task: str) -> str:
    # /TR takes one string; inner quotes are escaped with a backslash (schtasks /? examples)
    return task.replace('"', '\\"')
