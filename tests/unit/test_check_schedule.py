"""Scheduling the check: systemd units, crontab blocks, the Windows schtasks command."""

from __future__ import annotations

import configparser
from collections.abc import Sequence
from pathlib import Path

import pytest

from labtorch.check import schedule
from labtorch.errors import LabtorchError


def make(every: str = "daily", at: str = "06:30") -> schedule.Schedule:
    return schedule.Schedule(
        name="room-a101",
        command=("/opt/venv/bin/labtorch", "check", "/srv/lab/inv/room a101.py",
                 "--reports-dir", "/var/lib/labtorch/reports"),
        workdir=Path("/srv/lab"),
        every=every,  # type: ignore[arg-type]
        at=at,
        environment=(("LABTORCH_STATE_DIR", "/var/lib/labtorch"),),
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> None:
        self.calls.append(list(argv))


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


@pytest.mark.parametrize(("every", "expected"), [
    ("daily", "*-*-* 06:30:00"),
    ("hourly", "*-*-* *:30:00"),
    ("weekly", "Mon *-*-* 06:30:00"),
])
def test_timer_runs_at_the_asked_time(every: str, expected: str) -> None:
    timer = schedule.systemd_units(make(every))["labtorch-check-room-a101.timer"]
    assert _ini(timer)["Timer"]["OnCalendar"] == expected


def test_service_runs_the_check_in_the_workdir_with_quoted_paths() -> None:
    service = _ini(schedule.systemd_units(make())["labtorch-check-room-a101.service"])["Service"]
    assert service["Type"] == "oneshot"
    assert service["WorkingDirectory"] == "/srv/lab"
    assert service["ExecStart"] == ('/opt/venv/bin/labtorch check "/srv/lab/inv/room a101.py" '
                                    "--reports-dir /var/lib/labtorch/reports")
    assert service["Environment"] == "LABTORCH_STATE_DIR=/var/lib/labtorch"


def test_install_writes_units_and_enables_the_timer(tmp_path: Path) -> None:
    run = Recorder()
    written = schedule.install_systemd(make(), tmp_path / "units", ("systemctl", "--user"), run)
    assert sorted(p.name for p in written) == ["labtorch-check-room-a101.service",
                                               "labtorch-check-room-a101.timer"]
    assert run.calls == [["systemctl", "--user", "daemon-reload"],
                         ["systemctl", "--user", "enable", "--now",
                          "labtorch-check-room-a101.timer"]]
    # installing again replaces labtorch's own units
    schedule.install_systemd(make(at="07:00"), tmp_path / "units", ("systemctl",), run)
    assert "07:00:00" in (tmp_path / "units" / "labtorch-check-room-a101.timer").read_text()


def test_install_refuses_to_overwrite_a_unit_labtorch_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "labtorch-check-room-a101.timer").write_text("[Timer]\nOnCalendar=daily\n")
    with pytest.raises(LabtorchError, match="not created by labtorch"):
        schedule.install_systemd(make(), tmp_path, ("systemctl",), Recorder())
    assert (tmp_path / "labtorch-check-room-a101.timer").read_text().startswith("[Timer]")


def test_remove_deletes_only_labtorch_units(tmp_path: Path) -> None:
    run = Recorder()
    schedule.install_systemd(make(), tmp_path, ("systemctl",), run)
    foreign = tmp_path / "labtorch-check-other.timer"
    foreign.write_text("[Timer]\n")
    removed = schedule.remove_systemd("room-a101", tmp_path, ("systemctl",), run)
    assert sorted(p.name for p in removed) == ["labtorch-check-room-a101.service",
                                               "labtorch-check-room-a101.timer"]
    assert [p.name for p in tmp_path.iterdir()] == ["labtorch-check-other.timer"]
    assert ["systemctl", "disable", "--now", "labtorch-check-room-a101.timer"] in run.calls
    assert schedule.remove_systemd("other", tmp_path, ("systemctl",), run) == []
    assert foreign.exists()


def test_cron_add_and_remove_keep_every_other_line() -> None:
    mine = "MAILTO=admin\n0 1 * * * /usr/local/bin/backup\n"
    added = schedule.cron_add(mine, make())
    assert added.startswith(mine)
    line = next(x for x in added.splitlines() if "labtorch" in x and not x.startswith("#"))
    assert line.startswith("30 6 * * * cd /srv/lab && LABTORCH_STATE_DIR=/var/lib/labtorch ")
    assert "'/srv/lab/inv/room a101.py'" in line
    again = schedule.cron_add(added, make(at="07:15"))
    assert again.count("labtorch schedule room-a101 begin") == 1
    assert "15 7 * * *" in again
    assert schedule.cron_remove(again, "room-a101") == mine
    assert schedule.cron_remove(mine, "room-a101") == mine


def test_schtasks_command_names_the_task_and_time() -> None:
    command = schedule.schtasks_create(make("weekly", "06:05"))
    assert command.startswith('schtasks /Create /TN "labtorch\\labtorch-check-room-a101" /TR "')
    assert '\\"/srv/lab/inv/room a101.py\\"' in command
    assert command.endswith("/SC WEEKLY /D MON /ST 06:05 /F")
    assert schedule.schtasks_delete("room-a101") == \
        'schtasks /Delete /TN "labtorch\\labtorch-check-room-a101" /F'


@pytest.mark.parametrize("at", ["25:00", "6", "06:60", "noon"])
def test_bad_time_is_a_clear_error(at: str) -> None:
    with pytest.raises(LabtorchError, match="HH:MM"):
        make(at=at)


def test_schedule_name_comes_from_the_inventory_file() -> None:
    assert schedule.schedule_name(Path("inventory/room a101.py")) == "room-a101"
    with pytest.raises(LabtorchError, match="--name"):
        schedule.Schedule("bad name", ("x",), Path("/"))


def test_cron_remove_refuses_a_block_without_end_marker_and_keeps_the_admins_lines() -> None:
    block = schedule.cron_block(make()).splitlines(keepends=True)
    broken = "MAILTO=admin\n" + "".join(block[:-1]) + "0 1 * * * /usr/local/bin/backup\n"
    with pytest.raises(LabtorchError, match="no end marker") as caught:
        schedule.cron_remove(broken, "room-a101")
    assert "by hand" in (caught.value.fix or "")
    with pytest.raises(LabtorchError, match="no end marker"):
        schedule.cron_add(broken, make())


def test_crontab_listing_is_empty_only_when_crontab_says_there_is_none() -> None:
    assert schedule.crontab_listing(0, "MAILTO=admin\n", "") == "MAILTO=admin\n"
    assert schedule.crontab_listing(1, "", "no crontab for alice\n") == ""


@pytest.mark.parametrize("stderr", [
    "crontab: your UID isn't in the passwd file.\n",
    "You (alice) are not allowed to use this program (crontab)\n",
    "",
])
def test_crontab_listing_raises_on_any_other_failure(stderr: str) -> None:
    with pytest.raises(LabtorchError, match="crontab -l` failed"):
        schedule.crontab_listing(1, "", stderr)


def test_read_crontab_raises_when_crontab_l_fails_for_another_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def refused(argv: Sequence[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), 1, "", "crontab: permission denied\n")

    monkeypatch.setattr(schedule.subprocess, "run", refused)
    with pytest.raises(LabtorchError, match="permission denied"):
        schedule.read_crontab()
