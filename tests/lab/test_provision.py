"""End to end: `pyinfra inventory/lab.py deploy.py` provisions the simulated lab from nothing.

One scenario, in the order an admin lives it (each step needs the previous one; together they
stay within the CI budget of one provisioning plus two re-runs):

0. ``--dry``: the plan table and the pending changes, and no host changed;
1. first run, with pc02 stopped in the middle of its conda install (the mirror holds the
   downloads until it is stopped, so its receipt still says "started"): every other host ends with
   exactly its planned torch build; the broken-driver host gets a CPU plan and a warning;
2. pc02 back, second run: pc02 is repaired, the other hosts report no change;
3. third run: zero changes on every host (pyinfra's --json results).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtorch.errors import LabtorchError
from labtorch.lab import faults
from labtorch.roles.torch import missing_pins, pinned_packages
from labtorch.verify_report import judge, plan_from_dict

REPO = Path(__file__).resolve().parents[2]
STOPPED = "pc02"
BROKEN_DRIVER = "pc06"
FIRST_RUN_LIMIT_S = 900

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]


def deploy(lab, *extra: str) -> subprocess.Popen:
    """Start ``pyinfra [-y] --json inventory/lab.py deploy.py`` (``--dry`` runs without -y)."""
    env = {**os.environ, "LABTORCH_LAB_DIR": str(lab.state_dir)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyinfra",
            *([] if "--dry" in extra else ["-y"]),
            "--json",
            "inventory/lab.py",
            "deploy.py",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, limit: float = FIRST_RUN_LIMIT_S) -> tuple[int, dict, str]:
    out, err = process.communicate(timeout=limit)
    start = out.find("{")
    return process.returncode, json.loads(out[start:]) if start >= 0 else {}, err


def hosts_with(results: dict, column: str, log: str = "") -> set[str]:
    assert results.get("results"), f"pyinfra printed no JSON results; its log ends:\n{log[-4000:]}"
    return {h for op in results["results"]["operations"] for h in op[column]}


def changed(results: dict) -> dict[str, list[str]]:
    """``{operation name: hosts it changed}`` of a run's --json results."""
    return {
        op.get("name") or op["op_hash"]: sorted(op["success"])
        for op in results["results"]["operations"]
        if op["success"]
    }


def labtorch_dir(lab, name: str) -> Path:
    return lab.state_dir / "hosts" / name / "fs" / "root" / "miniforge3" / ".labtorch"


def installed_matches_plan(lab, name: str) -> list[str]:
    """What differs between the host's env and its plan (empty: exactly the plan)."""
    plan = json.loads((labtorch_dir(lab, name) / "plan.json").read_text())["plan"]
    site = labtorch_dir(lab, name).parent / "envs" / "pytorch" / "lib" / "python3.11"
    installed = {}
    for info in (site / "site-packages").glob("*.dist-info"):
        dist, _, version = info.name[: -len(".dist-info")].partition("-")
        installed[dist.lower().replace("_", "-")] = version
    return missing_pins(pinned_packages(tuple(map(tuple, plan["install"]))), installed)


def wait_for_conda_install_to_start(lab, name: str, process: subprocess.Popen) -> None:
    receipt = labtorch_dir(lab, name) / "receipt.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if receipt.exists() and '"started"' in receipt.read_text():
            return
        time.sleep(0.05)
    pytest.fail(f"{name} never started its conda install")


def stop(lab, name: str) -> None:
    """Stop the host; under load its processes can take longer to go than stop_host waits."""
    for _ in range(3):
        try:
            faults.stop_host(lab, name)
            return
        except LabtorchError:
            time.sleep(2)
    faults.stop_host(lab, name)


def test_room_is_provisioned_from_nothing_repaired_after_a_stopped_host_and_converges(lab):
    others = [h.name for h in lab.hosts if h.name != STOPPED]

    code, results, log = finish(deploy(lab, "--dry"))
    assert code == 0, log[-3000:]
    assert "labtorch plan (nothing has changed yet)" in log
    assert results["results"] is None
    assert {h for op in results["plan"] for h in op["hosts_with_change"]} == {
        h.name for h in lab.hosts
    }
    assert not any(labtorch_dir(lab, h.name).parent.exists() for h in lab.hosts)

    # The mirror holds every download until pc02 is stopped: its receipt says "started" (written
    # before the installer is fetched) and its installer cannot finish first, however fast it is.
    faults.mirror_mode(lab, "stall")
    try:
        first = deploy(lab)
        try:
            wait_for_conda_install_to_start(lab, STOPPED, first)
            stop(lab, STOPPED)
        finally:
            faults.mirror_mode(lab, "ok")
        code, results, log = finish(first)
    finally:
        faults.mirror_mode(lab, "ok")
        faults.start_host(lab, STOPPED)

    # the plan table came before any change, and the broken driver got a CPU plan with a warning
    assert "labtorch plan (nothing has changed yet)" in log
    assert log.index("labtorch plan") < log.index("Beginning operation run")
    assert f"[{BROKEN_DRIVER}] CPU build planned" in log
    assert code != 0 and STOPPED in hosts_with(results, "error", log)
    for name in others:
        assert installed_matches_plan(lab, name) == [], name
        report = json.loads((labtorch_dir(lab, name) / "verify.json").read_text())
        assert report["host"] == name
        # a clean deploy passes verification: on a GPU plan only the device answers are replayed
        plan = plan_from_dict(json.loads((labtorch_dir(lab, name) / "plan.json").read_text())
                              ["plan"])
        verdict = judge(report, plan, host=name)
        if plan.is_gpu:
            assert report["device"]["source"] == "standin", report["device"]
            assert verdict.status == "simulated", verdict.summary()
        else:
            assert verdict.status == "pass", verdict.summary()
    receipt = json.loads((labtorch_dir(lab, STOPPED) / "receipt.json").read_text())
    assert receipt["state"] == "started"  # the half-finished install labtorch will repair

    code, results, log = finish(deploy(lab))
    assert code == 0, log[-3000:]
    assert installed_matches_plan(lab, STOPPED) == []
    assert STOPPED in hosts_with(results, "success")
    assert hosts_with(results, "success") == {STOPPED}, changed(results)

    code, results, log = finish(deploy(lab))
    assert code == 0, log[-3000:]
    assert results["results"]["totals"]["success"] == 0, changed(results)
    assert hosts_with(results, "no_change") == {h.name for h in lab.hosts}
