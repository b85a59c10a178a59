"""Gather everything a host must prove, in ONE remote command per host, all hosts in parallel.

The command prints parts between ``@@labtorch-check:<part>@@`` lines:

- ``system``: OS, architecture, home (``labtorch.facts.system.HostSystem``'s command);
- ``gpu``: both nvidia-smi outputs (``labtorch.facts.gpu.GPU_COMMAND``);
- ``conda``: the conda install at the configured prefix (``labtorch.facts.conda``'s listing);
- ``marker``: the simulated lab's ``/etc/labtorch-lab.json`` (absent on real hosts);
- ``plan``: the plan the deploy recorded at ``<prefix>/.labtorch/plan.json``;
- ``condarc``, ``pip-conf``: the sha256 of ``<prefix>/.condarc`` and the env's ``pip.conf``;
- ``verify``: a fresh run of the verification script the deploy left at
  ``<prefix>/.labtorch/labtorch_verify.py`` with the env's own Python (``--out -``: the check
  writes nothing on the host), or ``verify-missing`` naming what is not there.

Shell only prints files and runs the programs; all parsing is the pure :func:`parse_snapshot`.
One command instead of one per assertion is what keeps a check near the cost of ``ssh true``
(testinfra pays a round trip per assertion; see bench/results/check.md).

A Windows PC answers four PowerShell scripts instead (:func:`windows_scripts`): its system facts
first (its install prefix depends on its system drive and profile), then its GPUs, its conda
install and ``scripts/check.ps1`` (plan, ``.condarc`` sha256, ``pip.ini``, a fresh verification).
One script cannot hold them all: an encoded command must fit cmd.exe's 8,191 characters. Their
raw outputs are kept as ``windows-*`` parts of the same text, so :func:`parse_snapshot` reads a
saved Windows output too.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyinfra.api import FactBase

from labtorch.facts.conda import CondaInstall, CondaInstalls, parse_conda_installs
from labtorch.facts.gpu import GPU_COMMAND, parse_gpu_output
from labtorch.facts.system import HostSystem, SystemInfo, parse_system
from labtorch.model import GpuFacts

if TYPE_CHECKING:
    from labtorch.windows.layout import Layout

PART = "@@labtorch-check:"
#: Where the deploy leaves its files, relative to the conda prefix.
STATE_DIR = ".labtorch"
PLAN_FILE = f"{STATE_DIR}/plan.json"
VERIFY_SCRIPT = f"{STATE_DIR}/labtorch_verify.py"


@dataclass(frozen=True)
class Snapshot:
    """What one host showed in one check, parsed.

    ``plan`` is the recorded plan document (None: never deployed, or unreadable: see
    ``plan_error``); ``verify`` the fresh verification document (None: see ``verify_missing``).
    """

    system: SystemInfo
    gpu: GpuFacts
    conda: CondaInstall | None
    marker: dict[str, Any] | None
    plan: dict[str, Any] | None
    plan_error: str | None
    verify: dict[str, Any] | None
    verify_missing: tuple[str, ...] = ()
    verify_error: str | None = None
    condarc_sha256: str | None = None
    pip_conf: str | None = None
    #: plan.json exists but is not a JSON object (edited, truncated): corrupt, not missing
    plan_corrupt: bool = False

    @property
    def simulated(self) -> bool:
        return bool(self.marker and self.marker.get("simulated"))


def _part(name: str) -> str:
    return f"echo '{PART}{name}@@'; "


def prefix_expr(conda_prefix: str) -> str:
    """A shell word for the prefix; ``~/x`` becomes ``"$HOME"/x`` so it expands on the host.

    >>> prefix_expr("~/miniforge3"), prefix_expr("/opt/miniforge3")
    ('"$HOME"/miniforge3', '/opt/miniforge3')
    """
    if conda_prefix == "~":
        return '"$HOME"'
    if conda_prefix.startswith("~/"):
        return '"$HOME"' + shlex.quote(conda_prefix[1:])
    return shlex.quote(conda_prefix)


def linux_command(conda_prefix: str, env_name: str, *, kernel_timeout: int = 60) -> str:
    """The one POSIX sh command that gathers a Linux host's snapshot (always exits 0).

    ``conda_prefix`` is absolute, or starts with ``~/`` when it lives in the SSH user's home.
    """
    env = shlex.quote(env_name)
    return (
        f"P={prefix_expr(conda_prefix)}; E=\"$P\"/envs/{env}/bin/python; "
        f'V="$P"/{VERIFY_SCRIPT}; L="$P"/{PLAN_FILE}; '
        + _part("system") + "{ " + HostSystem().command() + "; }; "
        + _part("gpu") + "{ " + GPU_COMMAND + "; }; "
        + _part("conda") + "{ " + CondaInstalls().command(prefixes=(conda_prefix,))
        + "; }; "
        + _part("marker") + "cat /etc/labtorch-lab.json 2>/dev/null; echo; "
        + _part("plan") + 'if [ -f "$L" ]; then cat "$L" 2>&1; echo; fi; '
        + _part("condarc") + 'sha256sum "$P"/.condarc 2>/dev/null; '
        + _part("pip-conf") + f'cat "$P"/envs/{env}/pip.conf 2>/dev/null; echo; '
        + 'if [ -x "$E" ] && [ -f "$V" ]; then '
        + _part("verify")
        + f'"$E" "$V" --plan "$L" --out - --kernel-timeout {int(kernel_timeout)} 2>&1; '
        + "else " + _part("verify-missing")
        + '[ -x "$E" ] || echo "env-python $E"; [ -f "$V" ] || echo "verify-script $V"; '
        + "fi; true"
    )


#: Parts of a Windows PC's gathered text, one per PowerShell script (plus the prefix checked).
WINDOWS_PARTS = ("windows-prefix", "windows-system", "windows-gpus", "windows-conda",
                 "windows-check")


def windows_scripts(where: Layout, *, kernel_timeout: int = 60) -> dict[str, str]:
    """The PowerShell scripts that gather a Windows PC's snapshot once its paths are known
    (``where``: :class:`labtorch.windows.layout.Layout`), by part name. The system script,
    which decides those paths, runs before them (``WindowsSystem``)."""
    from labtorch.windows.facts import WindowsCondaInstallAt, WindowsGpus
    from labtorch.windows.powershell import script

    return {
        "windows-gpus": WindowsGpus().command(),
        "windows-conda": WindowsCondaInstallAt().command(prefix=where.prefix),
        "windows-check": script("check", {
            "Plan": f"{where.receipt_dir}\\{PLAN_FILE.rsplit('/', 1)[1]}",
            "Condarc": where.condarc, "PipIni": where.pip_ini, "Python": where.env_python,
            "Script": f"{where.receipt_dir}\\{VERIFY_SCRIPT.rsplit('/', 1)[1]}",
            "KernelTimeout": int(kernel_timeout),
        }, strict=False),
    }


def join_parts(parts: dict[str, str]) -> str:
    """The inverse of :func:`split_parts`: ``{part: text}`` as one gathered text."""
    return "".join(f"{PART}{name}@@\n{text}\n" for name, text in parts.items())


def split_parts(text: str) -> dict[str, str]:
    """Split the command's output into ``{part: text}``."""
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(PART) and stripped.endswith("@@"):
            current = parts.setdefault(stripped[len(PART):-2], [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in parts.items()}


def _json_document(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The last JSON object line in ``text`` and what else was printed (an error), if any."""
    lines = [line for line in text.splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                other = " ".join(lines[:index] + lines[index + 1:]).strip()
                return value, other or None
    try:  # a pretty-printed document (plan.json is written indented)
        value = json.loads(text)
    except ValueError:
        return None, " ".join(" ".join(lines).split())[:600] or None
    return (value, None) if isinstance(value, dict) else (None, "not a JSON object")


def parse_snapshot(text: str, conda_prefix: str | None = None) -> Snapshot:
    """Parse :func:`linux_command`'s output, or a Windows PC's ``windows-*`` parts (pure; works
    on a saved output)."""
    parts = split_parts(text)
    if "windows-system" in parts:
        return _windows_snapshot(parts, conda_prefix)
    system = parse_system(parts.get("system", ""))
    gpu = parse_gpu_output(parts.get("gpu", ""), os_hint=system.os)
    installs = parse_conda_installs(parts.get("conda", ""))
    conda = _pick_install(installs, conda_prefix, system.home)
    marker, _ = _json_document(parts.get("marker", ""))
    plan_text = parts.get("plan", "").strip()
    plan, plan_error = (None, None)
    if plan_text:
        plan, plan_error = _json_document(plan_text)
        if plan is not None:
            plan_error = None
    verify, verify_error = (None, None)
    if "verify" in parts:
        verify, verify_error = _json_document(parts["verify"])
    missing = tuple(
        line.split(" ", 1)[0] for line in parts.get("verify-missing", "").splitlines()
        if line.strip()
    )
    condarc = parts.get("condarc", "").split()
    pip_conf = parts.get("pip-conf", "").strip()
    return Snapshot(system=system, gpu=gpu, conda=conda, marker=marker, plan=plan,
                    plan_error=plan_error, verify=verify, verify_missing=missing,
                    verify_error=verify_error,
                    condarc_sha256=condarc[0] if condarc else None,
                    pip_conf=pip_conf or None, plan_corrupt=plan is None and bool(plan_text))


def _windows_snapshot(parts: dict[str, str], conda_prefix: str | None) -> Snapshot:
    """A Windows PC's snapshot from the JSON its scripts printed.

    When ``check.ps1`` gave no JSON object (it failed, timed out or printed something else),
    ``verify_missing`` is ``("check-output",)`` and both errors carry what it said instead, so
    the judge does not mistake a failing script for a PC labtorch never provisioned. Raises
    ``LabtorchError`` when the GPU or conda script gave no answer.
    """
    from labtorch.errors import LabtorchError
    from labtorch.windows.facts import load_json, parse_conda_installs, parse_gpus, parse_system

    for name, what in (("windows-gpus", "GPU"), ("windows-conda", "conda")):
        if parts.get(f"{name}-error"):  # judging without it would call the PC drifted
            raise LabtorchError(f"the {what} script gave no answer: {parts[f'{name}-error']}")
    system = parse_system(parts["windows-system"])
    prefix = parts.get("windows-prefix", "").strip() or conda_prefix or ""
    conda = next((install for install in parse_conda_installs(parts.get("windows-conda", ""))
                  if install.prefix.rstrip("\\").lower() == prefix.rstrip("\\").lower()), None)
    found = load_json(parts.get("windows-check", ""))
    if not isinstance(found, dict):
        said = parts.get("windows-check-error") or " ".join(
            parts.get("windows-check", "").split())[:300] or "no output"
        return Snapshot(system=system, gpu=parse_gpus(parts.get("windows-gpus", "")),
                        conda=conda, marker=None, plan=None, plan_error=said, verify=None,
                        verify_missing=("check-output",), verify_error=said)
    plan, plan_error = (None, None)
    if isinstance(found.get("plan"), str) and found["plan"].strip():
        plan, plan_error = _json_document(found["plan"].lstrip("\ufeff"))
        if plan is not None:
            plan_error = None
    verify, verify_error = (None, None)
    lines = found.get("verify")
    if isinstance(lines, list):  # an older check.ps1 printed the lines as a JSON array
        lines = "\n".join(str(line) for line in lines)
    if isinstance(lines, str):
        verify, verify_error = _json_document(lines)
    missing = tuple(name for name, key in (("env-python", "python"), ("verify-script", "script"))
                    if not found.get(key))
    return Snapshot(system=system, gpu=parse_gpus(parts.get("windows-gpus", "")), conda=conda,
                    marker=None, plan=plan, plan_error=plan_error, verify=verify,
                    plan_corrupt=plan is None and plan_error is not None,
                    verify_missing=missing, verify_error=verify_error,
                    condarc_sha256=found.get("condarc_sha256") or None,
                    pip_conf=(found.get("pip_ini") or "").strip() or None)


def _pick_install(installs: Iterable[CondaInstall], conda_prefix: str | None,
                  home: str | None) -> CondaInstall | None:
    installs = list(installs)
    if conda_prefix is None:
        return installs[0] if installs else None
    wanted = conda_prefix
    if wanted.startswith("~") and home:
        wanted = home.rstrip("/") + wanted[1:]
    return next((i for i in installs if i.prefix.rstrip("/") == wanted.rstrip("/")), None)


class CheckSnapshot(FactBase[str]):
    """The raw output of :func:`linux_command` (parse it with :func:`parse_snapshot`)."""

    def command(self, conda_prefix: str, env_name: str, kernel_timeout: int = 60) -> str:
        return linux_command(conda_prefix, env_name, kernel_timeout=kernel_timeout)

    def process(self, output: list[str]) -> str:
        return "\n".join(output)

    @staticmethod
    def default() -> str:
        return ""
