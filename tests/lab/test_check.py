"""`labtorch check` on the simulated lab, over real SSH: the issue's Done-when scenario.

Five lab hosts are provisioned into their own prefix (``/root/checktest``, kernel ``checktest``,
so the end-to-end provisioning tests' prefix is untouched, and removed afterwards). Then four
hosts are broken in four ways:

- pc02: torch uninstalled from the env;
- pc03: torch replaced by the CPU build from the mirror's ``whl/cpu`` index;
- pc04: its GPU swapped (the host's replayed nvidia-smi now plays the Pascal P100 recording), so
  re-planning gives another plan: drift;
- pc05: nvidia-ml-py uninstalled from the env: its verification's NVML check fails.

``labtorch check`` must exit 1 and name exactly those hosts and causes (pc01 stays compliant);
``--fix`` re-deploys them and its final check exits 0; with pc01 stopped, the check exits 2 and
reports pc01 unreachable, not compliant. The HTML, JUnit and JSON reports are written too, and
``--testinfra`` adds the testinfra suite's verdict (tests/infra, every host in parallel).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from labtorch.lab import faults
from labtorch.lab.gpu import fixtures_dir, replay_bundle
from labtorch.lab.room import load_profiles

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/root/checktest"
KERNEL = "checktest"
HOSTS = ("pc01", "pc02", "pc03", "pc04", "pc05")
NO_TORCH, CPU_BUILD, NEW_GPU, STOPPED, NO_NVML = "pc02", "pc03", "pc04", "pc01", "pc05"
NEW_GPU_PROFILE = "pascal-p100"
GPU_FILE = "/etc/labtorch-lab/nvidia-smi.json"


class Room(NamedTuple):
    inventory: Path
    env: dict[str, str]
    reports: Path


def _lab_hosts(lab) -> dict[str, dict[str, Any]]:
    """Host data as inventory/lab.py derives it for this lab (mirror URLs, pinned installer)."""
    before = os.environ.get("LABTORCH_LAB_DIR")
    os.environ["LABTORCH_LAB_DIR"] = str(lab.state_dir)
    try:
        names = runpy.run_path(str(REPO / "inventory" / "lab.py"))
    finally:
        if before is None:
            os.environ.pop("LABTORCH_LAB_DIR")
        else:
            os.environ["LABTORCH_LAB_DIR"] = before
    hosts: dict[str, dict[str, Any]] = {}
    for value in names.values():
        if isinstance(value, list):
            hosts.update({e[0]: e[1] for e in value if isinstance(e, tuple)})
    return hosts


def _labtorch(room: Room, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "labtorch"), *args],
                          cwd=REPO, env=room.env, capture_output=True, text=True,
                          timeout=timeout)


def _check(room: Room, *extra: str) -> tuple[int, dict[str, Any], str]:
    done = _labtorch(room, "check", str(room.inventory), "--format", "json", *extra)
    start = done.stdout.find("{")
    assert start >= 0, f"no JSON from labtorch check: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout[start:]), done.stderr


def _status(run: dict[str, Any]) -> dict[str, str]:
    return {h["host"]: h["status"] for h in run["hosts"]}


def _problems(run: dict[str, Any], host: str) -> dict[str, str]:
    entry = next(h for h in run["hosts"] if h["host"] == host)
    return {r["check"]: r["cause"] for r in entry["results"]
            if r["status"] not in ("pass", "skipped", "simulated")}


@pytest.fixture(scope="module")
def room(lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    """The four hosts provisioned into /root/checktest (one deploy run), an inventory for them."""
    if not set(HOSTS) <= {h.name for h in lab.hosts}:
        pytest.skip(f"the lab needs hosts {', '.join(HOSTS)}")
    folder = tmp_path_factory.mktemp("check-room")
    data = _lab_hosts(lab)
    hosts = [(name, {**data[name], "labtorch_conda_prefix": PREFIX,
                     "labtorch_kernel_name": KERNEL, "labtorch_room": "checkroom"})
             for name in HOSTS]
    inventory = folder / "checkroom.py"
    inventory.write_text(f"checkroom = {hosts!r}\n")
    (folder / "group_data").mkdir()
    shutil.copy(REPO / "inventory" / "group_data" / "all.py", folder / "group_data" / "all.py")
    env = {**os.environ, "LABTORCH_STATE_DIR": str(folder / "state")}
    deploy = subprocess.run([sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    original_gpu = lab.ssh(NEW_GPU, f"cat {GPU_FILE}", check=True).stdout
    try:
        assert deploy.returncode == 0, deploy.stderr[-3000:] + deploy.stdout[-3000:]
        yield Room(inventory, env, folder / "reports")
    finally:
        if not _answers(lab, STOPPED):
            faults.start_host(lab, STOPPED)
        _write(lab, NEW_GPU, GPU_FILE, original_gpu)
        for name in HOSTS:
            lab.ssh(name, f"rm -rf {PREFIX} ~/.local/share/jupyter/kernels/{KERNEL}")


def _answers(lab, name: str) -> bool:
    return lab.ssh(name, "true", timeout=30).returncode == 0


def _write(lab, name: str, path: str, text: str) -> None:
    subprocess.run(["ssh", "-F", str(lab.ssh_config), name, f"cat > {path}"], input=text,
                   text=True, check=True, capture_output=True, timeout=60)


def _break_hosts(lab) -> None:
    python = f"{PREFIX}/envs/pytorch/bin/python"
    lab.ssh(NO_TORCH, f"{python} -m pip uninstall -y torch", check=True)
    lab.ssh(NO_NVML, f"{python} -m pip uninstall -y nvidia-ml-py", check=True)
    cpu_index = lab.mirror_urls["pytorch"].format(variant="cpu")
    lab.ssh(CPU_BUILD, f"{python} -m pip install -q --no-compile --force-reinstall --no-deps "
                       f"torch==2.13.0+cpu --index-url {cpu_index}", check=True)
    bundle = replay_bundle(load_profiles()[NEW_GPU_PROFILE], fixtures_dir())
    _write(lab, NEW_GPU, GPU_FILE, json.dumps(bundle))


def test_check_names_exactly_the_broken_hosts_then_fix_brings_them_back(lab, room):
    _break_hosts(lab)

    code, run, err = _check(room, "--junit", str(room.reports / "broken.xml"),
                            "--html", str(room.reports / "broken.html"))
    assert code == 1, err
    assert _status(run)[STOPPED] in ("pass", "simulated")
    assert sorted(h for h, s in _status(run).items() if s in ("drift", "fail")) == \
        sorted([NO_TORCH, CPU_BUILD, NEW_GPU, NO_NVML])
    assert "torch does not import" in _problems(run, NO_TORCH)["torch"]
    assert _problems(run, NO_NVML) == {"gpu": "nvidia-ml-py is not installed in the env"}
    nvml_cell = next(r for h in run["hosts"] if h["host"] == NO_NVML for r in h["results"]
                     if r["check"] == "gpu")
    assert nvml_cell["fix"].endswith(f"--limit {NO_NVML} -y")  # the deploy reinstalls the pin
    assert "CPU build" in _problems(run, CPU_BUILD)["torch"]
    assert set(_problems(run, NEW_GPU)) == {"plan"}
    assert "Tesla P100" in _problems(run, NEW_GPU)["plan"]
    assert _status(run)[NEW_GPU] == "drift"
    suites = ET.parse(room.reports / "broken.xml").getroot()
    failed = {case.get("classname") for case in suites.iter("testcase")
              if case.find("failure") is not None}
    assert failed == {f"checkroom.{h}" for h in (NO_TORCH, CPU_BUILD, NEW_GPU, NO_NVML)}
    html = (room.reports / "broken.html").read_text()
    for host in HOSTS:
        assert f'data-host="{host}"' in html

    done = _labtorch(room, "check", str(room.inventory), "--fix", "--deploy",
                     str(REPO / "deploy.py"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    fixed = sorted([NO_TORCH, CPU_BUILD, NEW_GPU, NO_NVML])
    assert f"fixing 4 host(s): {', '.join(fixed)}" in done.stderr


def test_the_testinfra_suite_runs_over_every_host_as_one_more_column(lab, room):
    """Every host gets a testinfra cell and passes it with its tests run, not skipped: a
    CUDA-planned lab host's report says "simulated" (device answers replayed from its profile's
    recording), a CPU-planned one's "pass" (it has no GPU check)."""
    _, run, err = _check(room, "--testinfra")
    for entry in run["hosts"]:
        cells = {r["check"]: r for r in entry["results"]}
        assert "testinfra" in cells, (entry["host"], err)
        assert cells["testinfra"]["status"] == "pass", (entry["host"], cells["testinfra"])
        passed, total = map(int, re.match(r"(\d+) of (\d+) tests passed",
                                          cells["testinfra"]["detail"]).groups())
        assert passed >= total - 1, cells["testinfra"]  # only the .condarc test may skip
        if entry["versions"]["torch_variant"] != "cpu":
            assert cells["gpu"]["status"] == "simulated", cells["gpu"]
            assert entry["versions"]["replayed"].startswith("recording "), entry["versions"]
            assert "device answers replayed from recording" in cells["gpu"]["detail"]
        else:
            assert entry["versions"]["replayed"] is None
    assert any(e["versions"]["torch_variant"] != "cpu" for e in run["hosts"])


def test_a_stopped_host_is_reported_unreachable_not_compliant(lab, room):
    faults.stop_host(lab, STOPPED)
    try:
        code, run, err = _check(room)
    finally:
        faults.start_host(lab, STOPPED)
    assert code == 3  # unreachable (labtorch.cli.codes)
    assert _status(run)[STOPPED] == "unreachable"
    assert f"could not check 1 host(s): {STOPPED}" in err
    assert all(s in ("pass", "simulated") for h, s in _status(run).items() if h != STOPPED)
