"""`pip install labtorch`, then run a room: the built wheel, a fresh venv, an empty folder.

Real: the wheel built from this checkout (``pip wheel --no-deps``), a new venv with
``labtorch[lab]`` installed from that wheel (its dependencies from the package index, as a user
gets them), and the installed commands run in an empty temporary folder with no ``../shared``
and no checkout: ``labtorch init``, ``labtorch lab up`` (a two-host room file), the packaged
deploy ``pyinfra INVENTORY labtorch.deploys.room``, ``labtorch check --testinfra`` (the suite
shipped in the wheel; the venv has no pytest-xdist) and ``labtorch lab down``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOM = """name: wheelroom
hosts:
  - {name: pc01, profile: turing-rtx2080super}
  - {name: pc02, profile: ampere-a10}
"""

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(dist), str(REPO)], capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, _said(done)
    (built,) = dist.glob("labtorch-*.whl")
    return built


def test_the_wheel_carries_the_deploy_the_suite_the_lab_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for wanted in ("labtorch/deploys/__init__.py", "labtorch/deploys/plan.py",
                   "labtorch/check/suite/conftest.py", "labtorch/check/suite/test_final_state.py",
                   "labtorch/lab/rooms/default.yaml", "labtorch/lab/recorded/SOURCES.md",
                   "labtorch/lab/recorded/gpuexp-rtx-2080-super-linux-595.71.05-q.txt",
                   "labtorch/lab/conda_standin/installer.py",
                   "labtorch/lab/conda_standin/payload/conda_cli.py",
                   "labtorch/lab/gpu_standin/standin_device.py",
                   "labtorch/lab/gpu_standin/recordings/pascal-gtx1080ti.json"):
        assert wanted in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names)


def test_installed_wheel_runs_init_lab_deploy_check_and_down_in_an_empty_folder(
        wheel, tmp_path: Path):
    venv = tmp_path / "venv"
    work = tmp_path / "work"
    work.mkdir()
    assert not (work.parent / "shared").exists()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
               LABTORCH_STATE_DIR=str(tmp_path / "state"))
    bin_ = venv / "bin"
    done = _run([str(bin_ / "pip"), "install", "-q", f"labtorch[lab] @ {wheel.as_uri()}"],
                work, env)
    assert done.returncode == 0, _said(done)

    done = _run([str(bin_ / "labtorch"), "init", "wheelroom"], work, env)
    assert done.returncode == 0, _said(done)
    listed = _run([str(bin_ / "pyinfra"), "--json", "inventory/wheelroom.py", "debug-inventory"],
                  work, env, timeout=300)
    assert listed.returncode == 0, _said(listed)
    assert '"labtorch_torch_spec": "latest"' in listed.stdout

    (work / "room.yaml").write_text(ROOM)
    lab = work / "lab"
    try:
        up = _run([str(bin_ / "labtorch"), "lab", "up", "--state-dir", str(lab),
                   "--room", "room.yaml"], work, env)
        assert up.returncode == 0, _said(up)
        assert f"pyinfra -y {lab / 'inventory.py'} labtorch.deploys.room" in up.stdout
        deploy = _run([str(bin_ / "pyinfra"), "-y", str(lab / "inventory.py"),
                       "labtorch.deploys.room"], work, env)
        assert deploy.returncode == 0, _said(deploy)
        assert "github.com" not in deploy.stderr + deploy.stdout
        check = _run([str(bin_ / "labtorch"), "check", str(lab / "inventory.py"),
                      "--testinfra"], work, env)
        assert check.returncode == 0, _said(check)
        assert "2/2 compliant" in check.stdout
    finally:  # generous: wiping the hosts' disks (two torch envs) is slow on a busy disk
        down = _run([str(bin_ / "labtorch"), "lab", "down", "--state-dir", str(lab), "--wipe"],
                    work, env, timeout=3600)
    assert down.returncode == 0, _said(down)
    assert not lab.exists()
