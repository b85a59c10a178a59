"""Judge one host's snapshot: re-plan (a changed plan is drift), verification, config files.

Pure: a ``Snapshot`` (parsed remote output) and the host's ``Settings`` go in, a ``HostReport``
comes out. The verification document is judged by ``labtorch.verify_report.judge``, the same
code the deploy's verify role and the testinfra suite use, so a host is judged alike everywhere.

Columns of the host × check table (``CHECKS``):

- ``reach``: the host answered;
- ``plan``: re-planning from today's GPU facts and site policy gives the recorded plan
  (otherwise ``drift``: new GPU, new driver, or a new site policy);
- ``conda``: the conda install is at the configured prefix;
- ``verify``: the verification ran (env Python and script present);
- ``python``, ``torch``, ``gpu``, ``jupyter``: the verification's checks, grouped;
- ``config``: ``.condarc`` and the env's ``pip.conf`` are still what the deploy wrote.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from labtorch.check.gather import PLAN_FILE, VERIFY_SCRIPT, Snapshot
from labtorch.check.model import CheckResult, HostReport, HostVersions, Status, worst
from labtorch.errors import LabtorchError
from labtorch.model import HostPlan
from labtorch.roles.settings import Settings
from labtorch.roles.verify import redact
from labtorch.verify_report import replayed_from

#: the note the judge appends to a GPU check that passed on replayed device answers
REPLAYED_NOTE = re.compile(r" \[device answers replayed from [^\]]+\]$")

CHECKS = ("reach", "plan", "conda", "verify", "python", "torch", "gpu", "jupyter", "config")

#: verify_report check id → column of the table
VERIFY_COLUMNS = {
    "report": "verify",
    "python": "python",
    "torch_version": "torch",
    "torch_variant": "torch",
    "cuda_available": "gpu",
    "gpu_device": "gpu",
    "gpu_arch": "gpu",
    "gpu_matmul": "gpu",
    "cudnn": "gpu",
    "nvml": "gpu",
    "jupyter_kernel": "jupyter",
}

#: Plan fields whose change means the host must be re-provisioned.
PLAN_FIELDS = ("os", "python", "torch", "torchvision", "torchaudio", "variant", "index_url",
               "extra_index_url", "install")


def unreachable_report(host: str, room: str, reason: str) -> HostReport:
    """A host that could not be checked at all.

    >>> unreachable_report("@winssh/pc-w01", "c310", "").results[0].fix
    'check that @winssh/pc-w01 is on and its SSH server answers (ssh pc-w01 true)'
    """
    address = host.split("/", 1)[1] if host.startswith("@") and "/" in host else host
    return HostReport(host, room, (CheckResult(
        host, "reach", "unreachable", reason or "no answer",
        f"check that {host} is on and its SSH server answers (ssh {address} true)"),))


def settings_error_report(host: str, room: str, error: LabtorchError) -> HostReport:
    """A host whose inventory data is wrong: it cannot be checked until the data is fixed."""
    return HostReport(host, room, (CheckResult(
        host, "reach", "unreachable", f"its inventory data is wrong: {error.what}",
        error.fix or "fix the host's labtorch_* settings in the inventory"),))


def check_error_report(host: str, room: str, error: BaseException, *, fix: str) -> HostReport:
    """A host that answered but whose check data could not be read or judged (a corrupt
    ``plan.json``, output labtorch did not expect): it fails, and the other hosts go on."""
    if isinstance(error, LabtorchError):
        what = error.what
    else:
        lines = str(error).strip().splitlines()
        what = f"{type(error).__name__}: {lines[0] if lines else 'no message'}"
    return HostReport(host, room, (CheckResult(
        host, "reach", "fail", redact(f"could not read this host's check data: {what}"),
        redact(fix)),))


def evaluate_host(host: str, room: str, snapshot: Snapshot, settings: Settings, *,
                  fix: str) -> HostReport:
    """Every check of one reachable host. ``fix`` is the command that re-provisions it.

    Passwords in URLs are masked (:func:`labtorch.roles.verify.redact`) in everything the report
    prints: the report is read by more people than the inventory.
    """
    results = [CheckResult(host, "reach", "pass", detail=_describe_system(snapshot))]
    recorded, plan_result = _plan_check(host, snapshot, settings, fix)
    results.append(plan_result)
    results.append(_conda_check(host, snapshot, settings, fix))
    results.extend(_verify_checks(host, snapshot, settings, recorded, fix))
    if snapshot.plan is not None:
        results.append(_config_check(host, snapshot, settings, fix))
    return HostReport(host, room, tuple(_masked(r) for r in results), versions(snapshot))


def in_prefix(settings: Settings, relative: str) -> str:
    """A path under the conda prefix, with the host's separators (``relative`` uses ``/``).

    >>> windows = Settings.from_data({"labtorch_conda_prefix": "C:\\\\lt"}, os="windows")
    >>> in_prefix(windows, ".labtorch/plan.json")
    'C:\\\\lt\\\\.labtorch\\\\plan.json'
    """
    if settings.os == "windows":
        return "\\".join((settings.conda_prefix.rstrip("\\"), *relative.split("/")))
    return f"{settings.conda_prefix}/{relative}"


def env_python(settings: Settings) -> str:
    """The env's Python as the host names it (``python.exe`` at the env's root on Windows)."""
    if settings.os == "windows":
        return in_prefix(settings, f"envs/{settings.env_name}/python.exe")
    return settings.env_python


def _masked(result: CheckResult) -> CheckResult:
    return replace(result, cause=redact(result.cause), fix=redact(result.fix),
                   detail=redact(result.detail))


# --- plan ---------------------------------------------------------------------------------------


def recorded_plan(document: Mapping[str, Any] | None) -> HostPlan | None:
    """The ``HostPlan`` inside a ``plan.json`` document (None when absent)."""
    from labtorch.verify_report import plan_from_dict

    if not document or not isinstance(document.get("plan"), Mapping):
        return None
    return plan_from_dict(document["plan"])


def _plan_check(host: str, snapshot: Snapshot, settings: Settings,
                fix: str) -> tuple[HostPlan | None, CheckResult]:
    from labtorch.room_lock import newer_release, plan_with_lock

    where = in_prefix(settings, PLAN_FILE)
    if "check-output" in snapshot.verify_missing:
        return None, CheckResult(host, "plan", "fail",
                                 f"could not read {where}: the check script gave no result "
                                 f"({snapshot.plan_error or 'no output'})", fix)
    if snapshot.plan is None and snapshot.plan_corrupt:
        why = (snapshot.plan_error or "")[:200]
        return None, CheckResult(host, "plan", "fail",
                                 f"{where} is corrupt: not a JSON plan ({why})", fix)
    if snapshot.plan is None:
        why = f" ({snapshot.plan_error})" if snapshot.plan_error else ""
        return None, CheckResult(host, "plan", "fail",
                                 f"labtorch has not provisioned this host: no {where}{why}", fix)
    try:
        recorded = recorded_plan(snapshot.plan)
    except LabtorchError as err:
        return None, CheckResult(host, "plan", "fail", f"{where} is unreadable: {err.what}", fix)
    if recorded is None:
        return None, CheckResult(host, "plan", "fail", f"{where} holds no plan", fix)
    try:
        fresh, locked = plan_with_lock(snapshot.gpu, settings.policy, settings.lock_file,
                                       os=settings.os, host=host)
    except LabtorchError as err:
        return recorded, CheckResult(host, "plan", "fail",
                                     f"re-planning failed: {err.what}", err.fix or fix)
    changes = plan_changes(recorded, fresh)
    facts = fact_changes(recorded, fresh)
    if changes:
        because = f" because {'; '.join(facts)}" if facts else " (site policy or data changed)"
        return recorded, CheckResult(host, "plan", "drift",
                                     f"plan changed{because}: {'; '.join(changes)}", fix)
    note = f"{'; '.join(facts)} (plan unchanged)" if facts else ""
    newer = newer_release(snapshot.gpu, settings.policy, locked, os=settings.os, host=host)
    if newer and settings.lock_newer_is_drift:  # the site asked for it to count as drift
        return recorded, CheckResult(host, "plan", "drift", newer, "labtorch lock update "
                                     "INVENTORY, then re-deploy")
    detail = "; ".join(x for x in (note or f"{recorded.variant}, torch {recorded.torch}",
                                   newer) if x)
    return recorded, CheckResult(host, "plan", "pass", detail=detail)


def plan_changes(recorded: HostPlan, fresh: HostPlan) -> list[str]:
    """What differs between the recorded and today's plan, in words ("variant cu128 → cu126").

    ``plan.json`` records URLs with their password masked, so both sides are compared (and
    printed) masked: a credentialed index is no drift, and its password never shows.

    >>> a = HostPlan("2.9.1", None, None, "cu128", "3.12", "https://x/cu128", ())
    >>> plan_changes(a, HostPlan("2.9.1", None, None, "cu126", "3.12", "https://x/cu126", ()))
    ['variant cu128 → cu126', 'index_url https://x/cu128 → https://x/cu126']
    """
    changes = []
    for name in PLAN_FIELDS:
        old, new = _masked_value(getattr(recorded, name)), _masked_value(getattr(fresh, name))
        if old != new:
            if name == "install":
                changes.append("pip install commands changed")
            else:
                changes.append(f"{name} {old} → {new}")
    return changes


def _masked_value(value: Any) -> Any:
    """``value`` with URL passwords masked; pip argument tuples element by element."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple):
        return tuple(_masked_value(item) for item in value)
    return value


def fact_changes(recorded: HostPlan, fresh: HostPlan) -> list[str]:
    """GPU and driver changes between the planning facts of two plans, in words."""
    notes = []
    if tuple(recorded.gpus) != tuple(fresh.gpus):
        old = ", ".join(recorded.gpus) or "no GPU"
        new = ", ".join(fresh.gpus) or "no GPU"
        notes.append(f"GPU {old} → {new}")
    if recorded.driver_version != fresh.driver_version:
        notes.append(f"driver {recorded.driver_version or 'none'} → "
                     f"{fresh.driver_version or 'none'}")
    return notes


# --- conda, verification, config ----------------------------------------------------------------


def _conda_check(host: str, snapshot: Snapshot, settings: Settings, fix: str) -> CheckResult:
    conda = snapshot.conda
    if conda is None:
        return CheckResult(host, "conda", "fail",
                           f"no conda install at {settings.conda_prefix}", fix)
    if not conda.complete:
        tool = "Scripts\\conda.exe" if settings.os == "windows" else "bin/conda"
        return CheckResult(host, "conda", "fail",
                           f"the conda install at {conda.prefix} is incomplete "
                           f"({tool} or conda-meta/history missing)", fix)
    return CheckResult(host, "conda", "pass", detail=f"{conda.flavor} {conda.version or ''}")


def _verify_checks(host: str, snapshot: Snapshot, settings: Settings,
                   recorded: HostPlan | None, fix: str) -> list[CheckResult]:
    from labtorch.verify_report import judge

    if snapshot.verify is None:
        if "check-output" in snapshot.verify_missing:
            cause = f"the check script gave no result ({snapshot.verify_error or 'no output'})"
        elif "env-python" in snapshot.verify_missing:
            cause = f"the env's Python {env_python(settings)} is missing"
        elif "verify-script" in snapshot.verify_missing:
            cause = f"the verification script {in_prefix(settings, VERIFY_SCRIPT)} is missing"
        else:
            cause = f"the verification printed no report ({snapshot.verify_error or 'no output'})"
        return [CheckResult(host, "verify", "fail", cause, fix)]
    if recorded is None:
        return [CheckResult(host, "verify", "skipped", "no recorded plan to verify against")]
    verdict = judge(snapshot.verify, recorded, host=host)
    columns: dict[str, list[Any]] = {}
    for check in verdict.checks:
        columns.setdefault(VERIFY_COLUMNS.get(check.id, check.id), []).append(check)
    results = []
    for column, checks in columns.items():
        results.append(_merge(host, column, checks, fix))
    if "verify" not in columns:
        results.insert(0, CheckResult(host, "verify", "pass",
                                      detail=f"verified at {verdict.checked_at}"))
    return results


def _merge(host: str, column: str, checks: Iterable[Any], fix: str) -> CheckResult:
    """One table cell from several verification checks: the worst status, its causes."""
    checks = list(checks)
    status: Status = worst(c.status for c in checks)
    chosen = [c for c in checks if c.status == status]
    if status == "fail":
        cause = "; ".join(c.detail for c in chosen)
        fixes = [c.fix for c in chosen if c.fix]
        return CheckResult(host, column, "fail", cause, _fix_for(fixes, fix))
    details = [c.detail for c in chosen]
    note = REPLAYED_NOTE.search(details[0]) if details else None
    if note and all(d.endswith(note.group(0)) for d in details):  # say the recording once
        details = [d[: -len(note.group(0))] for d in details] + [note.group(0).strip(" []")]
    return CheckResult(host, column, status, detail="; ".join(details))


def _fix_for(verify_fixes: list[str], deploy_fix: str) -> str:
    """The deploy command, unless the verification points at the driver or the hardware,
    which no re-deploy changes (then its own advice)."""
    outside = ("driver", "nvidia-smi", "GPU's health", "CUDA_VISIBLE_DEVICES", "reboot")
    others = [f for f in verify_fixes if any(word in f for word in outside)]
    if others:
        return "; ".join(dict.fromkeys(others))
    return deploy_fix


def _config_check(host: str, snapshot: Snapshot, settings: Settings, fix: str) -> CheckResult:
    document = snapshot.plan or {}
    problems = []
    condarc = document.get("condarc")
    if isinstance(condarc, Mapping) and condarc.get("sha256"):
        if snapshot.condarc_sha256 is None:
            problems.append(f"{condarc.get('path')} is missing")
        elif snapshot.condarc_sha256 != condarc["sha256"]:
            problems.append(f"{condarc.get('path')} was changed since the deploy")
    pip_conf = document.get("pip_conf")
    if isinstance(pip_conf, Mapping) and pip_conf.get("index_url"):
        # plan.json records the URL masked; the live pip.conf has it in clear: mask both
        seen = pip_index_url(snapshot.pip_conf)
        seen_masked = redact(seen) if seen else None
        expected = redact(str(pip_conf["index_url"]))
        if snapshot.pip_conf is None:
            problems.append(f"{pip_conf.get('path')} is missing")
        elif seen_masked != expected:
            problems.append(f"{pip_conf.get('path')} points pip at {seen_masked or 'no index'}, "
                            f"not {expected}")
    if problems:
        return CheckResult(host, "config", "fail", "; ".join(problems), fix)
    pip_file = "pip.ini" if settings.os == "windows" else "pip.conf"
    return CheckResult(host, "config", "pass", detail=f".condarc and {pip_file} as deployed")


def pip_index_url(text: str | None) -> str | None:
    """``[global] index-url`` of a pip.conf text (None when absent or unreadable).

    >>> pip_index_url("[global]\\nindex-url = https://mirror/simple\\n")
    'https://mirror/simple'
    """
    if not text:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser.get("global", "index-url", fallback=None)


# --- versions -----------------------------------------------------------------------------------


def versions(snapshot: Snapshot) -> HostVersions:
    """The version facts of one host, for ``inventory-report`` and the report's versions table."""
    gpu = snapshot.gpu
    verify = snapshot.verify or {}
    torch = verify.get("torch") or {}
    python = (verify.get("python") or {}).get("version")
    torch_version = torch.get("version") if torch.get("imported") else None
    variant = None
    if torch_version:
        label = torch_version.split("+", 1)[1] if "+" in torch_version else None
        built_for = torch.get("cuda")
        variant = label or (f"CUDA {built_for}" if built_for else "cpu")
    return HostVersions(
        os=snapshot.system.os,
        gpus=tuple(g.name or "?" for g in gpu.gpus),
        compute_capabilities=tuple(g.compute_capability or "?" for g in gpu.gpus),
        driver_version=gpu.driver_version,
        cuda_version=gpu.cuda_version,
        conda_version=snapshot.conda.version if snapshot.conda else None,
        python_version=python,
        torch_version=torch_version,
        torch_variant=variant,
        simulated=snapshot.simulated,
        replayed=replayed_from(verify),
    )


def _describe_system(snapshot: Snapshot) -> str:
    system = snapshot.system
    text = f"{system.os} {system.arch or ''}".strip()
    return f"{text} (simulated lab host)" if snapshot.simulated else text
