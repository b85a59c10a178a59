"""Operation specs for the verify role: what the host answers in (pyinfra's @fake connector),
what runs and whether the host fails out. Reports are shaped as the on-host script writes them.
"""

from __future__ import annotations

import contextlib
import json
import logging

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops
from pyinfra.facts.files import MISSING

from labtorch.facts.verify import parse_report
from labtorch.model import HostPlan
from labtorch.roles import verify as verify_role
from labtorch.roles.settings import Settings

PREFIX = "/opt/miniforge3"
PYTHON = f"{PREFIX}/envs/pytorch/bin/python"
SYSTEM = ["@@labtorch:uname@@", "Linux x86_64", "@@labtorch:home@@", "/home/lab",
          "@@labtorch:python@@", "@@labtorch:df@@",
          "Filesystem 1024-blocks Used Available Capacity Mounted on",
          "/dev/sda1 41152736 18000000 20971520 47% /"]
PLAN = HostPlan(torch="2.13.0", torchvision=None, torchaudio=None, variant="cu126",
                python="3.12", index_url="https://download.pytorch.org/whl/cu126", install=())
RUN = "labtorch_verify.py --plan"


def report(torch_version: str, cuda: str | None, **extra) -> str:
    doc = {
        "schema": "labtorch-verify/1", "python": {"executable": PYTHON, "version": "3.12.7"},
        "lab": extra.get("lab"),
        "device": extra.get("device", {"source": "torch"}),
        "torch": {"imported": True, "version": torch_version, "cuda": cuda},
        "cuda": {"available": cuda is not None, "warnings": [], "arch_list": ["sm_86"],
                 "devices": [{"index": 0, "name": "NVIDIA GeForce RTX 3080",
                              "capability": [8, 6]}] if cuda else []},
        "matmul": {"ran": True, "allclose": True, "max_abs_diff": 0.0, "size": 256},
        "cudnn": {"available": True, "version": 91002},
        "nvml": {"imported": True, "initialized": True, "driver_version": "570.133.07",
                 "devices": [{"index": 0, "capability": [8, 6]}]},
        "kernel": {"name": "pytorch", "spec_file": "/usr/local/share/jupyter/kernels/pytorch/"
                   "kernel.json", "argv": [PYTHON, "-m", "ipykernel_launcher"],
                   "torch_version": torch_version},
    }
    return json.dumps(doc)


def on_host_files() -> dict[str, list[str]]:
    """FileContents answers for a host where plan.json and the script are already current."""
    settings = Settings.from_data({}, host="@fake/pc01", home="/home/lab")
    plan = verify_role.plan_json(PLAN, settings)
    return {f"cat {PREFIX}/.labtorch/plan.json": plan.splitlines(),
            f"cat {PREFIX}/.labtorch/labtorch_verify.py": verify_role.script_text().splitlines()}


def run(responses: dict, *, check_for_changes: bool = False) -> tuple[list[str], bool]:
    """Run the verify role on one @fake host; return (commands it got, whether it failed)."""
    data = {"fake_delay": 0, "fake_delay_jitter": 0,
            "fake_responses": {"uname -s -m": SYSTEM, **responses}}
    inventory = Inventory(([("@fake/pc01", data)], {}))
    host = inventory.get_host("@fake/pc01")
    state = State(inventory, Config(FAIL_PERCENT=None), check_for_changes=check_for_changes)
    connect_all(state)
    add_deploy(state, verify_role.verify, PLAN)
    with contextlib.suppress(PyinfraError):  # "No hosts remaining!" when the only host fails
        run_ops(state)
    return host.connector.executed_commands, host in state.failed_hosts


def test_passing_host_runs_the_script_with_the_envs_python_and_changes_nothing():
    commands, failed = run({RUN: [report("2.13.0+cu126", "12.6")], **on_host_files()})
    assert not failed
    runs = [c for c in commands if RUN in c]
    assert len(runs) == 1
    assert f"{PYTHON} {PREFIX}/.labtorch/labtorch_verify.py --plan " \
           f"{PREFIX}/.labtorch/plan.json" in runs[0]
    assert not [c for c in commands if c.startswith(("mkdir", "chmod"))]


def test_cpu_build_fails_the_host_with_the_cause_and_fix_in_plain_words(caplog):
    caplog.set_level(logging.INFO)
    _, failed = run({RUN: [report("2.13.0+cpu", None)], **on_host_files()})
    assert failed
    assert "torch variant: torch is a CPU build (torch.version.cuda is None)" in caplog.text
    assert "fix: reinstall from the PyTorch cu126 index" in caplog.text


def test_lab_host_on_replayed_gpu_answers_does_not_fail_and_says_simulated(caplog):
    caplog.set_level(logging.INFO)
    lab = {"simulated": True, "profile": {"name": "ampere-rtx3080"}}
    device = {"source": "standin", "profile": "ampere-rtx3080", "synthetic": True}
    _, failed = run({RUN: [report("2.13.0+cu126", "12.6", lab=lab, device=device)],
                     **on_host_files()})
    assert not failed
    assert "verification simulated (4 passed, 6 simulated: passed on device answers replayed" \
        in caplog.text


def test_lab_host_with_a_relabelled_cpu_wheel_fails_like_a_real_pc(caplog):
    caplog.set_level(logging.INFO)
    lab = {"simulated": True, "profile": {"name": "ampere-rtx3080"}}
    device = {"source": "standin", "profile": "ampere-rtx3080", "synthetic": True}
    _, failed = run({RUN: [report("2.13.0+cu126", None, lab=lab, device=device)],
                     **on_host_files()})
    assert failed
    assert "torch variant: torch is a CPU build (torch.version.cuda is None)" in caplog.text


def test_missing_env_python_fails_the_host_saying_verification_did_not_run(caplog):
    caplog.set_level(logging.INFO)
    _, failed = run({RUN: ["##PYINFRA_NOCMD##"], **on_host_files()})
    assert failed
    assert f"the env's Python {PYTHON} is missing" in caplog.text


def test_bare_host_gets_plan_and_script_uploaded_before_the_run():
    missing = {f"cat {path}": [f"{MISSING}{path}"] for path in (
        f"{PREFIX}/.labtorch/plan.json", f"{PREFIX}/.labtorch/labtorch_verify.py")}
    commands, failed = run({RUN: [report("2.13.0+cu126", "12.6")], **missing})
    uploads = [c for c in commands if c.startswith("chmod")]
    assert any("plan.json" in c for c in uploads)
    assert any("labtorch_verify.py" in c for c in uploads)
    assert next(i for i, c in enumerate(commands) if RUN in c) > max(
        commands.index(c) for c in uploads)
    assert not failed


@pytest.mark.parametrize("check_for_changes", [True, False])
def test_verification_runs_once_at_execution_time_only(check_for_changes):
    commands, _ = run({RUN: [report("2.13.0+cu126", "12.6")], **on_host_files()},
                      check_for_changes=check_for_changes)
    assert sum(RUN in c for c in commands) == 1


def test_plan_record_never_holds_an_index_password():
    settings = Settings.from_data({}, host="pc01", home="/home/lab")
    plan = HostPlan(torch="2.13.0", torchvision=None, torchaudio=None, variant="cu126",
                    python="3.12", index_url="https://lab:s3cret@10.0.0.5/whl/cu126",
                    install=(("torch==2.13.0+cu126", "--index-url",
                              "https://lab:s3cret@10.0.0.5/whl/cu126"),))
    text = verify_role.plan_json(plan, settings)
    assert "s3cret" not in text
    assert json.loads(text)["plan"]["index_url"] == "https://lab:***@10.0.0.5/whl/cu126"


def test_report_parsing_takes_the_last_json_line_and_keeps_the_last_words_otherwise():
    assert parse_report(["UserWarning: Failed to initialize NumPy", '{"schema": "x"}']) == {
        "schema": "x"}
    broken = parse_report(["Traceback (most recent call last):", "Illegal instruction"])
    assert broken is not None and broken["error"].endswith("Illegal instruction")
    assert parse_report([]) is None
