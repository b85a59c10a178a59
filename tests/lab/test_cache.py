"""The room cache on the simulated lab: one upstream download per distinct file, air-gapped rooms.

This test brings up its own small lab (its own loopback block) so that the session's shared
lab stays bare for tests/lab/test_provision.py. The upstream is the lab's content behind a
shaped link (``labtorch.lab.shaped``: a network namespace, a veth pair, tc tbf at 100 Mbit/s);
its own access log counts what was downloaded upstream. The cache runs on the lab's own
address .253, like a room server; the hosts use ``inventory/lab_cache.py``.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from labtorch.cache import server
from labtorch.cache.nginx import CacheConfig
from labtorch.lab import control, shaped

REPO = Path(__file__).resolve().parents[2]
RUN_LIMIT_S = 1500

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
                       reason="nginx is not installed (.ci/run installs nginx-light)"),
]

@pytest.fixture(scope="module")
def cached_lab():
    from labtorch.lab import hosts

    try:
        hosts.check_prerequisites()
    except Exception as err:  # not root / no sshd: skip with the reason
        pytest.skip(f"simulated lab unavailable: {err}")
    state = Path(tempfile.mkdtemp(prefix="labtorch-cache-lab-"))
    cache_state = Path(tempfile.mkdtemp(prefix="labtorch-cache-room-"))
    cache_state.chmod(0o755)  # nginx's workers run unprivileged
    lab = control.up(state, hosts=8)  # pc08 has pc01's profile: the same plan, a fresh host
    upstream = None
    try:
        upstream = shaped.start(lab, rate="100mbit")
        config = CacheConfig(f"127.77.{lab.block}.253", 3141, cache_state, (upstream.url + "/",),
                             "5g")
        server.serve(config)
        yield lab, config, upstream
    finally:
        server.stop(cache_state)
        if upstream:
            shaped.stop(upstream)
        control.down(state, wipe=True)
        shutil.rmtree(cache_state, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


def provision(lab, config: CacheConfig, upstream, names: list[str]) -> tuple[int, str]:
    env = {
        **os.environ,
        "LABTORCH_LAB_DIR": str(lab.state_dir),
        "LABTORCH_LAB_UPSTREAM": upstream.url,
        "LABTORCH_LAB_HOSTS": ",".join(names),
        "LABTORCH_LAB_CACHE_URL": config.url,
    }
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "inventory/lab_cache.py", "deploy.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S,
    )
    return run.returncode, run.stdout + run.stderr


def upstream_downloads(upstream) -> Counter[str]:
    """Files (.whl, installers) the upstream served, by URL path, from its own access log."""
    return Counter(path for path, _ in shaped.served(upstream.log))


def torch_build(lab, name: str) -> tuple[list[str], str]:
    """(torch dist-infos in the host's env, the torch version its plan names)."""
    prefix = lab.state_dir / "hosts" / name / "fs" / "root" / "miniforge3"
    plan = json.loads((prefix / ".labtorch" / "plan.json").read_text())["plan"]
    site = prefix / "envs" / "pytorch" / "lib" / "python3.11" / "site-packages"
    return [p.name for p in site.glob("torch-*.dist-info")], plan["torch"]


def test_hosts_through_the_cache_make_one_upstream_download_per_file_and_work_air_gapped(
    cached_lab,
):
    lab, config, upstream = cached_lab
    code, log = provision(lab, config, upstream, ["pc01", "pc02", "pc03"])
    assert code == 0, log[-4000:]

    downloads = upstream_downloads(upstream)
    assert any(p.endswith(".sh") for p in downloads), downloads  # the conda installer
    assert any("/torch-" in p for p in downloads), downloads
    assert {p: n for p, n in downloads.items() if n != 1} == {}
    status = server.status(config.state)
    assert status["hits"] > 0 and status["files"] >= len(downloads)

    # upstream down: a fresh host with a plan the room already has provisions from the cache
    shaped.set_mode(upstream, "500")
    try:
        code, log = provision(lab, config, upstream, ["pc08"])
    finally:
        shaped.set_mode(upstream, "ok")
    assert code == 0, log[-4000:]
    assert upstream_downloads(upstream) == downloads
    installed, planned = torch_build(lab, "pc08")
    assert len(installed) == 1 and installed[0].startswith(f"torch-{planned}+"), installed


FILL_SETTINGS = (
    "labtorch_torch_spec", "labtorch_python", "labtorch_include_torchvision",
    "labtorch_include_torchaudio", "labtorch_pytorch_index_url", "labtorch_pypi_index_url",
    "labtorch_installer_mirror", "labtorch_conda_version", "labtorch_installer_sha256",
)


def fill_command(lab, upstream, facts: Path, cache_url: str) -> list[str]:
    """`labtorch cache fill` with the lab room's own site settings (from inventory/lab_cache.py)."""
    os.environ.update(LABTORCH_LAB_DIR=str(lab.state_dir), LABTORCH_LAB_UPSTREAM=upstream.url)
    try:
        data = dict(runpy.run_path(str(REPO / "inventory" / "lab_cache.py"))["room"][0][1])
    finally:
        for key in ("LABTORCH_LAB_DIR", "LABTORCH_LAB_UPSTREAM"):
            os.environ.pop(key, None)
    settings = [f"--set={key}={data[key]}" for key in FILL_SETTINGS if data.get(key) is not None]
    return [str(Path(sys.executable).with_name("labtorch")), "cache", "fill", str(facts),
            "--cache-url", cache_url, "--dest", str(facts.parent / "filled"), *settings]


def test_an_interrupted_fill_resumes_without_fetching_anything_twice(cached_lab, tmp_path):
    lab, _, upstream = cached_lab
    facts = tmp_path / "facts"
    facts.mkdir()
    for name in ("pc01", "pc02", "pc03"):  # the room's saved gather
        (facts / f"{name}.txt").write_text(lab.ssh(name, "nvidia-smi").stdout)
    state = Path(tempfile.mkdtemp(prefix="labtorch-cache-fill-"))
    state.chmod(0o755)
    config = CacheConfig(f"127.77.{lab.block}.253", 3142, state, (upstream.url + "/",), "5g")
    server.serve(config)
    before = upstream_downloads(upstream)
    command = fill_command(lab, upstream, facts, config.url)
    try:
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and first.poll() is None:
            if upstream_downloads(upstream) != before:  # the first file came through
                break
            time.sleep(0.2)
        shaped.set_mode(upstream, "stall")  # the link hangs mid-fill ...
        time.sleep(3)
        interrupted = first.poll() is None
        first.kill()  # ... and the admin presses Ctrl-C
        first.wait()
        shaped.set_mode(upstream, "ok")
        assert interrupted, "the fill ended before it could be interrupted"

        second = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    finally:
        shaped.set_mode(upstream, "ok")
        server.stop(state)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "distinct plans" in second.stdout and "filled:" in second.stdout
    fetched = upstream_downloads(upstream) - before
    assert fetched and {p: n for p, n in fetched.items() if n != 1} == {}
    assert any(p.endswith(".sh") for p in fetched) and any("/torch-" in p for p in fetched)
    assert server.verify(state).bad == []
    shutil.rmtree(state, ignore_errors=True)
