"""nvidia-smi parsers: every captured output in ../shared/fixtures/nvidia-smi parses to its
expected.yaml entry; our own small fixtures (tests/fixtures/nvidia-smi) cover CRLF, localized
shell messages and the 610 header; merge, enrich and the CLI on top."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from labtorch.cli import main
from labtorch.errors import LabtorchError
from labtorch.facts import nvidia_smi
from labtorch.facts.nvidia_smi import enrich, merge, parse, parse_query_csv
from labtorch.model import Gpu, GpuFacts

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "fixtures" / "nvidia-smi"
OWN = ROOT / "tests" / "fixtures" / "nvidia-smi"

# labtorch.model.OsName has no "wsl": a WSL2 host installs Linux wheels, so labtorch calls it
# linux. expected.yaml's one "wsl" entry is compared as "linux" (reported to the lead).
OS_OUTSIDE_MODEL = {"wsl": "linux"}


def _expected() -> dict[str, dict[str, Any]]:
    if not (SHARED / "expected.yaml").exists():
        return {}
    return yaml.safe_load((SHARED / "expected.yaml").read_text(encoding="utf-8"))


EXPECTED = _expected()


def _hint_from_file_name(name: str) -> str | None:
    """The fixtures' convention: the OS in the file name stands in for the caller's hint."""
    tokens = name.replace(".", "-").split("-")
    if "windows" in tokens or "win" in tokens:
        return "windows"
    if "linux" in tokens or "wsl" in tokens:
        return "linux"
    return None


@pytest.mark.skipif(not EXPECTED, reason="../shared/fixtures/nvidia-smi is not checked out")
def test_shared_fixture_folder_is_fully_described_by_expected_yaml() -> None:
    files = {p.name for p in SHARED.iterdir()} - {"expected.yaml", "SOURCES.md"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_fixture_parses_to_expected_facts(name: str) -> None:
    want = EXPECTED[name]
    text = (SHARED / name).read_text(encoding="utf-8")
    got = parse(text, os_hint=_hint_from_file_name(name))
    assert got.format == want["format"]
    assert got.os == OS_OUTSIDE_MODEL.get(want["os"], want["os"])
    assert got.driver_version == want["driver_version"]
    assert got.cuda_version == want["cuda_version"]
    assert got.error == want["error"]
    assert got.gpu_count == want["gpu_count"]
    assert got.gpu_count_is_lower_bound == want.get("gpu_count_is_lower_bound", False)
    assert [_gpu_as_expected(g) for g in got.gpus] == [
        {**g, "name_truncated": g.get("name_truncated", False)} for g in want["gpus"]
    ]
    if got.error:
        assert got.error_detail, "an error keeps the driver's own words"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_fixture_os_comes_from_content_or_stays_unknown_without_hint(name: str) -> None:
    """Entries whose note says "os from content" need no hint; the others must not guess."""
    want = EXPECTED[name]
    got = parse((SHARED / name).read_text(encoding="utf-8"))
    if "os from content" in want.get("note", ""):
        assert got.os == want["os"]
    else:
        assert got.os == "unknown"


def _gpu_as_expected(gpu: Gpu) -> dict[str, Any]:
    return {
        "name": gpu.name,
        "memory_total_mib": gpu.memory_mib,
        "compute_capability": gpu.compute_capability,
        "mig_enabled": gpu.mig_enabled,
        "name_truncated": gpu.name_truncated,
    }


# --- our own fixtures: <name>.<ext> with the facts they must give in OWN_EXPECTED ---------------
# Written by hand for labtorch (not captured on a host): the shells' and drivers' messages in
# their documented wording, and tables laid out like the shared captures of the same era.

OWN_EXPECTED: dict[str, dict[str, Any]] = {
    # cmd.exe and PowerShell "not recognized", several languages: Windows by content.
    "win-cmd-en-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-cmd-de-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-cmd-zh-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-cmd-fr-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-cmd-ru-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-cmd-ja-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-ps-en-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-ps-de-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-ps-zh-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    "win-ps7-en-not-recognized.txt": {"error": "not_installed", "os": "windows"},
    # POSIX shells, localized: no OS proof (Git Bash exists), so "unknown" without a hint.
    "sh-dash-not-found.txt": {"error": "not_installed", "os": "unknown"},
    "sh-zsh-not-found.txt": {"error": "not_installed", "os": "unknown"},
    "sh-bash-de-not-found.txt": {"error": "not_installed", "os": "unknown"},
    "sh-bash-zh-not-found.txt": {"error": "not_installed", "os": "unknown"},
    "sh-bash-path-missing.txt": {"error": "not_installed", "os": "unknown"},
    "linux-ubuntu-command-not-found.txt": {"error": "not_installed", "os": "linux"},
    # nvidia-smi's own failures
    "win-no-driver-wddm.txt": {"error": "no_driver", "os": "windows"},
    "linux-no-libnvidia-ml.txt": {"error": "no_driver", "os": "linux"},
    "nvml-mismatch-two-lines.txt": {"error": "nvml_mismatch", "os": "unknown"},
    "nvml-unknown-error.txt": {"error": "other", "os": "unknown"},
    # CRLF captures from a Windows host (console output saved as-is)
    "win-table-crlf.txt": {"format": "table", "os": "windows", "driver_version": "572.16",
                           "cuda_version": "12.8", "gpus": [("NVIDIA GeForce RTX 3060", 12288)]},
    "win-L-crlf.txt": {"format": "L", "os": "windows",
                       "gpus": [("NVIDIA GeForce GTX 1650", None), ("Quadro P620", None)]},
    "win-csv-crlf-bom.csv": {"format": "csv", "os": "windows", "driver_version": "572.16",
                             "gpus": [("NVIDIA GeForce RTX 3060", 12288)], "cc": ["8.6"]},
    # CUDA version ERR! in the header, "CUDA UMD Version" label, two GPUs
    "linux-table-cuda-err.txt": {"format": "table", "os": "linux", "driver_version": "470.82.01",
                                 "cuda_version": None,
                                 "gpus": [("NVIDIA GeForce ...", 8119),
                                          ("NVIDIA GeForce ...", 8119)]},
    # a lost GPU: nvidia-smi prints its failure above the table of the others
    "linux-table-gpu-lost.txt": {"format": "table", "os": "unknown", "error": "other",
                                 "lower_bound": True, "driver_version": "535.161.07",
                                 "gpus": [("NVIDIA GeForce RTX 3090", 24576)]},
    # labtorch's own fact query (FACT_QUERY_FIELDS, noheader,nounits) saved to a file
    "fact-query-noheader.csv": {"format": "csv", "os": "unknown", "driver_version": "550.54.14",
                                "gpus": [("NVIDIA GeForce RTX 4090", 24564),
                                         ("NVIDIA GeForce RTX 3060", 12288)],
                                "cc": ["8.9", "8.6"]},
    "win-table-umd-tcc.txt": {"format": "table", "os": "windows", "driver_version": "610.47",
                                "cuda_version": "13.2", "gpus": [("NVIDIA RTX A4000", 16376)]},
}


@pytest.mark.parametrize("name", sorted(OWN_EXPECTED))
def test_own_fixture_parses_to_expected_facts(name: str) -> None:
    want = OWN_EXPECTED[name]
    got = parse((OWN / name).read_bytes().decode("utf-8"))
    assert got.os == want["os"]
    assert got.format == want.get("format", "error")
    assert got.error == want.get("error")
    assert got.gpu_count_is_lower_bound == want.get("lower_bound", False)
    if got.error:
        assert got.error_detail
    if got.format == "error":
        assert got.gpus == ()
    for key in ("driver_version", "cuda_version"):
        if key in want:
            assert getattr(got, key) == want[key]
    if "gpus" in want:
        assert [(g.name, g.memory_mib) for g in got.gpus] == want["gpus"]
        assert got.gpu_count == len(want["gpus"])
    if "cc" in want:
        assert [g.compute_capability for g in got.gpus] == want["cc"]
        assert {g.compute_capability_source for g in got.gpus} == {"reported"}


def test_own_fixture_folder_has_no_undescribed_file() -> None:
    assert {p.name for p in OWN.iterdir()} == set(OWN_EXPECTED)


def test_localized_posix_message_takes_the_callers_os_hint() -> None:
    text = (OWN / "sh-bash-de-not-found.txt").read_text(encoding="utf-8")
    assert parse(text, os_hint="linux").os == "linux"


def test_content_beats_the_os_hint() -> None:
    text = (OWN / "win-cmd-de-not-recognized.txt").read_text(encoding="utf-8")
    assert parse(text, os_hint="linux").os == "windows"


# --- parse_query_csv: our own fact command's query ----------------------------------------------

FACT_FIELDS = ("index", "name", "memory.total", "compute_cap", "driver_version")


def test_fact_query_without_header_maps_values_by_field_name() -> None:
    text = "0, NVIDIA GeForce RTX 4090, 24564, 8.9, 550.54.14\n1, Tesla T4, 15360, 7.5, 550.54.14\n"
    facts = parse_query_csv(text, FACT_FIELDS, os_hint="linux")
    assert facts.driver_version == "550.54.14"
    assert [(g.name, g.memory_mib, g.compute_capability) for g in facts.gpus] == [
        ("NVIDIA GeForce RTX 4090", 24564, "8.9"), ("Tesla T4", 15360, "7.5")]
    assert facts.gpu_count == 2 and facts.os == "linux"


def test_fact_query_with_header_and_units_reads_the_header() -> None:
    text = ("name, memory.total [MiB], compute_cap, driver_version\n"
            "NVIDIA A100-SXM4-80GB, 81920 MiB, 8.0, 535.54.03\n")
    facts = parse_query_csv(text, FACT_FIELDS)
    assert facts.gpus[0].memory_mib == 81920
    assert facts.gpus[0].compute_capability == "8.0"


def test_fact_query_refused_by_r470_is_an_invalid_field_error() -> None:
    facts = parse_query_csv('Field "compute_cap" is not a valid field to query.\n', FACT_FIELDS)
    assert facts.error == "invalid_field"
    assert 'Field "compute_cap"' in (facts.error_detail or "")


def test_fact_query_row_with_wrong_width_names_the_problem() -> None:
    with pytest.raises(LabtorchError, match="3 values but the query has 5 fields"):
        parse_query_csv("0, Tesla T4, 15360", FACT_FIELDS)


def test_na_compute_cap_stays_unknown() -> None:
    facts = parse_query_csv("0, Tesla K80, 11441, [N/A], 470.82.01", FACT_FIELDS)
    assert facts.gpus[0].compute_capability is None
    assert facts.gpus[0].compute_capability_source == "unknown"


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\n", "hello world\n", "Segmentation fault\n",
                                  "<html><body>502</body></html>"])
def test_text_that_is_no_nvidia_smi_output_raises_a_clear_error(text: str) -> None:
    with pytest.raises(LabtorchError, match="not nvidia-smi output") as err:
        parse(text)
    assert err.value.fix


def test_driver_failure_line_is_not_read_as_a_table_header() -> None:
    text = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
            "Make sure that the latest NVIDIA driver is installed and running.\n"
            "+----------+\n")
    assert parse(text).error == "no_driver"


def test_shell_refusing_to_run_nvidia_smi_is_an_other_error() -> None:
    facts = parse("bash: /usr/bin/nvidia-smi: Permission denied\n")
    assert (facts.error, facts.error_detail) == ("other",
                                                 "bash: /usr/bin/nvidia-smi: Permission denied")


def test_truncated_xml_names_the_problem() -> None:
    with pytest.raises(LabtorchError, match="not well-formed XML"):
        parse('<?xml version="1.0" ?>\n<nvidia_smi_log><driver_version>5')


def test_unknown_os_hint_is_refused() -> None:
    with pytest.raises(LabtorchError, match="unknown OS 'macos'"):
        parse("No devices were found", os_hint="macos")


# --- merge and enrich ----------------------------------------------------------------------------


def test_merge_takes_compute_capability_from_csv_and_cuda_version_from_table() -> None:
    table = parse((OWN / "linux-table-cuda-err.txt").read_text(encoding="utf-8").replace(
        "CUDA Version: ERR!", "CUDA Version: 11.4"))
    csv_facts = parse_query_csv("0, NVIDIA GeForce GTX 1080, 8119, 6.1, 470.82.01\n"
                                "1, NVIDIA GeForce GTX 1080, 8119, 6.1, 470.82.01\n",
                                FACT_FIELDS)
    both = merge(table, csv_facts)
    assert both.cuda_version == "11.4" and both.driver_version == "470.82.01"
    assert [(g.name, g.name_truncated, g.compute_capability, g.compute_capability_source)
            for g in both.gpus] == [("NVIDIA GeForce GTX 1080", False, "6.1", "reported")] * 2
    assert both.os == "linux" and both.error is None and both.format == "table+csv"


def test_merge_drops_the_error_of_a_refused_query_when_the_table_answered() -> None:
    refused = parse('Field "compute_cap" is not a valid field to query.')
    table = parse((OWN / "linux-table-cuda-err.txt").read_text(encoding="utf-8"))
    both = merge(refused, table)
    assert both.error is None
    assert both.gpu_count == 2 and both.driver_version == "470.82.01"


def test_merge_of_failures_keeps_the_first_error() -> None:
    both = merge(parse("No devices were found"), parse("bash: nvidia-smi: command not found"))
    assert both.error == "no_devices"


class _Match:
    def __init__(self, status: str, cc: str | None) -> None:
        self.status, self.compute_capability, self.message = status, cc, status


def test_enrich_fills_exact_matches_from_the_table_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import labtorch.gpus as gpu_table

    answers = {"Tesla T4": _Match("exact", "7.5"),
               "NVIDIA GeForce ...": _Match("ambiguous", None)}

    def lookup(name: str) -> _Match:
        return answers.get(name, _Match("unknown", None))

    monkeypatch.setattr(gpu_table, "lookup", lookup)
    facts = GpuFacts(gpus=(Gpu("Tesla T4"), Gpu("NVIDIA GeForce ...", name_truncated=True),
                           Gpu("Mystery GPU"),
                           Gpu("NVIDIA H100", compute_capability="9.0",
                               compute_capability_source="reported")))
    got = [(g.compute_capability, g.compute_capability_source) for g in enrich(facts).gpus]
    assert got == [("7.5", "table"), (None, "unknown"), (None, "unknown"), ("9.0", "reported")]


def test_enrich_uses_the_real_gpu_table() -> None:
    facts = parse("GPU 0: Tesla T4 (UUID: GPU-1)\nGPU 1: Graphics Device (UUID: GPU-2)")
    got = [(g.compute_capability, g.compute_capability_source) for g in enrich(facts).gpus]
    assert got == [("7.5", "table"), (None, "unknown")]


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_prints_the_normalized_facts_as_json(tmp_path: Path) -> None:
    path = tmp_path / "smi.txt"
    path.write_bytes((OWN / "win-table-crlf.txt").read_bytes())
    result = CliRunner().invoke(main, ["facts", "parse", str(path), "--format", "json",
                                       "--no-enrich"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"os", "driver_version", "cuda_version", "gpus", "error", "error_detail",
                         "format", "gpu_count", "gpu_count_is_lower_bound"}
    assert data["os"] == "windows" and data["gpus"][0]["memory_mib"] == 12288


def test_cli_fills_compute_capability_from_the_gpu_table_by_default() -> None:
    result = CliRunner().invoke(main, ["facts", "parse", str(OWN / "win-table-umd-tcc.txt")])
    assert result.exit_code == 0, result.output
    gpu = json.loads(result.output)["gpus"][0]
    assert (gpu["compute_capability"], gpu["compute_capability_source"]) == ("8.6", "table")


def test_cli_table_format_shows_each_gpu() -> None:
    result = CliRunner().invoke(main, ["facts", "parse", str(OWN / "linux-table-cuda-err.txt"),
                                       "--format", "table", "--no-enrich"])
    assert result.exit_code == 0, result.output
    assert "driver 470.82.01, CUDA -, GPUs 2" in result.output
    assert result.output.count("NVIDIA GeForce ...") == 2


def test_cli_reads_powershell_utf16_redirect(tmp_path: Path) -> None:
    path = tmp_path / "smi.txt"
    text = (OWN / "win-ps-de-not-recognized.txt").read_text(encoding="utf-8")
    path.write_bytes(text.encode("utf-16"))
    result = CliRunner().invoke(main, ["facts", "parse", str(path), "--no-enrich"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["error"] == "not_installed"


def test_cli_refuses_a_legacy_code_page_file_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "smi.txt"
    text = (OWN / "win-cmd-zh-not-recognized.txt").read_text(encoding="utf-8")
    path.write_bytes(text.encode("gbk"))
    result = CliRunner().invoke(main, ["facts", "parse", str(path)])
    assert result.exit_code == 2
    assert "is not UTF-8 or UTF-16 text" in result.output and "chcp 65001" in result.output


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my GPU is fast\n")
    result = CliRunner().invoke(main, ["facts", "parse", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().split("\n")
    assert len(lines) == 1 and "not nvidia-smi output" in lines[0] and "notes.txt" in lines[0]


def test_cli_os_option_is_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "err.txt"
    path.write_text("bash: nvidia-smi: command not found\n")
    result = CliRunner().invoke(main, ["facts", "parse", str(path), "--os", "linux",
                                       "--no-enrich"])
    assert json.loads(result.output)["os"] == "linux"


def test_module_exports_the_contract() -> None:
    assert {"parse", "parse_query_csv", "enrich", "merge"} <= set(nvidia_smi.__all__)


def test_docstring_examples_hold() -> None:
    import doctest

    assert doctest.testmod(nvidia_smi).failed == 0
