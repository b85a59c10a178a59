"""labtorch_wheel_dir: the admin's hand-downloaded wheel files, checked against each plan."""

from __future__ import annotations

import pytest

from labtorch.cache.wheels import local_wheels, plan_with_local_wheels, why_not
from labtorch.model import HostPlan
from labtorch.roles.settings import Settings
from labtorch.roles.torch import missing_pins, pinned_packages

INDEX = "http://10.0.0.5:3141/h/download.pytorch.org/whl/cu126"
PLAN = HostPlan(
    torch="2.7.1", torchvision="0.22.1", torchaudio=None, variant="cu126", python="3.11",
    index_url=INDEX,
    install=(("torch==2.7.1+cu126", "torchvision==0.22.1+cu126", "--index-url", INDEX),),
)
RIGHT = "torch-2.7.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("torch-2.7.1+cu118-cp311-cp311-manylinux_2_28_x86_64.whl", "the plan wants 2.7.1+cu126"),
        ("torch-2.7.1+cu126-cp312-cp312-manylinux_2_28_x86_64.whl", "the plan's Python is 3.11"),
        ("torch-2.7.1+cu126-cp311-cp311-win_amd64.whl", "this host is linux"),
        ("numpy-2.0.0-cp311-cp311-manylinux_2_28_x86_64.whl", "not pinned by this host's plan"),
        ("torch.whl", "not a wheel file name"),
    ],
)
def test_a_wheel_that_does_not_fit_the_plan_is_named_with_why(name, reason):
    assert reason in why_not(name, PLAN)


def test_the_fitting_wheel_replaces_its_pin_and_the_rest_still_comes_from_the_index():
    used, rejected = local_wheels(PLAN, [RIGHT, "torch-2.7.1+cpu-cp311-cp311-win_amd64.whl"])
    plan = plan_with_local_wheels(PLAN, used, "http://10.0.0.5:3141/local/")
    assert used == {"torch": RIGHT} and len(rejected) == 1
    assert plan.install[0][0] == f"torch @ http://10.0.0.5:3141/local/{RIGHT}"
    assert plan.install[0][1:] == PLAN.install[0][1:]


def test_a_host_installed_from_the_local_file_counts_as_having_its_planned_build():
    used, _ = local_wheels(PLAN, [RIGHT])
    pins = pinned_packages(plan_with_local_wheels(PLAN, used, "http://c/local").install)
    assert pins == {"torch": "2.7.1+cu126", "torchvision": "0.22.1+cu126"}
    assert missing_pins(pins, {"torch": "2.7.1+cu126", "torchvision": "0.22.1+cu126"}) == []
    assert missing_pins(pins, {"torch": "2.7.1+cpu", "torchvision": "0.22.1+cu126"}) != []


def test_windows_plans_take_win_amd64_wheels():
    windows = HostPlan(**{**PLAN.__dict__, "os": "windows"})
    used, _ = local_wheels(windows, ["torch-2.7.1+cu126-cp311-cp311-win_amd64.whl", RIGHT])
    assert used == {"torch": "torch-2.7.1+cu126-cp311-cp311-win_amd64.whl"}


def test_the_wheel_dir_setting_is_checked_like_every_path():
    assert Settings.from_data({"labtorch_wheel_dir": "/srv/wheels"}).wheel_dir == "/srv/wheels"
    with pytest.raises(Exception, match="labtorch_wheel_dir"):
        Settings.from_data({"labtorch_wheel_dir": "/srv/my wheels; rm -rf /"}, host="pc01")
