"""PowerShell building blocks and the ``@winssh`` connector, without a Windows machine.

Proven here: quoting keeps any value literal; every script labtorch generates (each body in
labtorch/windows/scripts with realistic worst-case values, and the bootstrap script) parses with
tree-sitter-powershell with zero ERROR/MISSING nodes and fits cmd.exe's command-line limit once
encoded; the connector sends exactly ``powershell -NoProfile -NonInteractive -EncodedCommand
<base64 UTF-16LE of the script>`` unwrapped by any shell, refuses sudo, and uploads to the SFTP
form of Windows paths. Not proven: how Windows PowerShell itself runs them.
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State, StringCommand
from pyinfra.connectors.ssh import SSHConnector
from windows_grammar import problems

from labtorch.windows.connector import WinSSHConnector
from labtorch.windows.powershell import (
    MAX_COMMAND_CHARS,
    POWERSHELL,
    ScriptTooLong,
    body,
    decode,
    encode,
    quote,
    script,
    sftp_path,
)

REPO = Path(__file__).resolve().parents[2]
LONG_PREFIX = "D:\\labtorch-lab-room-0417\\installs\\miniforge3-25.3.0-3"
RECEIPT = json.dumps(
    {"tool": "labtorch", "state": "complete", "flavor": "miniforge", "version": "25.3.0-3",
     "installer": "Miniforge3-25.3.0-3-Windows-x86_64.exe", "sha256": "b" * 64,
     "prefix": LONG_PREFIX, "defaults_tos_accepted": True},
    indent=2,
)
#: install-conda's receipts, as :func:`labtorch.windows.operations.compact_json` writes them.
ONE_LINE_RECEIPT = json.dumps({**json.loads(RECEIPT), "phase": "installer"}, sort_keys=True) + "\n"

#: Worst-case values for every body: long paths, quotes, non-ASCII, many arguments.
SAMPLES: dict[str, dict] = {
    "system": {},
    "gpus": {"Fields": "index,name,memory.total,compute_cap,driver_version",
             "FieldsOld": "index,name,memory.total,driver_version"},
    "conda": {"Prefixes": [LONG_PREFIX, "C:\\Users\\O'Brien\\miniforge3"], "Usual": True},
    "env-packages": {"Python": f"{LONG_PREFIX}\\envs\\pytorch\\python.exe"},
    "file": {"Path": "C:\\ProgramData\\jupyter\\kernels\\pytorch\\kernel.json",
             "Mark": "managed by labtorch"},
    "verify": {"Python": f"{LONG_PREFIX}\\envs\\pytorch\\python.exe",
               "Script": f"{LONG_PREFIX}\\.labtorch\\labtorch_verify.py",
               "Plan": f"{LONG_PREFIX}\\.labtorch\\plan.json", "KernelTimeout": 60},
    "install-conda": {
        "Prefix": LONG_PREFIX, "Pending": f"{LONG_PREFIX}.labtorch-install",
        "Url": "https://mirrors.example.edu.cn/github-release/conda-forge/miniforge/"
        "LatestRelease/Miniforge3-25.3.0-3-Windows-x86_64.exe",
        "File": "Miniforge3-25.3.0-3-Windows-x86_64.exe", "Sha256": "b" * 64,
        "Flags": f"/S /InstallationType=AllUsers /RegisterPython=0 /AddToPath=0 /D={LONG_PREFIX}",
        "Started": ONE_LINE_RECEIPT, "Complete": ONE_LINE_RECEIPT,
    },
    "remove-half-install": {"Prefix": LONG_PREFIX, "Pending": f"{LONG_PREFIX}.labtorch-install"},
    "write-text": {"Path": f"{LONG_PREFIX}\\.labtorch\\receipt.json", "Text": RECEIPT},
    "conda-env": {
        "Conda": f"{LONG_PREFIX}\\Scripts\\conda.exe",
        "EnvPrefix": f"{LONG_PREFIX}\\envs\\pytorch",
        "ReceiptPath": f"{LONG_PREFIX}\\.labtorch\\envs\\pytorch.json",
        "Receipt": '{"tool": "labtorch", "env": "pytorch", "python": "3.12"}',
        "CondaArgs": ["python=3.12", "pip", "--override-channels", "-c",
                      "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/conda-forge"],
    },
    "run": {"Exe": f"{LONG_PREFIX}\\envs\\pytorch\\python.exe",
            "ExeArgs": ["-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "torch==2.7.1+cu118", "torchvision==0.22.1+cu118",
                        "torchaudio==2.7.1+cu118", "--index-url",
                        "https://download.pytorch.org/whl/cu118", "--no-compile"]},
    "make-dir": {"Path": "C:\\ProgramData\\jupyter\\kernels\\pytorch"},
    "check": {"Plan": f"{LONG_PREFIX}\\.labtorch\\plan.json",
              "Condarc": f"{LONG_PREFIX}\\.condarc",
              "PipIni": f"{LONG_PREFIX}\\envs\\pytorch\\pip.ini",
              "Python": f"{LONG_PREFIX}\\envs\\pytorch\\python.exe",
              "Script": f"{LONG_PREFIX}\\.labtorch\\labtorch_verify.py", "KernelTimeout": 60},
    "refuse": {"Message": "labtorch: pc-w01: C:\\labtorch\\miniforge3\\.condarc exists and "
               "was not written by labtorch; move it aside (it's someone's) — 李雷"},
}


def bodies() -> list[str]:
    folder = resources.files("labtorch.windows").joinpath("scripts")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".ps1"))


def test_every_script_body_has_worst_case_values_in_this_test():
    assert sorted(SAMPLES) == bodies()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_generated_script_parses_as_powershell_with_no_error_nodes(name):
    for strict in (True, False):
        text = script(name, SAMPLES[name], strict=strict)
        assert problems(text) == []


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_generated_script_fits_the_cmd_exe_command_line_once_encoded(name):
    assert len(encode(script(name, SAMPLES[name]))) <= MAX_COMMAND_CHARS


def test_bootstrap_script_parses_as_powershell_with_no_error_nodes():
    text = (REPO / "scripts" / "bootstrap-windows.ps1").read_text("utf-8")
    assert problems(text) == []


def test_grammar_check_catches_what_powershell_rejects():
    # the cases the issue names: unquoted comma lists, and "$var:" inside a string
    assert problems("& nvidia-smi --query-gpu=name,driver_version")
    assert problems('Write-Output "sha256 $h, expected $Sha256: no"')
    assert problems("& nvidia-smi '--query-gpu=name,driver_version'") == []


@pytest.mark.parametrize(
    "value",
    ["plain", "O'Brien", "it\u2019s", "\u2018q\u2019 \u201aq\u201b", "$env:PATH `n $(calc)",
     "C:\\Users\\李雷", ""],
)
def test_quoted_value_is_one_literal_token_holding_exactly_the_value(value):
    text = f"$v = {quote(value)}"
    assert problems(text) == []
    literal = quote(value)[1:-1]
    for mark in "'\u2018\u2019\u201a\u201b":
        literal = literal.replace(mark * 2, mark)
    assert literal == value


def test_script_refuses_a_variable_name_that_could_inject_code():
    with pytest.raises(ValueError, match="CamelCase"):
        script("refuse", {"Message = 'x'; Remove-Item C:\\ #": "x"})


def test_encoded_command_is_base64_utf16le_after_the_fixed_powershell_flags():
    text = "Write-Output '李雷'"
    command = encode(text)
    assert command.startswith("powershell -NoProfile -NonInteractive -EncodedCommand ")
    assert base64.b64decode(command.split()[-1]).decode("utf-16-le") == text
    assert decode(command) == text


def test_too_long_a_script_is_refused_with_its_name_not_cut_by_cmd_exe():
    with pytest.raises(ScriptTooLong, match="upload it as a file"):
        encode("$LabtorchScript = 'big'\n" + "#" * MAX_COMMAND_CHARS)


def test_sftp_path_uses_the_form_windows_openssh_reports():
    assert sftp_path("C:\\ProgramData\\jupyter\\kernels\\x\\kernel.json") == (
        "/C:/ProgramData/jupyter/kernels/x/kernel.json"
    )


# --- the connector -------------------------------------------------------------------------


@pytest.fixture
def winssh_host():
    inventory = Inventory((["@winssh/pc-w01.lab.example"], {}))
    State(inventory, Config())
    return inventory.get_host("@winssh/pc-w01.lab.example")


def test_winssh_is_registered_as_a_pyinfra_connector_and_puts_hosts_in_windows(winssh_host):
    assert isinstance(winssh_host.connector, WinSSHConnector)
    assert winssh_host.data.get("ssh_hostname") == "pc-w01.lab.example"
    assert winssh_host in winssh_host.inventory.get_group("windows")


def test_winssh_sends_every_command_encoded_and_without_shell_wrapping(winssh_host, monkeypatch):
    sent = []

    def fake_ssh(self, command, print_output=False, print_input=False, **arguments):
        sent.append((command, arguments))
        return True, None

    monkeypatch.setattr(SSHConnector, "run_shell_command", fake_ssh)
    text = script("system", strict=False)
    ok, _ = winssh_host.connector.run_shell_command(StringCommand(text), _timeout=30)
    assert ok
    command, arguments = sent[0]
    assert command.get_raw_value().startswith(POWERSHELL + " ")
    assert decode(command.get_raw_value()) == text
    assert arguments["_shell_executable"] is None
    assert arguments["_timeout"] == 30


def test_winssh_refuses_sudo_with_a_message_naming_the_host(winssh_host, monkeypatch):
    monkeypatch.setattr(SSHConnector, "run_shell_command",
                        lambda *a, **k: pytest.fail("nothing may be sent with _sudo"))
    ok, output = winssh_host.connector.run_shell_command(StringCommand("hostname"), _sudo=True)
    assert not ok
    assert "pc-w01.lab.example" in output.stderr and "_sudo" in output.stderr


def test_winssh_uploads_over_sftp_to_the_windows_path(winssh_host, monkeypatch):
    puts = []
    monkeypatch.setattr(SSHConnector, "put_file",
                        lambda self, f, remote, temp, *a, **k: puts.append((remote, temp)) or True)
    assert winssh_host.connector.put_file(None, "C:\\labtorch\\miniforge3\\.condarc")
    assert puts == [("/C:/labtorch/miniforge3/.condarc", None)]


@pytest.mark.parametrize("module", ["powershell", "facts", "layout", "roles"])
def test_docstring_examples_of_the_windows_modules_hold(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"labtorch.windows.{module}"))
    assert result.failed == 0 and result.attempted > 0


# --- install-conda: what stays behind when it fails --------------------------------------


def test_install_conda_writes_the_started_receipt_only_after_the_hash_matched():
    text = script("install-conda", SAMPLES["install-conda"])
    download = text.index("Invoke-WebRequest")
    hashed = text.index("if ($h -ne $Sha256)")
    receipt = text.index('WriteAllText("$Pending\\receipt.json", $Started)')
    installer = text.index("Start-Process")
    assert download < hashed < receipt < installer


def test_install_conda_removes_its_pending_receipt_on_every_failure_before_the_installer():
    text = body("install-conda")  # without the header and prelude (which has its own try)
    start, catch = text.index("try {"), text.index("} catch {")
    guarded = text[start:catch]
    # the download, the hash check, the receipt and the installer start all sit in one try
    for step in ("Invoke-WebRequest", "throw", "$Started", "Start-Process"):
        assert step in guarded
    handler = text[catch:text.index("exit 1", catch)]
    assert "Remove-Item -LiteralPath $Pending -Recurse -Force" in handler
    # before the try only a stale pending folder is cleared; nothing can fail with a receipt
    assert text[:start].count("exit 1") == 1 and "$Started" not in text[:start]
    # this script never removes the prefix: remove-half-install does, after checking again
    assert "Remove-Item -LiteralPath $Prefix" not in text


def test_remove_half_install_checks_the_receipt_and_a_complete_conda_on_the_pc_first():
    text = body("remove-half-install")
    guard = text.index("if ($null -eq $r")
    removal = text.index("Remove-Item -LiteralPath $Prefix -Recurse -Force")
    assert guard < text.index("exit 1", guard) < removal
    condition = text[guard:text.index("{", guard)]
    for check in ("$r.tool -ne 'labtorch'", "$r.state -ne 'started'",
                  "$r.phase -ne 'installer'", "-ne $Prefix.TrimEnd('\\')", "$done"):
        assert check in condition
    assert "conda-meta\\history" in text[:guard] and "Scripts\\conda.exe" in text[:guard]
