"""The room lock keeps `latest` where it was resolved; arch lists move from assumed to seen.

Real data throughout: the shipped releases plus an overlay that adds torch 2.16 (learned from an
index snapshot by the refresh, as `labtorch data refresh` does).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from test_release_refresh import snapshot

from labtorch import compat
from labtorch.archs_seen import observation, record
from labtorch.check.evaluate import _plan_check
from labtorch.check.gather import Snapshot
from labtorch.cli import main
from labtorch.facts.system import SystemInfo
from labtorch.model import Gpu, GpuFacts, SitePolicy
from labtorch.overlay import read_overlay
from labtorch.planner import plan_host
from labtorch.refresh import refresh
from labtorch.release_index import IndexSource
from labtorch.roles.settings import Settings
from labtorch.room_lock import (
    RoomLock,
    entry_for,
    moves,
    newer_release,
    plan_with_lock,
    read_lock,
    write_lock,
)

RTX_4090 = GpuFacts(os="linux", driver_version="595.71.05", cuda_version="13.2",
                    gpus=(Gpu("NVIDIA GeForce RTX 4090", compute_capability="8.9"),))
GTX_1080 = GpuFacts(os="linux", driver_version="580.95.05", cuda_version="13.0",
                    gpus=(Gpu("NVIDIA GeForce GTX 1080", compute_capability="6.1"),))
REPORTED = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]


def with_216(tmp_path: Path) -> tuple[compat.Compat, dict]:
    texts = compat.shipped_texts()
    learned = refresh(IndexSource(str(snapshot(tmp_path / "index"))), compat.parse(texts),
                      yaml.safe_load(texts["releases.yaml"]), None)
    return compat.parse(texts, overlay=learned.overlay), learned.overlay


def locked_room(tmp_path: Path) -> Path:
    """pc01 (RTX 4090) and pc02 (GTX 1080) locked with today's shipped data."""
    policy = SitePolicy()
    data = compat.parse(compat.shipped_texts())
    hosts = {name: entry_for(plan_host(facts, policy, host=name, data=data), facts, policy)
             for name, facts in (("pc01", RTX_4090), ("pc02", GTX_1080))}
    path = tmp_path / "room.lock.yaml"
    write_lock(path, RoomLock(hosts))
    return path


def test_a_room_on_latest_stays_on_its_lock_when_a_newer_release_is_known(
        tmp_path: Path) -> None:
    path = locked_room(tmp_path)
    data, _ = with_216(tmp_path)
    plan, entry = plan_with_lock(RTX_4090, SitePolicy(), str(path), host="pc01", data=data)
    assert entry is not None and (plan.torch, plan.variant) == (entry.torch, entry.variant)
    assert plan.torch == "2.15.0"
    assert plan_host(RTX_4090, SitePolicy(), data=data).torch == "2.16.0"
    assert newer_release(RTX_4090, SitePolicy(), entry, data=data) == (
        "newer release available: torch 2.16.0 cu132 (locked to torch 2.15.0 cu130; move the "
        "room with `labtorch lock update INVENTORY`)")


def test_the_refresh_shows_which_hosts_would_move_and_why(tmp_path: Path) -> None:
    path = locked_room(tmp_path)
    data, _ = with_216(tmp_path)
    moving, staying = moves(read_lock(path) or RoomLock({}), data)
    assert [m.host for m in moving] == ["pc01"]
    assert moving[0].line().startswith("pc01: torch 2.15.0 cu130 → torch 2.16.0 cu132 (torch "
                                       "2.16.0 is newer")
    assert staying == ["pc02: stays on torch 2.14.1 cu126 (torch 2.16.0 has no build for its "
                       "GPU, driver or Python)"]


def test_a_named_release_is_not_locked_and_a_host_missing_from_the_lock_is_refused(
        tmp_path: Path) -> None:
    path = locked_room(tmp_path)
    plan, entry = plan_with_lock(RTX_4090, SitePolicy(torch="2.13"), str(path), host="pc01")
    assert entry is None and plan.torch == "2.13.0"
    done = CliRunner().invoke(main, ["lock", "show", str(tmp_path / "missing.yaml")])
    assert done.exit_code == 2 and "room lock" in done.output
    try:
        plan_with_lock(RTX_4090, SitePolicy(), str(path), host="pc09")
    except Exception as err:
        assert str(err) == (f"pc09: is not in the room lock {path}; run `labtorch lock update "
                            f"INVENTORY` to resolve `latest` for the room (it prints what each "
                            f"host gets)")
    else:
        raise AssertionError("a host missing from the lock was planned")


def _check_plan(tmp_path: Path, newer_is_drift: bool) -> tuple[str, str]:
    path = locked_room(tmp_path)
    entry = (read_lock(path) or RoomLock({})).hosts["pc01"]
    settings = Settings.from_data({"labtorch_lock_file": str(path),
                                   "labtorch_lock_newer_is_drift": newer_is_drift}, host="pc01")
    recorded, _ = plan_with_lock(RTX_4090, SitePolicy(), str(path), host="pc01")
    snap = Snapshot(system=SystemInfo(os="linux"), gpu=RTX_4090, conda=None, marker=None,
                    plan={"plan": recorded.to_dict()}, plan_error=None, verify=None)
    assert entry.torch == recorded.torch
    _, result = _plan_check("pc01", snap, settings, "fix")
    return result.status, result.detail or result.cause


def test_a_check_reports_a_newer_release_as_information_unless_the_site_asks(
        tmp_path: Path, monkeypatch) -> None:
    _, overlay = with_216(tmp_path)
    target = tmp_path / "overlay.yaml"
    target.write_text(yaml.safe_dump(overlay))
    monkeypatch.setenv("LABTORCH_OVERLAY", str(target))
    compat.load.cache_clear()
    try:
        status, text = _check_plan(tmp_path / "a", newer_is_drift=False)
        assert status == "pass" and "newer release available: torch 2.16.0 cu132" in text
        status, text = _check_plan(tmp_path / "b", newer_is_drift=True)
        assert status == "drift" and text.startswith("newer release available")
    finally:
        compat.load.cache_clear()


def test_a_reported_arch_list_confirms_an_assumed_one(tmp_path: Path) -> None:
    data, overlay = with_216(tmp_path)
    target = tmp_path / "overlay.yaml"
    target.write_text(yaml.safe_dump(overlay))
    plan = plan_host(RTX_4090, SitePolicy(), data=data)
    seen = observation("pc01", plan.to_dict(), _report(plan.torch, REPORTED), "x86_64")
    assert seen is not None and record(seen, target)
    assert not record(seen, target)  # the same list again changes nothing
    confirmed = compat.parse(compat.shipped_texts(), overlay=read_overlay(target))
    build = confirmed.release("2.16").build("cu132", "linux")
    assert build.archs_status == "seen on pc01"
    again = plan_host(RTX_4090, SitePolicy(), data=confirmed)
    assert any("cu132 on linux was seen on pc01" in r for r in again.reasons)
    assert not any("arch list" in w for w in again.warnings)


def test_a_reported_arch_list_that_disagrees_corrects_it_and_warns_the_plans(
        tmp_path: Path) -> None:
    data, overlay = with_216(tmp_path)
    target = tmp_path / "overlay.yaml"
    target.write_text(yaml.safe_dump(overlay))
    plan = plan_host(RTX_4090, SitePolicy(), data=data)
    record(observation("pc01", plan.to_dict(), _report(plan.torch, REPORTED[1:]), "x86_64")
           or {}, target)
    corrected = compat.parse(compat.shipped_texts(), overlay=read_overlay(target))
    build = corrected.release("2.16").build("cu132", "linux")
    assert str(build.archs) == "8.0;8.6;9.0;10.0;12.0+PTX"
    warned = plan_host(RTX_4090, SitePolicy(), data=corrected)
    assert any(w.startswith("the arch list of torch 2.16 cu132 on linux was corrected by a "
                            "verification report (mismatch: the data listed "
                            "7.5;8.0;8.6;9.0;10.0;12.0+PTX (assumed from 2.15); pc01's "
                            "verification reported 8.0;8.6;9.0;10.0;12.0+PTX)")
               for w in warned.warnings)
    turing = GpuFacts(os="linux", driver_version="595.71.05",
                      gpus=(Gpu("NVIDIA GeForce RTX 2080", compute_capability="7.5"),))
    before = plan_host(turing, SitePolicy(include_torchaudio=False), data=data)
    after = plan_host(turing, SitePolicy(include_torchaudio=False), data=corrected)
    assert (before.variant, after.variant) == ("cu132", "cu130")  # sm_75 is gone from cu132


def _report(torch: str, arch_list: list[str]) -> dict:
    return json.loads(json.dumps({"torch": {"imported": True, "version": f"{torch}+cu130"},
                                  "cuda": {"arch_list": arch_list}}))
