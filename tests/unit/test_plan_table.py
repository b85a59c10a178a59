"""The plan table printed before anything changes (deploy/plan.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from labtorch.model import Gpu, GpuFacts, HostPlan, SitePolicy
from labtorch.planner import plan_host

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from deploy.plan import plan_table


def render(rows) -> str:
    console = Console(width=250, record=True)
    console.print(plan_table(rows))
    return console.export_text()


def test_table_shows_each_host_its_gpus_build_and_warnings():
    ampere = GpuFacts(
        os="linux",
        driver_version="550.54.14",
        cuda_version="12.4",
        gpus=(Gpu("NVIDIA GeForce RTX 3080", 10240, "8.6", "reported"),),
    )
    broken = GpuFacts(os="linux", error="no_driver", error_detail="couldn't communicate")
    policy = SitePolicy(torch="2.7", python="3.11")
    rows = {
        "pc03": (ampere, plan_host(ampere, policy, os="linux", host="pc03"), None),
        "pc06": (broken, plan_host(broken, policy, os="linux", host="pc06"), None),
    }
    text = render(rows)
    pc03 = next(line for line in text.splitlines() if "pc03" in line)
    pc06 = next(line for line in text.splitlines() if "pc06" in line)
    assert "RTX 3080" in pc03 and "8.6" in pc03 and "550.54.14" in pc03 and "cu1" in pc03
    assert "cpu" in pc06 and "CPU build planned" in pc06


def test_table_shows_a_host_whose_policy_is_impossible_with_its_error():
    facts = GpuFacts(os="linux", error="not_installed")
    text = render({"pc09": (facts, None, "pc09: no release matches torch '9.9'")})
    assert "no release matches torch '9.9'" in text


def test_table_rows_are_sorted_by_host():
    facts = GpuFacts(os="linux", error="not_installed")
    plan = HostPlan(
        torch="2.7.1",
        torchvision=None,
        torchaudio=None,
        variant="cpu",
        python="3.11",
        index_url="x",
        install=(),
    )
    text = render({"pc02": (facts, plan, None), "pc01": (facts, plan, None)})
    assert text.index("pc01") < text.index("pc02")
