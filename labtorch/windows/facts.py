"""Windows facts: PowerShell that prints one JSON document, parsed in Python by pure functions.

One class per question, as on Linux, returning the same types the roles already use
(``SystemInfo``, ``GpuFacts``, ``CondaInstall``, ``EnvPackages``), so a role's Windows helper
decides with the same logic. Every command is a script from :func:`labtorch.windows.powershell.
script` (``strict=False``: a fact reports a failure as data, it never fails the host); the
``@winssh`` connector encodes it. JSON comes out pure ASCII (``\\uXXXX`` for a non-ASCII user
name), so no console code page can garble it.

>>> info = parse_system(SAMPLE_SYSTEM)
>>> (info.os, info.arch, info.home, info.free_mib["C:\\\\"])
('windows', 'x86_64', 'C:\\\\Users\\\\李雷', 51200)
>>> (info.ascii_profile, info.windows_build)
(False, 22631)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyinfra.api import FactBase

from labtorch.facts.conda import CondaEnvInfo, CondaInstall, EnvPackages, parse_env_packages
from labtorch.facts.gpu import QUERY_FIELDS, QUERY_FIELDS_OLD, parse_gpu_output
from labtorch.facts.system import SECTION, SystemInfo
from labtorch.facts.verify import parse_report
from labtorch.model import Gpu, GpuFacts
from labtorch.windows.powershell import script

#: PCI vendor id of NVIDIA, as it appears in a PnP device id (``PCI\\VEN_10DE&DEV_1E81...``).
NVIDIA_PCI = "VEN_10DE"

#: Windows PROCESSOR_ARCHITECTURE → the architecture word in installer file names.
ARCHES = {"AMD64": "x86_64", "ARM64": "arm64", "X86": "x86"}

SAMPLE_SYSTEM = (
    '{"caption":"Microsoft Windows 11 Education","version":"10.0.22631","build":"22631",'
    '"arch":"AMD64","user":"\\u674e\\u96f7","profile":"C:\\\\Users\\\\\\u674e\\u96f7",'
    '"appdata":"C:\\\\Users\\\\\\u674e\\u96f7\\\\AppData\\\\Roaming",'
    '"localappdata":"C:\\\\Users\\\\\\u674e\\u96f7\\\\AppData\\\\Local",'
    '"programdata":"C:\\\\ProgramData","system_drive":"C:","admin":true,"powershell":"5.1.22621.4249",'
    '"drives":[{"root":"C:\\\\","free_mib":51200},{"root":"D:\\\\","free_mib":900000}]}'
)


def load_json(lines: Sequence[str] | str) -> Any:
    """The JSON document a fact script printed (the last line that parses; None if none).

    Tolerates noise before it (a profile banner, a warning) and a UTF-8 BOM, and undoes Windows
    PowerShell 5.1's way of serialising some arrays as ``{"value": [...], "Count": n}``.

    >>> load_json(['banner', '{"envs": {"value": [1, 2], "Count": 2}}'])
    {'envs': [1, 2]}
    """
    text_lines = lines.splitlines() if isinstance(lines, str) else list(lines)
    for line in reversed(text_lines):
        text = line.strip().lstrip("\ufeff")
        if text[:1] in ("{", "[") or text == "null":
            try:
                return _unwrap(json.loads(text))
            except json.JSONDecodeError:
                continue
    return None


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"value", "Count"} and isinstance(value["value"], list):
            return [_unwrap(item) for item in value["value"]]
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


# --- system ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowsSystemInfo(SystemInfo):
    """:class:`SystemInfo` plus what only Windows has: the user's profile folders (``home`` is
    ``%USERPROFILE%``), ``%ProgramData%``, the Windows build and whether the SSH user is an
    administrator. ``free_mib`` is keyed by drive root (``"C:\\\\"``)."""

    caption: str | None = None
    windows_version: str | None = None
    windows_build: int | None = None
    user: str | None = None
    appdata: str | None = None
    localappdata: str | None = None
    programdata: str = "C:\\ProgramData"
    system_drive: str = "C:"
    admin: bool | None = None
    powershell: str | None = None

    @property
    def ascii_profile(self) -> bool:
        """False when the user's profile path has non-ASCII characters (conda breaks there)."""
        return (self.home or "").isascii()


def parse_system(lines: Sequence[str] | str) -> WindowsSystemInfo:
    """Parse ``scripts/system.ps1``'s JSON (see ``SAMPLE_SYSTEM``)."""
    doc = load_json(lines)
    if not isinstance(doc, dict):
        return WindowsSystemInfo(os="windows", kernel="Windows (system fact unreadable)")
    build = str(doc.get("build") or "")
    free = {
        str(d["root"]).upper(): int(d["free_mib"])
        for d in doc.get("drives") or []
        if isinstance(d, dict) and d.get("root") and d.get("free_mib") is not None
    }
    arch = str(doc.get("arch") or "").upper()
    return WindowsSystemInfo(
        os="windows",
        arch=ARCHES.get(arch, arch.lower() or None),
        kernel=f"Windows {doc.get('version')}" if doc.get("version") else "Windows",
        home=doc.get("profile"),
        free_mib=free,
        caption=doc.get("caption"),
        windows_version=doc.get("version"),
        windows_build=int(build) if build.isdigit() else None,
        user=doc.get("user"),
        appdata=doc.get("appdata"),
        localappdata=doc.get("localappdata"),
        programdata=doc.get("programdata") or "C:\\ProgramData",
        system_drive=doc.get("system_drive") or "C:",
        admin=doc.get("admin"),
        powershell=doc.get("powershell"),
    )


def free_mib_on_drive(info: SystemInfo, path: str) -> int | None:
    """Free MiB on the drive of ``path`` (``C:\\\\labtorch\\\\miniforge3`` → the ``C:\\\\`` entry).

    >>> free_mib_on_drive(parse_system(SAMPLE_SYSTEM), "d:\\\\labtorch")
    900000
    """
    return info.free_mib.get(path[:2].upper() + "\\") if path[1:2] == ":" else None


class WindowsSystem(FactBase[WindowsSystemInfo]):
    """Windows version and build, architecture, profile folders (non-ASCII names kept), free
    space per fixed drive and whether the SSH user is an administrator, in one command."""

    def command(self) -> str:
        return script("system", strict=False)

    def process(self, output: list[str]) -> WindowsSystemInfo:
        return parse_system(output)

    @staticmethod
    def default() -> WindowsSystemInfo:
        return WindowsSystemInfo(os="windows")


# --- GPUs ------------------------------------------------------------------------------------


def _wmi_driver(version: str | None) -> str | None:
    """NVIDIA's driver number inside a Windows driver version: 31.0.15.3640 → 536.40.

    >>> _wmi_driver("31.0.15.3640"), _wmi_driver("10.0.22621.1")
    ('536.40', None)
    """
    parts = (version or "").split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts) or int(parts[0]) < 20:
        return None
    digits = (parts[2] + parts[3].rjust(4, "0"))[-5:]
    return f"{int(digits[:3])}.{digits[3:]}"


def _nvidia_adapters(video: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        v
        for v in video
        if NVIDIA_PCI in str(v.get("pnp") or "").upper()
        or "NVIDIA" in str(v.get("vendor") or "").upper()
        or "NVIDIA" in str(v.get("name") or "").upper()
    ]


def parse_gpus(lines: Sequence[str] | str) -> GpuFacts:
    """Parse ``scripts/gpus.ps1``'s JSON into enriched ``GpuFacts`` (os "windows").

    nvidia-smi's own outputs go through the same parsers as on Linux
    (:func:`labtorch.facts.gpu.parse_gpu_output`). Without a working nvidia-smi, WMI's
    Win32_VideoController still names the NVIDIA adapters: they are kept as GPUs (so the plan
    table shows them) and the error says which driver Windows has, if any.
    """
    from labtorch.facts import nvidia_smi

    doc = load_json(lines)
    if not isinstance(doc, dict):
        return GpuFacts(os="windows", error="other", format="other",
                        error_detail="the GPU fact printed no JSON")
    video = [v for v in doc.get("video") or [] if isinstance(v, dict)]
    adapters = _nvidia_adapters(video)
    if doc.get("smi"):
        text = "\n".join(
            [
                f"{SECTION}fields@@", str(doc.get("fields") or QUERY_FIELDS),
                f"{SECTION}query@@", str(doc.get("query") or ""),
                f"{SECTION}query-rc@@", str(doc.get("query_rc")),
                f"{SECTION}table@@", str(doc.get("table") or ""),
                f"{SECTION}table-rc@@", str(doc.get("table_rc")),
            ]
        )
        facts = parse_gpu_output(text, os_hint="windows")
        if facts.error is None and facts.gpus:
            return facts
        detail = f"{doc['smi']}: {facts.error_detail or facts.error}"
        error = facts.error or "other"
    else:
        detail = "nvidia-smi.exe is not in System32, the NVSMI folder or on PATH"
        error = "not_installed"
    if adapters:
        words = []
        for a in adapters:
            nvidia = _wmi_driver(a.get("driver"))
            driver = f"NVIDIA driver {nvidia}" if nvidia else f"driver {a.get('driver') or '?'}"
            words.append(f"{a.get('name') or '?'} ({driver})")
        detail += "; Windows lists " + ", ".join(words)
        if not any(_wmi_driver(a.get("driver")) for a in adapters):
            detail += ": install the NVIDIA driver"
    elif video:
        detail += "; Windows lists no NVIDIA adapter (" + ", ".join(
            str(v.get("name")) for v in video) + ")"
    elif doc.get("video_error"):
        detail += f"; WMI failed: {doc['video_error']}"
    gpus = tuple(
        Gpu(name=a.get("name") if "NVIDIA" in str(a.get("name") or "").upper() else None)
        for a in adapters
    )
    facts = GpuFacts(os="windows", gpus=gpus, error=error, error_detail=detail,  # type: ignore[arg-type]
                     format="error", gpu_count=len(gpus) if gpus else None)
    return nvidia_smi.enrich(facts)


class WindowsGpus(FactBase[GpuFacts]):
    """NVIDIA GPUs, driver and CUDA version of a Windows PC (nvidia-smi.exe), with WMI's
    Win32_VideoController names as the fallback. Never fails the host."""

    def command(self) -> str:
        return script("gpus", {"Fields": QUERY_FIELDS, "FieldsOld": QUERY_FIELDS_OLD},
                      strict=False)

    def process(self, output: list[str]) -> GpuFacts:
        return parse_gpus(output)

    @staticmethod
    def default() -> GpuFacts:
        return GpuFacts(os="windows", error="other", error_detail="GPU fact not gathered")


# --- conda -----------------------------------------------------------------------------------


def _receipt(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        value = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError:
        return {"tool": "unknown", "unreadable": text[:200]}
    return value if isinstance(value, dict) else None


def _flavor(prefix: str, meta: list[str], receipt: dict[str, Any] | None) -> str:
    if receipt and receipt.get("flavor"):
        return str(receipt["flavor"])
    if any(name.startswith(("anaconda-", "_anaconda_depends-")) for name in meta):
        return "anaconda"
    base = prefix.rstrip("\\/").rsplit("\\", 1)[-1].lower()
    for flavor in ("miniforge", "mambaforge", "miniconda", "anaconda"):
        if flavor in base:
            return "miniforge" if flavor == "mambaforge" else flavor
    return "unknown"


#: What ``install-conda.ps1`` writes in its pending receipt right before it starts the installer
#: (after the download matched its sha256), and nowhere else.
STARTED_PHASE = "installer"


def started_install(receipt: dict[str, Any] | None, prefix: str) -> bool:
    """True when ``receipt`` proves labtorch started the installer for exactly ``prefix``.

    The pending receipt must be labtorch's, say "started", have been written right before the
    installer ran (``phase``; receipts of older runs, written before the download, do not count)
    and name this prefix (Windows paths compare case-insensitively).

    >>> r = {"tool": "labtorch", "state": "started", "phase": "installer",
    ...      "prefix": "C:\\\\labtorch\\\\miniforge3"}
    >>> started_install(r, "c:\\\\labtorch\\\\Miniforge3\\\\")
    True
    >>> started_install(r, "D:\\\\miniforge3")
    False
    >>> started_install({**r, "phase": None}, "C:\\\\labtorch\\\\miniforge3")
    False
    """
    if not receipt or receipt.get("tool") != "labtorch" or receipt.get("state") != "started":
        return False
    if receipt.get("phase") != STARTED_PHASE:
        return False
    return _same_path(str(receipt.get("prefix") or ""), prefix)


def _same_path(a: str, b: str) -> bool:
    return bool(a) and a.rstrip("\\/").lower() == b.rstrip("\\/").lower()


def parse_conda_installs(lines: Sequence[str] | str) -> list[CondaInstall]:
    """Parse ``scripts/conda.ps1``'s JSON into :class:`CondaInstall` values (Windows paths).

    A prefix with no receipt of its own counts as labtorch's half-finished install only when
    labtorch's ``<prefix>.labtorch-install\\receipt.json`` proves labtorch started the installer
    for exactly this prefix (:func:`started_install`) and the prefix lacks a complete conda
    (``Scripts\\conda.exe`` and ``conda-meta\\history``). Any other pending receipt is ignored,
    so a conda someone installed there later stays theirs. A pending receipt without the prefix
    is not an install (the installer never ran); it is left out.
    """
    doc = load_json(lines)
    if isinstance(doc, dict):
        doc = [doc]
    installs = []
    for item in doc or []:
        if not isinstance(item, dict) or not item.get("exists"):
            continue
        prefix = str(item["prefix"]).rstrip("\\")
        receipt = _receipt(item.get("receipt"))
        complete = bool(item.get("conda")) and bool(item.get("history"))
        pending = _receipt(item.get("pending"))
        if receipt is None and not complete and started_install(pending, prefix):
            receipt = pending
        meta = [str(m) for m in item.get("meta") or []]
        version = next(
            (m[len("conda-"):].split("-")[0] for m in meta if m.startswith("conda-")), None
        )
        envs = tuple(
            CondaEnvInfo(
                name=str(e.get("name")),
                prefix=f"{prefix}\\envs\\{e.get('name')}",
                has_python=bool(e.get("python")),
                receipt=_receipt(e.get("receipt")),
            )
            for e in item.get("envs") or []
            if isinstance(e, dict)
        )
        installs.append(
            CondaInstall(
                prefix=prefix,
                flavor=_flavor(prefix, meta, receipt),
                version=version,
                has_conda=bool(item.get("conda")),
                has_history=bool(item.get("history")),
                receipt=receipt,
                envs=envs,
            )
        )
    return installs


class WindowsCondaInstalls(FactBase[list[CondaInstall]]):
    """Conda installs for all users (``%ProgramData%``) and in every user profile, plus
    ``prefixes``; Returns a list of :class:`CondaInstall`."""

    def command(self, prefixes: tuple[str, ...] = ()) -> str:
        return script("conda", {"Prefixes": list(prefixes), "Usual": True}, strict=False)

    def process(self, output: list[str]) -> list[CondaInstall]:
        return parse_conda_installs(output)

    @staticmethod
    def default() -> list[CondaInstall]:
        return []


class WindowsCondaInstallAt(FactBase["CondaInstall | None"]):
    """The conda install at exactly ``prefix`` (``C:\\\\labtorch\\\\miniforge3``), or None."""

    def command(self, prefix: str) -> str:
        return script("conda", {"Prefixes": [prefix], "Usual": False}, strict=False)

    def process(self, output: list[str]) -> CondaInstall | None:
        installs = parse_conda_installs(output)
        return installs[0] if installs else None

    @staticmethod
    def default() -> CondaInstall | None:
        return None


def parse_env_packages_json(lines: Sequence[str] | str) -> EnvPackages | None:
    """Parse ``scripts/env-packages.ps1``'s JSON; None when the env has no python.exe.

    >>> parse_env_packages_json('{"version": "Python 3.11.9", "pip": "[]"}').python_version
    '3.11.9'
    """
    doc = load_json(lines)
    if not isinstance(doc, dict):
        return None
    return parse_env_packages(f"{doc.get('version') or ''}\n{doc.get('pip') or ''}")


class WindowsEnvPackages(FactBase["EnvPackages | None"]):
    """Python version and pip packages of the env whose interpreter is ``python`` (absolute
    ``<env>\\\\python.exe``); None when it is missing."""

    def command(self, python: str) -> str:
        return script("env-packages", {"Python": python}, strict=False)

    def process(self, output: list[str]) -> EnvPackages | None:
        return parse_env_packages_json(output)

    @staticmethod
    def default() -> EnvPackages | None:
        return None


@dataclass(frozen=True)
class WindowsFile:
    """A file labtorch manages: does it exist, its sha256, does it carry labtorch's mark."""

    exists: bool
    sha256: str | None = None
    marked: bool = False


def parse_file(lines: Sequence[str] | str) -> WindowsFile | None:
    """Parse ``scripts/file.ps1``'s JSON; None when the script printed nothing readable."""
    doc = load_json(lines)
    if not isinstance(doc, dict):
        return None
    return WindowsFile(bool(doc.get("exists")), doc.get("sha256"), bool(doc.get("marked")))


class WindowsFileState(FactBase["WindowsFile | None"]):
    """Existence, sha256 and labtorch mark of the file at ``path``."""

    def command(self, path: str, mark: str) -> str:
        return script("file", {"Path": path, "Mark": mark}, strict=False)

    def process(self, output: list[str]) -> WindowsFile | None:
        return parse_file(output)

    @staticmethod
    def default() -> WindowsFile | None:
        return None


class WindowsVerificationRun(FactBase):
    """Run the verification script with the env's ``python.exe`` and return its report (dict).

    The same script and report as on Linux (``roles/files/labtorch_verify.py``); None when the
    env's python.exe is missing.
    """

    def command(self, python: str, script_path: str, plan: str, kernel_timeout: int = 60) -> str:
        return script(
            "verify",
            {"Python": python, "Script": script_path, "Plan": plan,
             "KernelTimeout": int(kernel_timeout)},
            strict=False,
        )

    def process(self, output: list[str]) -> dict[str, Any] | None:
        return parse_report(output)

    @staticmethod
    def default() -> dict[str, Any] | None:
        return None
