"""GPU stand-in for simulated lab hosts: the device answers of a recorded real GPU.

A lab host has no GPU, so the verification script (roles/files/labtorch_verify.py) loads this
module instead of its real device (torch.cuda, torch.backends.cudnn, pynvml's answers) when the
root-owned lab marker ``/etc/labtorch-lab.json`` names it. It replays a recording
(``recordings/<profile>.json``, schema "labtorch-gpu-recording/1"): the devices CUDA and NVML
listed, the driver's versions, and per *installed* torch build (``torch.__version__``, e.g.
"2.13.0+cu126") the arch list compiled into that wheel and its cuDNN version.

Only device answers are replayed. The script still imports torch and pynvml for real (a
missing nvidia-ml-py fails), reads the real ``torch.version.cuda`` of the installed wheel (a
CPU wheel gets torch's own answers: CUDA unavailable), and runs the matmul comparison for real
(the "GPU" side is computed on the CPU). A build the recording does not know, or a wheel newer
than the recorded driver's CUDA, answers the way torch does on such a PC. Stdlib only: it runs
with the env's Python on the host.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

SCHEMA = "labtorch-gpu-recording/1"
# torch's own warning when the driver's CUDA is older than the wheel's (c10/cuda/CUDAFunctions)
TOO_OLD = ("CUDA initialization: The NVIDIA driver on your system is too old (found version "
           "{found}). Please update your GPU driver by downloading and installing a new version "
           "from the URL: http://www.nvidia.com/Download/index.aspx Alternatively, go to: "
           "https://pytorch.org to install a PyTorch version that has been compiled with your "
           "version of the CUDA driver.")


def load(path: str) -> dict[str, Any]:
    """Read a recording; ValueError when it is not one."""
    with open(path, encoding="utf-8") as handle:
        recording = json.load(handle)
    if not isinstance(recording, dict) or recording.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a {SCHEMA} recording")
    return recording


def _cuda_number(text: str) -> int:
    """"12.6" -> 12060 (the form NVML's CUDA driver version takes)."""
    major, _, minor = text.partition(".")
    return int(major) * 1000 + int(minor or 0) * 10


class _Cuda:
    """``torch.cuda`` as it answered on the recorded machine for the installed build."""

    def __init__(self, recording: dict[str, Any], build: dict[str, Any] | None, version: str,
                 built_for: str) -> None:
        self._devices = list((recording.get("cuda") or {}).get("devices") or [])
        self._build = build
        self._version = version
        self._built_for = built_for
        self._driver_cuda = int((recording.get("nvml") or {}).get("cuda_driver_version") or 0)

    def is_available(self) -> bool:
        if self._build is None:
            raise RuntimeError(f"labtorch lab GPU stand-in: no recording of torch {self._version} "
                               "on this GPU (record it with bench/gpu_capture.sh)")
        if self._driver_cuda and _cuda_number(self._built_for) // 1000 > self._driver_cuda // 1000:
            warnings.warn(TOO_OLD.format(found=self._driver_cuda), UserWarning, stacklevel=2)
            return False
        return bool(self._devices)

    def get_arch_list(self) -> list[str]:
        return list(self._build["arch_list"]) if self._build else []

    def device_count(self) -> int:
        return len(self._devices)

    def get_device_capability(self, index: int) -> tuple[int, int]:
        major, minor = self._devices[index]["capability"]
        return int(major), int(minor)

    def get_device_name(self, index: int) -> str:
        return str(self._devices[index]["name"])

    def synchronize(self, index: int | None = None) -> None:
        return None


class _Cudnn:
    def __init__(self, build: dict[str, Any] | None) -> None:
        self._version = (build or {}).get("cudnn_version")

    def is_available(self) -> bool:
        return self._version is not None

    def version(self) -> int | None:
        return self._version


class _Nvml:
    """pynvml's API answering from the recording (the real module was imported by the script)."""

    def __init__(self, nvml: dict[str, Any]) -> None:
        self._nvml = nvml

    def nvmlInit(self) -> None:
        if self._nvml.get("error"):
            raise RuntimeError(self._nvml["error"])

    def nvmlShutdown(self) -> None:
        return None

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self._nvml["driver_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return int(self._nvml["cuda_driver_version"])

    def nvmlDeviceGetCount(self) -> int:
        return len(self._nvml.get("devices") or [])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return dict(self._nvml["devices"][index])

    def nvmlDeviceGetCudaComputeCapability(self, handle: dict[str, Any]) -> tuple[int, int]:
        major, minor = handle["capability"]
        return int(major), int(minor)

    def nvmlDeviceGetName(self, handle: dict[str, Any]) -> str:
        return str(handle["name"])


class StandinDevice:
    """The verification script's device seam, answered from ``recording_path``."""

    def __init__(self, torch: Any, recording_path: str) -> None:
        recording = load(recording_path)
        version = str(getattr(torch, "__version__", "")) if torch is not None else ""
        built_for = getattr(getattr(torch, "version", None), "cuda", None)
        build = (recording.get("builds") or {}).get(version)
        self.source = {"source": "standin", "recording": recording_path,
                       "profile": recording.get("profile"),
                       "synthetic": bool(recording.get("synthetic")),
                       "build": version if build else None}
        self._recording = recording
        if torch is None or not built_for:  # a CPU build answers for itself, as on a real PC
            self.cuda = getattr(torch, "cuda", None)
            self.cudnn = getattr(getattr(torch, "backends", None), "cudnn", None)
            self.source["device_answers"] = "torch"
        else:
            self.cuda = _Cuda(recording, build, version, str(built_for))
            self.cudnn = _Cudnn(build)
            self.source["device_answers"] = "recording"

    def to(self, tensor: Any, target: str) -> Any:
        """The recorded GPU's result is computed on the CPU (its comparison still runs)."""
        return tensor

    def nvml(self, pynvml: Any) -> _Nvml:
        return _Nvml(self._recording.get("nvml") or {})
