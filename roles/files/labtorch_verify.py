"""labtorch on-host verification: observe what the env's PyTorch can really do; print ONE JSON.

This file is managed by labtorch: the verify role uploads it and replaces it when it changes.

Uploaded by the ``verify`` role to ``<conda prefix>/.labtorch/labtorch_verify.py`` and run with
the env's own Python (never the system one)::

    <env python> labtorch_verify.py --plan <conda prefix>/.labtorch/plan.json

It only *observes*; judging against the plan is ``labtorch.verify_report.judge`` on the
controller (the same code the testinfra suite and the compliance check use). It needs nothing but
the standard library; torch, pynvml (nvidia-ml-py) and jupyter_client are each optional, a
missing one is recorded, never a crash. It always exits 0 after printing the document (one line
on stdout) and writing it to ``<dir of plan.json>/verify.json`` (``--out`` overrides, ``--out -``
writes nothing). Nothing else is written.

Document shape (``schema`` "labtorch-verify/1")::

    {"schema", "checked_at", "host", "python": {"executable", "version"},
     "plan": {"path", "sha256"} | null, "lab": null | {"simulated": true, "host", "profile"},
     "device": {"source": "torch"} | {"source": "standin", "recording", "synthetic", ...},
     "torch": {"imported", "version", "dist_version", "cuda", "file", "error"},
     "cuda": {"probed", "available", "warnings", "device_count", "devices": [{"index", "name",
              "capability": [major, minor]}], "arch_list", "error"},
     "matmul": {"ran", "allclose", "max_abs_diff", "size", "error"},
     "cudnn": {"available", "version", "error"},
     "nvml": {"imported", "initialized", "driver_version", "cuda_driver_version",
              "devices": [{"index", "name", "capability"}], "error"},
     "kernel": {"name", "searched", "spec_file", "argv", "started", "torch_version", "error"}}

The device seam: every answer that comes from the GPU or its driver (``torch.cuda``'s
availability, devices, capabilities and arch list, ``torch.backends.cudnn``, moving a tensor to
the GPU, NVML's answers) goes through one :class:`Device`. On a real PC that is :class:`TorchDevice`
(torch and pynvml themselves). Only on a simulated lab host whose root-owned marker
(``/etc/labtorch-lab.json``) names a ``device_standin`` module does the script load that
stand-in instead; it replays recordings of real GPUs. Everything else (importing torch and
pynvml, package versions, the matmul comparison, the kernel start) runs for real either way, and
``"device"`` in the report says where the device answers came from.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import traceback
import warnings
from typing import Any

SCHEMA = "labtorch-verify/1"
LAB_MARKER = "/etc/labtorch-lab.json"


def _error_text(err: BaseException) -> str:
    """The exception's own words on one line (type name first), capped so reports stay small."""
    text = f"{type(err).__name__}: {err}".strip()
    return " ".join(text.split())[:600]


def read_plan(path: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return (plan document, {"path", "sha256"}) or ({}, None) when there is no plan file."""
    if not path:
        return {}, None
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        return {}, {"path": path, "sha256": None, "error": _error_text(err)}
    try:
        document = json.loads(raw.decode("utf-8"))
    except ValueError as err:
        return {}, {
            "path": path,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "error": _error_text(err),
        }
    return (document if isinstance(document, dict) else {}), {
        "path": path,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def read_lab_marker(path: str = LAB_MARKER) -> dict[str, Any] | None:
    """The simulated lab's marker file, or None on a real host."""
    try:
        with open(path, encoding="utf-8") as handle:
            marker = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        return {"simulated": True, "error": _error_text(err)}
    return marker if isinstance(marker, dict) else {"simulated": True}


class TorchDevice:
    """The real device: torch's own CUDA and cuDNN modules, and pynvml itself.

    The seam every device answer goes through (a stand-in offers the same attributes):
    ``cuda`` (``is_available``, ``device_count``, ``get_device_capability``, ``get_device_name``,
    ``get_arch_list``, ``synchronize``), ``cudnn`` (``is_available``, ``version``),
    ``to(tensor, target)`` and ``nvml(pynvml)`` (the NVML API).
    """

    def __init__(self, torch: Any) -> None:  # torch is None when it does not import
        self.source: dict[str, Any] = {"source": "torch"}
        self.cuda = getattr(torch, "cuda", None)
        self.cudnn = getattr(getattr(torch, "backends", None), "cudnn", None)

    def to(self, tensor: Any, target: str) -> Any:
        return tensor.to(target)

    def nvml(self, pynvml: Any) -> Any:
        return pynvml


def load_device(torch: Any, lab: dict[str, Any] | None) -> Any:
    """The device seam for this host: the lab's stand-in when its marker names one, else torch.

    A stand-in is only ever loaded from the path in the root-owned lab marker; a real PC has no
    marker and always gets :class:`TorchDevice`.
    """
    standin = (lab or {}).get("device_standin")
    if not standin:
        return TorchDevice(torch)
    import importlib.util

    spec = importlib.util.spec_from_file_location("labtorch_device_standin", standin["module"])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the lab's device stand-in {standin['module']}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.StandinDevice(torch, standin["recording"])


def observe_torch() -> tuple[dict[str, Any], Any]:
    out: dict[str, Any] = {
        "imported": False,
        "version": None,
        "dist_version": None,
        "cuda": None,
        "file": None,
        "error": None,
    }
    try:
        from importlib import metadata

        out["dist_version"] = metadata.version("torch")
    except Exception:  # not installed as a distribution: recorded as None
        pass
    try:
        import torch
    except Exception as err:  # ImportError, or a broken install's OSError
        out["error"] = _error_text(err)
        return out, None
    out.update(
        imported=True,
        version=str(torch.__version__),
        file=torch.__file__,
        cuda=getattr(torch.version, "cuda", None),
    )
    return out, torch


def observe_cuda(torch: Any, device: Any) -> dict[str, Any]:
    """is_available (with the warnings it raised: driver too old, no driver), devices, arches."""
    out: dict[str, Any] = {
        "probed": False,
        "available": False,
        "warnings": [],
        "device_count": 0,
        "devices": [],
        "arch_list": [],
        "error": None,
    }
    if torch is None:
        return out
    out["probed"] = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out["available"] = bool(device.cuda.is_available())
        out["warnings"] = [" ".join(str(w.message).split())[:600] for w in caught]
        out["arch_list"] = list(device.cuda.get_arch_list())
        if out["available"]:
            out["device_count"] = int(device.cuda.device_count())
            for index in range(out["device_count"]):
                major, minor = device.cuda.get_device_capability(index)
                out["devices"].append(
                    {
                        "index": index,
                        "name": device.cuda.get_device_name(index),
                        "capability": [int(major), int(minor)],
                    }
                )
    except Exception as err:  # any CUDA init failure is an observation
        out["error"] = _error_text(err)
    return out


def observe_matmul(torch: Any, device: Any, cuda: dict[str, Any], size: int) -> dict[str, Any]:
    """Multiply two random matrices on every visible GPU and compare with the CPU result."""
    out: dict[str, Any] = {
        "ran": False,
        "allclose": None,
        "max_abs_diff": None,
        "size": size,
        "error": None,
    }
    if torch is None or not cuda.get("available"):
        return out
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.rand(size, size, generator=generator, dtype=torch.float32)
        b = torch.rand(size, size, generator=generator, dtype=torch.float32)
        expected = a @ b
        worst = 0.0
        close = True
        for gpu in cuda.get("devices", []):
            target = f"cuda:{gpu['index']}"
            # TF32 would legitimately differ from the CPU in the 3rd digit; compare true FP32.
            torch.backends.cuda.matmul.allow_tf32 = False
            got = (device.to(a, target) @ device.to(b, target)).cpu()
            device.cuda.synchronize(gpu["index"])
            worst = max(worst, float((got - expected).abs().max()))
            close = close and bool(torch.allclose(got, expected, rtol=1e-4, atol=1e-3))
        out.update(ran=True, allclose=close, max_abs_diff=round(worst, 6))
    except Exception as err:  # "no kernel image ..." arrives here
        out["error"] = _error_text(err)
    return out


def observe_cudnn(torch: Any, device: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"available": False, "version": None, "error": None}
    if torch is None:
        return out
    try:
        out["available"] = bool(device.cudnn.is_available())
        version = device.cudnn.version()
        out["version"] = int(version) if version is not None else None
    except Exception as err:
        out["error"] = _error_text(err)
    return out


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def observe_nvml(device: Any) -> dict[str, Any]:
    """Driver version and each device's compute capability as NVML (the driver) reports them."""
    out: dict[str, Any] = {
        "imported": False,
        "initialized": False,
        "driver_version": None,
        "cuda_driver_version": None,
        "devices": [],
        "error": None,
    }
    try:
        import pynvml
    except Exception as err:
        out["error"] = _error_text(err)
        return out
    out["imported"] = True
    nvml = device.nvml(pynvml)
    try:
        nvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        out["error"] = _error_text(err)
        return out
    out["initialized"] = True
    try:
        out["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
        out["cuda_driver_version"] = int(nvml.nvmlSystemGetCudaDriverVersion())
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            out["devices"].append(
                {
                    "index": index,
                    "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "capability": [int(major), int(minor)],
                }
            )
    except Exception as err:
        out["error"] = _error_text(err)
    finally:
        with contextlib.suppress(Exception):  # shutting down is best effort
            nvml.nvmlShutdown()
    return out


KERNEL_CODE = "import torch; print(torch.__version__)"


def observe_kernel(name: str | None, kernel_dirs: list[str], timeout: float) -> dict[str, Any]:
    """Start the registered Jupyter kernel headless, as Jupyter would, and import torch in it."""
    out: dict[str, Any] = {
        "name": name,
        "searched": list(kernel_dirs),
        "spec_file": None,
        "argv": None,
        "started": False,
        "torch_version": None,
        "error": None,
    }
    if not name:
        out["error"] = "no kernel name in the plan"
        return out
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        from jupyter_client.manager import KernelManager
    except Exception as err:
        out["error"] = _error_text(err)
        return out
    specs = KernelSpecManager()
    if kernel_dirs:
        specs.kernel_dirs = list(dict.fromkeys([*kernel_dirs, *specs.kernel_dirs]))
    out["searched"] = list(specs.kernel_dirs)
    try:
        spec = specs.get_kernel_spec(name)
    except NoSuchKernel:
        out["error"] = f"no kernel spec named {name!r}"
        return out
    out["spec_file"] = os.path.join(spec.resource_dir, "kernel.json")
    out["argv"] = list(spec.argv)
    # IPC (unix sockets) on POSIX: no TCP port opened on the lab PC while the kernel runs. The
    # sockets and the connection file live in a private temporary folder, removed afterwards.
    scratch = tempfile.mkdtemp(prefix="labtorch-kernel-")
    options: dict[str, Any] = {"connection_file": os.path.join(scratch, "kernel.json")}
    if os.name == "posix":
        options.update(transport="ipc", ip=os.path.join(scratch, "ipc"))
    manager = KernelManager(kernel_name=name, kernel_spec_manager=specs, **options)
    client = None
    try:
        manager.start_kernel()
        out["started"] = True
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=timeout)
        printed: list[str] = []
        errors: list[str] = []

        def collect(message: dict[str, Any]) -> None:
            content = message.get("content", {})
            if message.get("msg_type") == "stream" and content.get("name") == "stdout":
                printed.append(content.get("text", ""))
            elif message.get("msg_type") == "error":
                errors.append(f"{content.get('ename')}: {content.get('evalue')}")

        reply = client.execute_interactive(
            KERNEL_CODE, timeout=timeout, output_hook=collect, store_history=False
        )
        if reply.get("content", {}).get("status") != "ok" or errors:
            out["error"] = "; ".join(errors) or "the kernel did not run the code"
        else:
            out["torch_version"] = "".join(printed).strip() or None
    except Exception as err:  # timeouts, dead kernels, bad argv
        out["error"] = _error_text(err)
    finally:
        if client is not None:
            client.stop_channels()
        try:
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
        except Exception:  # best effort cleanup of our own kernel
            pass
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def observe(
    plan: dict[str, Any],
    plan_ref: dict[str, Any] | None,
    *,
    lab_marker: str,
    kernel_timeout: float,
    matmul_size: int,
) -> dict[str, Any]:
    """Gather every observation into one document (see the module docstring)."""
    torch_info, torch = observe_torch()
    lab = read_lab_marker(lab_marker)
    device = load_device(torch, lab)
    cuda = observe_cuda(torch, device)
    jupyter = plan.get("jupyter") or {}
    return {
        "schema": SCHEMA,
        "checked_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": {
            "executable": sys.executable,
            "version": ".".join(map(str, sys.version_info[:3])),
        },
        "plan": plan_ref,
        "lab": lab,
        "device": device.source,
        "torch": torch_info,
        "cuda": cuda,
        "matmul": observe_matmul(torch, device, cuda, matmul_size),
        "cudnn": observe_cudnn(torch, device),
        "nvml": observe_nvml(device),
        "kernel": observe_kernel(
            jupyter.get("kernel_name"), list(jupyter.get("kernel_dirs") or []), kernel_timeout
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", help="the plan.json the deploy left on this host")
    parser.add_argument(
        "--out", help="where to write the report (default: beside the plan; '-' writes nothing)"
    )
    parser.add_argument("--kernel-timeout", type=float, default=60.0)
    parser.add_argument("--matmul-size", type=int, default=256)
    parser.add_argument("--lab-marker", default=LAB_MARKER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    plan, plan_ref = read_plan(args.plan)
    try:
        report = observe(
            plan,
            plan_ref,
            lab_marker=args.lab_marker,
            kernel_timeout=args.kernel_timeout,
            matmul_size=args.matmul_size,
        )
    except Exception as err:  # still print one JSON document
        report = {
            "schema": SCHEMA,
            "error": _error_text(err),
            "traceback": traceback.format_exc()[-2000:],
        }
    out = args.out
    if out is None and args.plan:
        out = os.path.join(os.path.dirname(os.path.abspath(args.plan)), "verify.json")
    if out and out != "-":
        try:
            temporary = f"{out}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2, sort_keys=True)
                handle.write("\n")
            os.replace(temporary, out)
            report["written_to"] = out
        except OSError as err:
            report["write_error"] = _error_text(err)
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
