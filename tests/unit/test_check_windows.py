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


def test_a_pc_whose_check_script_printed_no_json_names_what_it_printed():
    settings, where, _, _ = deployed(gpu_reply_from_capture())
    text = gather.join_parts({"windows-prefix": where.prefix,
                              "windows-system": json.dumps(SYSTEM),
                              "windows-gpus": json.dumps(gpu_reply_from_capture()),
                              "windows-conda": json.dumps(conda_reply(where.prefix,
                                                                      provisioned=True)),
                              "windows-check": "powershell: The term 'x' is not recognized"})
    results = judged(text, settings)
    said = "powershell: The term 'x' is not recognized"
    assert results["verify"] == ("fail", f"the check script gave no result ({said})")
    assert results["plan"] == ("fail", "could not read C:\\labtorch\\miniforge3\\.labtorch\\"
                               f"plan.json: the check script gave no result ({said})")
    assert results["conda"][0] == "pass"


# --- the whole check over Windows PCs: run_check with each PC's answers replayed ---------------


class ReplayedPCs:
    """Host.connect and Host.run_shell_command replaced for ``@winssh`` hosts: each script
    (named by its ``$LabtorchScript`` line) gets its answer from ``answers[pc][script]``, an
    ``(ok, stdout, stderr)`` triple or an exception to raise. No SSH: the lab test
    (tests/lab/test_mixed_inventory.py) runs the same check over real SSH."""

    def __init__(self, answers: dict[str, dict[str, object]]) -> None:
        self.answers = answers
        self.sent: dict[str, list[str]] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from pyinfra.api.host import Host
        from pyinfra.connectors.util import CommandOutput, OutputLine

        replay = self

        def connect(host, *args, **kwargs):
            return None

        def run_shell_command(host, command, **kwargs):
            text = command.get_raw_value()
            name = text.split("'")[1]
            pc = host.name.split("/")[-1]
            replay.sent.setdefault(pc, []).append(name)
            answer = replay.answers[pc].get(name, (False, "", f"no reply for {name}"))
            if isinstance(answer, BaseException):
                raise answer
            ok, out, err = answer
            return ok, CommandOutput([*(OutputLine("stdout", x) for x in out.splitlines()),
                                      *(OutputLine("stderr", x) for x in err.splitlines())])

        monkeypatch.setattr(Host, "connect", connect)
        monkeypatch.setattr(Host, "run_shell_command", run_shell_command)


def room(tmp_path, pcs: dict[str, dict]) -> object:
    inventory = tmp_path / "c310.py"
    inventory.write_text("windows = [\n" + "".join(
        f"    ('@winssh/{name}', {data!r}),\n" for name, data in pcs.items()) + "]\n")
    return inventory


def provisioned_answers() -> dict[str, object]:
    _, where, plan, files = deployed(gpu_reply_from_capture())
    report = gpu_report(plan, where.env_python, device="NVIDIA GeForce RTX 2080 SUPER",
                        capability=(7, 5), driver="591.86")
    return {
        "system": (True, json.dumps(SYSTEM), ""),
        "gpus": (True, json.dumps(gpu_reply_from_capture()), ""),
        "conda": (True, json.dumps(conda_reply(where.prefix, provisioned=True)), ""),
        "check": (True, json.dumps(check_reply(files["plan"], condarc=files["condarc"],
                                               pip_ini=files["pip_ini"], report=report)), ""),
    }


def cells(run_result, pc: str) -> dict[str, tuple[str, str]]:
    report = next(h for h in run_result.hosts if h.host == f"@winssh/{pc}")
    return {r.check: (r.status, r.cause or r.detail) for r in report.results}


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_a_pc_with_data_that_fits_no_pc_fails_alone_before_connecting_and_quietly(
        tmp_path, monkeypatch, capsys):
    from labtorch.check.run import run_check

    replay = ReplayedPCs({"pc-w01": provisioned_answers(), "pc-w02": provisioned_answers()})
    replay.install(monkeypatch)
    checked = run_check(room(tmp_path, {"pc-w01": {},
                                        "pc-w02": {"labtorch_conda_prefix": "/opt/x"}}))
    assert cells(checked, "pc-w01")["plan"][0] == "pass", cells(checked, "pc-w01")
    status, cause = cells(checked, "pc-w02")["reach"]
    assert status == "unreachable"
    assert cause.startswith("its inventory data is wrong: labtorch_conda_prefix='/opt/x'")
    assert "pc-w02" not in replay.sent  # nothing was sent to it
    assert replay.sent["pc-w01"] == ["system", "gpus", "conda", "check"]
    assert capsys.readouterr().err == ""  # no greenlet traceback for the admin to misread


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_a_check_script_that_times_out_is_not_reported_as_never_provisioned(
        tmp_path, monkeypatch):
    from labtorch.check.run import run_check

    slow = {**provisioned_answers(), "check": TimeoutError()}
    ReplayedPCs({"pc-w01": slow}).install(monkeypatch)
    checked = run_check(room(tmp_path, {"pc-w01": {"labtorch_verify_timeout": 420}}))
    found = cells(checked, "pc-w01")
    assert found["reach"][0] == "pass" and found["conda"][0] == "pass"
    assert found["plan"] == ("fail", "could not read C:\\labtorch\\miniforge3\\.labtorch\\"
                             "plan.json: the check script gave no result (no answer within "
                             "420 s)")
    assert found["verify"] == ("fail", "the check script gave no result (no answer within 420 s)")


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_a_check_script_that_printed_an_error_names_it(tmp_path, monkeypatch):
    from labtorch.check.run import run_check

    broken = {**provisioned_answers(),
              "check": (False, "", "Cannot invoke method. Method invocation is supported only "
                                   "on core types in this language mode.")}
    ReplayedPCs({"pc-w01": broken}).install(monkeypatch)
    found = cells(run_check(room(tmp_path, {"pc-w01": {}})), "pc-w01")
    assert found["verify"][0] == "fail"
    assert "supported only on core types in this language mode" in found["verify"][1]


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_a_gpu_script_without_answer_fails_the_pc_instead_of_calling_it_drifted(
        tmp_path, monkeypatch):
    from labtorch.check.run import run_check

    ReplayedPCs({"pc-w01": {**provisioned_answers(), "gpus": (False, "", "")}}
                ).install(monkeypatch)
    found = cells(run_check(room(tmp_path, {"pc-w01": {}})), "pc-w01")
    assert found == {"reach": ("fail", "could not read this host's check data: the GPU script "
                                       "gave no answer: it failed and printed nothing")}


@pytest.mark.one_process  # runs run_check, which loads pyinfra_cli
def test_a_pc_whose_system_script_says_nothing_is_unreachable_with_powershells_words(
        tmp_path, monkeypatch):
    from labtorch.check.run import run_check

    ReplayedPCs({"pc-w01": {"system": (False, "", "'powershell' is not recognized as an "
                                                  "internal or external command,")}}
                ).install(monkeypatch)
    found = cells(run_check(room(tmp_path, {"pc-w01": {}})), "pc-w01")
    assert found == {"reach": ("unreachable", "the system script gave no answer: 'powershell' "
                                              "is not recognized as an internal or external "
                                              "command,")}
