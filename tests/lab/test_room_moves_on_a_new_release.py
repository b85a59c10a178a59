"""The issue's Done-when on the lab: a mirror adds a torch release, the room moves only when told.

A second lab mirror (the real mirror app: pypiserver plus PEP 658 metadata) serves the lab's
torch wheels and a newer release, torch 2.16.0 for cu130 and cu132 (the local CPU wheel
relabelled, a lab fixture). The room (every lab host, torch spec ``latest``, a room lock) is:

1. locked with today's shipped data (`labtorch lock update`, real SSH to every host);
2. refreshed from that mirror (`labtorch data refresh --index ... --lock ...`): the new release
   is reported, and the hosts that would move are named;
3. planned by the deploy (`pyinfra ... deploy.py --dry`): it still plans the locked release;
4. moved (`labtorch lock update`): the new release where GPU, driver and Python allow it, the
   wheel's sha256 from the mirror's listing; a host whose driver holds it back stays.

The arch-list half (a verification report confirms or corrects an assumed list) cannot be shown
here: the lab's torch is a CPU build whose report lists no architectures. It is covered on real
recorded report contents in tests/unit/test_room_lock.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from labtorch.lab.mirror import cache_dir, torch_wheel
from labtorch.lab.wheels import relabel
from labtorch.release_index import http_get

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MOVES, DRIVER_HELD = "pc02", "pc03"  # Turing on driver 595; A10 on driver 550 (CUDA 12.4)


def _lab_hosts(lab) -> dict[str, dict[str, Any]]:
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


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _release_mirror(folder: Path, address: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The second mirror: the lab's torch 2.13.0 per variant plus torch 2.16.0 (cu130, cu132)."""
    indexes = {}
    source = torch_wheel()
    for variant in ("cu126", "cu130", "cu132"):
        root = folder / "whl" / variant
        root.mkdir(parents=True)
        for cached in (cache_dir() / "whl" / variant).glob("torch-2.13.0+*.whl"):
            (root / cached.name).symlink_to(cached)
        if variant != "cu126":
            newer = relabel(source, variant, root, public="2.16.0")
        indexes[f"whl/{variant}"] = str(root)
    (folder / "installers").mkdir()
    port = _free_port(address)
    config = folder / "mirror.json"
    config.write_text(json.dumps({"address": address, "port": port, "indexes": indexes,
                                  "installers": str(folder / "installers"),
                                  "control": str(folder / "faults.json")}))
    log = (folder / "mirror.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "labtorch.lab.mirror_app", str(config)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    template = f"http://{address}:{port}/whl/{{variant}}/simple"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if http_get(template.format(variant="cu130") + "/torch/", timeout=5, retries=1):
                return process, template, newer
        except Exception:  # not up yet
            time.sleep(1)
    process.kill()
    log_text = (folder / "mirror.log").read_text()
    raise AssertionError(f"the release mirror did not answer: {log_text}")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)


def test_a_new_release_is_reported_and_the_room_moves_only_when_told(lab, tmp_path: Path) -> None:
    data = _lab_hosts(lab)
    if not {MOVES, DRIVER_HELD} <= set(data):
        pytest.skip(f"the lab needs hosts {MOVES} and {DRIVER_HELD}")
    address = lab.mirror_urls["pypi"].split("//", 1)[1].split("/", 1)[0].split(":")[0]
    process, template, newer = _release_mirror(tmp_path / "mirror", address)
    try:
        lock = tmp_path / "room.lock.yaml"
        hosts = [(name, {**values, "labtorch_torch_spec": "latest",
                         "labtorch_pytorch_index_url": template,
                         "labtorch_lock_file": str(lock)})
                 for name, values in sorted(data.items())]
        inventory = tmp_path / "lockroom.py"
        inventory.write_text(f"lockroom = {hosts!r}\n")
        (tmp_path / "group_data").mkdir()
        shutil.copy(REPO / "inventory" / "group_data" / "all.py", tmp_path / "group_data")
        env = {**os.environ, "LABTORCH_OVERLAY": str(tmp_path / "overlay.yaml"),
               "LABTORCH_STATE_DIR": str(tmp_path / "state")}
        labtorch = str(Path(sys.executable).parent / "labtorch")

        first = _run([labtorch, "lock", "update", str(inventory)], env)
        assert first.returncode == 0, first.stdout + first.stderr
        locked = yaml.safe_load(lock.read_text())["hosts"]
        assert locked[MOVES]["torch"] == "2.15.0" and locked[DRIVER_HELD]["torch"] == "2.14.1"

        saved = tmp_path / "snapshot"
        refreshed = _run([labtorch, "data", "refresh", "--index", template, "--lock", str(lock),
                          "--save-snapshot", str(saved)], env)
        assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
        out = refreshed.stdout
        assert "+ torch 2.16 (new release): patches 2.16.0; Python 3.11; linux cu130, cu132" \
            in out
        assert "torch 2.16.0: no torchvision pins it yet (companion lags)" in out
        assert f"  → {MOVES}: torch 2.15.0 " in out and " → torch 2.16.0 " in out
        assert f"  = {DRIVER_HELD}: stays on torch 2.14.1 cu126" in out
        offline = _run([labtorch, "data", "refresh", "--snapshot", str(saved), "--dry-run"], env)
        assert offline.returncode == 0, offline.stdout + offline.stderr
        assert "no change: the data already knows what the index lists" in offline.stdout
        assert "overlay written" not in offline.stdout

        dry = _run([sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py", "--dry"],
                   env)
        row = next(line for line in dry.stderr.splitlines() if f" {MOVES} " in line)
        assert "2.15.0" in row and "2.16.0" not in row, dry.stderr[-3000:]

        moved = _run([labtorch, "lock", "update", str(inventory)], env)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f"  → {MOVES}: torch 2.15.0 " in moved.stdout
        assert f"  = {DRIVER_HELD}: stays on torch 2.14.1 cu126" in moved.stdout
        locked = yaml.safe_load(lock.read_text())["hosts"]
        shown = _run([labtorch, "lock", "show", str(lock)], env)
        assert f"  {MOVES}: torch 2.16.0 " in shown.stdout
        assert locked[MOVES]["torch"] == "2.16.0"
        assert locked[DRIVER_HELD]["torch"] == "2.14.1"
        if locked[MOVES]["variant"] in newer.name:
            assert locked[MOVES]["sha256"] == hashlib.sha256(newer.read_bytes()).hexdigest()
        else:
            other = newer.parent.parent / locked[MOVES]["variant"] / locked[MOVES]["file"]
            assert locked[MOVES]["sha256"] == hashlib.sha256(other.read_bytes()).hexdigest()
    finally:
        process.kill()
        process.wait(timeout=30)
