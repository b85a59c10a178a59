"""The plan table printed before anything changes (deploy/plan.py: labtorch.deploys.plan)."""

from __future__ import annotations

import sys
from pathlib import Path

import gevent
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from rich.console import Console

from labtorch.model import Gpu, GpuFacts, HostPlan, SitePolicy
from labtorch.planner import plan_host

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import labtorch.deploys.plan as plan_module
from labtorch.deploys.plan import plan_table


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


SYSTEM = ["@@labtorch:uname@@", "Linux x86_64", "@@labtorch:home@@", "/home/lab"]
STATES: list[State] = []  # keep each run inspectable after it ends


def plan_room(monkeypatch, hosts: dict[str, dict]) -> tuple[list[dict], dict[str, object]]:
    """Plan every host of a @fake room in parallel greenlets, as pyinfra runs deploy.py.

    Returns the tables printed and each host's plan or exception. A host that never records its
    row leaves the others waiting until TABLE_WAIT_S passes, and then no table is printed.
    """
    monkeypatch.setattr(plan_module, "TABLE_WAIT_S", 10.0)
    printed: list[dict] = []
    monkeypatch.setattr(plan_module, "print_table", lambda rows: printed.append(dict(rows)))
    common = {
        "fake_delay": 0,
        "fake_delay_jitter": 0,
        "fake_responses": {
            "uname -s -m": SYSTEM,
            "command -v nvidia-smi": ["@@labtorch:missing@@"],
        },
    }
    inventory = Inventory(([(name, {**common, **data}) for name, data in hosts.items()], {}))
    state = State(inventory, Config())
    STATES.append(state)
    connect_all(state)
    members = [inventory.get_host(name) for name in hosts]

    def one(host):
        try:
            return plan_module.plan_for(host)
        except Exception as err:
            return err

    greenlets = [gevent.spawn(one, host) for host in members]
    gevent.joinall(greenlets)
    return printed, {host.name: g.value for host, g in zip(members, greenlets, strict=True)}


def test_host_whose_planning_crashes_still_gets_its_row_so_no_other_host_waits(monkeypatch):
    def crash_on_pc01(facts, policy, **kwargs):
        if kwargs.get("host") == "@fake/pc01":
            raise RuntimeError("bug in the planner")
        return plan_host(facts, policy, **kwargs)

    monkeypatch.setattr(plan_module, "plan_host", crash_on_pc01)
    printed, results = plan_room(monkeypatch, {"@fake/pc01": {}, "@fake/pc02": {}})
    assert isinstance(results["@fake/pc01"], RuntimeError)
    assert isinstance(results["@fake/pc02"], HostPlan)
    (rows,) = printed
    assert set(rows) == {"@fake/pc01", "@fake/pc02"}
    assert "unexpected RuntimeError: bug in the planner" in rows["@fake/pc01"][2]


def test_host_with_a_bad_setting_is_refused_in_its_row_and_the_room_goes_on(monkeypatch):
    hosts = {"@fake/pc01": {"labtorch_min_free_mib": "lots"}, "@fake/pc02": {}}
    printed, results = plan_room(monkeypatch, hosts)
    assert "labtorch_min_free_mib='lots'" in str(results["@fake/pc01"])
    assert isinstance(results["@fake/pc02"], HostPlan)
    (rows,) = printed
    assert rows["@fake/pc01"][1] is None and "labtorch_min_free_mib" in rows["@fake/pc01"][2]


def test_long_host_names_are_never_cut_at_80_or_120_columns():
    facts = GpuFacts(os="linux", driver_version="550.54.14", cuda_version="12.4",
                     gpus=(Gpu("NVIDIA GeForce RTX 3080", 10240, "8.6", "reported"),))
    names = ["b204-pc01.lab.example.edu", "@winssh/b204-pc12.lab.example.edu"]
    rows = {name: (facts, plan_host(facts, SitePolicy(torch="2.7"), os="linux", host=name), None)
            for name in names}
    for width in (80, 120):
        console = Console(width=width, record=True)
        console.print(plan_table(rows))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        for name in names:
            assert name in text, (width, text)
