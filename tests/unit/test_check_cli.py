"""The check commands as an admin runs them (click), without the lab: bad input, hosts that do
not answer (real SSH attempts to closed loopback ports), history and report, Windows schedule."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cli import main
from labtorch.cli.check import fix_argv


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABTORCH_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_inventory_is_one_line_and_exit_2(state: Path) -> None:
    result = CliRunner().invoke(main, ["check", "no/such/room.py"])
    assert result.exit_code == 2
    assert "inventory no/such/room.py not found" in result.output


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_hosts_that_do_not_answer_are_named_and_exit_3(state: Path, tmp_path: Path) -> None:
    hosts = [(name, {"ssh_hostname": "127.0.0.1", "ssh_port": closed_port(),
                     "ssh_user": "nobody"}) for name in ("pc01", "pc02")]
    inventory = tmp_path / "room-z.py"
    inventory.write_text(f"room = {hosts!r}\n")
    result = CliRunner().invoke(main, ["check", str(inventory), "--format", "json",
                                       "--junit", str(tmp_path / "out.xml")])
    assert result.exit_code == 3, result.output  # unreachable; 2 is bad input
    assert "could not check 2 host(s): pc01, pc02" in result.output
    # live progress on stderr, one line per host as it finishes; stdout holds the JSON alone
    assert {"labtorch: pc01: unreachable", "labtorch: pc02: unreachable"} <= set(
        result.stderr.splitlines())
    assert result.stdout.lstrip().startswith("{")
    run = json.loads(result.output[result.output.index("{"):result.output.rindex("}") + 1])
    assert [(h["host"], h["room"], h["status"]) for h in run["hosts"]] == [
        ("pc01", "room-z", "unreachable"), ("pc02", "room-z", "unreachable")]
    assert (state / "history.sqlite").is_file()

    report = CliRunner().invoke(main, ["report", "--html", str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output
    html = (tmp_path / "r.html").read_text()
    assert 'data-host="pc01"' in html and 'data-host="pc02"' in html


def test_report_without_history_says_to_run_a_check_first(state: Path) -> None:
    result = CliRunner().invoke(main, ["report"])
    assert result.exit_code == 2
    assert "run `labtorch check INVENTORY` first" in result.output


def test_schedule_on_windows_prints_the_schtasks_commands(state: Path, tmp_path: Path) -> None:
    inventory = tmp_path / "room-a101.py"
    inventory.write_text("room = ['pc01']\n")
    created = CliRunner().invoke(main, ["schedule", str(inventory), "--backend", "windows",
                                        "--at", "05:45"])
    assert created.exit_code == 0, created.output
    assert 'schtasks /Create /TN "labtorch\\labtorch-check-room-a101"' in created.output
    assert str(inventory.resolve()) in created.output
    assert "/SC DAILY /ST 05:45 /F" in created.output
    removed = CliRunner().invoke(main, ["schedule", str(inventory), "--backend", "windows",
                                        "--remove"])
    assert 'schtasks /Delete /TN "labtorch\\labtorch-check-room-a101" /F' in removed.output


def test_fix_limits_the_deploy_to_each_drifted_host() -> None:
    argv = fix_argv(Path("inventory/room.py"), Path("deploy.py"), ["pc02", "pc07"])
    assert argv[1:] == ["-m", "pyinfra", "inventory/room.py", "deploy.py",
                        "--limit", "pc02", "--limit", "pc07", "-y"]
