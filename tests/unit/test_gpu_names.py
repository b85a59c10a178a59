"""GPU names as admins type them: each kind of name that used to get no answer (issue 15).

The names below are written for these tests; the expected CCs are NVIDIA's (see the sources in
data/gpus.yaml), written by hand, not read back from the table.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from labtorch.cli import main
from labtorch.gpu_names import read_name, without_note
from labtorch.gpu_plans import plan_by_candidates
from labtorch.gpus import lookup
from labtorch.model import Gpu, GpuFacts, SitePolicy
from labtorch.planner import plan_host

NEW = ("linux", "580.95.05")
OLD = ("linux", "470.82.01")


def facts(*names: str, os: str = "linux", driver: str = "580.95.05") -> GpuFacts:
    return GpuFacts(os=os, driver_version=driver,  # type: ignore[arg-type]
                    gpus=tuple(Gpu(n) for n in names))


def plan_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("name", "cc", "gpu"), [
    # without vendor or series words
    ("1080 Ti", "6.1", "GeForce GTX 1080 Ti"),
    ("5070", "12.0", "GeForce RTX 5070"),
    ("A6000", "8.6", "RTX A6000"),
    ("K80", "3.7", "Tesla K80"),
    ("P2000", "6.1", "Quadro P2000"),
    # letters and digits run together, "GPU" + number, a lower-case vendor word before it
    ("rtx3080", "8.6", "GeForce RTX 3080"),
    ("RTX3070Ti", "8.6", "GeForce RTX 3070 Ti"),
    ("nvidiartx4090", "8.9", "GeForce RTX 4090"),
    ("nvidia rtx4090", "8.9", "GeForce RTX 4090"),
    ("geforce gtx970", "5.2", "GeForce GTX 970"),
    ("geforcegtx1650super", "7.5", "GeForce GTX 1650 SUPER"),
    ("GPU3060", "8.6", "GeForce RTX 3060"),
    ("GPU 2080Ti", "7.5", "GeForce RTX 2080 Ti"),
    ("teslav100", "7.0", "Tesla V100"),
    ("quadrop4000", "6.1", "Quadro P4000"),
    # suffixes: Ti, SUPER, D, M, Max-Q, Laptop GPU
    ("RTX 4090D", "8.9", "GeForce RTX 4090 D"),
    ("rtx4080super", "8.9", "GeForce RTX 4080 SUPER"),
    ("GTX 1070M", "6.1", "GeForce GTX 1070"),
    ("gtx1650m", "7.5", "GeForce GTX 1650"),
    ("GTX 1060 Max-Q", "6.1", "GeForce GTX 1060"),
    ("rtx3060laptop", "8.6", "GeForce RTX 3060"),
    ("RTX 4070 Laptop GPU", "8.9", "GeForce RTX 4070"),
    ("GT 710M", "2.1", "GeForce 710M"),  # three digits: the "M" part is its own chip
    ("GeForce GT 940M", "5.0", "GeForce 940M"),
    # a trailing note
    ("GeForce GTX 1080 (room B12, rack 3)", "6.1", "GeForce GTX 1080"),
    ("RTX 2070 SUPER, 8 GB, bought 2020", "7.5", "GeForce RTX 2070 SUPER"),
    ("Quadro P2000 - spare card", "6.1", "Quadro P2000"),
    ("Tesla T4 [vGPU passthrough]", "7.5", "Tesla T4"),
    ("RTX 4060 | lab 2", "8.9", "GeForce RTX 4060"),
    ("GTX 1660 SUPER (the Intel box by the door)", "7.5", "GeForce GTX 1660 SUPER"),
    # GPUs that were absent from the table
    ("GeForce 9400 GT", "1.1", "GeForce 9400 GT"),
    ("GeForce GT 240", "1.2", "GeForce GT 240"),
    ("Tesla C1060", "1.3", "Tesla C1060"),
    ("GeForce 8800 Ultra", "1.0", "GeForce 8800 Ultra"),
    ("Quadro FX 5800", "1.3", "Quadro FX 5800"),
    ("GeForce GT 635M", "2.1", "GeForce GT 635M"),
    ("GeForce GTX 560M", "2.1", "GeForce GTX 560M"),
    ("NVS 5400M", "2.1", "NVS 5400M"),
    ("Quadro 4000", "2.0", "Quadro 4000"),
    ("Tesla M2090", "2.0", "Tesla M2090"),
    ("ION", "1.2", "ION"),
])
def test_names_as_people_write_them_find_the_gpu(name: str, cc: str, gpu: str) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability) == ("exact", cc), match.message
    assert [c.name for c in match.candidates] == [gpu]


@pytest.mark.parametrize(("name", "cc", "count"), [
    ("NVIDIA GeForce GTX 166...", "7.5", 3),  # 1660, 1660 Ti, 1660 SUPER
    ("NVIDIA RTX A40...", "8.6", 2),  # A4000, A4500
    ("Quadro RTX 50...", "7.5", 1),
    ("geforce gtx 10...", "6.1", 7),  # GTX 1050 to 1080 Ti
])
def test_a_cut_name_whose_candidates_share_a_cc_is_answered(name: str, cc: str,
                                                            count: int) -> None:
    match = lookup(name)
    assert (match.status, match.compute_capability, len(match.candidates)) == ("exact", cc, count)


def test_the_quadro_4000_of_2010_is_not_the_quadro_rtx_4000() -> None:
    assert lookup("Quadro 4000").compute_capability == "2.0"
    assert lookup("Quadro RTX 4000").compute_capability == "7.5"


def test_a_name_matching_nothing_is_still_unknown() -> None:
    match = lookup("Frobnicator 9000")
    assert match.status == "unknown" and "--compute-capability" in match.message


def test_notes_are_cut_only_where_a_note_starts() -> None:
    assert without_note("TITAN X (Pascal)") == "TITAN X"
    assert lookup("TITAN X (Pascal)").compute_capability == "6.1"  # the full name wins
    assert without_note("NVIDIA(R) GeForce(R) RTX 4090") == "NVIDIA(R) GeForce(R) RTX 4090"


def test_joined_and_spaced_spellings_read_the_same() -> None:
    assert read_name("NVIDIA GeForce RTX 3080 Ti").compact == read_name("nvidiartx3080ti").compact


# --- candidates that all get the same plan ------------------------------------------------------


@pytest.mark.parametrize("name", ["GT 730", "gt730", "GeForce GT 630"])
def test_a_gt_730_on_an_old_driver_gets_the_cpu_plan_whatever_its_chip(name: str) -> None:
    named = plan_by_candidates(facts(name, driver=OLD[1]), SitePolicy())
    assert named.refusal is None and named.plan is not None
    assert named.plan.variant == "cpu"
    assert "every candidate gets this plan" in named.plan.reasons[0]
    assert "Fermi" in named.plan.reasons[0] and "Kepler" in named.plan.reasons[0]


def test_both_8800_gts_chips_are_below_every_build_so_the_answer_is_cpu() -> None:
    code, out, err = plan_cli("--gpu", "GeForce 8800 GTS", "--driver", "340.108", "--os",
                              "linux", "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["variant"] == "cpu"
    assert "GeForce 8800 GTS (G80, CC 1.0) or GeForce 8800 GTS (G92, CC 1.1)" in plan["reasons"][0]


def test_rtx_6000_on_a_cuda_13_driver_is_answered_for_every_generation() -> None:
    code, out, err = plan_cli("--gpu", "RTX 6000", "--driver", "580.95.05", "--os", "linux",
                              "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["variant"] == "cu130"
    assert "Quadro RTX 6000 (CC 7.5)" in plan["reasons"][0]
    assert "RTX PRO 6000 Blackwell (CC 12.0)" in plan["reasons"][0]


# --- candidates whose plans differ ----------------------------------------------------------------


def test_rtx_6000_on_a_cuda_12_0_driver_is_refused_with_each_candidate_and_flag() -> None:
    code, out, err = plan_cli("--gpu", "RTX 6000", "--driver", "525.60.13", "--os", "linux")
    assert code == 2 and out == ""
    assert "Quadro RTX 6000 (CC 7.5: torch 2.14.1 cu126)" in err
    assert "RTX PRO 6000 Blackwell (CC 12.0: torch 2.11.0 cu128)" in err
    assert ("--compute-capability 7.5 or --compute-capability 8.9 or "
            "--compute-capability 12.0") in err
    code, out, _ = plan_cli("--gpu", "RTX 6000", "--compute-capability", "12.0", "--driver",
                            "525.60.13", "--os", "linux", "--format", "json")
    assert code == 0 and json.loads(out)["variant"] == "cu128"


def test_a_name_cut_after_geforce_is_refused_with_the_groups_of_plans() -> None:
    named = plan_by_candidates(facts("NVIDIA GeForce ..."), SitePolicy())
    assert named.plan is None and named.refusal is not None
    line = named.refusal.line()
    assert "CC 1.0 to 3.5 (e.g. " in line and ": torch 2.15.0 cpu" in line
    assert "nvidia-smi --query-gpu=name --format=csv for the full name" in line


def test_two_ambiguous_gpus_are_refused_per_gpu() -> None:
    named = plan_by_candidates(facts("RTX 6000", "RTX 5000", driver="525.60.13"), SitePolicy())
    assert named.refusal is not None
    assert "for GPU 0" in named.refusal.line() and "for GPU 1" in named.refusal.line()


# --- pre-Fermi: the CPU plan with the reason, never a refusal -------------------------------------


@pytest.mark.parametrize("name", ["GeForce 9400 GT", "Tesla C1060", "GeForce GTX 285",
                                  "Quadro FX 1800M", "nvidia geforce 210"])
@pytest.mark.parametrize(("os", "driver"), [OLD, ("windows", "342.01")])
def test_pre_fermi_gpus_get_the_cpu_plan_with_the_reason(name: str, os: str,
                                                         driver: str) -> None:
    code, out, err = plan_cli("--gpu", name, "--driver", driver, "--os", os, "--format", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["variant"] == "cpu"
    assert any("(CC 1." in w for w in plan["warnings"] + plan["reasons"]), plan


# --- the deploy path: plan_host itself settles names by their candidates --------------------------


def test_plan_host_answers_an_ambiguous_name_the_driver_did_not_resolve() -> None:
    plan = plan_host(facts("GeForce GT 730", driver=OLD[1]), SitePolicy())
    assert plan.variant == "cpu"
    assert "every candidate gets this plan" in plan.reasons[0]


def test_plan_host_says_why_when_the_candidates_plans_differ() -> None:
    plan = plan_host(facts("RTX 6000", driver="525.60.13"), SitePolicy())
    assert plan.variant == "cpu"
    assert any("and the plans differ; pass --compute-capability 7.5" in w
               for w in plan.warnings + plan.reasons)


# --- labtorch gpus search ------------------------------------------------------------------------


def search(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["gpus", "search", *args])
    return result.exit_code, result.stdout, result.stderr


def test_search_json_lists_candidates_with_source_and_each_plan() -> None:
    code, out, _ = search("GT 730", "--driver", "470.82.01", "--os", "linux", "--format", "json")
    assert code == 0
    found = json.loads(out)
    assert found["status"] == "ambiguous" and found["how"] == "by name"
    assert [(c["compute_capability"], c["plan"]) for c in found["candidates"]] == [
        ("2.1", "torch 2.15.0 cpu"), ("3.5", "torch 2.15.0 cpu")]
    assert all(c["source"].startswith("xj ") for c in found["candidates"])
    assert found["answer"]["variant"] == "cpu" and found["refusal"] is None


def test_search_table_shows_each_candidate_row() -> None:
    code, out, _ = search("NVIDIA GeForce RTX 2080 ...")
    assert code == 0
    assert "3 candidate(s), found cut by nvidia-smi" in out
    for name in ("GeForce RTX 2080 ", "GeForce RTX 2080 SUPER", "GeForce RTX 2080 Ti"):
        assert name in out
    assert "compute capability 7.5" in out


def test_search_for_a_name_matching_nothing_exits_1_saying_so() -> None:
    code, out, _ = search("Radeon RX 7900 XTX")
    assert code == 1
    assert "no match: 'Radeon RX 7900 XTX' is not an NVIDIA GPU" in out


@pytest.mark.parametrize(("args", "line"), [
    (("T4", "--driver", "550.54.14"), "--driver and --os go together"),
    (("T4", "--format", "yaml"), "--format 'yaml' is not one of table, json"),
    (("T4", "--driver", "5x5", "--os", "linux"), "--driver '5x5' is not a driver version"),
])
def test_search_bad_options_exit_2_with_one_line(args: tuple[str, ...], line: str) -> None:
    code, out, err = search(*args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and line in err


@pytest.mark.parametrize("module", ["labtorch.gpu_names", "labtorch.gpu_plans"])
def test_module_examples_hold(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
