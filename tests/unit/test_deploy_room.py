"""The room deploy over a room of @fake hosts (pyinfra's own fake connector, real CLI): one host
whose site policy is impossible fails alone, with a message, and the others are provisioned.
Run both ways: the repository's deploy.py and the packaged ``labtorch.deploys.room``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

INVENTORY = """
_system = ["@@labtorch:uname@@", "Linux x86_64", "@@labtorch:home@@", "/root", "@@labtorch:df@@",
           "Filesystem 1024-blocks Used Available Capacity Mounted on",
           "/dev/sda1 41152736 18000000 20971520 47% /"]
_common = {"fake_delay": 0, "fake_delay_jitter": 0,
           "fake_responses": {">&2; exit 1": {"success": False}, "uname -s -m": _system,
                              "nvidia-smi": ["@@labtorch:missing@@"]}}
room = [("@fake/good", dict(_common)),
        ("@fake/bad", {**_common, "labtorch_torch_spec": "==9.9.9"})]
"""


def run_room(tmp_path: Path, *args: str, deploy: str = "deploy.py") -> str:
    """Run ``pyinfra ARGS room.py DEPLOY``; return its log (stderr). The packaged deploy runs
    from an empty folder (no checkout next to it)."""
    inventory = tmp_path / "room.py"
    inventory.write_text(INVENTORY)
    cwd = REPO if deploy == "deploy.py" else tmp_path
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", *args, str(inventory), deploy],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stderr


def operation_log(log: str, name: str) -> str:
    """The lines pyinfra printed for the operation whose name starts with ``name`` (inside the
    packaged deploy, pyinfra prefixes it with the deploy's name)."""
    start = log.index(f"--> Starting operation: labtorch room | {name}")
    end = log.find("--> Starting operation:", start + 1)
    return log[start : end if end > 0 else len(log)]


def test_impossible_policy_fails_only_that_host_and_says_why(tmp_path):
    log = run_room(tmp_path, "-y")
    refusal = operation_log(log, "labtorch refuses this host")
    assert "[@fake/bad]  Error" in refusal
    assert "@fake/bad: " in refusal and "9.9.9" in refusal
    for role in ("labtorch: conda |", "labtorch: env", "labtorch: torch"):
        lines = operation_log(log, role)
        assert "[@fake/good] Success" in lines
        assert "[@fake/bad]  Success" not in lines


def test_dry_run_prints_the_plan_table_first_and_changes_nothing(tmp_path):
    log = run_room(tmp_path, "--dry")
    assert log.index("labtorch plan (nothing has changed yet)") < log.index("Detected changes")
    assert "Beginning operation run" not in log


def test_packaged_deploy_runs_from_any_folder_and_fails_only_the_bad_host(tmp_path):
    log = run_room(tmp_path, "-y", deploy="labtorch.deploys.room")
    assert "[@fake/bad]  Error" in operation_log(log, "labtorch refuses this host")
    assert "[@fake/good] Success" in operation_log(log, "labtorch: torch")
