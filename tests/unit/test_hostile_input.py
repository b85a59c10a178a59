"""Hostile input (issue 12): bounded reads, names, prefixes, URLs, absurd versions — refused with
one line, through the settings loader, the CLI and the deploy (tests/unit/test_deploy_room.py's
room of @fake hosts)."""

from __future__ import annotations

import codecs
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cli import main
from labtorch.errors import LabtorchError
from labtorch.inputs import MAX_INPUT_BYTES, read_saved_output
from labtorch.roles.settings import Settings

REPO = Path(__file__).resolve().parents[2]
LAB_FILES = REPO / "labtorch" / "lab" / "files"
TABLE = LAB_FILES / "synthetic-blackwell-rtx-5080-linux-595.71.05-table.txt"


def refusal(data: dict) -> str:
    with pytest.raises(LabtorchError) as err:
        Settings.from_data(data, host="pc07", home="/home/lab")
    return str(err.value)


@pytest.mark.parametrize("name", [".", "..", "-rf", "a/b", "", "../../etc"])
def test_env_names_that_are_not_one_plain_path_segment_are_refused(name):
    assert "pc07: labtorch_env_name=" in refusal({"labtorch_env_name": name})


@pytest.mark.parametrize("name", [".", "..", "-rf", "../x"])
def test_kernel_names_that_leave_the_kernels_folder_are_refused(name):
    assert "pc07: labtorch_kernel_name=" in refusal({"labtorch_kernel_name": name})


@pytest.mark.parametrize("prefix, why", [
    ("/", "is a system folder"), ("/usr", "is a system folder"), ("/opt", "is a system folder"),
    ("/opt/../etc", "contains '..'"), ("/etc/conda", "lies in a system folder"),
    ("/usr/bin/x", "lies in a system folder"), ("C:\\", "is a system folder"),
    ("C:\\Windows\\conda", "is a system folder"),
])
def test_system_folders_and_traversal_are_refused_as_conda_prefixes(prefix, why):
    assert f"conda prefix {prefix!r} {why}" in refusal({"labtorch_conda_prefix": prefix})


@pytest.mark.parametrize("prefix", ["/opt/miniforge3", "/home/lab/miniforge3",
                                    "/usr/local/miniforge3", "C:\\labtorch\\miniforge3"])
def test_ordinary_prefixes_are_accepted(prefix):
    assert Settings.from_data({"labtorch_conda_prefix": prefix}).conda_prefix == prefix


@pytest.mark.parametrize("data, key", [
    ({"labtorch_fallback_mirrors": ("nowhere",)}, "labtorch_fallback_mirrors"),
    ({"labtorch_stall_timeout": "soon"}, "labtorch_stall_timeout"),
    ({"labtorch_connect_timeout": 0}, "labtorch_connect_timeout"),
    ({"labtorch_pypi_fallback_urls": ("ftp://x",)}, "labtorch_pypi_fallback_urls"),
])
def test_network_settings_are_checked(data, key):
    assert f"pc07: {key}=" in refusal(data)


def test_fallback_mirrors_give_installer_and_pypi_urls_in_the_sites_order():
    s = Settings.from_data({"labtorch_fallback_mirrors": ("tuna", "ustc"),
                            "labtorch_installer_fallback_urls": ("http://cache.lab/inst",)})
    urls = s.installer("x86_64").urls
    assert urls[0].startswith("https://github.com/conda-forge/miniforge/")
    assert urls[1].startswith("http://cache.lab/inst/Miniforge3-")
    assert "tsinghua" in urls[2] and "ustc" in urls[3]
    assert s.pypi_fallbacks() == ("https://pypi.tuna.tsinghua.edu.cn/simple",
                                  "https://mirrors.ustc.edu.cn/pypi/simple")


def test_an_oversized_input_is_refused_before_it_is_read_whole(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (MAX_INPUT_BYTES + 1))
    with pytest.raises(LabtorchError, match="larger than 1 MiB"):
        read_saved_output(big)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_plan_from_dev_zero_stops_with_a_size_error():
    code, out = cli("plan", "--from", "/dev/zero")
    assert code != 0 and "/dev/zero is larger than 1 MiB" in out


def test_plan_and_facts_read_a_utf16_file_with_bom_as_powershell_saves_it(tmp_path):
    saved = tmp_path / "out.txt"
    saved.write_bytes(codecs.BOM_UTF16_LE + TABLE.read_text("utf-8").encode("utf-16-le"))
    code, out = cli("plan", "--from", str(saved), "--os", "linux")
    assert code == 0, out
    assert "torch" in out
    code, out = cli("facts", "parse", str(saved))
    assert code == 0 and "RTX 5080" in out


def test_index_url_with_a_stray_template_field_is_one_line_error():
    code, out = cli("plan", "--gpu", "RTX 3080", "--driver", "550.54.14", "--os", "linux",
                    "--pytorch-index-url", "http://x/{variant}/{0}")
    assert code != 0 and "Traceback" not in out
    assert out.strip().count("\n") == 0 and "'{0}'" in out


def test_plan_masks_index_url_credentials():
    code, out = cli("plan", "--gpu", "RTX 3080", "--driver", "550.54.14", "--os", "linux",
                    "--pytorch-index-url", "https://lab:s3cret@10.0.0.5/whl/{variant}")
    assert code == 0 and "s3cret" not in out and "https://lab:***@10.0.0.5/whl/" in out


def test_absurd_driver_version_is_refused():
    code, out = cli("plan", "--gpu", "RTX 3080", "--driver", "99999999999999999999999999999.1.1",
                    "--os", "linux")
    assert code != 0 and "is not a driver version" in out


def test_compute_capability_contradicting_the_named_gpu_is_refused_naming_both():
    code, out = cli("plan", "--gpu", "RTX 3080", "--compute-capability", "5.0",
                    "--driver", "550.54.14", "--os", "linux")
    assert code != 0
    assert "--compute-capability 5.0 contradicts --gpu 'RTX 3080'" in out and "8.6" in out


# --- the deploy: each hostile setting fails its own host only ---------------------------------

ROOM = """
_system = ["@@labtorch:uname@@", "Linux x86_64", "@@labtorch:home@@", "/root", "@@labtorch:df@@",
           "Filesystem 1024-blocks Used Available Capacity Mounted on",
           "/dev/sda1 41152736 18000000 20971520 47% /"]
_common = {"fake_delay": 0, "fake_delay_jitter": 0,
           "fake_responses": {">&2; exit 1": {"success": False}, "uname -s -m": _system,
                              "nvidia-smi": ["@@labtorch:missing@@"]}}
room = [("@fake/good", dict(_common)),
        ("@fake/dotdot", {**_common, "labtorch_env_name": ".."}),
        ("@fake/kernel", {**_common, "labtorch_kernel_name": ".."}),
        ("@fake/usr", {**_common, "labtorch_conda_prefix": "/usr"}),
        ("@fake/etc", {**_common, "labtorch_conda_prefix": "/opt/../etc"}),
        ("@fake/bsd", {**_common, "labtorch_os": "freebsd"})]
"""


def test_hostile_settings_fail_their_own_host_in_the_deploy_and_say_what(tmp_path):
    inventory = tmp_path / "room.py"
    inventory.write_text(ROOM)
    log = subprocess.run([sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"],
                         cwd=REPO, capture_output=True, text=True, timeout=300).stderr
    assert "Traceback" not in log
    assert "@fake/dotdot: labtorch_env_name='..' is not a usable env name" in log
    assert "@fake/kernel: labtorch_kernel_name='..' is not valid" in log
    assert "@fake/usr: conda prefix '/usr' is a system folder" in log
    assert "@fake/etc: conda prefix '/opt/../etc' contains '..'" in log
    assert "@fake/bsd: labtorch_os='freebsd' is not supported" in log
    assert "uname said" not in log
    conda = log[log.index("labtorch: conda |"):]
    assert re.search(r"\[@fake/good] +Success", conda.split("--> Starting operation:", 1)[0])


@pytest.mark.parametrize("value", ["a\x00b", "x" * 5000])
@pytest.mark.parametrize("argv", [["plan", "--gpu"], ["gpus", "search"], ["facts", "parse"]])
def test_nul_bytes_and_overlong_arguments_are_refused_before_any_command_runs(argv, value):
    result = CliRunner().invoke(main, [*argv, value])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("labtorch: error: an argument")
