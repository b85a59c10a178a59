"""The planner: GPU facts + site policy -> HostPlan.

Properties over the whole GPU table (data/gpus.yaml) × a spread of drivers × both OSes, then one
named test per classic trap that today's tools fall into, then policies, indexes and groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from packaging.version import Version

from labtorch.compat import ComputeCapability, DriverVersion, load, load_from
from labtorch.errors import LabtorchError
from labtorch.gpus import all_gpus
from labtorch.model import Gpu, GpuFacts, HostPlan, SitePolicy
from labtorch.planner import plan_group, plan_host

DATA = load()
LINUX_DRIVERS = ("418.40.04", "450.80.02", "470.82.01", "525.60.13", "535.54.03", "550.54.14",
                 "560.35.05", "570.124.06", "575.57.08", "580.95.05", "590.48.01", "595.71.05")
WINDOWS_DRIVERS = ("452.39", "472.50", "528.33", "537.13", "551.61", "561.17", "572.61",
                   "581.57", "591.86")


def host(*gpus: tuple[str, str | None], driver: str | None = "550.54.14", os: str = "linux",
         cuda: str | None = None) -> GpuFacts:
    """Facts of one host with (name, compute capability) GPUs."""
    return GpuFacts(os=os, driver_version=driver, cuda_version=cuda,  # type: ignore[arg-type]
                    gpus=tuple(Gpu(n, compute_capability=c) for n, c in gpus))


def build_of(plan: HostPlan) -> tuple[str, object]:
    line = ".".join(plan.torch.split(".")[:2])
    return line, DATA.release(line).build(plan.variant, plan.os)


# ---------------------------------------------------------------- properties over the GPU table

def _table_cases() -> Iterator[tuple[str, str, str]]:
    # The planner reads only the compute capability of a table row (the name only shows up in
    # reasons), so each distinct CC of the table stands for all rows that share it.
    ccs = sorted({g.compute_capability for g in all_gpus()}, key=ComputeCapability.parse)
    for cc in ccs:
        for driver in LINUX_DRIVERS:
            yield cc, driver, "linux"
        for driver in WINDOWS_DRIVERS:
            yield cc, driver, "windows"


# Jetson (Tegra) integrated GPUs: JetPack, not the PyTorch index (TX1/Nano, TX2, Xavier, Orin).
TEGRA = {"5.3", "6.2", "7.2", "8.7"}


def _fitting_versions(cc: ComputeCapability, driver: DriverVersion, os: str) -> list[Version]:
    """Oracle: every torch version (Python ≤ 3.12 available) with a build that runs here.

    A GPU reached only through PTX needs the toolkit's driver (the driver JIT-compiles it).
    """
    if str(cc) in TEGRA:
        return []
    found = []
    for release in DATA.releases:
        if not any(p <= Version("3.12") for p in release.pythons):
            continue
        for build in release.builds.get(os, ()):
            kernel = build.kernel_for(cc)
            kind = "toolkit" if kernel and "PTX" in kernel else "minor"
            if kernel and driver >= DATA.drivers.floor(build.variant, os, kind):
                found += [p.version for p in release.patches]
    return found


def test_gpu_table_is_large_enough_to_mean_something() -> None:
    assert len(all_gpus()) > 100


@pytest.mark.parametrize(("cc", "driver", "os"), list(_table_cases()))
def test_plan_has_kernels_meets_the_floor_and_misses_no_gpu_build(
        cc: str, driver: str, os: str) -> None:
    plan = plan_host(host(("GPU", cc), driver=driver, os=os), SitePolicy())
    capability = ComputeCapability.parse(cc)
    fitting = _fitting_versions(capability, DriverVersion.parse(driver), os)
    if plan.variant == "cpu":
        assert not fitting, f"missed a GPU build: {max(fitting)}"
        assert plan.warnings and plan.warnings[0].startswith("CPU build planned")
        return
    _, build = build_of(plan)
    assert build.covers(capability)  # type: ignore[attr-defined]
    kernel = build.kernel_for(capability)  # type: ignore[attr-defined]
    floor = DATA.drivers.floor(plan.variant, os, "toolkit" if "PTX" in kernel else "minor")
    assert DriverVersion.parse(driver) >= floor
    assert Version(plan.torch) == max(fitting)  # the newest torch that fits
    assert any(a[0] == f"torch=={plan.torch}+{plan.variant}" for a in plan.install)


# ---------------------------------------------------------------- the classic traps

def test_pascal_on_driver_580_gets_cu126_not_a_cuda_13_wheel() -> None:
    plan = plan_host(host(("NVIDIA GeForce GTX 1080", "6.1"), driver="580.95.05", cuda="13.0"),
                     SitePolicy())
    assert plan.variant == "cu126"
    assert any("not cu130: no kernels for CC 6.1" in r for r in plan.reasons)
    assert any("Pascal" in r and "R580" in r for r in plan.reasons)


def test_gtx_1080_ti_on_a_12_8_driver_is_not_given_cu128_from_2_7() -> None:
    facts = host(("NVIDIA GeForce GTX 1080 Ti", "6.1"), driver="570.124.06", cuda="12.8")
    for torch in ("==2.7.1", ">=2.7,<2.9", "latest"):
        plan = plan_host(facts, SitePolicy(torch=torch))
        assert plan.variant not in ("cu128", "cu129", "cu130", "cu132"), torch
        assert plan.variant == "cu126"
    assert plan_host(facts, SitePolicy(torch="2.7")).torch == "2.7.1"


@pytest.mark.parametrize(("driver", "os", "variants"), [
    ("570.124.06", "linux", {"cu128"}),
    ("575.57.08", "linux", {"cu128", "cu129"}),
    ("580.95.05", "linux", {"cu130"}),
    ("595.71.05", "linux", {"cu130"}),  # cu132 has no torchaudio; see the torchaudio tests
    ("572.61", "windows", {"cu128"}),
    ("591.86", "windows", {"cu130"}),
])
def test_rtx_50_series_gets_cu128_or_newer_and_torch_2_7_or_newer(
        driver: str, os: str, variants: set[str]) -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 5090", "12.0"), driver=driver, os=os),
                     SitePolicy())
    assert plan.variant in variants
    assert Version(plan.torch) >= Version("2.7")


def test_rtx_50_series_with_a_policy_pinning_torch_2_5_is_an_error_naming_torch_2_7() -> None:
    # Not a silent CPU plan: the GPU is newer than the policy, and the policy is what must change.
    facts = host(("NVIDIA GeForce RTX 5070", "12.0"), driver="580.95.05")
    for torch in ("2.5", "2.6", "==2.5.1", "<2.7"):
        with pytest.raises(LabtorchError) as caught:
            plan_host(facts, SitePolicy(torch=torch), host="pc09")
        line = str(caught.value)
        assert line.startswith("pc09: NVIDIA GeForce RTX 5070 (CC 12.0) is newer than every")
        assert "torch 2.7 (cu128)" in line and "allow torch ≥2.7" in line, torch


def test_a_python_that_only_old_releases_support_is_named_when_it_excludes_the_gpu() -> None:
    facts = host(("NVIDIA GeForce RTX 5090", "12.0"), driver="580.95.05")
    with pytest.raises(LabtorchError, match=r"is newer than every torch that 'latest' with "
                                            r"Python 3.8 allows \(newest allowed: 2.4\)"):
        plan_host(facts, SitePolicy(python="3.8"))


def test_k80_with_a_policy_above_its_last_release_gets_cpu_naming_torch_2_7() -> None:
    plan = plan_host(host(("Tesla K80", "3.7"), driver="470.82.01"), SitePolicy(torch=">=2.8"))
    assert plan.variant == "cpu"
    assert "the newest PyTorch with a linux build with kernels for it is torch 2.7 (cu118)" \
        in plan.warnings[0]


def test_k80_gets_cu118_and_torch_2_7_at_most() -> None:
    plan = plan_host(host(("Tesla K80", "3.7"), driver="470.82.01", cuda="11.4"), SitePolicy())
    assert (plan.torch, plan.variant) == ("2.7.1", "cu118")
    assert any("minor-version compatibility" in w for w in plan.warnings)
    assert any("Kepler" in r and "R470" in r for r in plan.reasons)


def test_gt_730_gets_cpu_with_the_reason() -> None:
    plan = plan_host(host(("GeForce GT 730", "3.5"), driver="470.82.01"), SitePolicy())
    assert plan.variant == "cpu"
    assert plan.warnings == (
        "CPU build planned: GeForce GT 730 (CC 3.5): no PyTorch ≥1.12 build for linux has "
        "kernels for it",)
    assert plan.install[0][0] == f"torch=={plan.torch}+cpu"


@pytest.mark.parametrize(("gpus", "driver"), [
    ((("NVIDIA GeForce RTX 3060", "8.6"),), "551.61"),
    ((("NVIDIA GeForce GTX 1650", "7.5"),), "472.50"),
    ((("GeForce GT 730", "3.5"),), "472.50"),
    ((), "551.61"),
])
def test_windows_never_gets_plain_pypi_torch(gpus: tuple[tuple[str, str], ...],
                                             driver: str) -> None:
    plan = plan_host(host(*gpus, driver=driver, os="windows"), SitePolicy())
    torch_commands = [args for args in plan.install if args[0].startswith("torch==")]
    assert len(torch_commands) == 1
    for args in torch_commands:
        assert "--index-url" in args
        assert args[args.index("--index-url") + 1].startswith("https://download.pytorch.org/whl/")
        assert args[0] == f"torch=={plan.torch}+{plan.variant}"


def test_a_host_with_two_different_gpus_is_planned_for_the_lowest_and_lists_both() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 4090", "8.9"), ("Tesla P40", "6.1"),
                          driver="580.95.05"), SitePolicy())
    assert plan.variant == "cu126"
    assert plan.min_compute_capability == "6.1"
    assert plan.gpus == ("NVIDIA GeForce RTX 4090", "Tesla P40")
    assert "NVIDIA GeForce RTX 4090 (CC 8.9), Tesla P40 (CC 6.1)" in plan.reasons[0]


def test_a_host_whose_gpus_share_no_build_gets_cpu_saying_so() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 5090", "12.0"), ("Tesla K80", "3.7"),
                          driver="580.95.05"), SitePolicy())
    assert plan.variant == "cpu"
    assert "no single PyTorch build has kernels for all of these GPUs" in plan.warnings[0]


def test_a_driver_too_old_for_any_cuda_12_build_falls_back_to_cuda_11() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 2080", "7.5"), driver="515.65.01"), SitePolicy())
    assert plan.variant == "cu118"
    assert plan.torch == "2.7.1"
    assert any("not cu126: needs driver ≥ 525.60.13, host has 515.65.01" in r
               for r in plan.reasons)


def test_a_driver_that_holds_a_host_back_to_an_old_torch_says_which_driver_frees_it() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 2080", "7.5"), driver="515.65.01"), SitePolicy())
    assert plan.torch == "2.7.1"
    held = [w for w in plan.warnings if w.startswith("the driver holds this host back")]
    assert held and "torch 2.15.0 has kernels for it but needs driver ≥ 580" in held[0]


def test_a_host_on_the_newest_torch_gets_no_driver_warning() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 2080", "7.5"), driver="580.95.05"), SitePolicy())
    assert not any(w.startswith("the driver holds") for w in plan.warnings)


def test_a_driver_too_old_for_any_build_gets_cpu_and_the_floor_to_reach() -> None:
    plan = plan_host(host(("Tesla T4", "7.5"), driver="418.40.04"), SitePolicy())
    assert plan.variant == "cpu"
    assert "driver 418.40.04 is too old" in plan.warnings[0]
    assert "update the driver to ≥ 440.33" in plan.warnings[0]


def test_volta_keeps_cu128_only_while_2_8_to_2_10_carry_sm_70() -> None:
    facts = host(("Tesla V100-SXM2-16GB", "7.0"), driver="575.57.08")
    assert plan_host(facts, SitePolicy(torch="2.10")).variant == "cu128"
    assert plan_host(facts, SitePolicy(torch="2.8")).variant == "cu129"
    assert plan_host(facts, SitePolicy(torch="2.11")).variant == "cu126"
    assert plan_host(facts, SitePolicy(torch="2.7")).variant == "cu126"


# ---------------------------------------------------------------- the driver

def test_the_variant_nearest_the_driver_is_chosen() -> None:
    gpu = ("NVIDIA GeForce RTX 4090", "8.9")
    policy = SitePolicy(include_torchaudio=False)
    assert plan_host(host(gpu, driver="595.71.05"), policy).variant == "cu132"
    assert plan_host(host(gpu, driver="580.95.05"), policy).variant == "cu130"
    assert plan_host(host(gpu, driver="570.124.06"), policy).variant == "cu126"


def test_torchaudio_wanted_steers_away_from_the_cu132_index_that_has_none() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 4090", "8.9"), driver="595.71.05"), SitePolicy())
    assert (plan.torch, plan.variant, plan.torchaudio) == ("2.15.0", "cu130", "2.11.0")
    assert "torchaudio==2.11.0" in plan.install[0]
    assert any("not cu132: its index has no torchaudio 2.11.0" in r for r in plan.reasons)


def test_torchaudio_is_left_out_with_a_warning_when_only_cu132_fits(tmp_path: Path) -> None:
    data = _data_with(tmp_path, ('      linux: [cu126, cu130, cu132]\n',
                                 '      linux: [cu126, cu132]\n'),
                      ('      linux: [cu130, cu132]\n', '      linux: [cu132]\n'),
                      ("pypi_default: {linux: cu130, windows: cpu, linux-aarch64",
                       "pypi_default: {linux: cu132, windows: cpu, linux-aarch64"))
    plan = plan_host(host(("NVIDIA GeForce RTX 5090", "12.0"), driver="595.71.05"),
                     SitePolicy(), data=data)
    assert (plan.variant, plan.torchaudio) == ("cu132", None)
    assert not any(a.startswith("torchaudio") for a in plan.install[0])
    assert any(w.startswith("torchaudio left out: the cu132 index") for w in plan.warnings)


def _data_with(tmp_path: Path, *changes: tuple[str, str]):  # type: ignore[no-untyped-def]
    """The packaged data with every ``old`` text of releases.yaml replaced by ``new``."""
    root = resources.files("labtorch.data")
    for name in ("releases.yaml", "drivers.yaml", "mirrors.yaml"):
        (tmp_path / name).write_text(root.joinpath(name).read_text(encoding="utf-8"),
                                     encoding="utf-8")
    releases = tmp_path / "releases.yaml"
    text = releases.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    releases.write_text(text, encoding="utf-8")
    return load_from(tmp_path)


def test_minor_compatibility_is_used_with_a_warning_and_toolkit_floor_refuses_it() -> None:
    facts = host(("NVIDIA GeForce RTX 3090", "8.6"), driver="550.54.14")
    minor = plan_host(facts, SitePolicy())
    assert (minor.torch, minor.variant) == ("2.14.1", "cu126")
    assert "update the driver to ≥ 560.35.05" in minor.warnings[0]
    strict = plan_host(facts, SitePolicy(driver_floor="toolkit"))
    assert strict.variant not in ("cu126", "cu128")
    assert not any("minor-version compatibility" in w for w in strict.warnings)
    assert any(w.startswith("the driver holds this host back") for w in strict.warnings)
    assert Version(strict.torch) < Version("2.8")


def test_the_driver_cuda_is_derived_when_nvidia_smi_did_not_print_it() -> None:
    plan = plan_host(host(("Tesla T4", "7.5"), driver="535.54.03"), SitePolicy())
    assert any("driver 535.54.03 (CUDA 12.2)" in r for r in plan.reasons)


@pytest.mark.parametrize(("facts", "words"), [
    (GpuFacts(os="linux", error="no_driver", error_detail="NVIDIA-SMI has failed because it "
              "couldn't communicate with the NVIDIA driver."), "reinstall the driver, then re-run"),
    (GpuFacts(os="linux", error="not_installed"), "install the NVIDIA driver"),
    (GpuFacts(os="windows", error="nvml_mismatch", error_detail="Failed to initialize NVML: "
              "Driver/library version mismatch"), "reboot the host"),
    (GpuFacts(os="linux", driver_version="550.54.14"), "no NVIDIA GPU was reported"),
    (host(("Mystery GPU", None)), "its compute capability is unknown"),
    (host(("NVIDIA T4", "7.5"), driver=None), "driver version is unknown"),
])
def test_no_gpu_or_a_broken_driver_gets_cpu_with_plain_words(facts: GpuFacts,
                                                              words: str) -> None:
    plan = plan_host(facts, SitePolicy())
    assert plan.variant == "cpu"
    assert words in plan.warnings[0]
    assert plan.index_url == "https://download.pytorch.org/whl/cpu"


def test_allow_cpu_false_raises_naming_the_host() -> None:
    with pytest.raises(LabtorchError, match=r"^pc07: no GPU build fits: GeForce GT 730"):
        plan_host(host(("GeForce GT 730", "3.5")), SitePolicy(allow_cpu=False), host="pc07")


# ---------------------------------------------------------------- policy

@pytest.mark.parametrize(("policy", "message"), [
    (SitePolicy(torch="2.99", python="3.8"), r"torch '2.99' with Python 3.8: no known PyTorch"),
    (SitePolicy(torch="2.13", python="3.8"),
     r"torch '2.13' has no build for Python 3.8 \(torch 2.13 supports Python 3.10–3.14\); "
     r"choose --python within 3.10–3.14, or .*newest: torch 2.4"),
    (SitePolicy(torch="2.x"), r"torch spec '2.x' is not a version or specifier"),
    (SitePolicy(python="three"), r"python 'three' is not a Python version"),
    (SitePolicy(torch="2.13", python_max="3.9"), r"supports no Python at or below python_max"),
    (SitePolicy(mirror="nowhere"), r"mirror 'nowhere' is not in data/mirrors.yaml"),
])
def test_impossible_policy_raises_naming_what_and_what_to_do(policy: SitePolicy,
                                                             message: str) -> None:
    with pytest.raises(LabtorchError, match=message):
        plan_host(host(("NVIDIA GeForce RTX 3090", "8.6")), policy)


def test_python_is_the_newest_the_release_supports_up_to_python_max() -> None:
    facts = host(("NVIDIA GeForce RTX 3090", "8.6"))
    assert plan_host(facts, SitePolicy()).python == "3.12"
    assert plan_host(facts, SitePolicy(python_max="3.14")).python == "3.14"
    assert plan_host(facts, SitePolicy(torch="2.1")).python == "3.11"
    assert plan_host(facts, SitePolicy(python="3.9")).torch == "2.8.0"


def test_torch_spec_forms() -> None:
    facts = host(("NVIDIA GeForce RTX 3090", "8.6"))
    assert plan_host(facts, SitePolicy(torch="2.5")).torch == "2.5.1"
    assert plan_host(facts, SitePolicy(torch="==2.5.0")).torch == "2.5.0"
    assert plan_host(facts, SitePolicy(torch=">=2.2,<2.4")).torch == "2.3.1"


def test_unknown_os_is_an_error_naming_the_host() -> None:
    with pytest.raises(LabtorchError, match="pc01: the host's OS is 'unknown'"):
        plan_host(GpuFacts(), SitePolicy(), host="pc01")


def test_linux_aarch64_uses_its_own_arch_lists() -> None:
    plan = plan_host(host(("NVIDIA GH200", "9.0"), driver="580.95.05"), SitePolicy(),
                     arch="aarch64")
    assert plan.variant == "cu130"
    turing = plan_host(host(("Tesla T4", "7.5"), driver="580.95.05"), SitePolicy(),
                       arch="aarch64")
    assert turing.variant == "cpu"  # aarch64 wheels start at sm_80


# ---------------------------------------------------------------- index and install

def test_lab_policy_pins_the_relabelled_wheel_on_the_site_index() -> None:
    policy = SitePolicy(torch="==2.13.0", python="3.11", include_torchvision=False,
                        include_torchaudio=False,
                        pytorch_index_url="http://127.0.0.1:8765/whl/{variant}/simple")
    plan = plan_host(host(("NVIDIA GeForce GTX 1080 Ti", "6.1"), driver="580.95.05"), policy)
    assert plan.install == (("torch==2.13.0+cu126", "--index-url",
                             "http://127.0.0.1:8765/whl/cu126/simple"),
                            ("nvidia-ml-py==13.615.71",))
    assert (plan.python, plan.torchvision, plan.torchaudio) == ("3.11", None, None)


def test_a_gpu_plan_installs_what_verification_imports_from_the_sites_pypi() -> None:
    policy = SitePolicy(torch="==2.13.0", pypi_index_url="http://10.0.0.5/pypi/simple",
                        pytorch_index_url="http://10.0.0.5/whl/{variant}/simple")
    gpu = plan_host(host(("NVIDIA GeForce RTX 3090", "8.6"), driver="580.95.05"), policy)
    assert gpu.install[-1] == ("nvidia-ml-py==13.615.71", "--index-url",
                               "http://10.0.0.5/pypi/simple")
    cpu = plan_host(host(("GeForce GTX 780", "3.5"), driver="470.82.01"), policy)
    assert cpu.variant == "cpu"  # no GPU check runs, so nothing of NVML is installed
    assert not [cmd for cmd in cpu.install if cmd[0].startswith("nvidia-ml-py")]


def test_mirror_rows_decide_the_index() -> None:
    facts = host(("NVIDIA GeForce RTX 3090", "8.6"), driver="560.35.05")
    aliyun = plan_host(facts, SitePolicy(mirror="aliyun"))
    assert aliyun.install[0][-4:] == ("--find-links", "https://mirrors.aliyun.com/pytorch-wheels/"
                                      "cu126", "--index-url", "https://mirrors.aliyun.com/pypi/simple")
    nju = plan_host(facts, SitePolicy(mirror="nju"))
    assert nju.index_url == "https://mirrors.nju.edu.cn/pytorch/whl/cu126"
    tuna = plan_host(facts, SitePolicy(mirror="tuna"))
    assert tuna.index_url == "https://download.pytorch.org/whl/cu126"
    assert tuna.extra_index_url == "https://pypi.tuna.tsinghua.edu.cn/simple"
    site = plan_host(facts, SitePolicy(pypi_index_url="http://10.0.0.5/simple"))
    assert site.install[0][-2:] == ("--extra-index-url", "http://10.0.0.5/simple")


def test_torchaudio_without_its_own_release_is_pinned_without_a_build_tag() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 3090", "8.6"), driver="560.35.05"),
                     SitePolicy(torch="2.13"))
    assert plan.install[0][:3] == ("torch==2.13.0+cu126", "torchvision==0.28.0+cu126",
                                   "torchaudio==2.11.0")
    old = plan_host(host(("NVIDIA GeForce RTX 3090", "8.6"), driver="560.35.05"),
                    SitePolicy(torch="2.7"))
    assert old.install[0][2] == "torchaudio==2.7.1+cu126"


# ---------------------------------------------------------------- review: edge cases

def test_a_gpu_reached_only_through_ptx_needs_the_toolkit_driver_not_the_minor_floor() -> None:
    # A future CC 13.0 GPU runs only the compute_120 PTX, JIT-compiled by the driver: 580.65.06
    # (CUDA 13.0 GA) is below the cu130 toolkit driver 580.95.05, so not cu130 but 2.8 cu129.
    plan = plan_host(host(("future GPU", "13.0"), driver="580.65.06"), SitePolicy())
    assert (plan.torch, plan.variant) == ("2.8.0", "cu129")
    assert any("toolkit reading: a GPU runs JIT-compiled PTX" in r for r in plan.reasons)
    newer = plan_host(host(("future GPU", "13.0"), driver="580.95.05"), SitePolicy())
    assert (newer.torch, newer.variant) == ("2.15.0", "cu130")


def test_windows_cu13x_serves_cc_12_1_by_cubin_but_never_leans_on_its_missing_ptx() -> None:
    gb10 = plan_host(host(("NVIDIA GB10", "12.1"), driver="591.86", os="windows"), SitePolicy())
    assert gb10.variant == "cu130"
    assert any("CC 12.1 the sm_120 cubin" in r and "PTX ships on Linux only" in r
               for r in gb10.reasons)
    future = plan_host(host(("future GPU", "13.0"), driver="591.86", os="windows"), SitePolicy())
    assert future.variant == "cpu"
    assert "no PyTorch ≥1.12 build for windows has kernels for it" in future.warnings[0]


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_jetson_orin_gets_cpu_saying_jetpack_not_an_sbsa_wheel(arch: str) -> None:
    plan = plan_host(host(("Orin (nvgpu)", "8.7"), driver="540.4.0"), SitePolicy(), arch=arch)
    assert plan.variant == "cpu"
    assert "Jetson (Tegra) integrated GPU" in plan.warnings[0]
    assert "JetPack" in plan.warnings[0]


def test_jetson_thor_and_gb10_on_aarch64_get_the_sbsa_cuda_13_wheel() -> None:
    for name, cc in (("NVIDIA Jetson Thor", "11.0"), ("NVIDIA GB10", "12.1")):
        plan = plan_host(host((name, cc), driver="580.95.05"), SitePolicy(), arch="aarch64")
        assert (plan.torch, plan.variant) == ("2.15.0", "cu130"), name


def test_a_gpu_whose_compute_capability_is_unknown_is_never_guessed() -> None:
    plan = plan_host(host(("NVIDIA Mystery 9000", None), driver="580.95.05"), SitePolicy())
    assert plan.variant == "cpu"
    assert "NVIDIA Mystery 9000: its compute capability is unknown" in plan.warnings[0]
    assert "add --compute-capability or a row to data/gpus.yaml" in plan.warnings[0]
    with pytest.raises(LabtorchError, match="pc05: no GPU build fits: NVIDIA Mystery 9000"):
        plan_host(host(("NVIDIA Mystery 9000", None)), SitePolicy(allow_cpu=False), host="pc05")


def test_a_driver_without_a_cuda_version_is_planned_from_the_driver_table() -> None:
    reported = plan_host(host(("NVIDIA GeForce RTX 3090", "8.6"), driver="560.35.05",
                              cuda="12.6"), SitePolicy())
    derived = plan_host(host(("NVIDIA GeForce RTX 3090", "8.6"), driver="560.35.05"),
                        SitePolicy())
    assert (derived.torch, derived.variant) == (reported.torch, reported.variant)
    assert any("driver 560.35.05 (CUDA 12.6)" in r for r in derived.reasons)


@pytest.mark.parametrize(("spec", "torch"), [
    ("2.7", "2.7.1"), ("==2.7.0", "2.7.0"), ("2.7.*", "2.7.1"), (">=2.5,<2.8", "2.7.1"),
    ("latest", "2.15.0"), (" ~=2.9.0 ", "2.9.1"),
])
def test_every_torch_spec_form_selects_the_release_it_names(spec: str, torch: str) -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 3090", "8.6"), driver="580.95.05"),
                     SitePolicy(torch=spec))
    assert plan.torch == torch


def test_a_torch_spec_naming_a_build_is_refused_with_the_version_to_write() -> None:
    with pytest.raises(LabtorchError, match=r"names a build \(\+cu126\); write 2.7.1"):
        plan_host(host(("NVIDIA GeForce RTX 3090", "8.6")), SitePolicy(torch="2.7.1+cu126"))


def test_a_windows_style_driver_version_is_not_read_as_a_very_old_driver() -> None:
    plan = plan_host(host(("NVIDIA GeForce RTX 3060", "8.6"), driver="31.0.15.3640",
                          os="windows"), SitePolicy())
    assert plan.variant == "cpu"
    assert "'31.0.15.3640' is not NVIDIA's driver number" in plan.warnings[0]
    assert "too old" not in plan.warnings[0]


def test_mig_partitions_plan_as_their_physical_gpu() -> None:
    facts = GpuFacts(os="linux", driver_version="590.48.01", cuda_version="13.1",
                     gpus=(Gpu("NVIDIA H100 80GB HBM3", compute_capability="9.0",
                               mig_enabled=True),))
    plan = plan_host(facts, SitePolicy())
    assert (plan.torch, plan.variant) == ("2.15.0", "cu130")


# ---------------------------------------------------------------- groups

def test_group_gets_the_newest_torch_every_gpu_host_can_run_each_with_its_own_variant() -> None:
    room = {
        "pc01": host(("Tesla K80", "3.7"), driver="470.82.01"),
        "pc02": host(("NVIDIA GeForce RTX 5090", "12.0"), driver="580.95.05"),
        "pc03": host(("NVIDIA GeForce GTX 1080 Ti", "6.1"), driver="580.95.05"),
        "pc04": GpuFacts(os="linux", error="no_driver", error_detail="NVIDIA-SMI has failed"),
    }
    group = plan_group(room, SitePolicy())
    plans = group.plans
    assert group.ok and group.torch == "2.7.1"
    assert {p.torch for p in plans.values()} == {"2.7.1"}
    assert [plans[h].variant for h in ("pc01", "pc02", "pc03", "pc04")] == [
        "cu118", "cu128", "cu126", "cpu"]
    assert "every GPU host of the group can run" in plans["pc02"].reasons[-1]


def test_group_without_a_common_version_is_split_with_a_warning(tmp_path: Path) -> None:
    # With the real data every GPU host can meet at torch 2.7 (cu118 for Kepler, cu128 for
    # Blackwell); without the 2.7 cu118 wheels a K80 and an RTX 5090 share no release.
    data = _data_with(tmp_path, ("      linux: [cu118, cu126, cu128]\n",
                                 "      linux: [cu126, cu128]\n"))
    room = {
        "pc01": host(("Tesla K80", "3.7"), driver="470.82.01"),
        "pc02": host(("NVIDIA GeForce RTX 5090", "12.0"), driver="580.95.05"),
        "pc03": host(("NVIDIA GeForce RTX 5080", "12.0"), driver="580.95.05"),
    }
    plans = plan_group(room, SitePolicy(torch="<2.8"), data=data).plans
    assert plans["pc02"].torch == plans["pc03"].torch == "2.7.1"
    assert (plans["pc01"].torch, plans["pc01"].variant) == ("2.6.0", "cu118")
    assert any("group split" in w for w in plans["pc01"].warnings)
    assert "2 of 3 GPU hosts" in plans["pc02"].reasons[-1]


def test_group_of_cpu_only_hosts_gets_the_newest_cpu_build() -> None:
    group = plan_group({"pc01": GpuFacts(os="windows", error="not_installed")}, SitePolicy())
    assert group.torch is None
    assert group.plans["pc01"].variant == "cpu" and group.plans["pc01"].torch == "2.15.0"


def test_one_bad_host_never_stops_the_rest_of_the_room() -> None:
    room = {
        "pc01": host(("NVIDIA GeForce RTX 3090", "8.6"), driver="570.124.06"),
        "pc02": GpuFacts(driver_version="570.124.06"),  # OS unknown: an error for pc02 only
        "pc03": host(("NVIDIA GeForce GT 730", "3.5"), driver="470.82.01"),  # cpu, not allowed
        "pc04": host(("NVIDIA GeForce GTX 1080 Ti", "6.1"), driver="570.124.06", os="windows"),
    }
    group = plan_group(room, SitePolicy(allow_cpu=False))
    assert not group.ok
    assert list(group.plans) == ["pc01", "pc04"]
    assert list(group.errors) == ["pc02", "pc03"]
    assert str(group.errors["pc02"]).startswith("pc02: the host's OS is 'unknown'")
    assert str(group.errors["pc03"]).startswith("pc03: no GPU build fits: NVIDIA GeForce GT 730")
    assert group.plans["pc01"].torch == group.plans["pc04"].torch == group.torch


def test_a_group_policy_pinning_a_torch_older_than_one_gpu_fails_only_that_host() -> None:
    room = {
        "pc01": host(("NVIDIA GeForce RTX 5090", "12.0"), driver="580.95.05"),
        "pc02": host(("NVIDIA GeForce RTX 3090", "8.6"), driver="580.95.05"),
    }
    group = plan_group(room, SitePolicy(torch="2.6"))
    assert list(group.plans) == ["pc02"] and group.plans["pc02"].torch == "2.6.0"
    assert "pc01: NVIDIA GeForce RTX 5090 (CC 12.0) is newer than" in str(group.errors["pc01"])


def test_an_impossible_policy_is_an_error_for_every_host_not_an_exception() -> None:
    room = {"pc01": host(("NVIDIA GeForce RTX 3090", "8.6")),
            "pc02": host(("Tesla T4", "7.5"))}
    group = plan_group(room, SitePolicy(torch="2.14", python="3.8"))
    assert not group.plans
    assert [e.host for e in group.errors.values()] == ["pc01", "pc02"]
    assert "no build for Python 3.8" in group.errors["pc01"].what
