"""data/releases.yaml, drivers.yaml, mirrors.yaml: loaded once, validated row by row."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest
from packaging.version import Version

from labtorch.compat import (
    ArchList,
    ComputeCapability,
    DriverVersion,
    load,
    load_from,
    variant_cuda,
)
from labtorch.errors import DataError

CC = ComputeCapability.parse


# ---------------------------------------------------------------- the arch-coverage rule

@pytest.mark.parametrize(("archs", "cc", "ptx", "kernel"), [
    # a cubin runs on its own CC and on newer minors of the same major
    ("5.0;6.0;7.0", "6.0", True, "sm_60 cubin"),
    ("5.0;6.0;7.0", "6.1", True, "sm_60 cubin"),
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0", "8.9", True, "sm_86 cubin"),
    ("7.5;8.0;8.6;9.0;10.0;12.0", "12.1", False, "sm_120 cubin"),
    ("7.5;8.0;8.6;9.0;10.0;12.0", "10.3", False, "sm_100 cubin"),
    # never across a major version, never downwards
    ("5.0;6.0;7.0", "7.5", True, "sm_70 cubin"),
    ("7.0;7.5;8.0;8.6;9.0;10.0;12.0", "6.1", True, None),
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0", "12.0", True, None),
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0", "3.7", True, None),
    ("7.5;8.0;8.6;9.0;10.0;12.0", "11.0", False, None),
    # PTX JIT-compiles to any newer CC, but only where the wheel ships it
    ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "13.0", True, "compute_120 PTX (JIT)"),
    ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "13.0", False, None),
    ("8.0;8.6+PTX", "9.0", True, "compute_86 PTX (JIT)"),
    ("8.0;8.6+PTX", "8.0", True, "sm_80 cubin"),
    # PTX never runs on an older CC than it was built for
    ("9.0+PTX", "8.9", True, None),
])
def test_arch_list_kernel_rule(archs: str, cc: str, ptx: bool, kernel: str | None) -> None:
    assert ArchList.parse(archs).kernel_for(CC(cc), ptx=ptx) == kernel


def test_arch_list_round_trips_and_rejects_garbage() -> None:
    assert str(ArchList.parse("12.0+PTX;7.5;8.0")) == "7.5;8.0;12.0+PTX"
    with pytest.raises(ValueError, match="compute capability"):
        ArchList.parse("7.5;sm_80")


def test_cuda13_wheels_carry_ptx_on_linux_only() -> None:
    release = load().release("2.13")
    assert release.build("cu130", "linux").covers(CC("13.0"))
    assert not release.build("cu130", "windows").covers(CC("13.0"))
    assert release.build("cu130", "windows").covers(CC("12.0"))


def test_variant_cuda() -> None:
    assert [str(variant_cuda(v)) for v in ("cu102", "cu118", "cu126", "cu132")] == [
        "10.2", "11.8", "12.6", "13.2"]
    with pytest.raises(ValueError):
        variant_cuda("rocm6.2")


# ---------------------------------------------------------------- driver floors

@pytest.mark.parametrize(("variant", "os", "kind", "floor"), [
    ("cu118", "linux", "minor", "450.80.02"),
    ("cu118", "windows", "minor", "452.39"),
    ("cu126", "linux", "minor", "525.60.13"),
    ("cu128", "windows", "minor", "528.33"),
    ("cu130", "linux", "minor", "580"),
    ("cu132", "windows", "minor", "580"),
    ("cu102", "linux", "minor", "440.33"),       # 10.x has no minor-version compatibility
    ("cu126", "linux", "toolkit", "560.35.05"),  # 12.6.3 ships
    ("cu126", "windows", "toolkit", "561.17"),
    ("cu128", "linux", "toolkit", "570.124.06"),
    ("cu130", "linux", "toolkit", "580.95.05"),
    ("cu130", "windows", "toolkit", "580"),      # NVIDIA lists N/A: the family floor
])
def test_driver_floor(variant: str, os: str, kind: str, floor: str) -> None:
    assert str(load().drivers.floor(variant, os, kind)) == floor  # type: ignore[arg-type]


@pytest.mark.parametrize(("driver", "os", "cuda"), [
    ("440.33", "linux", "10.2"),
    ("470.82.01", "linux", "11.4"),
    ("525.60.13", "linux", "12.0"),
    ("570.124.06", "linux", "12.8"),
    ("580.95.05", "linux", "13.0"),
    ("595.71.05", "linux", "13.2"),
    ("531.14", "windows", "12.1"),
    ("591.86", "windows", "13.0"),
    ("418.40.04", "linux", None),
])
def test_driver_max_cuda_from_toolkit_table(driver: str, os: str, cuda: str | None) -> None:
    found = load().drivers.max_cuda(DriverVersion.parse(driver), os)
    assert (None if found is None else str(found)) == cuda


def test_driver_versions_compare_numerically_and_print_as_written() -> None:
    assert DriverVersion.parse("570.124.06") > DriverVersion.parse("570.26")
    assert DriverVersion.parse("1000.1") > DriverVersion.parse("999.99.99")
    assert str(DriverVersion.parse("570.124.06")) == "570.124.06"
    with pytest.raises(ValueError):
        DriverVersion.parse("5x5")


def test_last_driver_branch_per_architecture() -> None:
    drivers = load().drivers
    assert drivers.branch_for(CC("3.7")).last_branch == "R470"  # type: ignore[union-attr]
    assert drivers.branch_for(CC("6.1")).last_branch == "R580"  # type: ignore[union-attr]
    assert drivers.branch_for(CC("7.0")).max_cuda == Version("13.0")  # type: ignore[union-attr]
    assert drivers.branch_for(CC("7.5")) is None


# ---------------------------------------------------------------- releases and mirrors

def test_releases_cover_1_12_to_newest_and_facts_of_record() -> None:
    data = load()
    lines = [r.line for r in data.releases]
    assert lines[-1] == "1.12" and Version(lines[0]) >= Version("2.13")
    assert data.last_conda_pytorch_release == "2.5"
    assert data.release("2.5").conda_pytorch_channel
    assert not data.release("2.6").conda_pytorch_channel
    # the PyPI default is CPU-only on Windows for every release
    assert {r.pypi_default["windows"] for r in data.releases} == {"cpu"}
    # sm_37 (K80) is last in 2.7 cu118
    with_kepler = [r.line for r in data.releases
                   if any(b.covers(CC("3.7")) for b in r.builds["linux"])]
    assert with_kepler[0] == "2.7"
    assert data.release("2.7").patches[0].torchvision == Version("0.22.1")


def test_every_release_row_and_build_is_complete() -> None:
    data = load()
    for release in data.releases:
        assert release.source.strip()
        assert {"linux", "windows"} <= set(release.builds)
        for builds in release.builds.values():
            for build in builds:
                data.drivers.floor(build.variant, "linux", "toolkit")  # raises when missing


def test_mirror_urls_are_built_from_the_row_template() -> None:
    mirrors = load().mirrors
    assert set(mirrors) >= {"official", "tuna", "bfsu", "aliyun", "ustc", "sjtu", "nju"}
    assert mirrors["official"].pytorch_url("cu126") == "https://download.pytorch.org/whl/cu126"
    assert mirrors["aliyun"].pytorch_url("cpu") == "https://mirrors.aliyun.com/pytorch-wheels/cpu"
    assert mirrors["aliyun"].pytorch_wheels_mode == "find-links"
    assert mirrors["tuna"].pytorch_url("cu126") is None
    assert not mirrors["ustc"].pytorch_conda_channel


def test_load_is_done_once() -> None:
    assert load() is load()


# ---------------------------------------------------------------- invalid rows fail loudly

@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    root = resources.files("labtorch.data")
    for name in ("releases.yaml", "drivers.yaml", "mirrors.yaml"):
        with resources.as_file(root.joinpath(name)) as src:
            shutil.copy(src, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("releases.yaml", 'cu128: {archs: "7.5;8.0;8.6;9.0;10.0;12.0+PTX", ptx_on: [linux]}',
     'cu128: {archs: "7.5;8.x"}', r"release row \d+ \(torch 2.7\), linux cu128: archs"),
    ("releases.yaml", '      - {version: "2.7.1", torchvision: "0.22.1", torchaudio: "2.7.1"}',
     '      - {version: "2.8.1", torchvision: "0.22.1", torchaudio: "2.7.1"}',
     r"torch 2.7\), patch 2.8.1: patch 2.8.1 does not belong to torch 2.7"),
    ("releases.yaml", "torchaudio_any_build: true, torchaudio_not_on: [cu132]}",
     "torchaudio_any_build: true, torchaudio_not_on: cu132}",
     r"torch 2.12\), patch 2.12.0: torchaudio_not_on 'cu132' is not a list of variants"),
    ("releases.yaml", "      linux: [cu118, cu126, cu128]\n",
     "      linux: [cu118, cu126, cu128]\n      macos: [cu118]\n", r"unknown platform 'macos'"),
    ("releases.yaml", "    pypi_default: {linux: cu126, windows: cpu}",
     "    pypi_default: {linux: cu124, windows: cpu}", r"pypi_default linux: cu124 is not"),
    ("releases.yaml", '    source: "TI@bad60f65;', '    sauce: "TI@bad60f65;',
     r"torch 2.7\): unknown field\(s\) sauce"),
    ("drivers.yaml", '{cuda: "12", linux: "525.60.13",', '{cuda: "12", linux: "525.60.1x",',
     r"minor_version_compat row 2 \(CUDA 12\): linux driver"),
    ("drivers.yaml", '- {variant: cu126, cuda: "12.6", toolkit_release: "Update 3", source: '
     '"RELEASE.md support matrix (12.6.3)"}', '- {variant: cu126, cuda: "12.6", toolkit_release:'
     ' "Update 3"}', r"variants row 8 \(cu126\): has no 'source:'"),
    ("mirrors.yaml", '"https://mirrors.aliyun.com/pytorch-wheels/{variant}"',
     '"https://mirrors.aliyun.com/pytorch-wheels/cu126"', r"mirrors row 4 \(aliyun\): .*{variant}"),
])
def test_an_invalid_row_fails_loudly_naming_file_and_row(
        data_copy: Path, file: str, old: str, new: str, message: str) -> None:
    _edit(data_copy / file, old, new)
    with pytest.raises(DataError, match=f"{file}: .*{message}"):
        load_from(data_copy)


def test_the_untouched_copy_loads(data_copy: Path) -> None:
    assert load_from(data_copy).releases[0].line == load().releases[0].line
