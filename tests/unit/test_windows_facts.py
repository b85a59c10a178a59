"""Windows facts on real Windows nvidia-smi outputs and on the JSON shapes labtorch's scripts print.

Real: every Windows capture in ../shared/fixtures/nvidia-smi (*windows*, *win*) goes through
``labtorch.facts.nvidia_smi`` and must give the facts ``expected.yaml`` records for it; the GPU
fact's JSON built around those captures must give the same GPU, driver and CUDA version.
Synthetic (named so): the WMI and system documents are written here in the shape the scripts
print (Win32_VideoController / Win32_OperatingSystem property names), since no Windows machine
exists here to record them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from labtorch.facts import nvidia_smi
from labtorch.facts.gpu import QUERY_FIELDS
from labtorch.windows.facts import (
    SAMPLE_SYSTEM,
    free_mib_on_drive,
    parse_conda_installs,
    parse_gpus,
    parse_system,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nvidia-smi"
EXPECTED = yaml.safe_load((SHARED / "expected.yaml").read_text()) if SHARED.is_dir() else {}
WINDOWS = sorted(
    name for name in EXPECTED if "-windows-" in name or "-win-" in name
)
RTX2080 = "gpuexp-rtx-2080-super-windows-591.86"


def test_the_shared_fixtures_hold_windows_captures():
    assert len(WINDOWS) >= 6, f"expected the Windows captures in {SHARED}"


@pytest.mark.parametrize("name", WINDOWS)
def test_real_windows_capture_parses_to_the_recorded_facts(name):
    want = EXPECTED[name]
    facts = nvidia_smi.parse((SHARED / name).read_text("utf-8"), os_hint="windows")
    assert facts.os == "windows"
    assert facts.error == want["error"]
    assert facts.driver_version == want["driver_version"]
    assert facts.cuda_version == want["cuda_version"]
    assert [g.name for g in facts.gpus] == [g["name"] for g in want["gpus"]]
    assert [g.memory_mib for g in facts.gpus] == [g["memory_total_mib"] for g in want["gpus"]]


def query_line_from_capture(csv_text: str, fields: str) -> str:
    """The ``--format=csv,noheader,nounits`` line the GPU fact would get, taken value by value
    from a real all-fields capture (header row + values, units stripped)."""
    header, values = (line for line in csv_text.splitlines() if line.strip())
    names = [h.strip().split(" [")[0] for h in header.split(",")]
    row = dict(zip(names, (v.strip() for v in values.split(",")), strict=True))
    return ", ".join(row[f].split(" ")[0] if f == "memory.total" else row[f]
                     for f in fields.split(","))


def gpu_doc(**extra) -> str:
    doc = {"smi": "C:\\Windows\\System32\\nvidia-smi.exe", "video": [], **extra}
    return json.dumps(doc)


def test_gpu_fact_on_a_real_windows_capture_gives_full_name_driver_cuda_and_reported_cc():
    query = query_line_from_capture(
        (SHARED / f"{RTX2080}-query-gpu.csv").read_text("utf-8"), QUERY_FIELDS)
    table = (SHARED / f"{RTX2080}-table.txt").read_text("utf-8")
    facts = parse_gpus(gpu_doc(fields=QUERY_FIELDS, query=query, query_rc=0, table=table,
                               table_rc=0))
    assert query == "0, NVIDIA GeForce RTX 2080 SUPER, 8192, 7.5, 591.86"
    assert (facts.os, facts.error, facts.driver_version, facts.cuda_version) == (
        "windows", None, "591.86", "13.1")
    (gpu,) = facts.gpus
    assert (gpu.name, gpu.compute_capability, gpu.compute_capability_source) == (
        "NVIDIA GeForce RTX 2080 SUPER", "7.5", "reported")


def test_gpu_fact_with_only_the_table_of_an_old_driver_still_reads_the_gpu():
    table = (SHARED / "issue-localgpt14-gtx1080ti-win-531.14-table-partial.txt").read_text()
    facts = parse_gpus(gpu_doc(fields=QUERY_FIELDS, query="", query_rc=6, table=table,
                               table_rc=0))
    assert facts.driver_version == "531.14" and facts.cuda_version == "12.1"
    assert [g.name for g in facts.gpus] == ["NVIDIA GeForce GTX 1080 Ti"]
    assert facts.gpus[0].compute_capability == "6.1"  # from the GPU table


# --- synthetic WMI documents (property names of Win32_VideoController) -----------------------


def test_no_nvidia_smi_names_the_gpu_from_wmi_and_says_which_driver_windows_has():
    facts = parse_gpus(json.dumps({"smi": None, "video": [
        {"name": "NVIDIA GeForce RTX 3080", "driver": "31.0.15.3640", "vendor": "NVIDIA",
         "pnp": "PCI\\VEN_10DE&DEV_2206&SUBSYS_38941462&REV_A1\\4&1B7E7E0F&0&0008"}]}))
    assert facts.error == "not_installed"
    assert [g.name for g in facts.gpus] == ["NVIDIA GeForce RTX 3080"]
    assert facts.gpus[0].compute_capability == "8.6"
    assert "NVIDIA driver 536.40" in facts.error_detail
    assert facts.driver_version is None  # no nvidia-smi: the planner must not trust a driver


def test_nvidia_card_without_driver_is_seen_by_its_pci_vendor_and_asks_for_the_driver():
    facts = parse_gpus(json.dumps({"smi": None, "video": [
        {"name": "Microsoft Basic Display Adapter", "driver": "10.0.22621.1",
         "vendor": "(Standard display types)", "pnp": "PCI\\VEN_10DE&DEV_1B80&SUBSYS_0"}]}))
    assert facts.error == "not_installed"
    assert len(facts.gpus) == 1 and facts.gpus[0].name is None
    assert "install the NVIDIA driver" in facts.error_detail


def test_pc_without_nvidia_adapter_reports_what_windows_lists():
    facts = parse_gpus(json.dumps({"smi": None, "video": [
        {"name": "Intel(R) UHD Graphics 770", "driver": "31.0.101.4502", "vendor": "Intel",
         "pnp": "PCI\\VEN_8086&DEV_4680"}]}))
    assert facts.gpus == () and "no NVIDIA adapter (Intel(R) UHD Graphics 770)" in (
        facts.error_detail)


def test_failing_nvidia_smi_keeps_the_drivers_words_and_the_wmi_names():
    words = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
             "Make sure that the latest NVIDIA driver is installed and running.")
    facts = parse_gpus(gpu_doc(fields=QUERY_FIELDS, query=words, query_rc=9, table=words,
                               table_rc=9, video=[{"name": "NVIDIA GeForce GTX 1080",
                                                   "driver": "32.0.15.9186", "pnp": ""}]))
    assert facts.error is not None and facts.gpus[0].name == "NVIDIA GeForce GTX 1080"
    assert "couldn't communicate" in facts.error_detail and "591.86" in facts.error_detail


def test_unreadable_gpu_output_is_a_fact_not_a_crash():
    assert parse_gpus(["#< CLIXML", "garbage"]).error == "other"


# --- system and conda --------------------------------------------------------------------------


def test_system_fact_keeps_a_non_ascii_profile_and_knows_it_is_not_ascii():
    info = parse_system(SAMPLE_SYSTEM)
    assert info.home == "C:\\Users\\李雷" and not info.ascii_profile
    assert (info.os, info.arch, info.windows_build, info.admin) == ("windows", "x86_64", 22631,
                                                                    True)
    assert free_mib_on_drive(info, "C:\\labtorch\\miniforge3") == 51200


def test_system_fact_output_after_noise_and_with_a_bom_still_parses():
    info = parse_system(["Windows PowerShell banner", "\ufeff" + SAMPLE_SYSTEM])
    assert info.user == "李雷"


def test_conda_listing_recognises_ours_foreign_and_half_finished_installs():
    ours = json.dumps({"tool": "labtorch", "state": "complete", "flavor": "miniforge"})
    started = json.dumps({"tool": "labtorch", "state": "started", "flavor": "miniforge",
                          "phase": "installer", "prefix": "D:\\labtorch\\miniforge3"})
    doc = [
        {"prefix": "C:\\labtorch\\miniforge3", "exists": True, "conda": True, "history": True,
         "meta": ["conda-25.3.0-py312h7900ff3_0.json"], "receipt": "\ufeff" + ours,
         "pending": None, "envs": [{"name": "pytorch", "python": True,
                                    "receipt": '{"tool": "labtorch", "env": "pytorch"}'}]},
        {"prefix": "C:\\ProgramData\\anaconda3", "exists": True, "conda": True, "history": True,
         "meta": ["anaconda-2024.10-py312_0.json"], "receipt": None, "envs": []},
        {"prefix": "D:\\labtorch\\miniforge3", "exists": True, "conda": False, "history": False,
         "meta": [], "receipt": None, "pending": started, "envs": []},
        {"prefix": "E:\\gone", "exists": False, "pending": started},
    ]
    installs = parse_conda_installs(json.dumps(doc))
    assert [i.prefix for i in installs] == [
        "C:\\labtorch\\miniforge3", "C:\\ProgramData\\anaconda3", "D:\\labtorch\\miniforge3"]
    mine, anaconda, half = installs
    assert mine.owned and mine.complete and not mine.half_finished and mine.version == "25.3.0"
    assert mine.env("pytorch").owned and mine.env("pytorch").prefix.endswith("envs\\pytorch")
    assert anaconda.flavor == "anaconda" and not anaconda.owned
    assert half.owned and half.half_finished
    assert parse_conda_installs("[]") == [] and parse_conda_installs("") == []


@pytest.mark.parametrize(
    ("why", "conda", "history", "pending"),
    [
        ("written before the download by an older run (no phase)", True, True,
         {"phase": None}),
        ("written before the download by an older run, conda unfinished", False, True,
         {"phase": None}),
        ("names another prefix", False, False, {"prefix": "D:\\labtorch\\miniforge3"}),
        ("not labtorch's", False, False, {"tool": "someone"}),
        ("says complete", False, False, {"state": "complete"}),
        ("conda there is complete", True, True, {}),
    ],
)
def test_pending_receipt_that_proves_nothing_leaves_the_prefix_someone_elses(
    why, conda, history, pending
):
    receipt = {"tool": "labtorch", "state": "started", "flavor": "miniforge",
               "phase": "installer", "prefix": "C:\\labtorch\\miniforge3", **pending}
    doc = [{"prefix": "C:\\labtorch\\miniforge3", "exists": True, "conda": conda,
            "history": history, "meta": [], "receipt": None, "envs": [],
            "pending": json.dumps({k: v for k, v in receipt.items() if v is not None})}]
    (install,) = parse_conda_installs(json.dumps(doc))
    assert install.receipt is None, why
    assert not install.owned and not install.half_finished, why


def test_pending_receipt_for_this_prefix_written_before_the_installer_makes_it_labtorchs():
    receipt = {"tool": "labtorch", "state": "started", "phase": "installer",
               "prefix": "c:\\labtorch\\Miniforge3"}  # Windows paths: case does not matter
    doc = [{"prefix": "C:\\labtorch\\miniforge3\\", "exists": True, "conda": True,
            "history": False, "meta": [], "receipt": None, "envs": [],
            "pending": json.dumps(receipt)}]
    (install,) = parse_conda_installs(json.dumps(doc))
    assert install.owned and install.half_finished and install.receipt == receipt
