"""`labtorch plan` end to end through click, on real saved nvidia-smi outputs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "nvidia-smi"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(),
                                    reason="../shared/fixtures/nvidia-smi is not checked out")

KEYS = {"torch", "torchvision", "torchaudio", "variant", "python", "index_url", "install",
        "reasons", "warnings"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


@needs_fixtures
def test_plan_from_a_saved_windows_table_output() -> None:
    code, out, _ = run("--from", str(FIXTURES / "issue-localgpt14-gtx1080ti-win-531.14-table"
                                     "-partial.txt"), "--format", "json")
    assert code == 0
    plan = json.loads(out)
    assert set(plan) >= KEYS
    assert (plan["os"], plan["variant"], plan["driver_version"]) == ("windows", "cu126", "531.14")
    assert plan["install"][0][0] == f"torch=={plan['torch']}+cu126"
    assert plan["install"][0][-2:] == ["--index-url", "https://download.pytorch.org/whl/cu126"]


@needs_fixtures
def test_plan_from_a_linux_cuda_13_driver_with_a_turing_gpu() -> None:
    saved = str(FIXTURES / "gpuexp-rtx-2080-super-linux-595.71.05-table.txt")
    code, out, _ = run("--from", saved, "--format", "json", "--without-torchaudio")
    assert code == 0
    assert json.loads(out)["variant"] == "cu132"
    # with torchaudio (the default) cu130: the cu132 index carries no torchaudio
    code, out, _ = run("--from", saved, "--format", "json")
    assert code == 0
    plan = json.loads(out)
    assert plan["variant"] == "cu130" and plan["torchaudio"] == "2.11.0"


@needs_fixtures
def test_plan_from_a_broken_driver_output_is_a_cpu_plan_saying_why() -> None:
    code, out, _ = run("--from", str(FIXTURES / "err-linux-couldnt-communicate.txt"),
                       "--os", "linux", "--format", "json")
    assert code == 0
    plan = json.loads(out)
    assert plan["variant"] == "cpu"
    assert "reinstall the driver, then re-run" in plan["warnings"][0]


def test_plan_by_gpu_name_as_a_table() -> None:
    code, out, _ = run("--gpu", "GeForce GTX 1080 Ti", "--driver", "570.124.06", "--os", "linux")
    assert code == 0
    assert "variant      cu126" in out
    assert "install      python -m pip install torch==" in out
    assert "- not cu130: no kernels for CC 6.1" in out


def test_two_gpus_by_name() -> None:
    code, out, _ = run("--gpu", "NVIDIA GeForce RTX 4090", "--gpu", "Tesla P40", "--driver",
                       "580.95.05", "--os", "linux", "--format", "json")
    assert code == 0
    assert json.loads(out)["min_compute_capability"] == "6.1"


def test_compute_capability_settles_an_ambiguous_name() -> None:
    code, out, _ = run("--gpu", "GT 730", "--compute-capability", "3.5", "--driver", "470.82.01",
                       "--os", "linux", "--format", "json")
    assert code == 0
    assert "GT 730 (CC 3.5): no PyTorch ≥1.12 build" in json.loads(out)["warnings"][0]


@pytest.mark.parametrize(("args", "line"), [
    (("--gpu", "RTX 6000", "--driver", "525.60.13", "--os", "linux"),
     "'RTX 6000' may be Quadro RTX 6000 (CC 7.5: torch 2.14.1 cu126) or RTX 6000 Ada Generation "
     "(CC 8.9: torch 2.14.1 cu126) or RTX PRO 6000 Blackwell (CC 12.0: torch 2.11.0 cu128), "
     "and the plans differ; pass --compute-capability 7.5 or --compute-capability 8.9 or "
     "--compute-capability 12.0"),
    (("--gpu", "Frobnicator 9000", "--driver", "550.54.14", "--os", "linux"),
     "'Frobnicator 9000' is not in the GPU table"),
    (("--gpu", "Tesla T4", "--driver", "5x5", "--os", "linux"),
     "--driver '5x5' is not a driver version"),
    (("--gpu", "Tesla T4", "--driver", "550.54.14", "--os", "macos"),
     "--os 'macos' is not one of linux, windows"),
    (("--gpu", "Tesla T4", "--driver", "550.54.14", "--os", "linux", "--torch", "2.99",
      "--python", "3.8"), "torch '2.99' with Python 3.8: no known PyTorch release matches"),
    (("--gpu", "Tesla T4", "--driver", "550.54.14", "--os", "linux", "--compute-capability",
      "eight"), "--compute-capability 'eight' is not a compute capability"),
    (("--gpu", "Tesla T4", "--os", "linux"), "no driver version given"),
    (("--gpu", "GeForce RTX 5090", "--driver", "580.95.05", "--os", "linux", "--torch", "2.5"),
     "GeForce RTX 5090 (CC 12.0) is newer than every torch that '2.5' allows"),
    (("--gpu", "Tesla T4", "--driver", "550.54.14", "--os", "linux", "--torch", "2.7.1+cu118"),
     "torch spec '2.7.1+cu118' names a build (+cu118); write 2.7.1"),
    (("--from", "/nonexistent/smi.txt"), "cannot read /nonexistent/smi.txt"),
])
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], line: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert line in err
    assert "; " in err  # what was wrong; what to do


def test_text_that_is_not_nvidia_smi_output_exits_2(tmp_path: Path) -> None:
    bogus = tmp_path / "smi.txt"
    bogus.write_text("Hello from the lab printer\n", encoding="utf-8")
    code, _, err = run("--from", str(bogus))
    assert code == 2
    assert f"{bogus}: the text is not nvidia-smi output" in err


@needs_fixtures
def test_list_output_without_a_driver_asks_for_one() -> None:
    code, _, err = run("--from", str(FIXTURES / "gpuexp-rtx-2080-super-linux-595.71.05-L.txt"),
                       "--os", "linux")
    assert code == 2
    assert "prints no driver version" in err and "pass --driver" in err
    code, out, _ = run("--from", str(FIXTURES / "gpuexp-rtx-2080-super-linux-595.71.05-L.txt"),
                       "--os", "linux", "--driver", "595.71.05", "--format", "json",
                       "--without-torchaudio")
    assert code == 0 and json.loads(out)["variant"] == "cu132"


@needs_fixtures
def test_the_readme_example_is_what_the_command_prints() -> None:
    doc = (ROOT / "docs" / "howto" / "plan.md").read_text(encoding="utf-8")
    start = doc.index("$ labtorch plan --from nvidia-smi.txt --format json\n")
    shown = doc[doc.index("\n", start) + 1:doc.index("```", start)]
    code, out, _ = run("--from", str(FIXTURES / "issue-localgpt14-gtx1080ti-win-531.14-table"
                                     "-partial.txt"), "--format", "json")
    assert code == 0
    assert json.loads(out) == json.loads(shown)


def test_the_verification_docs_plan_example_installs_the_pinned_nvidia_ml_py() -> None:
    """docs/verification.md: a GPU plan's install ends with the pinned nvidia-ml-py command."""
    doc = (ROOT / "docs" / "verification.md").read_text(encoding="utf-8")
    command = next(line for line in doc.splitlines() if line.startswith("labtorch plan "))
    code, out, err = run(*shlex.split(command)[2:])
    assert code == 0, err
    install = json.loads(out)["install"]
    assert install[-1] == ["nvidia-ml-py==13.615.71"]
    assert '["nvidia-ml-py==13.615.71"]' in doc
