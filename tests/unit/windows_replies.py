"""What labtorch's Windows fact scripts print on a lab PC, for the stand-in PCs and unit tests.

GPU answers are built from real Windows nvidia-smi captures in ../shared/fixtures (values as
recorded); the system answer is synthetic (the shape ``scripts/system.ps1`` prints, the values
of a Windows 11 lab PC); :func:`check_reply` is what ``scripts/check.ps1`` prints for a PC that
labtorch provisioned (``plan.json`` as labtorch writes it, a verification report) or not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from labtorch.facts.gpu import QUERY_FIELDS

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nvidia-smi"

#: Synthetic: the shape scripts/system.ps1 prints, values of a Windows 11 lab PC.
SYSTEM = {
    "caption": "Microsoft Windows 11 Education", "version": "10.0.22631", "build": "22631",
    "arch": "AMD64", "user": "labadmin", "profile": "C:\\Users\\labadmin",
    "appdata": "C:\\Users\\labadmin\\AppData\\Roaming",
    "localappdata": "C:\\Users\\labadmin\\AppData\\Local", "programdata": "C:\\ProgramData",
    "system_drive": "C:", "admin": True, "powershell": "5.1.22621.4249",
    "drives": [{"root": "C:\\", "free_mib": 250000}],
}

RTX_2080_SUPER = "gpuexp-rtx-2080-super-windows-591.86"


def gpu_reply_from_capture(name: str = RTX_2080_SUPER) -> dict[str, Any]:
    """The GPU fact's JSON around a real Windows capture (query CSV and table as recorded)."""
    header, values = (line for line in (SHARED / f"{name}-query-gpu.csv").read_text().splitlines()
                      if line.strip())
    row = dict(zip((h.strip().split(" [")[0] for h in header.split(",")),
                   (v.strip() for v in values.split(",")), strict=True))
    query = ", ".join(row[f].split(" ")[0] for f in QUERY_FIELDS.split(","))
    return {"smi": "C:\\Windows\\System32\\nvidia-smi.exe", "fields": QUERY_FIELDS,
            "query": query, "query_rc": 0,
            "table": (SHARED / f"{name}-table.txt").read_text(), "table_rc": 0,
            "video": [{"name": row["name"], "driver": "32.0.15.9186",
                       "vendor": "NVIDIA", "pnp": "PCI\\VEN_10DE&DEV_1E81"}]}


#: A PC whose NVIDIA card has no driver: only WMI names it.
NO_DRIVER_GPUS = {"smi": None, "video": [
    {"name": "Microsoft Basic Display Adapter", "driver": "10.0.22621.1",
     "vendor": "(Standard display types)", "pnp": "PCI\\VEN_10DE&DEV_1B80"}]}


def conda_reply(prefix: str, *, provisioned: bool) -> list[dict[str, Any]]:
    """``scripts/conda.ps1``'s listing of ``prefix``: labtorch's complete install, or nothing."""
    if not provisioned:
        return [{"prefix": prefix, "exists": False, "pending": None}]
    receipt = json.dumps({"tool": "labtorch", "state": "complete", "flavor": "miniforge"})
    return [{"prefix": prefix, "exists": True, "conda": True, "history": True,
             "meta": ["conda-25.3.0-py312h7900ff3_0.json"], "receipt": receipt, "pending": None,
             "envs": [{"name": "pytorch", "python": True,
                       "receipt": '{"tool": "labtorch", "env": "pytorch"}'}]}]


def check_reply(plan_text: str | None = None, *, condarc: str | None = None,
                pip_ini: str | None = None, report: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """``scripts/check.ps1``'s answer: files as found (None: missing), the verification's lines."""
    return {
        "plan": plan_text,
        "condarc_sha256": hashlib.sha256(condarc.encode()).hexdigest() if condarc else None,
        "pip_ini": pip_ini,
        "python": report is not None,
        "script": report is not None,
        "verify": ["some warning on stderr", json.dumps(report)] if report else None,
    }


def gpu_report(plan: Any, python_exe: str, *, device: str, capability: tuple[int, int],
               driver: str) -> dict[str, Any]:
    """SYNTHETIC: the report ``labtorch_verify.py`` prints on a healthy GPU PC for ``plan``
    (no recorded Windows verification exists here; the shape is the script's own)."""
    version = f"{plan.torch}+{plan.variant}"
    cuda = f"{plan.variant[2:-1]}.{plan.variant[-1]}"
    sm = f"sm_{capability[0]}{capability[1]}"
    return {
        "schema": "labtorch-verify/1", "checked_at": "2026-11-28T09:00:00+00:00",
        "python": {"executable": python_exe, "version": f"{plan.python}.7"},
        "plan": {"path": "C:\\labtorch\\miniforge3\\.labtorch\\plan.json", "sha256": "0" * 64},
        "lab": None,
        "torch": {"imported": True, "version": version, "dist_version": version, "cuda": cuda,
                  "error": None},
        "cuda": {"probed": True, "available": True, "warnings": [], "device_count": 1,
                 "devices": [{"index": 0, "name": device, "capability": list(capability)}],
                 "arch_list": ["sm_50", "sm_60", "sm_70", sm, "sm_80", "sm_86", "sm_90"],
                 "error": None},
        "matmul": {"ran": True, "allclose": True, "max_abs_diff": 6.1e-05, "size": 256,
                   "error": None},
        "cudnn": {"available": True, "version": 91002, "error": None},
        "nvml": {"imported": True, "initialized": True, "driver_version": driver,
                 "cuda_driver_version": 13010,
                 "devices": [{"index": 0, "name": device, "capability": list(capability)}],
                 "error": None},
        "kernel": {"name": "pytorch",
                   "spec_file": "C:\\ProgramData\\jupyter\\kernels\\pytorch\\kernel.json",
                   "argv": [python_exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "started": True, "torch_version": version, "error": None},
    }
