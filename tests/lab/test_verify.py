"""Verification on the simulated lab: the real script, in a real env, over real SSH and pyinfra.

The lab's first and last hosts get a real venv (a STAND-IN for the conda env: the lab has no
conda) with a torch wheel from the lab mirror, a real ipykernel kernel spec, and nvidia-ml-py:

- the first host gets ``torch==2.13.0+cu126``: the lab's CPU wheel relabelled as cu126. The
  plan is cu126. Versions and the Jupyter kernel must pass for real; every GPU check must say
  "simulated" (the lab has no driver), never "pass"; the host does not fail.
- the last host gets ``torch==2.13.0+cpu`` but its plan expects cu126: verification must fail
  that host with "torch is a CPU build", while the other host goes on.

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

from labtorch.verify_report import GPU_CHECKS, judge, plan_from_dict

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/root/vtest"
ENV = f"{PREFIX}/envs/pytorch"
KERNEL = "vtest"
RELABELLED_TORCH, CPU_TORCH = "2.13.0+cu126", "2.13.0+cpu"

DEPLOY = '''\
from labtorch.model import HostPlan
from labtorch.roles.verify import verify

verify(HostPlan(torch="2.13.0", torchvision=None, torchaudio=None, variant="cu126",
                python="3.11", index_url={index!r}, install=()))
'''


def _make_env(lab, name: str, torch: str) -> subprocess.Popen:
    """Start building the stand-in env on ``name`` (venv + torch + ipykernel + nvidia-ml-py)."""
    urls = lab.mirror_urls
    variant = torch.split("+")[1]
    script = " && ".join([
        f"rm -rf {PREFIX}",
        f"python3 -m venv {ENV}",
        f"{ENV}/bin/python -m pip install -q --no-compile --index-url {urls['pypi']} "
        f"--extra-index-url {urls['pytorch'].format(variant=variant)} "
        f"torch=={torch} ipykernel nvidia-ml-py",
        f"{ENV}/bin/python -m ipykernel install --user --name {KERNEL}",
    ])
    return subprocess.Popen(["ssh", "-F", str(lab.ssh_config), name, script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Room(NamedTuple):
    inventory: Path
    deploy: Path
    relabelled: str
    cpu_build: str


@pytest.fixture(scope="module")
def room(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    """Both hosts' envs built (in parallel), plus an inventory and a deploy file for them."""
    if len(lab.hosts) < 2:
        pytest.skip("the lab needs two hosts for this test")
    relabelled, cpu_build = lab.hosts[0].name, lab.hosts[-1].name
    builds = {relabelled: _make_env(lab, relabelled, RELABELLED_TORCH),
              cpu_build: _make_env(lab, cpu_build, CPU_TORCH)}
    for name, process in builds.items():
        _, err = process.communicate(timeout=900)
        assert process.returncode == 0, f"{name}: building the test env failed: {err[-2000:]}"
    folder = tmp_path_factory.mktemp("verify-room")
    hosts = []
    for name in builds:
        host = lab.host(name)
        hosts.append((name, {
            "ssh_hostname": host.address, "ssh_port": host.port, "ssh_user": "root",
            "ssh_key": str(lab.ssh_key), "ssh_known_hosts_file": str(lab.known_hosts),
            "ssh_strict_host_key_checking": "yes", "labtorch_conda_prefix": PREFIX,
            "labtorch_kernel_name": KERNEL, "labtorch_kernel_scope": "user",
        }))
    (folder / "room.py").write_text(f"room = {hosts!r}\n")
    index = lab.mirror_urls["pytorch"].format(variant="cu126")
    (folder / "verify_deploy.py").write_text(DEPLOY.format(index=index))
    try:
        yield Room(folder / "room.py", folder / "verify_deploy.py", relabelled, cpu_build)
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


def test_verification_simulates_gpu_checks_and_fails_a_cpu_build_in_plain_words(
        lab, room, first_run):
    code, results, log = first_run
    relabelled, cpu_build = room.relabelled, room.cpu_build

    # the CPU build fails that host only, in plain words with the fix
    assert code == 1
    assert _hosts_in(results, "error", "verify PyTorch") == {cpu_build}
    assert "torch is a CPU build (torch.version.cuda is None)" in log
    assert "reinstall from the PyTorch cu126 index" in log
    plan, report = _report(lab, cpu_build)
    verdict = judge(report, plan_from_dict(plan["plan"]), host=cpu_build)
    assert verdict.status == "fail"
    assert verdict.failures[0].detail == "torch is a CPU build (torch.version.cuda is None)"

    # the simulated GPU host: real versions and kernel pass, GPU checks say "simulated"
    assert relabelled in _hosts_in(results, "no_change", "verify PyTorch")
    plan, report = _report(lab, relabelled)
    verdict = judge(report, plan_from_dict(plan["plan"]), host=relabelled)
    statuses = {check.id: check.status for check in verdict.checks}
    assert {statuses[check] for check in GPU_CHECKS} == {"simulated"}
    assert statuses["torch_variant"] == "simulated"
    assert statuses["torch_version"] == statuses["python"] == "pass"
    assert statuses["jupyter_kernel"] == "pass"
    assert report["kernel"]["torch_version"] == "2.13.0+cu126"
    assert verdict.status == "simulated"
    assert f"{relabelled}: verification simulated" in log


def test_second_run_reports_zero_changes(lab, room, first_run):
    code, results, _ = _pyinfra(room.inventory, room.deploy, "--limit", room.relabelled)
    assert code == 0
    totals = results["results"]["totals"]
    assert totals["error"] == 0
    assert totals["no_change"] == totals["hosts"] == 3  # plan, script, verification


SUITE_CHECKS = ("plan_record", "env_has_the_planned_python", "torch_has_the_planned",
                "kernel_spec", "verification_report")


def test_testinfra_suite_passes_the_simulated_host_and_fails_the_cpu_build(
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
        outcome[case.get("name", "")] = "failed" if failed else "passed"
    relabelled = {n: o for n, o in outcome.items() if f"ssh://{room.relabelled}]" in n}
    cpu_build = {n: o for n, o in outcome.items() if f"ssh://{room.cpu_build}]" in n}
    assert len(relabelled) == len(cpu_build) == len(SUITE_CHECKS)
    assert set(relabelled.values()) == {"passed"}, relabelled
    assert {n.split("[")[0] for n, o in cpu_build.items() if o == "failed"} == {
        "test_torch_has_the_planned_version_and_variant",
        "test_verification_report_is_present_and_passing"}
