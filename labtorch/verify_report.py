"""Judge a host's verification report against its plan: per check pass, fail, simulated or skipped.

The on-host script (``roles/files/labtorch_verify.py``) only *observes* and writes
``<conda prefix>/.labtorch/verify.json``; this module decides. The deploy's ``verify`` role, the
testinfra suite (tests/infra) and the compliance check all call :func:`judge`, so a host is judged
the same way everywhere. Pure: no pyinfra, no I/O.

A failure says in plain words what is wrong and what to do::

    >>> plan = HostPlan(torch="2.13.0", torchvision=None, torchaudio=None, variant="cu126",
    ...                 python="3.12", index_url="https://download.pytorch.org/whl/cu126",
    ...                 install=())
    >>> report = {"schema": SCHEMA, "python": {"version": "3.12.4"},
    ...           "torch": {"imported": True, "version": "2.13.0+cpu", "cuda": None},
    ...           "cuda": {"available": False}, "kernel": {}}
    >>> verdict = judge(report, plan, host="pc07")
    >>> verdict.status
    'fail'
    >>> print(verdict.failures[0].line())
    torch variant: torch is a CPU build (torch.version.cuda is None); reinstall from the PyTorch \
cu126 index: python -m pip install --force-reinstall torch==2.13.0+cu126 \
--index-url https://download.pytorch.org/whl/cu126

Every check is judged for real on every host. On a simulated lab host the verification script's
*device answers* (CUDA, the devices, the arch list, cuDNN, NVML's answers) come from a recorded
real GPU (``"device": {"source": "standin", ...}`` in the report); a GPU check that passes on
replayed answers says ``simulated`` instead of ``pass`` and names the recording. A GPU check that
fails on them fails, exactly as on a real PC: a CPU wheel on a GPU plan, a wheel without the
host's sm, a missing nvidia-ml-py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.version import InvalidVersion, Version

from labtorch.errors import LabtorchError
from labtorch.model import HostPlan

SCHEMA = "labtorch-verify/1"
PLAN_SCHEMA = "labtorch-plan/1"

Status = Literal["pass", "fail", "simulated", "skipped"]
GPU_CHECKS = ("cuda_available", "gpu_device", "gpu_arch", "gpu_matmul", "cudnn", "nvml")
TITLES = {
    "report": "verification report",
    "python": "env Python",
    "torch_version": "torch version",
    "torch_variant": "torch variant",
    "cuda_available": "CUDA available",
    "gpu_device": "GPU device",
    "gpu_arch": "GPU kernels",
    "gpu_matmul": "GPU matmul",
    "cudnn": "cuDNN",
    "nvml": "NVML cross-check",
    "jupyter_kernel": "Jupyter kernel",
}


@dataclass(frozen=True)
class Check:
    """One judged check. ``detail`` says what was seen; ``fix`` is set when status is ``fail``."""

    id: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def title(self) -> str:
        return TITLES.get(self.id, self.id)

    def line(self) -> str:
        """One line for a person: ``title: detail; fix``."""
        text = f"{self.title}: {self.detail}"
        return f"{text}; {self.fix}" if self.fix else text

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status,
                "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Verdict:
    """All checks of one host. ``status``: fail if any check failed, else simulated if any check
    was simulated, else pass."""

    host: str | None
    checks: tuple[Check, ...]
    simulated: bool = False
    checked_at: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def status(self) -> Status:
        statuses = {check.status for check in self.checks}
        if "fail" in statuses:
            return "fail"
        if "simulated" in statuses:
            return "simulated"
        return "pass"

    @property
    def ok(self) -> bool:
        """True when nothing failed (a simulated host can be ok, it is never ``pass``)."""
        return self.status != "fail"

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.status == "fail")

    def check(self, check_id: str) -> Check:
        """The check named ``check_id``; KeyError when it was not judged."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    def summary(self) -> str:
        """One line per host: the status and, on failure, every cause with its fix."""
        prefix = f"{self.host}: " if self.host else ""
        if self.failures:
            return prefix + "verification failed: " + " | ".join(c.line() for c in self.failures)
        counts = {s: sum(c.status == s for c in self.checks) for s in ("pass", "simulated")}
        text = f"verification {self.status} ({counts['pass']} passed"
        if counts["simulated"]:
            text += (f", {counts['simulated']} simulated: passed on device answers replayed "
                     "from a recorded GPU")
        return prefix + text + ")"

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "status": self.status, "simulated": self.simulated,
                "checked_at": self.checked_at, "notes": list(self.notes),
                "checks": [check.to_dict() for check in self.checks]}


# --------------------------------------------------------------------------- plan documents


def plan_from_dict(data: Mapping[str, Any]) -> HostPlan:
    """Rebuild a :class:`HostPlan` from ``HostPlan.to_dict()`` output (as kept in plan.json).

    Unknown keys are ignored so an older reader accepts a newer plan; a missing required key or
    a value of the wrong type (``"install": null``, a number for ``torch``) raises
    :class:`LabtorchError` naming the key.
    """
    redeploy = "re-run the deploy so it writes a complete plan.json"
    if not isinstance(data, Mapping):
        raise LabtorchError(f"the plan is {_json_type(data)}, not an object", fix=redeploy)
    known = HostPlan.__dataclass_fields__
    values = {key: value for key, value in data.items() if key in known}
    missing = [name for name in ("torch", "variant", "python", "index_url") if name not in values]
    if missing:
        raise LabtorchError(f"the plan has no {', '.join(missing)}", fix=redeploy)
    values.setdefault("torchvision", None)
    values.setdefault("torchaudio", None)
    for key in ("torch", "variant", "python", "index_url", "os"):
        if key in values and not isinstance(values[key], str):
            raise LabtorchError(f"the plan's {key!r} is {_json_type(values[key])}, not a string",
                                fix=redeploy)
    for key in ("torchvision", "torchaudio", "min_compute_capability", "driver_version",
                "extra_index_url"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise LabtorchError(f"the plan's {key!r} is {_json_type(values[key])}, "
                                "not a string or null", fix=redeploy)
    install = values.get("install", [])
    if not (isinstance(install, list | tuple) and all(
            isinstance(cmd, list | tuple) and all(isinstance(arg, str) for arg in cmd)
            for cmd in install)):
        raise LabtorchError(f"the plan's 'install' is {_json_type(install)}, not a list of pip "
                            "argument lists", fix=redeploy)
    values["install"] = tuple(tuple(cmd) for cmd in install)
    for key in ("reasons", "warnings", "gpus"):
        if key not in values:
            continue
        if not (isinstance(values[key], list | tuple)
                and all(isinstance(x, str) for x in values[key])):
            raise LabtorchError(f"the plan's {key!r} is {_json_type(values[key])}, "
                                "not a list of strings", fix=redeploy)
        values[key] = tuple(values[key])
    return HostPlan(**values)


def _json_type(value: Any) -> str:
    """How a JSON value reads in an error: "null", "a number", "a list" ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------- helpers


def _version(text: Any) -> Version | None:
    try:
        return Version(str(text))
    except (InvalidVersion, TypeError):
        return None


def variant_of(version: Version) -> str | None:
    """The local label of a torch version ("cu126", "cpu"), or None for a plain PyPI version."""
    return version.local


def cuda_of_variant(variant: str) -> Version | None:
    """ "cu126" -> 12.6, "cu130" -> 13.0; None for "cpu" or anything else."""
    digits = variant.removeprefix("cu")
    if not variant.startswith("cu") or len(digits) < 3 or not digits.isdigit():
        return None
    return Version(f"{int(digits[:-1])}.{digits[-1]}")


_ARCH = re.compile(r"^(sm|compute)_(\d+)([a-z]?)$")


def arch_covers(arch_list: Iterable[str], capability: tuple[int, int]) -> str | None:
    """The entry of ``torch.cuda.get_arch_list()`` whose kernels run on ``capability``, or None.

    A cubin ``sm_AB`` runs on ``A.C`` for ``C >= B`` (same major); an arch-specific ``sm_90a``
    only on 9.0 itself; PTX ``compute_AB`` is JIT-compiled for any capability at or above A.B.

    >>> arch_covers(["sm_50", "sm_60", "sm_70"], (6, 1))
    'sm_60'
    >>> arch_covers(["sm_70", "sm_75", "sm_80"], (7, 5))
    'sm_75'
    >>> arch_covers(["sm_75", "sm_80", "sm_90", "compute_120"], (12, 1))
    'compute_120'
    >>> arch_covers(["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], (6, 1)) is None
    True
    """
    major, minor = capability
    best: tuple[int, int, str] | None = None  # (cubin over PTX, the nearest arch, entry)
    for entry in arch_list:
        match = _ARCH.match(entry.strip())
        if not match:
            continue
        kind, number, suffix = match.group(1), int(match.group(2)), match.group(3)
        a_major, a_minor = divmod(number, 10)
        if kind == "sm":
            ok = (a_major, a_minor) == (major, minor) if suffix else (
                a_major == major and a_minor <= minor)
            rank = 2
        else:
            ok = not suffix and (a_major, a_minor) <= (major, minor)
            rank = 1
        if ok and (best is None or (rank, number) > best[:2]):
            best = (rank, number, entry.strip())
    return best[2] if best else None


_TOO_OLD = re.compile(r"driver on your system is too old \(found version (\d+)\)", re.I)
_NO_DRIVER = re.compile(r"found no nvidia driver|nvml shared library not found|"
                        r"driver not loaded|NVMLError_LibraryNotFound|NVMLError_DriverNotLoaded",
                        re.I)
_NO_KERNEL = re.compile(r"no kernel image is available", re.I)


def _cuda_api(found: str) -> str:
    """12080 -> "12.8" (the CUDA API version the driver reports)."""
    number = int(found)
    return f"{number // 1000}.{number % 1000 // 10}"


def _reinstall(plan: HostPlan, version: str) -> str:
    index = f" --index-url {plan.index_url}" if plan.index_url else ""
    return f"python -m pip install --force-reinstall torch=={version}{index}"


def _expected_version(plan: HostPlan) -> Version | None:
    """The torch version the plan installs, with the variant as local label when it has none."""
    wanted = _version(plan.torch)
    if wanted is None or wanted.local is not None:
        return wanted
    return _version(f"{wanted.public}+{plan.variant}")


def _variants_covering(plan: HostPlan, capability: tuple[int, int]) -> list[str]:
    """Variants of the plan's torch release whose wheels carry kernels for ``capability``
    (from data/releases.yaml); empty when the data does not know."""
    try:
        from labtorch import compat

        wanted = _version(plan.torch)
        if wanted is None:
            return []
        release = compat.load().release(f"{wanted.major}.{wanted.minor}")
        cc = compat.ComputeCapability(*capability)
        platform: compat.Platform = "windows" if plan.os == "windows" else "linux"
        return [b.variant for b in release.builds.get(platform, ()) if b.covers(cc)]
    except Exception:  # the hint is a courtesy: missing data never hides the real failure
        return []


def _driver_floor(plan: HostPlan) -> str | None:
    try:
        from labtorch import compat

        os_name = "windows" if plan.os == "windows" else "linux"
        return str(compat.load().drivers.floor(plan.variant, os_name, "minor"))
    except Exception:  # as above: a courtesy
        return None


# --------------------------------------------------------------------------- the checks


def _check_python(report: Mapping[str, Any], plan: HostPlan) -> Check:
    seen = _version((report.get("python") or {}).get("version"))
    wanted = _version(plan.python)
    if seen is None or wanted is None:
        return Check("python", "fail", "the report names no Python version",
                     "re-run the deploy so the env's Python runs the verification")
    if seen.release[: len(wanted.release)] != wanted.release:
        return Check("python", "fail", f"the env has Python {seen}, the plan wants {plan.python}",
                     "recreate the env with the planned Python (re-run the deploy)")
    return Check("python", "pass", f"Python {seen}")


def check_torch_version(torch: Mapping[str, Any], plan: HostPlan) -> Check:
    if not torch.get("imported"):
        return Check("torch_version", "fail",
                     f"torch does not import in the env ({torch.get('error') or 'not installed'})",
                     "re-run the deploy (torch role) to install " + str(plan.torch))
    seen = _version(torch.get("version"))
    wanted = _expected_version(plan)
    if seen is None or wanted is None:
        return Check("torch_version", "fail",
                     f"cannot compare torch {torch.get('version')!r} with plan {plan.torch!r}",
                     "re-run the deploy")
    same_public = seen.public == wanted.public
    same_local = seen.local is None or seen.local == wanted.local
    if not (same_public and same_local):
        return Check("torch_version", "fail",
                     f"torch {seen} is installed, the plan wants {wanted}",
                     _reinstall(plan, str(wanted)))
    return Check("torch_version", "pass", f"torch {seen}")


def check_torch_variant(torch: Mapping[str, Any], plan: HostPlan) -> Check:
    if not torch.get("imported"):
        return Check("torch_variant", "skipped", "torch does not import")
    built_for = torch.get("cuda")
    wanted_cuda = cuda_of_variant(plan.variant)
    expected = _expected_version(plan)
    if not plan.is_gpu:
        if built_for:
            return Check("torch_variant", "fail",
                         f"torch is a CUDA {built_for} build but the plan is CPU-only",
                         _reinstall(plan, str(expected)))
        return Check("torch_variant", "pass", "CPU build, as planned")
    if built_for is None:
        return Check("torch_variant", "fail",
                     "torch is a CPU build (torch.version.cuda is None)",
                     f"reinstall from the PyTorch {plan.variant} index: "
                     + _reinstall(plan, str(expected)))
    if wanted_cuda is None or _version(built_for) != wanted_cuda:
        return Check("torch_variant", "fail",
                     f"torch is built for CUDA {built_for}, the plan wants {plan.variant}",
                     f"reinstall from the PyTorch {plan.variant} index: "
                     + _reinstall(plan, str(expected)))
    return Check("torch_variant", "pass", f"CUDA {built_for} build ({plan.variant})")


def _gpu_checks(report: Mapping[str, Any], plan: HostPlan) -> list[Check]:
    torch = report.get("torch") or {}
    cuda = report.get("cuda") or {}
    nvml = report.get("nvml") or {}
    if not torch.get("imported") or torch.get("cuda") is None:
        why = "torch does not import" if not torch.get("imported") else "torch is a CPU build"
        return [Check(check_id, "skipped", why) for check_id in GPU_CHECKS]

    checks: list[Check] = []
    text = " ".join([*(cuda.get("warnings") or []), str(cuda.get("error") or ""),
                     str(nvml.get("error") or "")])
    too_old = _TOO_OLD.search(text)
    if cuda.get("available"):
        checks.append(Check("cuda_available", "pass", "torch.cuda.is_available() is True"))
    elif too_old:
        api = _cuda_api(too_old.group(1))
        floor = _driver_floor(plan)
        need = f" (≥ {floor})" if floor else ""
        checks.append(Check(
            "cuda_available", "fail",
            f"driver too old (found version {too_old.group(1)}, i.e. CUDA {api}; "
            f"this torch needs CUDA {cuda_of_variant(plan.variant)})",
            f"update the NVIDIA driver{need} or plan an older variant for this driver"))
    elif _NO_DRIVER.search(text):
        checks.append(Check("cuda_available", "fail", "no NVIDIA driver",
                            "install the NVIDIA driver (nvidia-smi must work), then re-verify"))
    else:
        said = "; ".join(cuda.get("warnings") or []) or cuda.get("error") or "no reason given"
        checks.append(Check("cuda_available", "fail",
                            f"torch.cuda.is_available() is False ({said})",
                            "check the driver with nvidia-smi, then re-verify"))

    devices = list(cuda.get("devices") or [])
    if not cuda.get("available"):
        for check_id in ("gpu_device", "gpu_arch", "gpu_matmul", "cudnn"):
            checks.append(Check(check_id, "skipped", "CUDA is not available"))
    else:
        if devices:
            names = ", ".join(f"{d.get('name')} (sm_{d['capability'][0]}{d['capability'][1]})"
                              for d in devices)
            checks.append(Check("gpu_device", "pass", names))
        else:
            checks.append(Check("gpu_device", "fail", "CUDA is available but lists no device",
                                "check CUDA_VISIBLE_DEVICES and nvidia-smi"))
        checks.append(_check_arch(cuda, devices, plan))
        checks.append(_check_matmul(report.get("matmul") or {}, devices))
        cudnn = report.get("cudnn") or {}
        if cudnn.get("available") and cudnn.get("version"):
            checks.append(Check("cudnn", "pass", f"cuDNN {cudnn['version']}"))
        else:
            checks.append(Check("cudnn", "fail",
                                f"cuDNN is not usable ({cudnn.get('error') or 'no version'})",
                                f"reinstall torch from the PyTorch {plan.variant} index: "
                                + _reinstall(plan, str(_expected_version(plan)))))
    checks.append(_check_nvml(nvml, devices))
    return checks


def _check_arch(cuda: Mapping[str, Any], devices: list[Mapping[str, Any]],
                plan: HostPlan) -> Check:
    arch_list = list(cuda.get("arch_list") or [])
    shown = " ".join(arch_list) or "empty"
    used = []
    for device in devices:
        capability = (int(device["capability"][0]), int(device["capability"][1]))
        kernel = arch_covers(arch_list, capability)
        sm = f"sm_{capability[0]}{capability[1]}"
        if kernel is None:
            variants = _variants_covering(plan, capability)
            fix = (f"plan a {' or '.join(variants)} build" if variants
                   else f"plan a build whose kernels cover {sm}")
            return Check("gpu_arch", "fail",
                         f"no kernels for {sm} in this build (arch list {shown})",
                         fix + " (re-run the plan: it picks the variant by compute capability)")
        used.append(f"{sm} runs {kernel}")
    return Check("gpu_arch", "pass", ", ".join(used) or f"arch list {shown}")


def _check_matmul(matmul: Mapping[str, Any], devices: list[Mapping[str, Any]]) -> Check:
    error = str(matmul.get("error") or "")
    if _NO_KERNEL.search(error):
        names = ", ".join(f"sm_{d['capability'][0]}{d['capability'][1]}" for d in devices)
        return Check("gpu_matmul", "fail", f"no kernels for {names or 'this GPU'} in this build "
                     f"(the GPU said: {error})", "plan a build whose kernels cover this GPU")
    if error:
        return Check("gpu_matmul", "fail", f"a matmul on the GPU failed ({error})",
                     "check the driver with nvidia-smi, then re-verify")
    if not matmul.get("ran"):
        return Check("gpu_matmul", "fail", "the matmul did not run", "re-run the verification")
    if not matmul.get("allclose"):
        return Check("gpu_matmul", "fail",
                     f"the GPU result differs from the CPU result "
                     f"(max difference {matmul.get('max_abs_diff')})",
                     "check the GPU's health (nvidia-smi -q, dmesg for Xid errors)")
    return Check("gpu_matmul", "pass",
                 f"{matmul.get('size')}x{matmul.get('size')} matmul on the GPU equals the CPU "
                 f"result (max difference {matmul.get('max_abs_diff')})")


def _check_nvml(nvml: Mapping[str, Any], devices: list[Mapping[str, Any]]) -> Check:
    if not nvml.get("imported"):
        return Check("nvml", "fail", "nvidia-ml-py is not installed in the env",
                     "install it in the env: python -m pip install nvidia-ml-py")
    if not nvml.get("initialized"):
        error = str(nvml.get("error") or "")
        if _NO_DRIVER.search(error):
            return Check("nvml", "fail", f"no NVIDIA driver ({error})",
                         "install the NVIDIA driver (nvidia-smi must work), then re-verify")
        return Check("nvml", "fail", f"NVML did not start ({error})",
                     "check the driver with nvidia-smi, then re-verify")
    by_index = {d.get("index"): d for d in nvml.get("devices") or []}
    for device in devices:
        seen = by_index.get(device.get("index"))
        if seen is None:
            return Check("nvml", "fail",
                         f"NVML does not list GPU {device.get('index')} that torch sees",
                         "check CUDA_VISIBLE_DEVICES and nvidia-smi")
        if list(seen.get("capability") or []) != list(device.get("capability") or []):
            return Check("nvml", "fail",
                         f"NVML says compute capability {seen.get('capability')} for "
                         f"GPU {device.get('index')}, torch says {device.get('capability')}",
                         "reboot after a driver update so driver and library match")
    return Check("nvml", "pass", f"driver {nvml.get('driver_version')}, "
                 f"CUDA API {nvml.get('cuda_driver_version')}, compute capabilities agree")


def replayed_from(report: Mapping[str, Any]) -> str | None:
    """How the report's device answers were replayed ("recording ampere-a10 (synthetic)"), or
    None when they came from the host's own GPU (``"device": {"source": "torch"}``)."""
    device = report.get("device") or {}
    if device.get("source") != "standin" or device.get("device_answers") == "torch":
        return None  # a real device, or a CPU wheel that torch answered for itself
    synthetic = " (synthetic)" if device.get("synthetic") else ""
    return f"recording {device.get('profile') or device.get('recording')}{synthetic}"


def _replayed(checks: list[Check], recording: str) -> list[Check]:
    """GPU checks judged on replayed device answers: a pass says ``simulated`` and names the
    recording; a failure stays a failure."""
    return [Check(c.id, "simulated", f"{c.detail} [device answers replayed from {recording}]")
            if c.status == "pass" else c for c in checks]


def _check_kernel(kernel: Mapping[str, Any], report: Mapping[str, Any]) -> Check:
    name = kernel.get("name")
    if not name:
        return Check("jupyter_kernel", "fail", "the plan names no Jupyter kernel",
                     "re-run the deploy so it writes a complete plan.json")
    if not kernel.get("spec_file"):
        return Check("jupyter_kernel", "fail",
                     f"no Jupyter kernel {name!r} is registered ({kernel.get('error')})",
                     "re-run the deploy (jupyter role)")
    argv = list(kernel.get("argv") or [])
    python = (report.get("python") or {}).get("executable")
    if not argv or (python and argv[0] != python):
        return Check("jupyter_kernel", "fail",
                     f"kernel {name!r} starts {argv[0] if argv else 'nothing'}, "
                     f"not the env's Python {python}",
                     "re-run the deploy (jupyter role) to re-register the kernel")
    if kernel.get("error") or not kernel.get("torch_version"):
        return Check("jupyter_kernel", "fail",
                     f"kernel {name!r} could not import torch ({kernel.get('error')})",
                     "start it by hand: jupyter console --kernel " + str(name))
    torch_version = (report.get("torch") or {}).get("version")
    if kernel.get("torch_version") != torch_version:
        return Check("jupyter_kernel", "fail",
                     f"kernel {name!r} imports torch {kernel.get('torch_version')}, "
                     f"the env has {torch_version}",
                     "re-run the deploy (jupyter role) to re-register the kernel")
    return Check("jupyter_kernel", "pass",
                 f"kernel {name!r} started headless and imported torch {torch_version}")


# --------------------------------------------------------------------------- entry point


def judge(report: Mapping[str, Any] | None, plan: HostPlan, *, host: str | None = None,
          plan_sha256: str | None = None) -> Verdict:
    """Judge one host's ``verify.json`` document against its plan.

    ``plan_sha256``, when given, must match the plan the report was made against (a report left
    from an older plan is stale and fails).
    """
    if not report or report.get("schema") != SCHEMA or report.get("error"):
        why = "no report" if not report else (
            report.get("error") or f"unknown report schema {report.get('schema')!r}")
        return Verdict(host, (Check("report", "fail", f"the verification did not run ({why})",
                                    "re-run the deploy (verify role)"),))
    checks: list[Check] = []
    made_for = (report.get("plan") or {}).get("sha256")
    if plan_sha256 and made_for != plan_sha256:
        checks.append(Check("report", "fail", "the report was made for another plan (stale)",
                            "re-run the deploy (verify role)"))
    recording = replayed_from(report)
    torch = report.get("torch") or {}
    checks.append(_check_python(report, plan))
    checks.append(check_torch_variant(torch, plan))
    checks.append(check_torch_version(torch, plan))
    if not plan.is_gpu:
        checks.extend(Check(check_id, "skipped", "CPU plan") for check_id in GPU_CHECKS)
    elif recording:
        checks.extend(_replayed(_gpu_checks(report, plan), recording))
    else:
        checks.extend(_gpu_checks(report, plan))
    checks.append(_check_kernel(report.get("kernel") or {}, report))
    notes = []
    nvml_driver = (report.get("nvml") or {}).get("driver_version")
    if plan.driver_version and nvml_driver and nvml_driver != plan.driver_version:
        notes.append(f"driver changed since planning: {plan.driver_version} -> {nvml_driver}")
    return Verdict(host, tuple(checks), simulated=recording is not None,
                   checked_at=report.get("checked_at"), notes=tuple(notes))
