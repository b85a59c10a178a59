"""`labtorch data refresh` learns releases from an index snapshot into the overlay.

The snapshots are written here in the layout `--save-snapshot` writes (listing pages as an index
serves them, PEP 658 metadata files next to them) and read through the product's offline path
(`--snapshot DIR`). The shipped data is the real one: the new release is 2.16, one line after
the newest shipped line (2.15).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from click.testing import CliRunner

from labtorch import compat
from labtorch.cli import main
from labtorch.model import Gpu, GpuFacts, SitePolicy
from labtorch.overlay import read_overlay
from labtorch.planner import plan_host
from labtorch.refresh import refresh
from labtorch.release_index import IndexSource

PLATFORMS = {"linux": "manylinux_2_28_x86_64", "windows": "win_amd64"}
RTX_4090 = GpuFacts(os="linux", driver_version="595.71.05", cuda_version="13.2",
                    gpus=(Gpu("NVIDIA GeForce RTX 4090", compute_capability="8.9"),))


def snapshot(root: Path, *, torch: str = "2.16.0", variants: tuple[str, ...] = ("cu130", "cu132"),
             pythons: tuple[str, ...] = ("311", "312", "313", "314"),
             requires_python: str = ">=3.11", vision_pins: str | None = "==2.16.0",
             audio_pins: str | None = ">=2.11") -> Path:
    """An index snapshot: torch (and torchvision/torchaudio) listings plus metadata files."""
    for variant in variants:
        files = [f"torch-{torch}+{variant}-cp{py}-cp{py}-{tag}.whl"
                 for py in pythons for tag in PLATFORMS.values()]
        _project(root, variant, "torch", files,
                 f"Name: torch\nVersion: {torch}+{variant}\nRequires-Python: {requires_python}\n"
                 "Requires-Dist: filelock\n")
        if vision_pins:
            _project(root, variant, "torchvision",
                     [f"torchvision-0.31.0+{variant}-cp312-cp312-manylinux_2_28_x86_64.whl"],
                     f"Name: torchvision\nRequires-Dist: torch{vision_pins}\n")
        if audio_pins:
            _project(root, variant, "torchaudio",
                     ["torchaudio-2.11.0-cp312-cp312-manylinux_2_28_x86_64.whl"],
                     f"Name: torchaudio\nRequires-Dist: torch{audio_pins}\n")
    return root


def _project(root: Path, variant: str, project: str, files: list[str], metadata: str) -> None:
    folder = root / variant / project
    folder.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="/whl/{variant}/{f.replace("+", "%2B")}#sha256={"ab" * 32}" '
                    f'data-core-metadata="sha256={"cd" * 32}">{f}</a><br>\n' for f in files)
    (folder / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    for name in files:
        (folder / f"{name}.metadata").write_text(metadata)


def learn(root: Path) -> tuple[compat.Compat, list[str], list[str]]:
    texts = compat.shipped_texts()
    now = compat.parse(texts)
    shipped = yaml.safe_load(texts["releases.yaml"])
    result = refresh(IndexSource(str(root)), now, shipped, None)
    return compat.parse(texts, overlay=result.overlay), result.changes, result.notes


def test_a_release_that_drops_a_variant_is_learned_without_it(tmp_path: Path) -> None:
    data, changes, _ = learn(snapshot(tmp_path, variants=("cu132",)))
    release = data.release("2.16")
    assert [b.variant for b in release.builds["linux"]] == ["cu132"]
    assert "  - linux: cu130 dropped since torch 2.15" in changes
    plan = plan_host(RTX_4090, SitePolicy(), data=data)
    assert (plan.torch, plan.variant) == ("2.16.0", "cu132")
    assert any("assumed from 2.15" in r for r in plan.reasons)


def test_a_release_that_raises_requires_python_leaves_older_pythons_on_the_previous_one(
        tmp_path: Path) -> None:
    data, changes, _ = learn(snapshot(tmp_path, pythons=("312", "313", "314"),
                                      requires_python=">=3.12"))
    assert [str(p) for p in data.release("2.16").pythons] == ["3.12", "3.13", "3.14"]
    assert "  - Python 3.11 dropped since torch 2.15 (torch 2.16 raised Requires-Python)" \
        in changes
    assert plan_host(RTX_4090, SitePolicy(python="3.11"), data=data).torch == "2.15.0"
    assert plan_host(RTX_4090, SitePolicy(python="3.12"), data=data).torch == "2.16.0"


def test_a_lagging_torchvision_holds_back_only_plans_that_want_torchvision(
        tmp_path: Path) -> None:
    data, changes, notes = learn(snapshot(tmp_path, vision_pins="==2.15.0"))
    assert "  + patch 2.16.0: torchvision none yet, torchaudio 2.11.0" in changes
    assert any("no torchvision pins it yet" in n for n in notes)
    assert plan_host(RTX_4090, SitePolicy(), data=data).torch == "2.15.0"
    alone = plan_host(RTX_4090, SitePolicy(include_torchvision=False), data=data)
    assert alone.torch == "2.16.0"


def test_a_lagging_torchaudio_is_left_out_with_a_warning(tmp_path: Path) -> None:
    data, _, notes = learn(snapshot(tmp_path, audio_pins="==2.15.0"))
    plan = plan_host(RTX_4090, SitePolicy(), data=data)
    assert (plan.torch, plan.torchaudio) == ("2.16.0", None)
    assert any("torchaudio left out" in w for w in plan.warnings)
    assert any("no torchaudio admits it" in n for n in notes)


def test_refresh_writes_the_overlay_prints_the_diff_and_never_edits_shipped_files(
        tmp_path: Path) -> None:
    shipped = resources.files("labtorch.data").joinpath("releases.yaml").read_bytes()
    overlay = tmp_path / "overlay.yaml"
    index = snapshot(tmp_path / "index")
    runner = CliRunner()
    first = runner.invoke(main, ["data", "refresh", "--snapshot", str(index),
                                 "--overlay", str(overlay)])
    assert first.exit_code == 0, first.output
    assert "+ torch 2.16 (new release): patches 2.16.0; Python 3.11, 3.12, 3.13, 3.14" \
        in first.output
    assert f"overlay written to {overlay}" in first.output
    assert [r["torch"] for r in (read_overlay(overlay) or {})["releases"]] == ["2.16"]
    again = runner.invoke(main, ["data", "refresh", "--snapshot", str(index),
                                 "--overlay", str(overlay)])
    assert "no change" in again.output
    assert resources.files("labtorch.data").joinpath("releases.yaml").read_bytes() == shipped


def test_a_missing_snapshot_is_a_one_line_error(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["data", "refresh", "--snapshot", str(tmp_path / "none"),
                                     "--overlay", str(tmp_path / "o.yaml")])
    assert done.exit_code == 2
    assert done.output.startswith("labtorch: error: index snapshot")
    assert "Traceback" not in done.output


def test_the_docstring_examples_of_the_refresh_modules_hold() -> None:
    import doctest
    import importlib

    for name in ("overlay", "release_index", "refresh", "archs_seen", "installers_refresh"):
        module = importlib.import_module(f"labtorch.{name}")
        assert doctest.testmod(module).failed == 0, name
