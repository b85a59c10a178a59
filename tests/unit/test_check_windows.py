"""``labtorch check`` on a Windows PC: the scripts it sends, and judging what they print.

Proven here: the check's PowerShell scripts take every path from the PC's layout (the same
:class:`~labtorch.windows.layout.Layout` the deploy writes to), parse with a real PowerShell
grammar and fit cmd.exe's command line; a saved Windows answer (system JSON, a real nvidia-smi
capture, the conda listing, ``check.ps1``'s JSON) parses into the same ``Snapshot`` a Linux host
gives, and the judge names Windows paths in its causes. The lab test
(tests/lab/test_mixed_inventory.py) runs the same check over real SSH against stand-in PCs.
Not proven: how Windows PowerShell runs ``check.ps1`` (no Windows machine here).
"""

from __future__ import annotations

import json

import pytest
from windows_grammar import problems
from windows_replies import (
    NO_DRIVER_GPUS,
    SYSTEM,
    check_reply,
    conda_reply,
    gpu_reply_from_capture,
    gpu_report,
)

from labtorch.check import evaluate, gather
from labtorch.planner import plan_host
from labtorch.roles.channels import render_pip_conf
from labtorch.windows.facts import parse_gpus, parse_system
from labtorch.windows.layout import Layout, windows_settings
from labtorch.windows.powershell import MAX_COMMAND_CHARS, decode, encode
from labtorch.windows.roles import plan_json, render_condarc

FIX = "pyinfra inventory/room.py deploy.py --limit @winssh/pc-w01 -y"
SYSTEM_INFO = parse_system(json.dumps(SYSTEM))


def pc(data: dict | None = None):
    settings = windows_settings(data or {}, SYSTEM_INFO, host="pc-w01")
    return settings, Layout.of(settings, SYSTEM_INFO)


def deployed(gpus: dict, data: dict | None = None):
    """What labtorch's deploy leaves on a PC with ``gpus``: settings, paths, plan, files."""
    settings, where = pc(data)
    plan = plan_host(parse_gpus(json.dumps(gpus)), settings.policy, os="windows", host="pc-w01")
    files = {
        "plan": plan_json(plan, settings, condarc_written=True, where=where),
        "condarc": render_condarc(settings),
        "pip_ini": render_pip_conf(settings, plan.index_url),
    }
    return settings, where, plan, files


def answer(where: Layout, gpus: dict, check: dict, *, provisioned: bool = True) -> str:
    """The gathered text of a Windows PC, as ``labtorch.check.run.gather_windows`` joins it."""
    return gather.join_parts({
        "windows-prefix": where.prefix,
        "windows-system": json.dumps(SYSTEM),
        "windows-gpus": json.dumps(gpus),
        "windows-conda": json.dumps(conda_reply(where.prefix, provisioned=provisioned)),
        "windows-check": "banner line a profile printed\n" + json.dumps(check),
    })


def judged(text: str, settings) -> dict[str, tuple[str, str]]:
    snapshot = gather.parse_snapshot(text)
    report = evaluate.evaluate_host("pc-w01", "room", snapshot, settings, fix=FIX)
    return {r.check: (r.status, r.cause or r.detail) for r in report.results}


def test_check_scripts_use_the_layout_paths_parse_and_fit_cmd_exe():
    _, where = pc({"labtorch_conda_prefix": "D:\\labtorch-room-0417\\miniforge3",
                   "labtorch_env_name": "dl-2026"})
    scripts = gather.windows_scripts(where, kernel_timeout=90)
    assert list(scripts) == ["windows-gpus", "windows-conda", "windows-check"]
    for name, text in scripts.items():
        assert problems(text) == [], name
        command = encode(text)
        assert len(command) <= MAX_COMMAND_CHARS and decode(command) == text
    check = scripts["windows-check"]
    for path in (f"{where.receipt_dir}\\plan.json", where.condarc, where.pip_ini,
                 where.env_python, f"{where.receipt_dir}\\labtorch_verify.py"):
        assert "'" + path.replace("'", "''") + "'" in check
    assert "$KernelTimeout = 90" in check and "--out '-'" in check


def test_a_provisioned_gpu_pc_parses_like_a_linux_host_and_passes():
    settings, where, plan, files = deployed(gpu_reply_from_capture())
    report = gpu_report(plan, where.env_python, device="NVIDIA GeForce RTX 2080 SUPER",
                        capability=(7, 5), driver="591.86")
    text = answer(where, gpu_reply_from_capture(), check_reply(files["plan"], condarc=files[
        "condarc"], pip_ini=files["pip_ini"], report=report))
    snapshot = gather.parse_snapshot(text)
    assert snapshot.system.os == "windows"
    assert snapshot.gpu.driver_version == "591.86"
    assert snapshot.conda is not None and snapshot.conda.complete and snapshot.conda.owned
    assert snapshot.plan is not None and snapshot.verify is not None
    assert plan.variant.startswith("cu")
    results = judged(text, settings)
    assert {status for status, _ in results.values()} == {"pass"}, results
    assert results["config"][1] == ".condarc and pip.ini as deployed"


def test_a_pc_labtorch_never_provisioned_names_the_windows_plan_path():
    settings, where = pc()
    text = answer(where, NO_DRIVER_GPUS, check_reply(), provisioned=False)
    results = judged(text, settings)
    assert results["plan"] == (
        "fail", "labtorch has not provisioned this host: no "
        "C:\\labtorch\\miniforge3\\.labtorch\\plan.json")
    assert results["conda"] == ("fail", "no conda install at C:\\labtorch\\miniforge3")
    assert results["verify"] == (
        "fail", "the env's Python C:\\labtorch\\miniforge3\\envs\\pytorch\\python.exe is missing")


def test_an_older_driver_on_a_windows_pc_is_drift_naming_the_change():
    """Windows Update or a re-image rolled the driver back to R535: the recorded CUDA build no
    longer runs there, so the plan changes."""
    settings, where, plan, files = deployed(gpu_reply_from_capture())
    older = gpu_reply_from_capture()
    older["query"] = older["query"].replace("591.86", "537.58")
    older["table"] = older["table"].replace("591.86", "537.58").replace(
        "CUDA Version: 13.1", "CUDA Version: 12.2")
    report = gpu_report(plan, where.env_python, device="NVIDIA GeForce RTX 2080 SUPER",
                        capability=(7, 5), driver="537.58")
    text = answer(where, older, check_reply(files["plan"], condarc=files["condarc"],
                                            pip_ini=files["pip_ini"], report=report))
    status, cause = judged(text, settings)["plan"]
    assert status == "drift"
    assert "driver 591.86 → 537.58" in cause and f"variant {plan.variant} → cu1" in cause


@pytest.mark.parametrize(("change", "expected"), [
    ({"pip_ini": "[global]\nindex-url = https://mirror.example.edu/pypi/simple\n"},
     "pip.ini points pip at https://mirror.example.edu/pypi/simple"),
    ({"condarc": "channels: [defaults]\n"}, "\\.condarc was changed since the deploy"),
    ({"pip_ini": None}, "pip.ini is missing"),
])
def test_a_changed_or_missing_config_file_on_a_windows_pc_fails_config(change, expected):
    settings, where, plan, files = deployed(gpu_reply_from_capture())
    report = gpu_report(plan, where.env_python, device="NVIDIA GeForce RTX 2080 SUPER",
                        capability=(7, 5), driver="591.86")
    found = {"condarc": files["condarc"], "pip_ini": files["pip_ini"], **change}
    text = answer(where, gpu_reply_from_capture(),
                  check_reply(files["plan"], report=report, **found))
    status, cause = judged(text, settings)["config"]
    assert status == "fail" and expected in cause, cause
    assert where.prefix in cause


def test_a_pc_whose_check_script_printed_nothing_fails_verify_not_passes():
    settings, where, _, _ = deployed(gpu_reply_from_capture())
    text = gather.join_parts({"windows-prefix": where.prefix,
                              "windows-system": json.dumps(SYSTEM),
                              "windows-gpus": json.dumps(gpu_reply_from_capture()),
                              "windows-conda": json.dumps(conda_reply(where.prefix,
                                                                      provisioned=True)),
                              "windows-check": "powershell: The term 'x' is not recognized"})
    results = judged(text, settings)
    assert results["verify"][0] == "fail"
    assert results["plan"][0] == "fail"
