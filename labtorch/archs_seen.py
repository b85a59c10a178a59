"""Record the arch lists hosts' verification reports show, into the release-data overlay.

A refreshed release inherits each variant's arch list from the previous release, marked
"assumed". The first host that runs such a wheel reports the real list
(``torch.cuda.get_arch_list()`` in its verification report); ``labtorch check`` passes it here,
and the overlay then says "seen on <host>", or, when the host disagrees, holds the reported list
and a "mismatch" status that every plan relying on it carries as a warning
(:func:`labtorch.overlay.merged_releases`).

>>> arch_text(["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"])
'7.5;8.0;8.6;9.0;10.0;12.0+PTX'
>>> arch_text([]) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.version import Version

from labtorch.overlay import read_overlay, write_overlay


def arch_text(arch_list: Iterable[str]) -> str | None:
    """``get_arch_list()`` entries as a TORCH_CUDA_ARCH_LIST string (None when empty: a CPU
    wheel, or CUDA not initialised)."""
    cubins: set[tuple[int, int]] = set()
    ptx: set[tuple[int, int]] = set()
    for entry in arch_list:
        kind, _, digits = str(entry).partition("_")
        digits = digits.rstrip("afn")  # sm_90a, sm_100f: family/arch-specific variants
        if not digits.isdigit() or len(digits) < 2:
            continue
        cc = (int(digits[:-1]), int(digits[-1]))
        (ptx if kind == "compute" else cubins).add(cc)
    if not cubins and not ptx:
        return None
    return ";".join(f"{a}.{b}+PTX" if (a, b) in ptx else f"{a}.{b}"
                    for a, b in sorted(cubins | ptx))


def observation(host: str, plan: Mapping[str, Any] | None, verify: Mapping[str, Any] | None,
                machine: str | None) -> dict[str, str] | None:
    """What a verification report tells about the wheel the plan installed, or None."""
    if not plan or not verify or str(plan.get("variant", "cpu")) == "cpu":
        return None
    torch = verify.get("torch") or {}
    if not torch.get("imported") or not str(torch.get("version", "")).startswith(
            str(plan.get("torch"))):
        return None  # not the planned wheel: nothing to learn about the planned one
    archs = arch_text((verify.get("cuda") or {}).get("arch_list") or ())
    if archs is None:
        return None
    version = Version(str(plan["torch"]))
    os_name = str(plan.get("os") or "linux")
    platform = "windows" if os_name == "windows" else (
        "linux-aarch64" if machine in ("aarch64", "arm64") else "linux")
    return {"torch": f"{version.major}.{version.minor}", "variant": str(plan["variant"]),
            "platform": platform, "archs": archs, "host": host}


def record(seen: Mapping[str, str], path: Path | None = None) -> bool:
    """Add one observation to the overlay (first host per release/variant/platform, and every
    disagreeing one). True when the overlay changed."""
    doc = read_overlay(path) or {}
    rows: list[dict[str, Any]] = list(doc.get("archs_seen") or [])
    key = (seen["torch"], seen["variant"], seen["platform"])
    same = [r for r in rows if (str(r.get("torch")), r.get("variant"), r.get("platform")) == key]
    if any(r.get("archs") == seen["archs"] for r in same):
        return False
    rows.append(dict(seen))
    doc["archs_seen"] = rows
    write_overlay(doc, path)
    return True
