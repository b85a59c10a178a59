"""Optionally run the testinfra final-state suite (labtorch/check/suite) as part of a check.

``labtorch check --testinfra`` runs ``pytest <suite> --inventory INVENTORY [-n N]`` (every host
in parallel, over OpenSSH, when pytest-xdist is installed; one host after the other otherwise)
and folds its JUnit XML into the check as one more column,
``testinfra``: per host, the worst outcome of its tests, with each failing test's message as the
cause. A host on which every test was skipped fails the column: nothing was asserted there, and
a skipped assertion is not a pass. The one-command gather already proves the same facts, so
this is an independent second opinion, at testinfra's cost of one round trip per assertion
(the project's lab notes measured it); it is off by default.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import labtorch
from labtorch.check.model import CheckResult, CheckRun
from labtorch.errors import LabtorchError

_HOST_ID = re.compile(r"\[(?:[a-z]+://)?([^\]\s]+)\]$")


@dataclass(frozen=True)
class SuiteResult:
    """One test of the suite on one host: ``status`` is pass, fail or skipped."""

    host: str
    test: str
    status: str
    message: str = ""


def suite_path() -> Path:
    """The suite shipped in the package (``labtorch/check/suite``)."""
    path = Path(labtorch.__file__).resolve().parent / "check" / "suite"
    if not (path / "conftest.py").is_file():
        raise LabtorchError(f"the testinfra suite is not at {path}",
                            fix="reinstall labtorch (pip install --force-reinstall labtorch)")
    return path


def xdist_available() -> bool:
    """Whether pytest-xdist is installed (``-n`` exists only then)."""
    return importlib.util.find_spec("xdist") is not None


def run_suite(inventory: Path, hosts: int, suite: Path | None = None,
              timeout: float = 3600) -> list[SuiteResult]:
    """Run the suite over every host of ``inventory`` (``hosts`` xdist workers at most 8)."""
    suite = suite or suite_path()
    with tempfile.TemporaryDirectory(prefix="labtorch-testinfra-") as tmp:
        junit = Path(tmp) / "junit.xml"
        argv = [sys.executable, "-m", "pytest", str(suite), "--inventory",
                str(inventory.resolve()), "-q", "-p", "no:cacheprovider",
                f"--junitxml={junit}"]
        workers = max(1, min(hosts, 8))
        if workers > 1 and xdist_available():
            argv += ["-n", str(workers)]
        done = subprocess.run(argv, cwd=tmp, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if not junit.is_file():
            raise LabtorchError(
                f"the testinfra suite did not run (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-400:]}",
                fix=f"run it by hand: pytest {suite} --inventory {inventory}")
        return parse_junit(junit.read_text(encoding="utf-8"))


def parse_junit(text: str) -> list[SuiteResult]:
    """Per host and test, from pytest's JUnit XML (test ids end in ``[ssh://HOST]``)."""
    results = []
    for case in ET.fromstring(text).iter("testcase"):
        name = case.get("name") or ""
        match = _HOST_ID.search(name)
        if not match:
            continue
        test = name[: match.start()]
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            results.append(SuiteResult(match.group(1), test, "fail",
                                       message[0] if message else "failed"))
        elif (skipped := case.find("skipped")) is not None:
            why = (skipped.get("message") or skipped.text or "").strip().splitlines()
            results.append(SuiteResult(match.group(1), test, "skipped", why[0] if why else ""))
        else:
            results.append(SuiteResult(match.group(1), test, "pass"))
    return results


def merge(run: CheckRun, results: list[SuiteResult], fix_for: dict[str, str]) -> CheckRun:
    """The run with a ``testinfra`` cell added to every checked host that the suite tested."""
    hosts = []
    for report in run.hosts:
        mine = [r for r in results if r.host == report.host]
        if report.status == "unreachable" or not mine:
            hosts.append(report)
            continue
        failed = [r for r in mine if r.status == "fail"]
        if failed:
            cell = CheckResult(report.host, "testinfra", "fail",
                               "; ".join(f"{r.test}: {r.message}" for r in failed),
                               fix_for.get(report.host, ""))
        elif not any(r.status == "pass" for r in mine):
            why = next((r.message for r in mine if r.message), "no reason given")
            cell = CheckResult(report.host, "testinfra", "fail",
                               f"all {len(mine)} testinfra tests were skipped, nothing was "
                               f"asserted ({why})",
                               "run the suite by hand to see why: pytest tests/infra "
                               f"--hosts {report.host} -rs")
        else:
            passed = sum(r.status == "pass" for r in mine)
            cell = CheckResult(report.host, "testinfra", "pass",
                               detail=f"{passed} of {len(mine)} tests passed, the rest skipped")
        hosts.append(replace(report, results=(*report.results, cell)))
    return replace(run, hosts=tuple(hosts))
