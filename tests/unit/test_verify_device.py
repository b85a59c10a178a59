"""The verification script's GPU code, run against its device seam.

No GPU and no torch here: a small torch stand-in built in this file (pure-Python matrices)
carries the script's real observe_* code; the device answers come either from a fake device
written here or from the lab's GPU stand-in replaying the recordings in tests/standins/gpu.
The judge then reads the report as it would on a PC. Swapping the capability's (major, minor),
forcing the matmul comparison to "close" or dropping the NVML cross-check makes these fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from labtorch.model import Gpu as FactGpu
from labtorch.model import GpuFacts, HostPlan, SitePolicy
from labtorch.planner import plan_host
from labtorch.verify_report import SCHEMA, judge

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = ROOT / "tests" / "standins" / "gpu" / "recordings"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify = _load("labtorch_verify_under_test", ROOT / "roles" / "files" / "labtorch_verify.py")
standin = _load("gpu_standin_under_test", ROOT / "tests" / "standins" / "gpu" / "standin_device.py")


class Mat:
    """Just enough of a float tensor for observe_matmul: @, -, abs, max, cpu, float."""

    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows

    def __matmul__(self, other: Mat) -> Mat:
        cols = list(zip(*other.rows, strict=True))
        return Mat([[sum(a * b for a, b in zip(row, col, strict=True)) for col in cols]
                    for row in self.rows])

    def __sub__(self, other: Mat) -> Mat:
        return Mat([[a - b for a, b in zip(r, s, strict=True)]
                    for r, s in zip(self.rows, other.rows, strict=True)])

    def abs(self) -> Mat:
        return Mat([[abs(x) for x in row] for row in self.rows])

    def max(self) -> float:
        return max(max(row) for row in self.rows)

    def cpu(self) -> Mat:
        return self

    def to(self, target: str) -> Mat:
        return self


def fake_torch(version: str = "2.13.0+cu126", cuda: str | None = "12.6") -> Any:
    """A torch module shape: version facts of the installed wheel and tensor maths."""
    seed = [0]

    def rand(n: int, m: int, generator: Any = None, dtype: Any = None) -> Mat:
        seed[0] += 1
        return Mat([[((i * 7 + j * 3 + seed[0]) % 11) / 11 for j in range(m)] for i in range(n)])

    def allclose(a: Mat, b: Mat, rtol: float, atol: float) -> bool:
        return all(abs(x - y) <= atol + rtol * abs(y)
                   for r, s in zip(a.rows, b.rows, strict=True) for x, y in zip(r, s, strict=True))

    generator = types.SimpleNamespace(manual_seed=lambda seed: generator)
    cpu_cuda = types.SimpleNamespace(is_available=lambda: False, get_arch_list=lambda: [],
                                     device_count=lambda: 0)
    return types.SimpleNamespace(
        __version__=version, __file__="/env/torch/__init__.py",
        version=types.SimpleNamespace(cuda=cuda), float32="float32",
        Generator=lambda: generator, rand=rand, allclose=allclose, cuda=cpu_cuda,
        backends=types.SimpleNamespace(
            cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=True)),
            cudnn=types.SimpleNamespace(is_available=lambda: False, version=lambda: None)))


class FakeDevice:
    """A device answering like an RTX 3080 (8.6) unless told otherwise."""

    def __init__(self, capability: tuple[int, int] = (8, 6), broken_matmul: bool = False,
                 nvml_capability: tuple[int, int] | None = None) -> None:
        self.source = {"source": "test"}
        self.broken = broken_matmul
        self.cuda = types.SimpleNamespace(
            is_available=lambda: True, get_arch_list=lambda: ["sm_75", "sm_80", "sm_86"],
            device_count=lambda: 1, get_device_capability=lambda i: capability,
            get_device_name=lambda i: "NVIDIA GeForce RTX 3080", synchronize=lambda i: None)
        self.cudnn = types.SimpleNamespace(is_available=lambda: True, version=lambda: 91002)
        nvml_cap = nvml_capability or capability
        self._nvml = types.SimpleNamespace(
            nvmlInit=lambda: None, nvmlShutdown=lambda: None,
            nvmlSystemGetDriverVersion=lambda: b"570.133.07",
            nvmlSystemGetCudaDriverVersion=lambda: 12080, nvmlDeviceGetCount=lambda: 1,
            nvmlDeviceGetHandleByIndex=lambda i: i,
            nvmlDeviceGetCudaComputeCapability=lambda h: nvml_cap,
            nvmlDeviceGetName=lambda h: "NVIDIA GeForce RTX 3080")

    def to(self, tensor: Mat, target: str) -> Mat:
        if not self.broken:
            return tensor
        rows = [list(row) for row in tensor.rows]
        rows[0][0] += 0.5  # a GPU with a bad memory cell
        return Mat(rows)

    def nvml(self, pynvml: Any) -> Any:
        return self._nvml


@pytest.fixture(autouse=True)
def pynvml_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """nvidia-ml-py as imported (its answers come from the device seam)."""
    monkeypatch.setitem(sys.modules, "pynvml", types.ModuleType("pynvml"))


def plan_for(variant: str) -> HostPlan:
    return HostPlan(torch="2.13.0", torchvision=None, torchaudio=None, variant=variant,
                    python="3.12", index_url=f"https://download.pytorch.org/whl/{variant}",
                    install=())


def report_with(torch: Any, device: Any, size: int = 6, python: str = "3.12") -> dict[str, Any]:
    """The script's own observations with a passing kernel section (not under test here)."""
    cuda = verify.observe_cuda(torch, device)
    return {
        "schema": SCHEMA, "python": {"executable": "/env/bin/python", "version": f"{python}.9"},
        "plan": None, "lab": None, "device": device.source,
        "torch": {"imported": True, "version": torch.__version__, "cuda": torch.version.cuda},
        "cuda": cuda, "matmul": verify.observe_matmul(torch, device, cuda, size),
        "cudnn": verify.observe_cudnn(torch, device), "nvml": verify.observe_nvml(device),
        "kernel": {"name": "pytorch", "spec_file": "/k/kernel.json",
                   "argv": ["/env/bin/python", "-m", "ipykernel_launcher"],
                   "torch_version": torch.__version__},
    }


def test_a_healthy_gpu_passes_every_gpu_check_through_the_scripts_own_code():
    report = report_with(fake_torch(), FakeDevice())
    verdict = judge(report, plan_for("cu126"))
    assert verdict.status == "pass", verdict.summary()
    assert report["cuda"]["devices"][0]["capability"] == [8, 6]
    assert report["matmul"]["ran"] and report["matmul"]["max_abs_diff"] == 0.0


def test_capability_is_reported_major_then_minor_so_the_arch_check_reads_it():
    report = report_with(fake_torch(), FakeDevice(capability=(7, 5)))
    assert report["cuda"]["devices"][0]["capability"] == [7, 5]
    assert report["nvml"]["devices"][0]["capability"] == [7, 5]
    assert judge(report, plan_for("cu126")).check("gpu_arch").detail == "sm_75 runs sm_75"


def test_nvml_disagreeing_with_torch_on_the_capability_fails_the_cross_check():
    report = report_with(fake_torch(), FakeDevice(capability=(8, 6), nvml_capability=(8, 9)))
    check = judge(report, plan_for("cu126")).check("nvml")
    assert check.status == "fail"
    assert "NVML says compute capability [8, 9] for GPU 0, torch says [8, 6]" in check.detail


def test_a_gpu_that_multiplies_wrong_fails_the_matmul_check():
    report = report_with(fake_torch(), FakeDevice(broken_matmul=True))
    assert report["matmul"]["allclose"] is False
    check = judge(report, plan_for("cu126")).check("gpu_matmul")
    assert check.status == "fail"
    assert check.detail.startswith("the GPU result differs from the CPU result (max difference")


def test_missing_nvidia_ml_py_is_observed_and_fails_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    report = report_with(fake_torch(), FakeDevice())
    check = judge(report, plan_for("cu126")).check("nvml")
    assert check.status == "fail"
    assert check.fix == "install it in the env: python -m pip install nvidia-ml-py"


def test_a_real_pc_without_a_lab_marker_gets_the_torch_device():
    torch = fake_torch()
    device = verify.load_device(torch, None)
    assert device.source == {"source": "torch"}
    assert device.cuda is torch.cuda


# ----------------------------------------------------------------- the lab's GPU stand-in


def recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.json"))


def facts_of(recording: dict[str, Any]) -> GpuFacts:
    """The GPU facts the recorded machine gave (its NVML answers)."""
    nvml = recording["nvml"]
    cuda = nvml["cuda_driver_version"]
    return GpuFacts(os="linux", driver_version=nvml["driver_version"],
                    cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}",
                    gpus=tuple(FactGpu(d["name"], compute_capability="{}.{}".format(
                        *d["capability"]), compute_capability_source="reported")
                        for d in nvml["devices"]), format="q")


def standin_report(path: Path, variant: str, tmp_path: Path,
                   python: str = "3.12") -> dict[str, Any]:
    marker = {"simulated": True,
              "device_standin": {"module": str(standin.__file__), "recording": str(path)}}
    cuda = standin.load(str(path))["builds"].get(f"2.13.0+{variant}", {}).get("cuda")
    torch = fake_torch(f"2.13.0+{variant}", cuda if variant != "cpu" else None)
    return report_with(torch, verify.load_device(torch, marker), python=python)


def test_every_recording_is_a_recording_and_says_whether_it_is_synthetic():
    assert recordings(), "no GPU recordings in tests/standins/gpu/recordings"
    for path in recordings():
        recording = standin.load(str(path))
        assert isinstance(recording["synthetic"], bool) and recording["sources"], path.name
        assert recording["cuda"]["devices"] and recording["builds"], path.name


@pytest.mark.parametrize("path", recordings(), ids=lambda p: p.stem)
def test_planned_build_on_each_recorded_gpu_passes_on_replayed_answers(path, tmp_path):
    recording = standin.load(str(path))
    plan = plan_host(facts_of(recording), SitePolicy(torch="2.13"))
    if not plan.is_gpu:  # the recorded driver is older than every 2.13 build allows
        assert "is too old for every build" in plan.warnings[0], plan.warnings
        return
    report = standin_report(path, plan.variant, tmp_path, plan.python)
    verdict = judge(report, plan)
    assert verdict.ok, verdict.summary()
    assert verdict.status == "simulated" and report["device"]["build"] == f"2.13.0+{plan.variant}"
    capabilities = [d["capability"] for d in recording["cuda"]["devices"]]
    assert [d["capability"] for d in report["cuda"]["devices"]] == capabilities


def test_a_wheel_without_the_hosts_sm_fails_on_the_replayed_blackwell(tmp_path):
    report = standin_report(RECORDINGS / "blackwell-rtx5080.json", "cu126", tmp_path)
    check = judge(report, plan_for("cu126")).check("gpu_arch")
    assert check.status == "fail"
    assert check.detail.startswith("no kernels for sm_120 in this build")


def test_a_cpu_wheel_gets_torchs_own_answers_from_the_stand_in_and_fails(tmp_path):
    report = standin_report(RECORDINGS / "ampere-a10.json", "cpu", tmp_path)
    assert report["device"]["device_answers"] == "torch"
    verdict = judge(report, plan_for("cu126"))
    assert verdict.check("torch_variant").status == "fail"
    assert not verdict.simulated  # nothing was replayed: torch answered for itself


def test_a_wheel_newer_than_the_recorded_driver_is_refused_like_torch_does(tmp_path):
    report = standin_report(RECORDINGS / "ampere-a10.json", "cu130", tmp_path)  # driver CUDA 12.4
    check = judge(report, plan_for("cu130")).check("cuda_available")
    assert check.status == "fail"
    assert check.detail.startswith("driver too old (found version 12040")


def test_recordings_json_round_trips():
    for path in recordings():
        assert json.loads(path.read_text())["schema"] == standin.SCHEMA


# ----------------------------------------------------------------- capturing a real GPU

recordings_mod = _load("gpu_recordings_under_test", ROOT / "tests" / "standins" / "gpu" /
                       "recordings.py")


def test_a_report_from_a_real_gpu_becomes_a_recording_the_stand_in_replays_alike(tmp_path):
    real = report_with(fake_torch(), FakeDevice(capability=(9, 0)))
    recording = recordings_mod.from_report(real, profile="hopper-test", source="test")
    assert recording["synthetic"] is False
    path = tmp_path / "hopper-test.json"
    path.write_text(json.dumps(recording))
    marker = {"device_standin": {"module": str(standin.__file__), "recording": str(path)}}
    replayed = report_with(fake_torch(), verify.load_device(fake_torch(), marker))
    for section in ("cuda", "cudnn"):
        assert replayed[section] == real[section], section
    assert replayed["nvml"] == real["nvml"]
    assert replayed["device"]["build"] == "2.13.0+cu126"


def test_a_report_without_a_usable_gpu_is_not_recorded():
    cpu = report_with(fake_torch("2.13.0+cpu", None), FakeDevice())
    with pytest.raises(ValueError, match="torch sees no GPU"):
        recordings_mod.from_report(cpu, profile="x", source="test")


def test_the_capture_script_refuses_an_env_whose_torch_sees_no_gpu(tmp_path):
    """bench/gpu_capture.sh with a recorded nvidia-smi and an env without CUDA torch: it writes
    the driver's outputs and the plan, then refuses to record (exit 1), naming why."""
    fixture = ROOT.parent / "shared" / "fixtures" / "nvidia-smi"
    if not fixture.is_dir():
        pytest.skip("../shared/fixtures/nvidia-smi is not checked out")
    q = fixture / "gpuexp-rtx-2080-super-linux-595.71.05-q.txt"
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "nvidia-smi").write_text(f"#!/bin/sh\ncat {q}\n")
    (stub / "nvidia-smi").chmod(0o755)
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_capture.sh"), "captest", sys.executable],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PATH": f"{stub}:{os.environ['PATH']}",
             "LABTORCH": str(Path(sys.executable).parent / "labtorch")})
    captured = ROOT / "tests" / "standins" / "gpu" / "captures" / "captest"
    try:
        assert done.returncode == 1, done.stdout + done.stderr
        assert "the env's torch sees no GPU" in done.stderr
        assert json.loads((captured / "plan.json").read_text())["variant"].startswith("cu")
        assert json.loads((captured / "verify.json").read_text())["torch"]["imported"] is False
        assert not (RECORDINGS / "captest.json").exists()
    finally:
        shutil.rmtree(captured, ignore_errors=True)
        if not any(captured.parent.iterdir()):
            captured.parent.rmdir()


def test_the_committed_synthetic_recordings_are_what_the_builder_makes(tmp_path, monkeypatch):
    """docs/verification.md: `python tests/standins/gpu/recordings.py` rebuilds them."""
    fixture = ROOT.parent / "shared" / "fixtures" / "nvidia-smi"
    if not fixture.is_dir():
        pytest.skip("../shared/fixtures/nvidia-smi is not checked out")
    monkeypatch.setattr(recordings_mod, "RECORDINGS", tmp_path)
    assert recordings_mod.main([]) == 0
    for built in tmp_path.glob("*.json"):
        committed = RECORDINGS / built.name
        assert json.loads(built.read_text()) == json.loads(committed.read_text()), built.name
    assert {p.name for p in tmp_path.glob("*.json")} == {
        p.name for p in recordings() if standin.load(str(p))["synthetic"]}
