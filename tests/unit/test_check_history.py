"""The check history: runs stored in SQLite, the trend per room."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from labtorch.check import history
from labtorch.check.model import CheckResult, CheckRun, HostReport
from labtorch.errors import LabtorchError


def run_at(when: str, inventory: str, statuses: dict[str, tuple[str, str]]) -> CheckRun:
    hosts = tuple(
        HostReport(host, room, (CheckResult(host, "plan", status),))  # type: ignore[arg-type]
        for host, (room, status) in statuses.items()
    )
    return CheckRun(when, inventory, hosts)


def test_state_dir_follows_labtorch_state_dir(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("LABTORCH_STATE_DIR", str(tmp_path / "state"))
    assert history.default_path() == tmp_path / "state" / "history.sqlite"
    monkeypatch.delenv("LABTORCH_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert history.state_dir() == tmp_path / "xdg" / "labtorch"


def test_latest_returns_the_newest_run_of_an_inventory(tmp_path: Path) -> None:
    with history.History(tmp_path / "h.sqlite") as store:
        assert store.latest() is None
        first = run_at("2026-11-01T06:00:00Z", "a.py", {"pc01": ("a", "pass")})
        second = run_at("2026-11-02T06:00:00Z", "a.py", {"pc01": ("a", "drift")})
        other = run_at("2026-11-03T06:00:00Z", "b.py", {"pc09": ("b", "pass")})
        for run in (first, second, other):
            store.add(run)
        assert store.latest("a.py") == second
        assert store.latest() == other
        assert store.inventories() == ["a.py", "b.py"]


def test_runs_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "h.sqlite"
    run = run_at("2026-11-01T06:00:00Z", "a.py", {"pc01": ("a", "simulated")})
    with history.History(path) as store:
        store.add(run)
    with history.History(path) as store:
        assert store.latest() == run


def test_trend_counts_compliant_hosts_per_room_and_run_oldest_first(tmp_path: Path) -> None:
    with history.History(tmp_path / "h.sqlite") as store:
        store.add(run_at("2026-11-02T06:00:00Z", "a.py", {
            "pc01": ("r1", "pass"), "pc02": ("r1", "fail"), "pc03": ("r2", "unreachable")}))
        store.add(run_at("2026-11-01T06:00:00Z", "a.py", {
            "pc01": ("r1", "pass"), "pc02": ("r1", "simulated"), "pc03": ("r2", "pass")}))
        store.add(run_at("2026-11-03T06:00:00Z", "other.py", {"x": ("r9", "pass")}))
        trend = store.trend("a.py")
    assert [(p.started_at[:10], p.room, p.compliant, p.total) for p in trend] == [
        ("2026-11-01", "r1", 2, 2),
        ("2026-11-01", "r2", 1, 1),
        ("2026-11-02", "r1", 1, 2),
        ("2026-11-02", "r2", 0, 1),
    ]


def test_trend_keeps_only_the_last_runs(tmp_path: Path) -> None:
    base = run_at("2026-11-01T06:00:00Z", "a.py", {"pc01": ("r", "pass")})
    with history.History(tmp_path / "h.sqlite") as store:
        for day in range(1, 6):
            store.add(replace(base, started_at=f"2026-11-0{day}T06:00:00Z"))
        trend = store.trend("a.py", last=2)
    assert [p.started_at[:10] for p in trend] == ["2026-11-04", "2026-11-05"]


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LabtorchError, match="LABTORCH_STATE_DIR"):
        history.History(blocker / "h.sqlite")
