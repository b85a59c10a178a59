"""The room cache for real: Debian's nginx in front of a real HTTP upstream on loopback.

The upstream is Python's http.server over a folder (a PEP 503 page and a wheel); its own access
log counts what was fetched upstream.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cache import server
from labtorch.cache.nginx import CacheConfig
from labtorch.cli import main

pytestmark = pytest.mark.skipif(
    not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
    reason="nginx is not installed (.ci/run installs nginx-light)",
)

WHEEL = b"pretend wheel bytes " * 4096


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.read(), reply.headers.get("X-Labtorch-Cache", "")


@pytest.fixture
def upstream(tmp_path):
    root = tmp_path / "upstream"
    (root / "simple" / "demo").mkdir(parents=True)
    (root / "packages").mkdir()
    (root / "packages" / "demo-1.0-py3-none-any.whl").write_bytes(WHEEL)
    digest = hashlib.sha256(WHEEL).hexdigest()
    (root / "simple" / "demo" / "index.html").write_text(
        f'<a href="../../packages/demo-1.0-py3-none-any.whl#sha256={digest}">demo</a>\n'
        f'<a href="/packages/demo-1.0-py3-none-any.whl#sha256={digest}">abs</a>\n'
    )
    port = free_port()
    log = (tmp_path / "upstream.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/simple/", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    yield url, tmp_path / "upstream.log", proc
    proc.terminate()
    proc.wait()
    log.close()


@pytest.fixture
def room_cache(upstream):
    url, _, _ = upstream
    # nginx's workers run unprivileged: the cache lives where they may enter (not pytest's 0700)
    state = Path(tempfile.mkdtemp(prefix="labtorch-cache-test-"))
    state.chmod(0o755)
    config = CacheConfig("127.0.0.1", free_port(), state, (url + "/simple",), "1g")
    server.serve(config)
    yield config
    server.stop(config.state)
    shutil.rmtree(state, ignore_errors=True)


def upstream_gets(log: Path, name: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if f"GET {name}" in line)


def test_each_file_is_fetched_upstream_once_however_many_hosts_ask(upstream, room_cache):
    url, log, _ = upstream
    base = f"{room_cache.url}/h/{url.removeprefix('http://')}"
    for _ in range(4):
        body, _ = fetch(f"{base}/packages/demo-1.0-py3-none-any.whl")
        assert body == WHEEL
    assert upstream_gets(log, "/packages/demo-1.0-py3-none-any.whl") == 1


def test_index_page_links_come_back_to_the_cache(upstream, room_cache):
    url, _, _ = upstream
    host = url.removeprefix("http://")
    page, _ = fetch(f"{room_cache.url}/h/{host}/simple/demo/")
    assert b'href="../../packages/demo-1.0' in page  # relative links stay under /h/<host>/
    assert f'href="/h/{host}/packages/demo-1.0'.encode() in page


def test_an_address_that_is_not_an_upstream_is_refused(room_cache):
    with pytest.raises(urllib.error.HTTPError, match="403"):
        fetch(f"{room_cache.url}/h/example.org/simple/")


def test_with_upstream_down_the_cached_files_are_still_served(upstream, room_cache):
    url, _, proc = upstream
    wheel = f"{room_cache.url}/h/{url.removeprefix('http://')}/packages/demo-1.0-py3-none-any.whl"
    fetch(wheel)
    proc.terminate()
    proc.wait()
    body, status = fetch(wheel)
    assert body == WHEEL and status == "HIT"


def test_a_corrupted_cached_file_is_detected_removed_and_fetched_again(upstream, room_cache):
    url, log, _ = upstream
    base = f"{room_cache.url}/h/{url.removeprefix('http://')}"
    fetch(f"{base}/simple/demo/")  # the page publishing the sha256
    fetch(f"{base}/packages/demo-1.0-py3-none-any.whl")
    entry = next(e for e in server.cached_files(room_cache.state) if e.key.endswith(".whl"))
    data = bytearray(entry.path.read_bytes())
    data[-10:] = b"XXXXXXXXXX"
    entry.path.write_bytes(bytes(data))

    result = CliRunner().invoke(main, ["cache", "verify", "--state-dir", str(room_cache.state)])

    assert result.exit_code == 0, result.output
    assert "1 corrupt removed" in result.output and "demo-1.0-py3-none-any.whl" in result.output
    body, status = fetch(f"{base}/packages/demo-1.0-py3-none-any.whl")
    assert body == WHEEL and status == "MISS"
    assert upstream_gets(log, "/packages/demo-1.0-py3-none-any.whl") == 2


def test_status_reports_files_size_hit_ratio_and_upstreams(upstream, room_cache):
    url, _, _ = upstream
    wheel = f"{room_cache.url}/h/{url.removeprefix('http://')}/packages/demo-1.0-py3-none-any.whl"
    fetch(wheel)
    fetch(wheel)
    args = ["cache", "status", "--state-dir", str(room_cache.state)]
    info = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    text = CliRunner().invoke(main, args).output
    assert info["running"] and info["files"] == 1 and info["bytes"] == len(WHEEL)
    assert info["hit_ratio"] == 0.5 and info["upstreams"] == [url + "/simple"]
    assert "hit ratio 50%" in text and f"upstream {url}/simple" in text


def test_serve_on_a_port_in_use_is_one_line_with_the_fix(room_cache):
    args = ["cache", "serve", "--state-dir", str(room_cache.state / "other"),
            "--address", "127.0.0.1", "--port", str(room_cache.port), "--upstream", "https://pypi.org/simple"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.startswith("labtorch: error: nginx did not start")
    assert "already in use" in result.output and "Traceback" not in result.output


def test_the_systemd_unit_runs_nginx_in_the_foreground_on_its_own_config(tmp_path):
    args = ["cache", "unit", "--state-dir", str(tmp_path), "--port", "3141", "--mirror", "tuna"]
    result = CliRunner().invoke(main, args)
    conf = (tmp_path / "nginx-systemd.conf").read_text()
    assert result.exit_code == 0, result.output
    assert f"ExecStart=/usr/sbin/nginx -c {tmp_path}/nginx-systemd.conf" in result.output
    assert "daemon off;" in conf and '"pypi.tuna.tsinghua.edu.cn" "https://pypi.tuna' in conf
    assert "proxy_ssl_verify on;" in conf


@pytest.mark.skipif(os.geteuid() != 0, reason="nginx drops privileges only when run as root")
def test_serve_where_nginx_workers_cannot_enter_says_which_folder(tmp_path):
    args = ["cache", "serve", "--state-dir", str(tmp_path / "cache"), "--address", "127.0.0.1",
            "--port", str(free_port())]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "cannot enter" in result.output and "/var/cache/labtorch-room" in result.output


def test_the_admins_wheel_folder_is_served_under_local(upstream, tmp_path):
    url, _, _ = upstream
    state = Path(tempfile.mkdtemp(prefix="labtorch-cache-test-"))
    wheels = Path(tempfile.mkdtemp(prefix="labtorch-wheels-test-"))
    for folder in (state, wheels):
        folder.chmod(0o755)
    name = "torch-2.7.1+cu126-cp311-cp311-manylinux_2_28_x86_64.whl"
    (wheels / name).write_bytes(WHEEL)
    (wheels / name).chmod(0o644)
    port = str(free_port())
    try:
        args = ["cache", "serve", "--state-dir", str(state), "--address", "127.0.0.1",
                "--port", port, "--upstream", url + "/simple", "--wheel-dir", str(wheels)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        body, _ = fetch(f"http://127.0.0.1:{port}/local/{name.replace('+', '%2B')}")
        listing, _ = fetch(f"http://127.0.0.1:{port}/local/")
        assert body == WHEEL and b"torch-2.7.1" in listing
    finally:
        server.stop(state)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(wheels, ignore_errors=True)
