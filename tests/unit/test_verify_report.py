"""Judging verification reports: the words an admin reads for each real failure mode.

The reports are shaped like ``roles/files/labtorch_verify.py`` writes them; the warning and error
texts are PyTorch's and NVML's own words as quoted in ../shared/reference/compat.md §6.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from labtorch.errors import LabtorchError
from labtorch.model import HostPlan
from labtorch.verify_report import SCHEMA, arch_covers, judge, plan_from_dict

PY = "/opt/miniforge3/envs/pytorch/bin/python"


def make_plan(variant: str = "cu126", torch: str = "2.13.0", **extra: Any) -> HostPlan:
    return HostPlan(torch=torch, torchvision=None, torchaudio=None, variant=variant,
                    python="3.12", index_url=f"https://download.pytorch.org/whl/{variant}",
                    install=(("torch==" + torch,),), **extra)


def gpu_report(**sections: Any) -> dict[str, Any]:
    """A healthy GTX 1080 Ti host with torch 2.13.0+cu126; ``sections`` replace parts of it."""
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "checked_at": "2026-11-28T09:00:00+00:00",
        "python": {"executable": PY, "version": "3.12.7"},
        "plan": {"path": "/opt/miniforge3/.labtorch/plan.json", "sha256": "abc"},
        "lab": None,
        "torch": {"imported": True, "version": "2.13.0+cu126", "dist_version": "2.13.0+cu126",
                  "cuda": "12.6", "error": None},
        "cuda": {"probed": True, "available": True, "warnings": [], "device_count": 1,
                 "devices": [{"index": 0, "name": "NVIDIA GeForce GTX 1080 Ti",
                              "capability": [6, 1]}],
                 "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
                 "error": None},
        "matmul": {"ran": True, "allclose": True, "max_abs_diff": 6.1e-05, "size": 256,
                   "error": None},
        "cudnn": {"available": True, "version": 91002, "error": None},
        "nvml": {"imported": True, "initialized": True, "driver_version": "570.133.07",
                 "cuda_driver_version": 12080,
                 "devices": [{"index": 0, "name": "NVIDIA GeForce GTX 1080 Ti",
                              "capability": [6, 1]}], "error": None},
        "kernel": {"name": "pytorch", "spec_file": "/usr/local/share/jupyter/kernels/pytorch/"
                   "kernel.json", "argv": [PY, "-m", "ipykernel_launcher", "-f",
                                           "{connection_file}"],
                   "started": True, "torch_version": "2.13.0+cu126", "error": None},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(report.get(key), dict):
            report[key] = {**report[key], **value}
        else:
            report[key] = value
    return report


LAB = {"simulated": True, "host": "pc03", "profile": "pascal-gtx1080"}


def test_a_healthy_gpu_host_passes_every_check():
    verdict = judge(gpu_report(), make_plan())
    assert verdict.status == "pass"
    assert {c.status for c in verdict.checks} == {"pass"}
    assert verdict.check("gpu_arch").detail == "sm_61 runs sm_60"


def test_cpu_wheel_on_a_cuda_plan_says_torch_is_a_cpu_build_with_the_reinstall_command():
    report = gpu_report(torch={"version": "2.13.0+cpu", "cuda": None},
                        cuda={"available": False, "devices": [], "arch_list": []})
    verdict = judge(report, make_plan(), host="pc07")
    assert verdict.status == "fail"
    first = verdict.failures[0]
    assert first.id == "torch_variant"
    assert first.detail == "torch is a CPU build (torch.version.cuda is None)"
    assert "torch==2.13.0+cu126 --index-url https://download.pytorch.org/whl/cu126" in first.fix
    assert verdict.summary().startswith("pc07: verification failed: torch variant: torch is a CPU")
    # the GPU checks do not pile more failures on the same cause
    assert verdict.check("gpu_matmul").status == "skipped"


def test_gpu_without_kernels_in_the_build_names_the_missing_sm_and_the_variant_to_plan():
    # uv#14742: a GTX 1080 Ti with a cu128 build
    report = gpu_report(torch={"version": "2.13.0+cu130", "cuda": "13.0"},
                        cuda={"arch_list": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100",
                                            "sm_120", "compute_120"]},
                        matmul={"ran": False, "allclose": None, "error": "AcceleratorError: "
                                "CUDA error: no kernel image is available for execution on the "
                                "device"},
                        kernel={"torch_version": "2.13.0+cu130"})
    verdict = judge(report, make_plan("cu130"))
    arch = verdict.check("gpu_arch")
    assert arch.status == "fail"
    assert arch.detail.startswith("no kernels for sm_61 in this build (arch list sm_75 sm_80")
    assert "plan a cu126 build" in arch.fix
    assert verdict.check("gpu_matmul").detail.startswith("no kernels for sm_61 in this build")


def test_driver_too_old_is_named_with_the_found_version_and_the_driver_floor():
    warning = ("CUDA initialization: The NVIDIA driver on your system is too old (found version "
               "12080). Please update your GPU driver by downloading and installing a new version")
    report = gpu_report(torch={"version": "2.13.0+cu130", "cuda": "13.0"},
                        cuda={"available": False, "warnings": [warning], "devices": [],
                              "arch_list": []},
                        kernel={"torch_version": "2.13.0+cu130"})
    check = judge(report, make_plan("cu130")).check("cuda_available")
    assert check.status == "fail"
    assert check.detail.startswith("driver too old (found version 12080, i.e. CUDA 12.8")
    assert check.fix.startswith("update the NVIDIA driver (≥ 580)")
    assert "plan an older variant" in check.fix


def test_no_driver_is_reported_in_plain_words():
    report = gpu_report(cuda={"available": False, "devices": [], "arch_list": [], "warnings": [
        "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
        "installed a driver from http://www.nvidia.com/Download/index.aspx"]},
        nvml={"initialized": False, "devices": [], "driver_version": None,
              "error": "NVMLError_LibraryNotFound: NVML Shared Library Not Found"})
    verdict = judge(report, make_plan())
    assert verdict.check("cuda_available").detail == "no NVIDIA driver"
    assert verdict.check("nvml").detail.startswith("no NVIDIA driver")


REPLAYED = {"source": "standin", "recording": "/etc/labtorch-lab/gpu-recording.json",
            "profile": "pascal-gtx1080ti", "synthetic": True, "build": "2.13.0+cu126"}


def test_replayed_device_answers_mark_passing_gpu_checks_simulated_and_name_the_recording():
    verdict = judge(gpu_report(lab=LAB, device=REPLAYED), make_plan())
    gpu = [verdict.check(c) for c in ("cuda_available", "gpu_device", "gpu_arch", "gpu_matmul",
                                      "cudnn", "nvml")]
    assert [c.status for c in gpu] == ["simulated"] * 6
    assert all("replayed from recording pascal-gtx1080ti (synthetic)" in c.detail for c in gpu)
    assert verdict.check("torch_variant").status == "pass"
    assert verdict.check("torch_version").status == "pass"
    assert verdict.check("jupyter_kernel").status == "pass"
    assert verdict.status == "simulated" and verdict.ok and verdict.simulated
    assert "replayed from a recorded GPU" in verdict.summary()


def test_a_lab_host_without_replayed_answers_is_judged_like_a_real_pc():
    verdict = judge(gpu_report(lab=LAB), make_plan())
    assert verdict.status == "pass" and not verdict.simulated


def test_relabelled_cpu_wheel_on_a_lab_gpu_host_fails_as_a_cpu_build():
    report = gpu_report(lab=LAB, device=REPLAYED, torch={"version": "2.13.0+cu126", "cuda": None},
                        cuda={"available": False, "devices": [], "arch_list": []})
    verdict = judge(report, make_plan())
    assert verdict.status == "fail"
    assert verdict.failures[0].detail == "torch is a CPU build (torch.version.cuda is None)"


def test_replayed_answers_still_fail_a_wheel_without_the_hosts_sm():
    report = gpu_report(lab=LAB, device=REPLAYED, cuda={"arch_list": [
        "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]})
    verdict = judge(report, make_plan())
    assert verdict.check("gpu_arch").status == "fail"
    assert "no kernels for sm_61" in verdict.check("gpu_arch").detail


def test_replayed_answers_still_fail_a_missing_nvidia_ml_py_with_the_fix():
    report = gpu_report(lab=LAB, device=REPLAYED, nvml={
        "imported": False, "initialized": False,
        "error": "ModuleNotFoundError: No module named 'pynvml'"})
    check = judge(report, make_plan()).check("nvml")
    assert check.status == "fail"
    assert check.fix == "install it in the env: python -m pip install nvidia-ml-py"


def test_cpu_plan_skips_gpu_checks_and_rejects_a_cuda_build():
    cpu = gpu_report(torch={"version": "2.13.0+cpu", "cuda": None},
                     kernel={"torch_version": "2.13.0+cpu"})
    assert judge(cpu, make_plan("cpu")).status == "pass"
    assert judge(cpu, make_plan("cpu")).check("gpu_matmul").status == "skipped"
    cuda = judge(gpu_report(), make_plan("cpu"))
    assert cuda.check("torch_variant").detail == (
        "torch is a CUDA 12.6 build but the plan is CPU-only")


@pytest.mark.parametrize(("installed", "planned", "ok"), [
    ("2.13.0+cu126", "2.13.0", True),
    ("2.13.0", "2.13.0", True),            # PyPI wheels carry no local label
    ("2.12.1+cu126", "2.13.0", False),
    ("2.13.0+cu130", "2.13.0", False),
    ("2.13.0+cu126", "2.13.0+cu126", True),
])
def test_torch_version_is_compared_exactly_including_the_local_label(installed, planned, ok):
    report = gpu_report(torch={"version": installed}, kernel={"torch_version": installed})
    check = judge(report, make_plan(torch=planned)).check("torch_version")
    assert (check.status == "pass") is ok


def test_wrong_env_python_and_a_kernel_pointing_elsewhere_fail():
    report = gpu_report(python={"executable": PY, "version": "3.10.14"},
                        kernel={"argv": ["/usr/bin/python3", "-m", "ipykernel_launcher"]})
    verdict = judge(report, make_plan())
    assert verdict.check("python").detail == "the env has Python 3.10.14, the plan wants 3.12"
    assert "starts /usr/bin/python3, not the env's Python" in verdict.check(
        "jupyter_kernel").detail


def test_kernel_that_cannot_import_torch_fails_with_the_kernels_own_error():
    report = gpu_report(kernel={"torch_version": None,
                                "error": "ModuleNotFoundError: No module named 'torch'"})
    check = judge(report, make_plan()).check("jupyter_kernel")
    assert check.status == "fail"
    assert "No module named 'torch'" in check.detail


def test_matmul_mismatch_and_nvml_capability_disagreement_fail():
    report = gpu_report(matmul={"allclose": False, "max_abs_diff": 3.5},
                        nvml={"devices": [{"index": 0, "capability": [7, 5]}]})
    verdict = judge(report, make_plan())
    assert verdict.check("gpu_matmul").detail.startswith("the GPU result differs from the CPU")
    assert "NVML says compute capability [7, 5]" in verdict.check("nvml").detail


def test_missing_nvidia_ml_py_fails_the_nvml_cross_check():
    report = gpu_report(nvml={"imported": False, "initialized": False,
                              "error": "ModuleNotFoundError: No module named 'pynvml'"})
    assert judge(report, make_plan()).check("nvml").detail == (
        "nvidia-ml-py is not installed in the env")


def test_a_missing_or_broken_report_is_one_plain_failure():
    assert judge(None, make_plan()).failures[0].detail == "the verification did not run (no report)"
    broken = {"schema": SCHEMA, "error": "RuntimeError: boom"}
    assert "RuntimeError: boom" in judge(broken, make_plan()).failures[0].detail


def test_a_report_made_for_another_plan_is_stale():
    verdict = judge(gpu_report(), make_plan(), plan_sha256="def")
    assert verdict.check("report").detail == "the report was made for another plan (stale)"


def test_driver_change_since_planning_is_a_note_not_a_failure():
    verdict = judge(gpu_report(), make_plan(driver_version="550.54.14"))
    assert verdict.status == "pass"
    assert verdict.notes == ("driver changed since planning: 550.54.14 -> 570.133.07",)


def test_plan_round_trips_through_its_dict_and_rejects_an_incomplete_one():
    plan = make_plan(gpus=("NVIDIA GeForce GTX 1080 Ti",), warnings=("w",))
    assert plan_from_dict(copy.deepcopy(plan.to_dict())) == plan
    with pytest.raises(LabtorchError, match="the plan has no variant"):
        plan_from_dict({"torch": "2.13.0", "python": "3.12", "index_url": "x"})


@pytest.mark.parametrize(("arch_list", "cc", "kernel"), [
    (["sm_50", "sm_60", "sm_70"], (6, 1), "sm_60"),
    (["sm_50", "sm_60", "sm_70"], (7, 5), "sm_70"),
    (["sm_75", "sm_80", "sm_90a"], (9, 0), "sm_90a"),
    (["sm_80", "sm_90a"], (9, 1), None),           # arch-specific cubins are not forward compatible
    (["sm_75", "compute_120"], (12, 1), "compute_120"),
    (["sm_75", "compute_120"], (10, 0), None),     # PTX never runs below its own capability
    (["sm_86"], (8, 0), None),
    ([], (8, 6), None),
])
def test_arch_coverage_follows_nvidias_binary_compatibility_rule(arch_list, cc, kernel):
    assert arch_covers(arch_list, cc) == kernel


@pytest.mark.parametrize(("change", "message"), [
    ({"install": None}, "'install' is null, not a list of pip argument lists"),
    ({"install": ["-U torch"]}, "'install' is a list, not a list of pip argument lists"),
    ({"install": [["torch", 2]]}, "'install' is a list, not a list of pip argument lists"),
    ({"torch": 2.13}, "'torch' is a number, not a string"),
    ({"index_url": None}, "'index_url' is null, not a string"),
    ({"torchvision": ["0.28"]}, "'torchvision' is a list, not a string or null"),
    ({"gpus": "RTX 3080"}, "'gpus' is a string, not a list of strings"),
    ({"warnings": None}, "'warnings' is null, not a list of strings"),
])
def test_a_malformed_plan_is_a_clear_error_naming_the_key(change: dict, message: str) -> None:
    data = {**make_plan().to_dict(), **change}
    with pytest.raises(LabtorchError, match=re.escape(message)) as caught:
        plan_from_dict(data)
    assert "re-run the deploy" in (caught.value.fix or "")


def test_a_plan_that_is_not_an_object_is_a_clear_error() -> None:
    with pytest.raises(LabtorchError, match="the plan is a list, not an object"):
        plan_from_dict(["torch"])  # type: ignore[arg-type]
