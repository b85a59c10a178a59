"""Evaluating a host's snapshot: drift by re-planning, verification, config files; and the one
remote command that gathers it, run for real with sh against a prefix in a temporary folder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labtorch.check import evaluate, gather
from labtorch.errors import LabtorchError
from labtorch.facts.gpu import parse_gpu_output
from labtorch.model import HostPlan
from labtorch.planner import plan_host
from labtorch.roles.channels import render_condarc, render_pip_conf
from labtorch.roles.settings import Settings
from labtorch.roles.verify import plan_document, plan_json, script_text

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "nvidia-smi"
FIX = "pyinfra inventory/room.py deploy.py --limit pc01 -y"

# (query line built from the same recording's values, recorded table output)
RTX2080_595 = ("0, NVIDIA GeForce RTX 2080 SUPER, 8192, 7.5, 595.71.05",
               "gpuexp-rtx-2080-super-linux-595.71.05-table.txt")
RTX3080_550 = ("0, NVIDIA GeForce RTX 3080, 10240, 8.6, 550.54.14",
               "thamada-gls-rtx3080-linux-550.54.14-table.txt")


def gpu_part(gpu: tuple[str, str]) -> str:
    query, table = gpu
    text = (FIXTURES / table).read_text()
    return (f"@@labtorch:query@@\n{query}\n@@labtorch:query-rc@@\n0\n"
            f"@@labtorch:table@@\n{text}\n@@labtorch:table-rc@@\n0\n")


SETTINGS = Settings.from_data({}, host="pc01", home="/root")


def planned(gpu: tuple[str, str], settings: Settings = SETTINGS) -> HostPlan:
    facts = parse_gpu_output(gpu_part(gpu), os_hint="linux")
    return plan_host(facts, settings.policy, os="linux", host="pc01")


TURING = json.loads((Path(__file__).resolve().parents[1] / "standins" / "gpu" / "recordings"
                     / "turing-rtx2080super.json").read_text())


def verify_doc(plan: HostPlan, *, torch_version: str | None = None, imported: bool = True,
               simulated: bool = True, python: str | None = None) -> dict[str, Any]:
    """A verification document as labtorch_verify.py prints it on a lab host: the installed
    wheel's own facts, device answers replayed from the recorded RTX 2080 SUPER."""
    version = torch_version or f"{plan.torch}+{plan.variant}"
    local = version.partition("+")[2]  # the recording's 2.13 build of the same variant
    build = TURING["builds"].get(f"2.13.0+{local}") if imported else None
    executable = f"{SETTINGS.env_python}"
    devices = TURING["cuda"]["devices"] if build else []
    return {
        "schema": "labtorch-verify/1",
        "checked_at": "2026-11-28T06:00:00+00:00",
        "host": "pc01",
        "python": {"executable": executable, "version": python or f"{plan.python}.4"},
        "plan": {"path": "/opt/miniforge3/.labtorch/plan.json", "sha256": "0" * 64},
        "lab": {"simulated": True, "host": "pc01", "profile": "turing"} if simulated else None,
        "device": {"source": "standin", "profile": "turing-rtx2080super", "synthetic": True,
                   "build": version if build else None} if simulated else {"source": "torch"},
        "torch": {"imported": imported, "version": version if imported else None,
                  "dist_version": version if imported else None,
                  "cuda": build["cuda"] if build else None,
                  "file": "/x/torch/__init__.py" if imported else None,
                  "error": None if imported else "ModuleNotFoundError: No module named 'torch'"},
        "cuda": {"probed": imported, "available": bool(build), "warnings": [],
                 "device_count": len(devices), "devices": devices,
                 "arch_list": build["arch_list"] if build else [], "error": None},
        "matmul": {"ran": bool(build), "allclose": True if build else None,
                   "max_abs_diff": 0.0 if build else None, "size": 256, "error": None},
        "cudnn": {"available": bool(build), "version": build["cudnn_version"] if build else None,
                  "error": None},
        "nvml": {"imported": True, "initialized": True,
                 "driver_version": TURING["nvml"]["driver_version"],
                 "cuda_driver_version": TURING["nvml"]["cuda_driver_version"],
                 "devices": TURING["nvml"]["devices"], "error": None},
        "kernel": {"name": "pytorch", "searched": [], "spec_file":
                   "/usr/local/share/jupyter/kernels/pytorch/kernel.json",
                   "argv": [executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "started": imported, "torch_version": version if imported else None,
                   "error": None if imported else "ModuleNotFoundError: No module named 'torch'"},
    }


def snapshot_text(gpu: tuple[str, str], *, plan: HostPlan | None, verify: dict[str, Any] | None,
                  pip_conf: str | None = None, condarc: str | None = None,
                  missing: tuple[str, ...] = (), settings: Settings = SETTINGS,
                  as_deployed: bool = False) -> str:
    """``as_deployed``: plan.json exactly as the verify role writes it (URL passwords masked)."""
    if plan is None:
        plan_text = ""
    elif as_deployed:
        plan_text = plan_json(plan, settings)
    else:
        plan_text = json.dumps(plan_document(plan, settings), indent=2)
    condarc = render_condarc(settings) if condarc is None else condarc
    pip_conf = render_pip_conf(settings, "x") if pip_conf is None else pip_conf
    if verify is not None:
        verify_part = f"@@labtorch-check:verify@@\n{json.dumps(verify)}\n"
    else:
        verify_part = "@@labtorch-check:verify-missing@@\n" + "".join(f"{m} /x\n" for m in missing)
    return (
        "@@labtorch-check:system@@\n@@labtorch:uname@@\nLinux x86_64\n@@labtorch:home@@\n/root\n"
        f"@@labtorch-check:gpu@@\n{gpu_part(gpu)}"
        "@@labtorch-check:conda@@\n@@labtorch:prefix /opt/miniforge3@@\n@@labtorch:conda-bin@@\n"
        "@@labtorch:history@@\n@@labtorch:meta@@\nconda-25.3.0-py312h7900ff3_0.json\n"
        "@@labtorch:receipt@@\n{\"tool\": \"labtorch\", \"state\": \"complete\"}\n"
        "@@labtorch-check:marker@@\n{\"simulated\": true, \"host\": \"pc01\"}\n"
        f"@@labtorch-check:plan@@\n{plan_text}\n"
        "@@labtorch-check:condarc@@\n"
        f"{hashlib.sha256(condarc.encode()).hexdigest()}  /opt/miniforge3/.condarc\n"
        f"@@labtorch-check:pip-conf@@\n{pip_conf}\n"
        + verify_part
    )


def check(text: str, settings: Settings = SETTINGS) -> dict[str, Any]:
    snapshot = gather.parse_snapshot(text, "/opt/miniforge3")
    report = evaluate.evaluate_host("pc01", "room", snapshot, settings, fix=FIX)
    return {"report": report, "cells": {r.check: r for r in report.results}}


def test_a_provisioned_lab_host_complies_with_simulated_gpu_checks() -> None:
    plan = planned(RTX2080_595)
    result = check(snapshot_text(RTX2080_595, plan=plan, verify=verify_doc(plan)))
    report, cells = result["report"], result["cells"]
    assert report.status == "simulated", report.problems
    assert report.compliant
    assert [c for c in evaluate.CHECKS if c in cells] == list(cells)
    assert cells["gpu"].status == "simulated"
    assert cells["plan"].status == "pass"
    assert report.versions.gpus == ("NVIDIA GeForce RTX 2080 SUPER",)
    assert report.versions.driver_version == "595.71.05"
    assert report.versions.torch_variant == plan.variant
    assert report.versions.conda_version == "25.3.0"


def test_uninstalled_torch_fails_the_torch_check_with_the_deploy_as_fix() -> None:
    plan = planned(RTX2080_595)
    cells = check(snapshot_text(RTX2080_595, plan=plan,
                                verify=verify_doc(plan, imported=False)))["cells"]
    assert cells["torch"].status == "fail"
    assert "torch does not import" in cells["torch"].cause
    assert cells["torch"].fix == FIX
    assert cells["plan"].status == "pass"


def test_a_cpu_build_over_the_planned_cuda_build_fails() -> None:
    plan = planned(RTX2080_595)
    cpu = verify_doc(plan, torch_version=f"{plan.torch}+cpu")
    cells = check(snapshot_text(RTX2080_595, plan=plan, verify=cpu))["cells"]
    assert cells["torch"].status == "fail"
    assert "CPU build" in cells["torch"].cause


def test_a_new_driver_that_changes_the_plan_is_drift_naming_the_change() -> None:
    recorded = planned(RTX2080_595)
    today = planned(RTX3080_550)
    assert recorded.variant != today.variant  # the premise of this test
    report = check(snapshot_text(RTX3080_550, plan=recorded,
                                 verify=verify_doc(recorded)))["report"]
    plan_cell = next(r for r in report.results if r.check == "plan")
    assert report.status == "drift"
    assert plan_cell.status == "drift"
    assert f"variant {recorded.variant} → {today.variant}" in plan_cell.cause
    assert "GPU NVIDIA GeForce RTX 2080 SUPER → NVIDIA GeForce RTX 3080" in plan_cell.cause
    assert "driver 595.71.05 → 550.54.14" in plan_cell.cause
    assert plan_cell.fix == FIX


def test_a_host_never_provisioned_fails_the_plan_check() -> None:
    report = check(snapshot_text(RTX2080_595, plan=None, verify=None,
                                 missing=("env-python",)))["report"]
    cells = {r.check: r for r in report.results}
    assert cells["plan"].status == "fail"
    assert "has not provisioned this host" in cells["plan"].cause
    assert cells["verify"].status == "fail"
    assert "/opt/miniforge3/envs/pytorch/bin/python is missing" in cells["verify"].cause


def test_a_corrupt_plan_json_is_reported_as_corrupt_not_as_missing() -> None:
    text = snapshot_text(RTX2080_595, plan=None, verify=None, missing=("env-python",))
    text = text.replace("@@labtorch-check:plan@@\n", '@@labtorch-check:plan@@\n{"plan": {"tor\n')
    cell = check(text)["cells"]["plan"]
    assert cell.status == "fail"
    assert "/opt/miniforge3/.labtorch/plan.json is corrupt" in cell.cause
    assert "has not provisioned" not in cell.cause


def test_an_edited_pip_conf_or_condarc_fails_the_config_check() -> None:
    plan = planned(RTX2080_595)
    cells = check(snapshot_text(
        RTX2080_595, plan=plan, verify=verify_doc(plan),
        pip_conf="[global]\nindex-url = http://evil.example/simple\n",
        condarc="channels: [defaults]\n"))["cells"]
    assert cells["config"].status == "fail"
    assert "points pip at http://evil.example/simple" in cells["config"].cause
    assert ".condarc was changed since the deploy" in cells["config"].cause


def test_a_wrong_python_in_the_env_fails_the_python_check() -> None:
    plan = planned(RTX2080_595)
    cells = check(snapshot_text(RTX2080_595, plan=plan,
                                verify=verify_doc(plan, python="3.9.1")))["cells"]
    assert cells["python"].status == "fail"


def test_unreachable_report_says_why() -> None:
    report = evaluate.unreachable_report("pc09", "room", "cannot connect: Connection refused")
    assert report.status == "unreachable"
    assert "Connection refused" in report.results[0].cause


SECRET = "s3cret-pw"
CREDENTIALED = Settings.from_data({
    "labtorch_pytorch_index_url": f"https://lab:{SECRET}@127.0.0.1/whl/{{variant}}",
    "labtorch_pypi_index_url": f"https://lab:{SECRET}@127.0.0.1/pypi/simple",
}, host="pc01", home="/root")


def _printed(report: Any) -> str:
    return "\n".join(f"{r.cause} {r.fix} {r.detail}" for r in report.results)


def test_a_credentialed_index_is_no_drift_and_its_password_never_shows() -> None:
    plan = planned(RTX2080_595, CREDENTIALED)
    assert SECRET in plan.index_url  # the premise: today's plan carries the password
    result = check(snapshot_text(RTX2080_595, plan=plan, verify=verify_doc(plan),
                                 settings=CREDENTIALED, as_deployed=True), CREDENTIALED)
    cells = result["cells"]
    assert cells["plan"].status == "pass", cells["plan"].cause
    assert cells["config"].status == "pass", cells["config"].cause
    assert SECRET not in _printed(result["report"])


def test_drift_of_a_credentialed_plan_is_reported_with_the_password_masked() -> None:
    recorded = planned(RTX2080_595, CREDENTIALED)
    today = planned(RTX3080_550, CREDENTIALED)
    assert recorded.index_url != today.index_url  # the premise of this test
    report = check(snapshot_text(RTX3080_550, plan=recorded, verify=verify_doc(recorded),
                                 settings=CREDENTIALED, as_deployed=True), CREDENTIALED)["report"]
    plan_cell = next(r for r in report.results if r.check == "plan")
    assert plan_cell.status == "drift"
    assert f"index_url https://lab:***@127.0.0.1/whl/{recorded.variant}" in plan_cell.cause
    assert SECRET not in _printed(report)


def test_an_edited_credentialed_pip_conf_is_reported_with_the_password_masked() -> None:
    plan = planned(RTX2080_595, CREDENTIALED)
    cells = check(snapshot_text(
        RTX2080_595, plan=plan, verify=verify_doc(plan), settings=CREDENTIALED, as_deployed=True,
        pip_conf=f"[global]\nindex-url = https://lab:{SECRET}@evil.example/simple\n"),
        CREDENTIALED)["cells"]
    assert cells["config"].status == "fail"
    assert "points pip at https://lab:***@evil.example/simple" in cells["config"].cause
    assert "not https://lab:***@127.0.0.1/pypi/simple" in cells["config"].cause
    assert SECRET not in f"{cells['config'].cause} {cells['config'].detail}"


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                    reason="this interpreter has torch; the test plays a host without it")
def test_the_gather_command_runs_in_sh_and_parses(tmp_path: Path) -> None:
    """Run the real remote command with the local sh against a prefix laid out as the deploy
    leaves it (its env Python is this interpreter, which has no torch: 'torch uninstalled')."""
    prefix = tmp_path / "miniforge3"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "conda").write_text("#!/bin/sh\n")
    (prefix / "bin" / "conda").chmod(0o755)
    (prefix / "conda-meta").mkdir()
    (prefix / "conda-meta" / "history").write_text("")
    (prefix / "conda-meta" / "conda-25.3.0-py312h7900ff3_0.json").write_text("{}")
    (prefix / "envs" / "pytorch" / "bin").mkdir(parents=True)
    (prefix / "envs" / "pytorch" / "bin" / "python").symlink_to(sys.executable)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    settings = Settings.from_data({"labtorch_conda_prefix": str(prefix), "labtorch_python": python},
                                  host="pc01", home=str(tmp_path))
    plan = planned(RTX2080_595)
    (prefix / ".labtorch").mkdir()
    (prefix / ".labtorch" / "plan.json").write_text(json.dumps(plan_document(plan, settings)))
    (prefix / ".labtorch" / "labtorch_verify.py").write_text(script_text())
    command = gather.linux_command(str(prefix), "pytorch", kernel_timeout=20)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no nvidia-smi here
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    snapshot = gather.parse_snapshot(done.stdout, str(prefix))
    assert snapshot.gpu.error == "not_installed"
    assert snapshot.conda is not None and snapshot.conda.version == "25.3.0"
    assert snapshot.plan is not None and snapshot.plan["plan"]["variant"] == plan.variant
    assert snapshot.verify is not None
    assert snapshot.verify["python"]["version"].startswith(settings.policy.python or "")
    assert snapshot.verify["torch"]["imported"] is False
    report = evaluate.evaluate_host("pc01", "room", snapshot, settings, fix=FIX)
    cells = {r.check: r for r in report.results}
    assert cells["torch"].status == "fail"
    # no GPU now, but the recorded plan was made for an RTX 2080: the plan changed
    assert cells["plan"].status == "drift"
    assert "GPU NVIDIA GeForce RTX 2080 SUPER → no GPU" in cells["plan"].cause


def _with_plan_document(text: str, edit: Any) -> str:
    """``text`` with its plan.json part replaced by ``edit(document)``."""
    head, rest = text.split("@@labtorch-check:plan@@\n", 1)
    plan_text, tail = rest.split("@@labtorch-check:condarc@@\n", 1)
    document = edit(json.loads(plan_text))
    return (f"{head}@@labtorch-check:plan@@\n{json.dumps(document, indent=2)}\n"
            f"@@labtorch-check:condarc@@\n{tail}")


def _room(tmp_path: Path, names: tuple[str, ...]) -> Path:
    """A real pyinfra inventory file; its hosts are never contacted (gathering is replaced)."""
    hosts = [(name, {"ssh_hostname": "127.0.0.1", "ssh_user": "nobody"}) for name in names]
    inventory = tmp_path / "room-q.py"
    inventory.write_text(f"room = {hosts!r}\n")
    return inventory


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_one_host_with_malformed_check_data_does_not_stop_the_room(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labtorch.check import run

    plan = planned(RTX2080_595)
    good = snapshot_text(RTX2080_595, plan=plan, verify=verify_doc(plan))

    def null_install(document: dict[str, Any]) -> dict[str, Any]:
        document["plan"]["install"] = None
        return document

    odd_verify = {**verify_doc(plan), "python": "3.12"}  # an object expected, a string found
    outputs = {"pc01": good, "pc02": _with_plan_document(good, null_install),
               "pc03": snapshot_text(RTX2080_595, plan=plan, verify=odd_verify)}

    def gathered(state: Any, kwargs_by_host: dict[Any, Any], timeout: int,
                 on_done: Any = None) -> dict[Any, Any]:
        result = {host: run.Gathered(outputs[host.name]) for host in kwargs_by_host
                  if host.name in outputs}
        result.update({host: run.Gathered(None, error=KeyError("nvidia-smi")) for host in
                       kwargs_by_host if host.name == "pc04"})
        for host, answer in result.items():  # as the real gather: each host as it finishes
            on_done(host, answer)
        return result

    monkeypatch.setattr(run, "gather", gathered)
    inventory = _room(tmp_path, ("pc01", "pc02", "pc03", "pc04"))
    checked = run.run_check(inventory)
    reports = {h.host: h for h in checked.hosts}
    assert list(reports) == ["pc01", "pc02", "pc03", "pc04"]
    assert reports["pc01"].compliant, reports["pc01"].problems
    plan_cell = next(r for r in reports["pc02"].results if r.check == "plan")
    assert plan_cell.status == "fail"
    assert "'install' is null" in plan_cell.cause
    for name in ("pc03", "pc04"):
        (cell,) = reports[name].results
        assert (cell.check, cell.status) == ("reach", "fail")
        assert cell.cause.startswith("could not read this host's check data: ")
        assert cell.fix == run.fix_command(inventory, name)
    assert "KeyError" in reports["pc04"].results[0].cause


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_an_error_while_judging_one_host_becomes_that_hosts_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labtorch.check import run

    plan = planned(RTX2080_595)
    good = snapshot_text(RTX2080_595, plan=plan, verify=verify_doc(plan))
    real_evaluate = run.evaluate_host

    def evaluate(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "pc01":
            raise LabtorchError("pc01's verify.json is not JSON")
        return real_evaluate(host, *args, **kwargs)

    monkeypatch.setattr(run, "evaluate_host", evaluate)
    def gathered(state: Any, kwargs: dict[Any, Any], timeout: int,
                 on_done: Any = None) -> dict[Any, Any]:
        result = {host: run.Gathered(good) for host in kwargs}
        for host, answer in result.items():
            on_done(host, answer)
        return result

    monkeypatch.setattr(run, "gather", gathered)
    checked = run.run_check(_room(tmp_path, ("pc01", "pc02")))
    first, second = checked.hosts
    assert first.status == "fail"
    assert first.results[0].cause == ("could not read this host's check data: "
                                      "pc01's verify.json is not JSON")
    assert second.compliant, second.problems


def test_a_greenlet_that_died_becomes_its_hosts_error() -> None:
    import gevent

    from labtorch.check import run

    def boom() -> None:
        raise ValueError("bad bytes")

    died, fine = gevent.spawn(boom), gevent.spawn(lambda: run.Gathered("out"))
    gevent.joinall([died, fine])
    assert isinstance(run._outcome(died).error, ValueError)
    assert run._outcome(fine) == run.Gathered("out")


def test_the_check_table_says_which_hosts_gpu_answers_were_replayed() -> None:
    from rich.console import Console

    from labtorch.check.model import CheckRun
    from labtorch.check.render import check_table

    plan = planned(RTX2080_595)
    report = check(snapshot_text(RTX2080_595, plan=plan, verify=verify_doc(plan)))["report"]
    gpu = next(r for r in report.results if r.check == "gpu")
    assert gpu.status == "simulated"
    assert gpu.detail.count("device answers replayed") == 1
    assert gpu.detail.endswith("device answers replayed from recording turing-rtx2080super "
                               "(synthetic)")
    console = Console(width=400, record=True)
    console.print(check_table(CheckRun("2026-12-02T00:00:00Z", "room.py", (report,))))
    assert ("replayed GPU answers: pc01: recording turing-rtx2080super (synthetic)"
            in console.export_text())


def test_a_real_pcs_gpu_answers_are_not_marked_replayed() -> None:
    plan = planned(RTX2080_595)
    report = check(snapshot_text(RTX2080_595, plan=plan,
                                 verify=verify_doc(plan, simulated=False)))["report"]
    assert report.versions.replayed is None
