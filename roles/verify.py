"""The ``verify`` role: prove that the env's PyTorch works on this host, in plain words.

Runs last. It leaves two files labtorch owns under ``<conda prefix>/.labtorch/``:

* ``plan.json``: what this host was provisioned to (the ``HostPlan`` plus where things live),
  the expected state that the testinfra suite (tests/infra) and the compliance check read;
* ``labtorch_verify.py``: the verification script (roles/files/labtorch_verify.py),

then runs the script with the env's own Python. The script writes ``verify.json`` beside the
plan; :func:`labtorch.verify_report.judge` turns it into pass / fail / simulated / skipped per
check. A failing host fails this operation with every cause and fix on its own line; the other
hosts go on.

Verification only reads, so it is never a *change*: it runs at execution time inside an
operation that yields no command when the host passes (pyinfra prints "No changes"; a second
deploy run still reports zero changes), and one failing command when it does not.

``plan.json`` shape (``schema`` "labtorch-plan/1")::

    {"schema": "labtorch-plan/1", "note": "managed by labtorch ...", "host": "pc01",
     "plan": HostPlan.to_dict(),
     "conda": {"prefix": "/opt/miniforge3", "flavor": "miniforge"},
     "condarc": {"path": "/opt/miniforge3/.condarc", "sha256": "...",
                 "channels": ["conda-forge"]} | null,
     "env": {"name": "pytorch", "prefix": ".../envs/pytorch", "python": ".../bin/python"},
     "pip_conf": {"path": ".../envs/pytorch/pip.conf", "index_url": "https://pypi.org/simple"},
     "jupyter": {"kernel_name": "pytorch", "spec_dir": "/usr/local/share/jupyter/kernels/pytorch",
                 "kernel_dirs": ["/usr/local/share/jupyter/kernels"]},
     "report": "/opt/miniforge3/.labtorch/verify.json"}

Settings (besides the shared ones in :data:`labtorch.roles.settings.DEFAULTS`):
``labtorch_verify_timeout`` (300 s for the whole script), ``labtorch_verify_kernel_timeout``
(60 s for the Jupyter kernel to start and import torch).
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, deploy, operation

from labtorch.facts.verify import VerificationRun
from labtorch.model import HostPlan
from labtorch.roles import MANAGED_MARK, host_os, host_settings, managed_file
from labtorch.roles.settings import DEFAULTS, Settings, whole_number
from labtorch.verify_report import PLAN_SCHEMA, Verdict, judge

VERIFY_DEFAULTS: dict[str, Any] = {
    "labtorch_verify_timeout": 300,
    "labtorch_verify_kernel_timeout": 60,
}

SCRIPT_NAME = "labtorch_verify.py"
PLAN_NAME = "plan.json"
REPORT_NAME = "verify.json"


def script_text() -> str:
    """The verification script as shipped in the package (roles/files/labtorch_verify.py)."""
    return resources.files("labtorch.roles").joinpath("files", SCRIPT_NAME).read_text("utf-8")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_document(
    plan: HostPlan, settings: Settings, *, condarc_written: bool | None = None
) -> dict[str, Any]:
    """The ``plan.json`` a host keeps: the plan and where each provisioned thing lives.

    Expected file contents are rendered by the channels role's own functions, so the record
    and the deploy cannot disagree. ``condarc_written``: whether the channels role wrote
    ``<prefix>/.condarc`` on this host (:func:`~labtorch.roles.channels.host_uses_condarc`);
    None judges from the settings alone.
    """
    from labtorch.roles.channels import pypi_index_url, render_condarc, uses_condarc

    condarc = None
    if uses_condarc(settings) if condarc_written is None else condarc_written:
        condarc = {
            "path": f"{settings.conda_prefix}/.condarc",
            "sha256": _sha256(render_condarc(settings)),
            "channels": list(settings.conda_channels),
        }
    kernels = settings.kernel_dir.rsplit("/", 1)[0]
    return {
        "schema": PLAN_SCHEMA,
        "note": f"{MANAGED_MARK}: the plan this host was provisioned to; read by verification, "
        "tests/infra and labtorch check",
        "host": settings.host,
        "plan": plan.to_dict(),
        "conda": {"prefix": settings.conda_prefix, "flavor": settings.conda_flavor},
        "condarc": condarc,
        "env": {
            "name": settings.env_name,
            "prefix": settings.env_prefix,
            "python": settings.env_python,
        },
        "pip_conf": {
            "path": f"{settings.env_prefix}/pip.conf",
            "index_url": pypi_index_url(settings),
        },
        "jupyter": {
            "kernel_name": settings.kernel_name,
            "spec_dir": settings.kernel_dir,
            "kernel_dirs": [kernels],
        },
        "report": f"{settings.receipt_dir}/{REPORT_NAME}",
    }


_URL_PASSWORD = re.compile(r"(://[^/:@\s\"]+):[^@/\s\"]+@")


def redact(text: str) -> str:
    """Hide passwords in URLs (``https://user:pw@mirror/`` → ``https://user:***@mirror/``).

    >>> redact('"index_url": "https://lab:s3cret@10.0.0.5/simple"')
    '"index_url": "https://lab:***@10.0.0.5/simple"'
    """
    return _URL_PASSWORD.sub(r"\1:***@", text)


def plan_json(plan: HostPlan, settings: Settings, *, condarc_written: bool | None = None) -> str:
    """``plan.json``'s exact text (stable key order, so an unchanged plan is no change).

    Index URLs keep no password: the record is readable by every user of the PC.
    """
    document = plan_document(plan, settings, condarc_written=condarc_written)
    return redact(json.dumps(document, indent=2, sort_keys=True)) + "\n"


def timeout_setting(key: str) -> int:
    """A verification timeout of the host being deployed, in whole seconds (at least 1).

    Raises ``LabtorchError`` naming the host and the setting when it is not a whole number.
    """
    return whole_number(host.data.get(key), key, host.name, minimum=1)


@deploy("labtorch: verify", data_defaults={**DEFAULTS, **VERIFY_DEFAULTS})
def verify(plan: HostPlan) -> None:
    """Record ``plan`` on the host, upload the verification script and run it.

    + plan: the host's :class:`~labtorch.model.HostPlan` (what the other roles installed)
    """
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.verify(plan, host_settings())
    else:
        _linux(plan, host_settings())


def _linux(plan: HostPlan, settings: Settings) -> None:
    from labtorch.roles.channels import host_uses_condarc

    directory = settings.receipt_dir
    condarc = host_uses_condarc(settings)
    managed_file(
        name=f"host plan in {directory}/{PLAN_NAME}",
        path=f"{directory}/{PLAN_NAME}",
        content=plan_json(plan, settings, condarc_written=condarc),
    )
    managed_file(
        name=f"verification script in {directory}/{SCRIPT_NAME}",
        path=f"{directory}/{SCRIPT_NAME}",
        content=script_text(),
    )
    verification(
        name="verify PyTorch in the env",
        python=settings.env_python,
        script=f"{directory}/{SCRIPT_NAME}",
        plan_path=f"{directory}/{PLAN_NAME}",
        plan=plan,
        kernel_timeout=timeout_setting("labtorch_verify_kernel_timeout"),
        _timeout=timeout_setting("labtorch_verify_timeout"),
    )


@operation()
def verification(
    python: str, script: str, plan_path: str, plan: HostPlan, kernel_timeout: int = 60
):
    """Run the verification script at execution time and judge its report.

    + python: the env's interpreter
    + script: the uploaded ``labtorch_verify.py``
    + plan_path: the ``plan.json`` the report is made against
    + plan: the same plan, to judge with
    + kernel_timeout: seconds for the Jupyter kernel to start and import torch

    Yields nothing when the host passes (or is a simulated lab host whose only non-pass checks
    are "simulated"), so verification is never counted as a change; yields one failing command
    naming every cause and fix otherwise. During ``--dry`` / change detection nothing runs.
    """
    if not host.state.is_executing:
        host.noop("verification runs at execution time, after the other roles")
        return
    report = host.get_fact(
        VerificationRun, python=python, script=script, plan=plan_path, kernel_timeout=kernel_timeout
    )
    yield from verdict_commands(report, plan, python)


def verdict_commands(report: dict[str, Any] | None, plan: HostPlan, python: str):
    """Judge this host's verification report (both OSes): log a passing or simulated verdict,
    or yield the command that fails this host alone with each cause and its fix.

    ``report`` is None when the env's Python printed nothing.
    """
    if report is None:
        report = {
            "schema": "labtorch-verify/1",
            "error": f"the env's Python {python} is missing or printed nothing",
        }
    verdict = judge(report, plan, host=host.name)
    if verdict.ok:
        logger.info(f"{host.print_prefix}{verdict.summary()}")
        for note in verdict.notes:
            logger.warning(f"{host.print_prefix}note: {note}")
        return
    yield FunctionCommand(_fail_with, (verdict,), {})


def _fail_with(state: Any, host: Any, verdict: Verdict) -> bool:
    """Print each failed check with its fix, then fail this host's operation (only this host).

    pyinfra passes ``state`` and ``host`` by these parameter names; returning False fails it.
    """
    logger.error(f"{host.print_prefix}verification failed:")
    for check in verdict.failures:
        logger.error(f"{host.print_prefix}  {check.title}: {check.detail}")
        if check.fix:
            logger.error(f"{host.print_prefix}    fix: {check.fix}")
    return False
