"""Verification on the simulated lab: the real script, in a real env, over real SSH and pyinfra.

Four GPU hosts of the lab get a real venv (a STAND-IN for the conda env: the lab has no conda)
with a torch wheel from the lab mirror and a real ipykernel kernel spec. Their plan is cu126
(torch 2.13.0, the plan's install commands as the planner writes them: torch from the cu126
index, then the pinned nvidia-ml-py from PyPI). Each host's verification loads the lab's GPU
stand-in (tests/standins/gpu), which replays the host profile's recorded GPU; everything else is
real: the wheel's own ``torch.version.cuda``, ``import pynvml``, the matmul comparison, the
kernel start, the judge.

- pc02 (RTX 2080 SUPER, sm_75): the ``torch`` role installs what the plan pins (nvidia-ml-py
  comes from it, not by hand); the host passes, its GPU checks "simulated" (replayed), never
  "pass", and the rest "pass";
- pc03 (A10): the CPU wheel (``+cpu``) on the cu126 plan: fails "torch is a CPU build";
  (pc03 and pc05 get the pinned nvidia-ml-py when their env is built, so only their own fault
  shows)
- pc04 (RTX 4080 SUPER): no nvidia-ml-py in the env: fails the NVML check with the fix;
- pc05 (RTX 5080, sm_120): the cu126 wheel has no sm_120 kernels: fails "no kernels for sm_120".

A second deploy run must report zero changes (verification only reads). Everything lives under
``/root/vtest`` and the user's Jupyter dir on those hosts (each lab host has its own /root), away
from what the end-to-end deploy provisions, and is removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from labtorch.planner import load_data
from labtorch.verify_report import GPU_CHECKS, judge, plan_from_dict

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/root/vtest"
ENV = f"{PREFIX}/envs/pytorch"
KERNEL = "vtest"
GOOD, CPU_WHEEL, NO_NVML, NO_SM = "pc02", "pc03", "pc04", "pc05"
TORCH = {GOOD: "2.13.0+cu126", CPU_WHEEL: "2.13.0+cpu", NO_NVML: "2.13.0+cu126",
         NO_SM: "2.13.0+cu126"}

DEPLOY = '''\
from pyinfra import host

from labtorch.model import HostPlan, SitePolicy
from labtorch.planner import install_args, load_data, verify_args, wheel_source
from labtorch.roles.torch import torch
from labtorch.roles.verify import verify

source = wheel_source("cu126", SitePolicy(pytorch_index_url={pytorch!r}, pypi_index_url={pypi!r}),
                      load_data())
plan = HostPlan(torch="2.13.0", torchvision=None, torchaudio=None, variant="cu126",
                python="3.11", index_url=source.index_url,
                install=install_args(("torch==2.13.0+cu126",), source)
                + verify_args(load_data(), source))
if host.data.get("vtest_torch_role"):
    torch(plan)  # the plan's pins: torch is there, nvidia-ml-py is not yet
verify(plan)
'''


def _make_env(lab, name: str, torch: str) -> subprocess.Popen:
    """Start building the stand-in env on ``name``: a venv with torch and ipykernel, and the
    pinned nvidia-ml-py except on GOOD (its torch role installs it) and NO_NVML."""
    urls = lab.mirror_urls
    variant = torch.split("+")[1]
    nvml = "" if name in (GOOD, NO_NVML) else " " + " ".join(load_data().verify_packages)
    script = " && ".join([
        f"rm -rf {PREFIX}",
        f"python3 -m venv {ENV}",
        f"{ENV}/bin/python -m pip install -q --no-compile --index-url {urls['pypi']} "
        f"--extra-index-url {urls['pytorch'].format(variant=variant)} "
        f"torch=={torch} ipykernel{nvml}",
        f"{ENV}/bin/python -m ipykernel install --user --name {KERNEL}",
    ])
    return subprocess.Popen(["ssh", "-F", str(lab.ssh_config), name, script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Room(NamedTuple):
    inventory: Path
    deploy: Path


@pytest.fixture(scope="module")
def room(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    """The four hosts' envs built (in parallel), plus an inventory and a deploy file for them."""
    if not set(TORCH) <= {h.name for h in lab.hosts}:
        pytest.skip(f"the lab needs hosts {', '.join(TORCH)}")
    builds = {name: _make_env(lab, name, torch) for name, torch in TORCH.items()}
    folder = tmp_path_factory.mktemp("verify-room")
    try:
        for name, process in builds.items():
            _, err = process.communicate(timeout=900)
            assert process.returncode == 0, f"{name}: building the test env failed: {err[-2000:]}"
        hosts = []
        for name in builds:
            host = lab.host(name)
            hosts.append((name, {
                "ssh_hostname": host.address, "ssh_port": host.port, "ssh_user": "root",
                "ssh_key": str(lab.ssh_key), "ssh_known_hosts_file": str(lab.known_hosts),
                "ssh_strict_host_key_checking": "yes", "labtorch_conda_prefix": PREFIX,
                "labtorch_kernel_name": KERNEL, "labtorch_kernel_scope": "user",
                "labtorch_pip_extra_args": ("--no-compile",), "vtest_torch_role": name == GOOD,
            }))
        (folder / "room.py").write_text(f"room = {hosts!r}\n")
        (folder / "verify_deploy.py").write_text(DEPLOY.format(
            pytorch=lab.mirror_urls["pytorch"].replace("{variant}", "{{variant}}"),
            pypi=lab.mirror_urls["pypi"]))
        yield Room(folder / "room.py", folder / "verify_deploy.py")
    finally:
        for name in builds:  # the big env is removed in the background (seconds → minutes)
            lab.ssh(name, f"rm -rf ~/.local/share/jupyter/kernels/{KERNEL}; "
                    f"mv {PREFIX} {PREFIX}.removing.$$ && "
                    f"(nohup rm -rf {PREFIX}.removing.$$ </dev/null >/dev/null 2>&1 &)")


def _pyinfra(inventory: Path, deploy: Path, *extra: str) -> tuple[int, dict, str]:
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "--json", str(inventory), str(deploy), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ})
    start = result.stdout.find("{")
    return result.returncode, json.loads(result.stdout[start:]) if start >= 0 else {}, \
        result.stderr


@pytest.fixture(scope="module")
def first_run(room: Room) -> tuple[int, dict, str]:
    """The first deploy of the verify role on both hosts: (exit code, --json results, log)."""
    return _pyinfra(room.inventory, room.deploy)


def _hosts_in(results: dict, column: str, operation: str) -> set[str]:
    return {host for op in results["results"]["operations"]
            if any(operation in name for name in [op.get("name", ""), *op.get("names", [])])
            for host in op[column]}


def _report(lab, name: str) -> tuple[dict, dict]:
    """The host's plan.json and verify.json, read over SSH as left by the deploy."""
    plan = lab.ssh(name, f"cat {PREFIX}/.labtorch/plan.json", check=True).stdout
    report = lab.ssh(name, f"cat {PREFIX}/.labtorch/verify.json", check=True).stdout
    return json.loads(plan), json.loads(report)


def _verdict(lab, name: str):
    plan, report = _report(lab, name)
    return judge(report, plan_from_dict(plan["plan"]), host=name), report


def test_a_provisioned_gpu_host_passes_with_only_its_device_answers_replayed(
        lab, room, first_run):
    _, results, log = first_run
    assert GOOD in _hosts_in(results, "success", "torch, the planned build")  # nvidia-ml-py
    assert GOOD in _hosts_in(results, "no_change", "verify PyTorch"), log[-3000:]
    verdict, report = _verdict(lab, GOOD)
    assert report["device"]["source"] == "standin"
    assert report["device"]["profile"] == "turing-rtx2080super"
    assert report["device"]["build"] == "2.13.0+cu126"
    assert report["torch"]["cuda"] == "12.6"  # what the installed wheel itself says
    assert report["nvml"]["imported"] is True  # nvidia-ml-py, installed by the torch role
    assert report["matmul"]["ran"] and report["matmul"]["allclose"]
    statuses = {check.id: check.status for check in verdict.checks}
    assert {statuses[check] for check in GPU_CHECKS} == {"simulated"}
    assert {s for c, s in statuses.items() if c not in GPU_CHECKS} == {"pass"}
    assert "device answers replayed from recording turing-rtx2080super (synthetic)" in \
        verdict.check("gpu_arch").detail
    assert verdict.check("gpu_arch").detail.startswith("sm_75 runs sm_75")
    assert report["kernel"]["torch_version"] == "2.13.0+cu126"
    assert f"{GOOD}: verification simulated (4 passed, 6 simulated" in log


def test_a_cpu_wheel_on_a_gpu_planned_host_fails_in_plain_words(lab, room, first_run):
    code, results, log = first_run
    assert code == 1
    assert CPU_WHEEL in _hosts_in(results, "error", "verify PyTorch")
    assert "torch is a CPU build (torch.version.cuda is None)" in log
    assert "reinstall from the PyTorch cu126 index" in log
    verdict, _ = _verdict(lab, CPU_WHEEL)
    assert verdict.failures[0].detail == "torch is a CPU build (torch.version.cuda is None)"


def test_an_env_without_nvidia_ml_py_fails_the_nvml_check_with_the_fix(lab, room, first_run):
    _, results, log = first_run
    assert NO_NVML in _hosts_in(results, "error", "verify PyTorch")
    assert "NVML cross-check: nvidia-ml-py is not installed in the env" in log
    assert "fix: install it in the env: python -m pip install nvidia-ml-py" in log
    verdict, _ = _verdict(lab, NO_NVML)
    assert [c.id for c in verdict.failures] == ["nvml"]


def test_a_wheel_without_the_hosts_sm_fails_the_gpu_kernels_check(lab, room, first_run):
    _, results, _ = first_run
    assert NO_SM in _hosts_in(results, "error", "verify PyTorch")
    verdict, report = _verdict(lab, NO_SM)
    assert report["device"]["profile"] == "blackwell-rtx5080"
    assert [c.id for c in verdict.failures] == ["gpu_arch"]
    assert verdict.failures[0].detail.startswith("no kernels for sm_120 in this build")
    assert "plan a cu130 or cu132 build" in verdict.failures[0].fix
    assert _hosts_in(results, "error", "verify PyTorch") == {CPU_WHEEL, NO_NVML, NO_SM}


def test_second_run_reports_zero_changes(lab, room, first_run):
    code, results, _ = _pyinfra(room.inventory, room.deploy, "--limit", GOOD)
    assert code == 0
    totals = results["results"]["totals"]
    assert totals["error"] == 0
    assert totals["success"] == 0
    assert totals["no_change"] == totals["hosts"] == 4  # torch, plan, script, verification


SUITE_CHECKS = ("plan_record", "env_has_the_planned_python", "torch_has_the_planned",
                "kernel_spec", "verification_report")


def test_testinfra_suite_passes_the_replayed_gpu_host_and_fails_the_cpu_wheel(
        lab, room, first_run, tmp_path):
    """tests/infra run from the room's pyinfra inventory, limited to what these stand-in envs
    have (they have no conda, .condarc or pip.conf: the end-to-end deploy checks those).
    The first run left plan.json and verify.json on both hosts."""
    junit = tmp_path / "infra.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "tests/infra", "--inventory", str(room.inventory),
         "-k", " or ".join(SUITE_CHECKS), "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--junitxml={junit}", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    outcome: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None  # a skipped assertion is not a pass
        outcome[case.get("name", "")] = "failed" if failed else "skipped" if skipped else "passed"
    good = {n: o for n, o in outcome.items() if f"ssh://{GOOD}]" in n}
    cpu_build = {n: o for n, o in outcome.items() if f"ssh://{CPU_WHEEL}]" in n}
    assert len(good) == len(cpu_build) == len(SUITE_CHECKS)
    assert set(good.values()) == {"passed"}, good
    assert {n.split("[")[0] for n, o in cpu_build.items() if o == "failed"} == {
        "test_torch_has_the_planned_version_and_variant",
        "test_verification_report_is_present_and_passing"}
