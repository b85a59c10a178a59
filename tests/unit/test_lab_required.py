"""CI cannot go green by skipping the lab: where the lab is required, a missing one fails."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _project_conftest():  # tests/conftest.py by path: tests/infra has a conftest.py of its own
    spec = importlib.util.spec_from_file_location("project_conftest",
                                                  ROOT / "tests" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab_required = _project_conftest().lab_required


@pytest.mark.parametrize(("environ", "required"), [
    ({}, False), ({"CI": "true"}, True), ({"CI": "false"}, False),
    ({"LABTORCH_REQUIRE_LAB": "1"}, True), ({"LABTORCH_REQUIRE_LAB": "0"}, False)])
def test_the_lab_is_required_in_ci_or_when_asked(environ, required):
    assert lab_required(environ) is required


def test_a_required_lab_that_cannot_start_fails_the_test_instead_of_skipping(tmp_path):
    """Runs pytest on a lab test with root checks failing (sshd path patched away)."""
    test = tmp_path / "test_needs_lab.py"
    test.write_text(textwrap.dedent("""
        def test_uses_the_lab(lab):
            assert lab
    """))
    shim = tmp_path / "conftest.py"
    shim.write_text(textwrap.dedent(f"""
        import importlib.util
        from labtorch.lab import hosts
        hosts.SSHD = "/nonexistent/sshd"
        spec = importlib.util.spec_from_file_location("project_conftest",
                                                      {str(ROOT / "tests" / "conftest.py")!r})
        project = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(project)
        lab, lab_is_required = project.lab, project.lab_is_required
    """))
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
            "--rootdir", str(tmp_path), str(test)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    skipped = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path, env=env)
    required = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path,
                              env={**env, "LABTORCH_REQUIRE_LAB": "1"})
    assert "1 skipped" in skipped.stdout, skipped.stdout + skipped.stderr
    assert required.returncode == 1, required.stdout + required.stderr
    assert "simulated lab required (CI or LABTORCH_REQUIRE_LAB) but unavailable" in required.stdout
