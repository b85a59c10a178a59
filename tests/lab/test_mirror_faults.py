"""Stalled and failing mirrors (issue 12's "Faults"), reproduced with the lab's fault switches.

The commands under test are the product's own (:mod:`labtorch.roles.net`), sent over real SSH to
simulated hosts and run against the lab's real mirror with ``faults.mirror_mode`` set to ``500``
or ``stall``. The last test runs the real ``deploy.py`` on a room of its own where one host's
mirror stalls: that host fails alone, named, and the other one finishes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtorch.lab import control, faults
from labtorch.roles.net import MIRROR_ERROR, NetPolicy, download_command, pip_command

REPO = Path(__file__).resolve().parents[2]
#: Short bounds, so that a stalled mirror fails these tests' commands quickly.
NET = NetPolicy(connect_s=5, stall_s=5, retries=1, command_s=300)
#: Nothing listens here on any lab host (the hosts share the loopback network).
DEAD_MIRROR = "http://127.0.0.1:9/installers"

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]


@pytest.fixture
def mirror(lab: control.Lab) -> Iterator[dict[str, str]]:
    """The lab mirror's URLs; its fault switch is back at ``ok`` after the test."""
    try:
        yield lab.mirror_urls
    finally:
        faults.mirror_mode(lab, "ok")


def installer(lab: control.Lab) -> tuple[str, str]:
    """(file name, sha256) of the conda installer the lab mirror publishes."""
    folder = Path(json.loads((lab.state_dir / "lab.json").read_text())["mirror"]["installers_dir"])
    path = sorted(folder.glob("Miniforge3-*-Linux-*.sh"))[0]
    return path.name, hashlib.sha256(path.read_bytes()).hexdigest()


def run(lab: control.Lab, command: str) -> tuple[int, str]:
    result = lab.ssh("pc01", command, timeout=600)
    return result.returncode, result.stdout + result.stderr


def test_installer_download_falls_back_to_the_next_mirror_and_names_the_dead_one(lab, mirror):
    name, sha = installer(lab)
    dest = f"/tmp/labtorch-net-test/{name}"
    urls = [f"{DEAD_MIRROR}/{name}", f"{mirror['installers']}/{name}"]
    command = download_command(urls, dest, sha, NET)
    code, out = run(lab, f"{command} && sha256sum {dest} && rm -f {dest}")
    assert code == 0, out
    assert f"{MIRROR_ERROR} {DEAD_MIRROR}/{name}: connection refused" in out
    assert sha in out


def test_installer_download_from_a_mirror_answering_500_names_the_url_and_the_status(lab, mirror):
    name, sha = installer(lab)
    faults.mirror_mode(lab, "500")
    code, out = run(lab, download_command([f"{mirror['installers']}/{name}"],
                                          f"/tmp/labtorch-net-test/{name}", sha, NET))
    assert code != 0
    assert f"{MIRROR_ERROR} {mirror['installers']}/{name}: HTTP 500" in out


def test_installer_download_from_a_stalled_mirror_gives_up_after_the_stall_timeout(lab, mirror):
    name, sha = installer(lab)
    faults.mirror_mode(lab, "stall")
    code, out = run(lab, download_command([f"{mirror['installers']}/{name}"],
                                          f"/tmp/labtorch-net-test/{name}", sha, NET))
    assert code != 0
    assert f"{MIRROR_ERROR} {mirror['installers']}/{name}: stalled: no data for 5 s" in out


def pip_torch(mirror: dict[str, str]) -> str:
    """The torch install as the torch role sends it, into a throwaway folder of pc01."""
    args = ("torch==2.13.0", "--index-url", mirror["pytorch"].format(variant="cpu"),
            "--no-deps", "--target", "/tmp/labtorch-net-test/site")
    return pip_command("/usr/bin/python3", args, NET, pypi_indexes=(mirror["pypi"],))


def test_pip_against_a_mirror_answering_500_reports_a_mirror_error_not_a_missing_version(
    lab, mirror
):
    faults.mirror_mode(lab, "500")
    code, out = run(lab, pip_torch(mirror))
    assert code != 0
    index = mirror["pytorch"].format(variant="cpu")
    assert f"{MIRROR_ERROR} {index}/torch/: HTTP 500" in out
    assert f"{MIRROR_ERROR} {mirror['pypi']}/torch/: HTTP 500" in out


def test_pip_against_a_stalled_mirror_reports_the_stall(lab, mirror):
    faults.mirror_mode(lab, "stall")
    code, out = run(lab, pip_torch(mirror))
    assert code != 0
    index = mirror["pytorch"].format(variant="cpu")
    assert f"{MIRROR_ERROR} {index}/torch/: stalled" in out


# --- the deploy: a stalled host fails alone ---------------------------------------------------

INVENTORY = '''
import json, runpy
_ROOM = runpy.run_path({lab_inventory!r})
_NET = {net!r}
_STALLED = {stalled!r}
for _name, _value in _ROOM.items():
    if _name.startswith("_") or not isinstance(_value, list):
        continue
    globals()[_name] = [
        (e[0], {{**e[1], **_NET, **(_STALLED if e[0] == "pc02" else {{}})}})
        if isinstance(e, tuple) else e
        for e in _value
    ]
'''


@pytest.fixture
def two_rooms() -> Iterator[tuple[control.Lab, control.Lab]]:
    """A fresh two-host lab and a one-host lab whose mirror serves as pc02's stalled mirror."""
    room_dir = Path(tempfile.mkdtemp(prefix="labtorch-test-stall-room-"))
    other_dir = Path(tempfile.mkdtemp(prefix="labtorch-test-stall-mirror-"))
    try:
        yield control.up(room_dir, hosts=2), control.up(other_dir, hosts=1)
    finally:
        for state_dir in (other_dir, room_dir):
            control.down(state_dir, wipe=True)


@pytest.mark.slow
def test_a_host_whose_mirror_stalls_fails_alone_named_while_the_other_finishes(
    two_rooms, tmp_path
):
    room, other = two_rooms
    urls = other.mirror_urls
    inventory = tmp_path / "stalled_room.py"
    inventory.write_text(INVENTORY.format(
        lab_inventory=str(REPO / "inventory" / "lab.py"),
        net={"labtorch_connect_timeout": 5, "labtorch_stall_timeout": 5,
             "labtorch_net_retries": 1},
        stalled={"labtorch_installer_mirror": urls["installers"],
                 "labtorch_pypi_index_url": urls["pypi"],
                 "labtorch_pytorch_index_url": urls["pytorch"]},
    ))
    faults.mirror_mode(other, "stall")
    env = {**os.environ, "LABTORCH_LAB_DIR": str(room.state_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "--json", str(inventory), "deploy.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )
    faults.mirror_mode(other, "ok")
    assert "{" in done.stdout, done.stderr[-4000:]
    results = json.loads(done.stdout[done.stdout.find("{"):])["results"]
    failed = {h for op in results["operations"] for h in op["error"]}
    assert failed == {"pc02"}, done.stderr[-4000:]
    assert f"{MIRROR_ERROR} {urls['installers']}/" in done.stderr
    assert "stalled: no data for 5 s" in done.stderr
    plan = room.state_dir / "hosts" / "pc01" / "fs" / "root" / "miniforge3" / ".labtorch"
    assert json.loads((plan / "verify.json").read_text())
