"""The provisioning facts' pure parsers, on saved outputs of their commands.

GPU outputs are recorded real nvidia-smi outputs (../shared/fixtures/nvidia-smi, see SOURCES.md)
wrapped in the markers the fact's one command prints around them.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from labtorch.facts.conda import parse_conda_installs, parse_env_packages
from labtorch.facts.config import (
    effective_conda_channels,
    effective_pip_index,
    parse_config_files,
)
from labtorch.facts.gpu import QUERY_FIELDS, QUERY_FIELDS_OLD, parse_gpu_output
from labtorch.facts.system import free_mib_at, parse_system

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nvidia-smi"
LOCAL = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia-smi"


def fixture(name: str) -> str:
    for folder in (SHARED, LOCAL):
        if (folder / name).exists():
            return (folder / name).read_text()
    pytest.skip(f"fixture {name} not available")


def gpu_fact_output(fields: str, query: str, table: str) -> str:
    return (
        f"@@labtorch:fields@@\n{fields}\n@@labtorch:query@@\n{query}\n@@labtorch:query-rc@@\n0\n"
        f"@@labtorch:table@@\n{table}\n@@labtorch:table-rc@@\n0\n"
    )


def test_gpu_fact_reads_gpus_driver_compute_capability_and_cuda_version():
    text = gpu_fact_output(
        QUERY_FIELDS,
        fixture("fact-query-noheader.csv"),
        fixture("gpuexp-h200-linux-590.48.01-table.txt"),
    )
    facts = parse_gpu_output(text)
    assert facts.error is None
    assert [g.name for g in facts.gpus][:2] == [
        "NVIDIA GeForce RTX 4090",
        "NVIDIA GeForce RTX 3060",
    ]
    assert facts.gpus[0].compute_capability == "8.9"
    assert facts.driver_version == "550.54.14"


def test_gpu_fact_on_a_driver_without_compute_cap_fills_it_from_the_gpu_table():
    table = fixture("gpuexp-h200-linux-590.48.01-table.txt")
    text = gpu_fact_output(QUERY_FIELDS_OLD, "0, NVIDIA H200, 143771, 590.48.01", table)
    facts = parse_gpu_output(text)
    assert facts.gpus[0].name == "NVIDIA H200"
    assert facts.cuda_version == "13.1"
    assert facts.gpus[0].compute_capability_source == "table"
    assert facts.gpus[0].compute_capability == "9.0"


def test_broken_driver_is_a_fact_not_a_failure():
    broken = fixture("err-linux-couldnt-communicate.txt")
    facts = parse_gpu_output(gpu_fact_output(QUERY_FIELDS, broken, broken))
    assert facts.error == "no_driver"
    assert facts.gpus == ()


def test_host_without_nvidia_smi_reports_not_installed():
    assert parse_gpu_output("@@labtorch:missing@@\n").error == "not_installed"


def test_system_fact_reads_os_arch_home_python_and_free_disk_per_mount():
    text = (
        "@@labtorch:uname@@\nLinux aarch64\n@@labtorch:home@@\n/home/lab\n@@labtorch:python@@\n"
        "@@labtorch:df@@\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
        "/dev/sda1 41152736 18000000 2097152 47% /\n"
        "/dev/sdb1 41152736 18000000 10485760 47% /opt\n"
    )
    info = parse_system(text)
    assert (info.os, info.arch, info.home, info.python) == ("linux", "aarch64", "/home/lab", None)
    assert free_mib_at(info, "/opt/miniforge3") == 10240
    assert free_mib_at(info, "/home/lab/miniforge3") == 2048


def test_conda_installs_tell_complete_half_finished_and_foreign_apart():
    text = "\n".join(
        [
            "@@labtorch:prefix /opt/miniforge3@@",
            "@@labtorch:meta@@",
            "@@labtorch:receipt@@",
            '{"tool": "labtorch", "state": "started", "flavor": "miniforge"}',
            "@@labtorch:prefix /root/anaconda3@@",
            "@@labtorch:conda-bin@@",
            "@@labtorch:history@@",
            "@@labtorch:meta@@",
            "anaconda-2024.10-py312_0.json",
            "conda-24.9.2-py312h06a4308_0.json",
            "@@labtorch:receipt@@",
            "",
            "@@labtorch:env work@@",
            "@@labtorch:env-python@@",
            "@@labtorch:env-receipt@@",
            "",
        ]
    )
    ours, theirs = parse_conda_installs(text)
    assert ours.owned and ours.half_finished and not ours.complete
    assert (theirs.flavor, theirs.version, theirs.owned, theirs.complete) == (
        "anaconda",
        "24.9.2",
        False,
        True,
    )
    assert theirs.env("work") is not None and not theirs.env("work").owned


@pytest.mark.parametrize("state", ["adopted", "complete"])
def test_only_a_started_receipt_makes_an_incomplete_install_half_finished(state):
    text = "\n".join(
        [
            "@@labtorch:prefix /opt/miniforge3@@",
            "@@labtorch:history@@",
            "@@labtorch:meta@@",
            "@@labtorch:receipt@@",
            f'{{"tool": "labtorch", "state": "{state}", "flavor": "miniforge"}}',
        ]
    )
    (install,) = parse_conda_installs(text)
    assert install.owned and not install.complete
    assert not install.half_finished


def test_env_packages_without_python_is_none():
    assert parse_env_packages("") is None


def test_config_fact_orders_files_by_precedence_and_reports_the_winning_values():
    text = (
        "@@labtorch:file conda /etc/conda/.condarc@@\nchannels: [defaults]\n"
        "@@labtorch:file conda /root/.condarc@@\nchannels: [conda-forge]\n"
        "@@labtorch:file pip /etc/pip.conf@@\n[global]\nindex-url = https://a/simple\n"
        "@@labtorch:file pip /root/.config/pip/pip.conf@@\n[install]\nindex-url = https://b/simple\n"
        "@@labtorch:file pip /root/.pip/pip.conf@@\nnot ini at all\n"
    )
    files = parse_config_files(text)
    assert [f.path for f in files][:2] == ["/etc/conda/.condarc", "/root/.condarc"]
    assert effective_conda_channels(files) == ["conda-forge", "defaults"]
    assert effective_pip_index(files) == "https://b/simple"
    assert files[-1].error is not None


@pytest.mark.parametrize(
    "module",
    [
        "labtorch.facts.system",
        "labtorch.facts.conda",
        "labtorch.facts.config",
        "labtorch.roles.settings",
        "labtorch.roles.torch",
        "labtorch.roles.env",
        "labtorch.roles.channels",
    ],
)
def test_docstring_examples_hold(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
