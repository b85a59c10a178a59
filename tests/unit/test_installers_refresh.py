"""`labtorch data installers`: a refreshed Miniforge pin, tested by the conda stand-in's rules.

The release directory is the stand-in's build output (installer + `<file>.sha256`, the layout
Miniforge publishes); the refreshed pin is what the conda role then downloads and verifies. The
installed stand-in replays the conda version rules that matter for the new pin.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from test_conda_standin import Lab, clean_env, installer, pytestmark, run

from labtorch.cli import main
from labtorch.installers_refresh import installer_overlay
from labtorch.overlay import read_overlay
from labtorch.roles import settings as settings_module
from labtorch.roles.settings import Settings

__all__ = ["pytestmark"]  # the stand-in's own skip (no bash or /usr/bin/python3) applies here


def install(release: Path, version: str, root: Path) -> Lab:
    built = installer.build_installer(release, version=version)
    home = root / "home"
    home.mkdir(parents=True)
    done = run(["bash", built, "-b", "-p", root / "miniforge3"], clean_env(home))
    assert done.returncode == 0, done.stderr
    return Lab(root / "miniforge3", home)


def test_refresh_pins_the_release_from_its_own_checksums(tmp_path: Path, monkeypatch) -> None:
    release = tmp_path / "release"
    built = installer.build_installer(release, version="25.11.0-1")
    overlay = tmp_path / "overlay.yaml"
    done = CliRunner().invoke(main, ["data", "installers", "--from", str(release), "--version",
                                     "25.11.0-1", "--overlay", str(overlay)])
    assert done.exit_code == 0, done.output
    assert "~ miniforge default 25.3.0-3 → 25.11.0-1" in done.output
    digest = installer.sha256_of(built)
    assert f"  + {built.name} sha256 {digest}" in done.output
    assert "no usable Miniforge3-25.11.0-1-Windows-x86_64.exe.sha256" in done.output
    monkeypatch.setenv("LABTORCH_OVERLAY", str(overlay))
    settings_module._installer_table.cache_clear()
    try:
        chosen = Settings.from_data({}, host="pc01").installer("x86_64")
    finally:
        settings_module._installer_table.cache_clear()
    assert (chosen.version, chosen.file, chosen.sha256) == ("25.11.0-1", built.name, digest)


def test_a_checksum_file_naming_another_installer_is_not_used(tmp_path: Path) -> None:
    release = tmp_path / "release"
    built = installer.build_installer(release, version="25.11.0-1")
    sums = release / f"{built.name}.sha256"
    sums.write_text(sums.read_text().replace(built.name, "Miniforge3-other.sh"))
    done = CliRunner().invoke(main, ["data", "installers", "--from", str(release), "--version",
                                     "25.11.0-1", "--overlay", str(tmp_path / "o.yaml")])
    assert done.exit_code == 2
    assert "no installer checksum of Miniforge 25.11.0-1 found" in done.output
    assert read_overlay(tmp_path / "o.yaml") is None


def test_the_overlay_adds_rows_without_dropping_the_shipped_pins() -> None:
    table = {"flavors": {"miniforge": {"default_version": "25.3.0-3"}},
             "installers": [{"file": "a.sh", "sha256": "0" * 64}]}
    merged = installer_overlay(table, {"installers": {"miniforge": {
        "default_version": "25.11.0-1", "installers": [{"file": "b.sh", "sha256": "1" * 64}]}}})
    assert merged["flavors"]["miniforge"]["default_version"] == "25.11.0-1"
    assert [r["file"] for r in merged["installers"]] == ["a.sh", "b.sh"]
    assert table["flavors"]["miniforge"]["default_version"] == "25.3.0-3"


def test_conda_25_9_and_later_no_longer_adds_defaults_to_an_empty_channel_list(
        tmp_path: Path) -> None:
    old = install(tmp_path / "r1", "25.3.0-3", tmp_path / "old")
    new = install(tmp_path / "r2", "25.11.0-1", tmp_path / "new")
    for lab in (old, new):
        (lab.prefix / ".condarc").write_text("channels: []\n")
    assert "defaults" in yaml.safe_load(old.conda("config", "--show", "channels").stdout)[
        "channels"]
    assert yaml.safe_load(new.conda("config", "--show", "channels").stdout)["channels"] == []
    refused = new.conda("create", "-n", "x", "python=3.11", "-y")
    assert refused.returncode == 1 and "No channels configured." in refused.stderr


def test_conda_23_fetches_nodefaults_from_a_condarc_as_a_channel_and_gets_a_404(
        tmp_path: Path) -> None:
    rc = ("channels:\n  - conda-forge\n  - nodefaults\n"
          "channel_alias: https://mirrors.example.edu/anaconda/cloud\n")
    old = install(tmp_path / "r1", "23.11.0-0", tmp_path / "old")
    new = install(tmp_path / "r2", "25.3.0-3", tmp_path / "new")
    for lab in (old, new):
        (lab.prefix / ".condarc").write_text(rc)
    failed = old.conda("create", "-n", "x", "python=3.11", "-y")
    assert failed.returncode == 1
    assert ("CondaHTTPError: HTTP 404 NOT FOUND for url <https://mirrors.example.edu/anaconda/"
            "cloud/nodefaults/linux-64/repodata.json>") in failed.stderr
    made = new.conda("create", "-n", "x", "python=3.11", "-y", "-q")
    assert made.returncode == 0, made.stderr
