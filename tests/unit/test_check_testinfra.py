"""Folding the testinfra suite's JUnit XML into a check run (`labtorch check --testinfra`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labtorch.check import testinfra
from labtorch.check.model import CheckResult, CheckRun, HostReport

# A stand-in for tests/infra with testinfra's host ids, so pytest writes a real JUnit file.
SUITE = '''
import pytest

HOSTS = ["ssh://pc01", "ssh://pc02"]

@pytest.fixture(params=HOSTS, ids=HOSTS)
def host(request):
    return request.param

def test_torch_has_the_planned_version_and_variant(host):
    assert host != "ssh://pc02", "torch 2.13.0+cpu is installed, the plan wants 2.13.0+cu132"

def test_kernel_spec_starts_the_envs_python(host):
    pass

def test_condarc_holds_the_planned_channels(host):
    pytest.skip("per-command channels")
'''


def junit_from_pytest(tmp_path: Path) -> str:
    (tmp_path / "test_suite.py").write_text(SUITE)
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "no:xdist", f"--junitxml={junit}", "test_suite.py"],
                   cwd=tmp_path, capture_output=True, check=False, timeout=120)
    return junit.read_text()


def test_parse_junit_gives_each_hosts_outcome_per_test(tmp_path: Path) -> None:
    results = testinfra.parse_junit(junit_from_pytest(tmp_path))
    outcome = {(r.host, r.test): r.status for r in results}
    assert outcome == {
        ("pc01", "test_torch_has_the_planned_version_and_variant"): "pass",
        ("pc02", "test_torch_has_the_planned_version_and_variant"): "fail",
        ("pc01", "test_kernel_spec_starts_the_envs_python"): "pass",
        ("pc02", "test_kernel_spec_starts_the_envs_python"): "pass",
        ("pc01", "test_condarc_holds_the_planned_channels"): "skipped",
        ("pc02", "test_condarc_holds_the_planned_channels"): "skipped",
    }
    failure = next(r for r in results if r.status == "fail")
    assert "torch 2.13.0+cpu is installed" in failure.message


def test_merge_adds_a_testinfra_column_and_leaves_unreachable_hosts_alone(tmp_path: Path) -> None:
    results = testinfra.parse_junit(junit_from_pytest(tmp_path))
    run = CheckRun("2026-11-28T06:00:00Z", "room.py", (
        HostReport("pc01", "r", (CheckResult("pc01", "reach", "pass"),)),
        HostReport("pc02", "r", (CheckResult("pc02", "reach", "pass"),)),
        HostReport("pc03", "r", (CheckResult("pc03", "reach", "unreachable", "down"),)),
    ))
    merged = testinfra.merge(run, results, {"pc02": "pyinfra room.py deploy.py --limit pc02 -y"})
    cells = {h.host: {r.check: r for r in h.results} for h in merged.hosts}
    assert cells["pc01"]["testinfra"].status == "pass"
    assert cells["pc02"]["testinfra"].status == "fail"
    assert "test_torch_has_the_planned_version_and_variant" in cells["pc02"]["testinfra"].cause
    assert cells["pc02"]["testinfra"].fix.endswith("--limit pc02 -y")
    assert "testinfra" not in cells["pc03"]
    assert merged.exit_code == 1


def test_run_suite_without_xdist_runs_every_host_in_one_process(tmp_path: Path,
                                                                monkeypatch) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "def pytest_addoption(parser):\n    parser.addoption('--inventory')\n")
    (suite / "test_suite.py").write_text(SUITE)
    monkeypatch.setattr(testinfra, "xdist_available", lambda: False)
    results = testinfra.run_suite(tmp_path / "room.py", hosts=2, suite=suite)
    assert {(r.host, r.status) for r in results
            if r.test == "test_torch_has_the_planned_version_and_variant"} == {
        ("pc01", "pass"), ("pc02", "fail")}


def test_the_suite_ships_in_the_package() -> None:
    path = testinfra.suite_path()
    assert path.parts[-3:] == ("labtorch", "check", "suite")
    assert (path / "test_final_state.py").is_file()


def test_a_host_whose_every_test_was_skipped_fails_the_testinfra_column(tmp_path: Path) -> None:
    results = [testinfra.SuiteResult("pc01", "test_a", "skipped", "Skipped: no plan.json"),
               testinfra.SuiteResult("pc01", "test_b", "skipped", "Skipped: no plan.json"),
               testinfra.SuiteResult("pc02", "test_a", "pass"),
               testinfra.SuiteResult("pc02", "test_b", "skipped", "Skipped: per-command")]
    run = CheckRun("2026-11-28T06:00:00Z", "room.py", (
        HostReport("pc01", "r", (CheckResult("pc01", "reach", "pass"),)),
        HostReport("pc02", "r", (CheckResult("pc02", "reach", "pass"),)),
    ))
    cells = {h.host: {r.check: r for r in h.results}
             for h in testinfra.merge(run, results, {}).hosts}
    skipped = cells["pc01"]["testinfra"]
    assert skipped.status == "fail"
    assert skipped.cause == ("all 2 testinfra tests were skipped, nothing was asserted "
                             "(Skipped: no plan.json)")
    assert cells["pc02"]["testinfra"].status == "pass"
    assert cells["pc02"]["testinfra"].detail == "1 of 2 tests passed, the rest skipped"
