"""The manual recipe's local wheel files (``labtorch_wheel_dir``), checked against a plan (pure).

An admin who downloaded ``torch-2.7.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl`` by hand
(a browser, a USB stick) puts it in the folder; the room cache serves the folder at
``<cache>/local/``. A host whose plan wants exactly that build (name, version with its variant,
Python, OS platform) installs the file itself (``torch @ <cache>/local/<file>``), as the manual
recipe says; its dependencies still come from the index. Files that do not fit are named with
the reason and left alone.

>>> from labtorch.model import HostPlan
>>> plan = HostPlan(torch="2.7.1", torchvision=None, torchaudio=None, variant="cu126",
...                 python="3.11", index_url="https://x/whl/cu126",
...                 install=(("torch==2.7.1+cu126", "--index-url", "https://x/whl/cu126"),))
>>> used, rejected = local_wheels(plan, ["torch-2.7.1+cu126-cp311-cp311-win_amd64.whl",
...                                      "torch-2.7.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl"])
>>> used
{'torch': 'torch-2.7.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl'}
>>> rejected[0][1]
'built for win_amd64, this host is linux'
"""

from __future__ import annotations

from dataclasses import replace

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from labtorch.model import HostPlan

_PLATFORMS = {"linux": ("manylinux", "linux_x86_64"), "windows": ("win_amd64",)}


def _pins(plan: HostPlan) -> dict[str, str]:
    pins: dict[str, str] = {}
    for command in plan.install:
        for arg in command:
            if "==" in arg and not arg.startswith("-"):
                name, _, version = arg.partition("==")
                pins[canonicalize_name(name)] = version
    return pins


def why_not(name: str, plan: HostPlan) -> str | None:
    """Why the wheel file ``name`` does not fit ``plan`` (None: it is one of the plan's pins)."""
    try:
        dist, version, _, tags = parse_wheel_filename(name)
    except InvalidWheelFilename:
        return "not a wheel file name"
    pins = _pins(plan)
    if dist not in pins:
        return f"{dist} is not pinned by this host's plan"
    if version != Version(pins[dist]):
        return f"version {version}, the plan wants {pins[dist]} (variant {plan.variant})"
    python = "cp" + plan.python.replace(".", "")
    if not any(t.interpreter in (python, "py3") for t in tags):
        found = sorted({t.interpreter for t in tags})
        return f"built for {', '.join(found)}, the plan's Python is {plan.python}"
    wanted = _PLATFORMS.get(plan.os, ())
    if not any(t.platform == "any" or t.platform.startswith(wanted) for t in tags):
        found = sorted({t.platform for t in tags})
        return f"built for {', '.join(found)}, this host is {plan.os}"
    return None


def local_wheels(plan: HostPlan, names: list[str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``({dist: file} usable for this plan, [(file, why not)] for the others)``."""
    used: dict[str, str] = {}
    rejected: list[tuple[str, str]] = []
    for name in sorted(names):
        if not name.endswith(".whl"):
            continue
        reason = why_not(name, plan)
        if reason is None:
            used.setdefault(str(parse_wheel_filename(name)[0]), name)
        else:
            rejected.append((name, reason))
    return used, rejected


def plan_with_local_wheels(plan: HostPlan, used: dict[str, str], base_url: str) -> HostPlan:
    """``plan`` installing each ``used`` file directly (``name @ URL``) instead of its pin."""
    def swap(arg: str) -> str:
        name = canonicalize_name(arg.partition("==")[0]) if "==" in arg else None
        if name and name in used and not arg.startswith("-"):
            return f"{name} @ {base_url.rstrip('/')}/{used[name]}"
        return arg

    return replace(plan, install=tuple(tuple(swap(a) for a in c) for c in plan.install))
