"""The final state of every provisioned host, checked on the host itself with testinfra.

Each test reads what the host should hold from the ``plan.json`` the deploy left there (the
``expected`` fixture, see conftest.py) and asserts what a user of the lab PC would rely on:
conda at the planned prefix, the channel and pip configuration, the env's Python, the torch
build, the Jupyter kernel, and a passing (or, on the simulated lab, "simulated") verification
report made against the current plan.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import yaml

from labtorch.verify_report import (
    check_torch_variant,
    check_torch_version,
    judge,
    plan_from_dict,
)

LAB_MARKER = "/etc/labtorch-lab.json"
TORCH_PROBE = ("import json, torch; print(json.dumps({'imported': True, 'version': "
               "torch.__version__, 'cuda': torch.version.cuda}))")


def run_python(host: Any, python: str, code: str) -> Any:
    """Run ``code`` with ``python`` on the host and return its JSON output."""
    return json.loads(host.check_output(f"{shlex.quote(python)} -c {shlex.quote(code)} "
                                        "2>/dev/null"))


def simulated(host: Any) -> bool:
    return host.file(LAB_MARKER).exists


def test_plan_record_is_present_and_complete(host, expected):
    assert expected.get("schema") == "labtorch-plan/1", expected["_path"]
    plan = plan_from_dict(expected["plan"])
    assert plan.torch and plan.variant and plan.python


def test_conda_is_installed_at_the_planned_prefix(host, expected):
    prefix = expected["conda"]["prefix"]
    conda = host.file(f"{prefix}/bin/conda")
    assert conda.exists, f"no conda at {prefix}"
    assert conda.mode & 0o111, f"{prefix}/bin/conda is not executable"
    assert host.file(f"{prefix}/conda-meta/history").exists
    assert host.file(f"{prefix}/.labtorch/receipt.json").exists


def test_condarc_holds_the_planned_channels(host, expected):
    condarc = expected.get("condarc")
    if condarc is None:
        pytest.skip("channels are passed per command (labtorch_condarc_mode = per-command)")
    file = host.file(condarc["path"])
    assert file.exists, f"{condarc['path']} is missing"
    assert file.sha256sum == condarc["sha256"], f"{condarc['path']} was changed since the deploy"
    channels = yaml.safe_load(file.content_string)["channels"]
    assert channels[: len(condarc["channels"])] == condarc["channels"]


def test_pip_config_points_at_the_planned_index(host, expected):
    pip_conf = expected["pip_conf"]
    file = host.file(pip_conf["path"])
    assert file.exists, f"{pip_conf['path']} is missing"
    assert f"index-url = {pip_conf['index_url']}" in file.content_string.splitlines()


def test_env_has_the_planned_python(host, expected):
    python = expected["env"]["python"]
    assert host.file(python).exists, f"the env's Python {python} is missing"
    version = run_python(host, python, "import json, sys; print(json.dumps(sys.version_info[:2]))")
    assert ".".join(map(str, version)) == expected["plan"]["python"]


def test_torch_has_the_planned_version_and_variant(host, expected):
    plan = plan_from_dict(expected["plan"])
    torch = run_python(host, expected["env"]["python"], TORCH_PROBE)
    version = check_torch_version(torch, plan)
    assert version.status == "pass", version.line()
    variant = check_torch_variant(torch, plan)
    assert variant.status == "pass", variant.line()


def test_kernel_spec_starts_the_envs_python(host, expected):
    spec = host.file(f"{expected['jupyter']['spec_dir']}/kernel.json")
    assert spec.exists, f"no kernel spec at {spec.path}"
    argv = json.loads(spec.content_string)["argv"]
    assert argv[0] == expected["env"]["python"]
    assert "ipykernel_launcher" in argv and argv[argv.index("ipykernel_launcher") - 1] == "-m"


def test_verification_report_is_present_and_passing(host, expected):
    report = host.file(expected["report"])
    assert report.exists, f"no verification report at {expected['report']}"
    verdict = judge(json.loads(report.content_string), plan_from_dict(expected["plan"]),
                    host=host.backend.get_hostname(), plan_sha256=expected["_sha256"])
    assert verdict.ok, verdict.summary()
    # a lab GPU host's device answers are replayed from a recorded GPU: its GPU checks say
    # "simulated"; a CPU plan has none
    gpu_plan = expected["plan"]["variant"] != "cpu"
    wanted = "simulated" if simulated(host) and gpu_plan else "pass"
    assert verdict.status == wanted, verdict.summary()
    if wanted == "simulated":
        replayed = json.loads(report.content_string).get("device") or {}
        assert replayed.get("source") == "standin", replayed
