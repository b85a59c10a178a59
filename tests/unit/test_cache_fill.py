"""labtorch cache fill: the room's distinct plans, Windows PCs included, each fetched once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cache.fill import distinct_downloads, pip_download_args, room_facts
from labtorch.cli import main
from labtorch.model import SitePolicy

SMI = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nvidia-smi"
LINUX_2080S = SMI / "gpuexp-rtx-2080-super-linux-595.71.05-table.txt"
WINDOWS_2080S = SMI / "gpuexp-rtx-2080-super-windows-591.86-table.txt"
A10 = SMI / "gpud-a10-linux-535.129.03-q.txt"
CACHE = "http://10.0.0.5:3141"

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in (LINUX_2080S, WINDOWS_2080S, A10)),
    reason="../shared/fixtures/nvidia-smi is not checked out",
)


@pytest.fixture
def saved_room(tmp_path):
    for name in ("pc01", "pc02", "pc03"):
        shutil.copy(LINUX_2080S, tmp_path / f"{name}.txt")
    shutil.copy(A10, tmp_path / "pc04.txt")
    shutil.copy(WINDOWS_2080S, tmp_path / "pc31.windows.txt")
    shutil.copy(WINDOWS_2080S, tmp_path / "pc32.windows.txt")
    return tmp_path


def test_identical_pcs_share_one_download_and_windows_pcs_get_their_own(saved_room):
    downloads, errors = distinct_downloads(room_facts(saved_room), SitePolicy(), CACHE)
    hosts = sorted(h for d in downloads for h in d.hosts)
    assert not errors
    assert hosts == ["pc01", "pc02", "pc03", "pc04", "pc31", "pc32"]  # every PC exactly once
    windows = [d for d in downloads if d.os == "windows"]
    assert len(windows) == 1 and windows[0].hosts == ("pc31", "pc32")
    linux_2080 = next(d for d in downloads if "pc01" in d.hosts)
    assert {"pc01", "pc02", "pc03"} <= set(linux_2080.hosts)


def test_each_download_is_wheels_only_for_the_plans_platform_and_python_through_the_cache(
    saved_room, tmp_path
):
    downloads, _ = distinct_downloads(room_facts(saved_room), SitePolicy(), CACHE)
    windows = next(d for d in downloads if d.os == "windows")
    command = pip_download_args(windows, tmp_path)[0]
    assert "--only-binary=:all:" in command
    assert command[command.index("--platform") + 1] == "win_amd64"
    assert command[command.index("--python-version") + 1] == windows.python
    urls = [a for a in command if a.startswith("http")]
    assert urls and all(u.startswith(f"{CACHE}/h/") for u in urls)
    assert any(a.startswith("torch==") and a.endswith(f"+{windows.variant}") for a in command)


def test_fill_of_a_folder_without_saved_outputs_is_one_line_with_the_fix(tmp_path):
    result = CliRunner().invoke(main, ["cache", "fill", str(tmp_path), "--cache-url", CACHE])
    assert result.exit_code == 2
    assert "no saved nvidia-smi outputs" in result.output and "<host>.txt" in result.output


def test_fill_with_a_setting_that_is_not_key_value_is_one_line(saved_room):
    args = ["cache", "fill", str(saved_room), "--cache-url", CACHE, "--set", "mirror"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


@pytest.fixture
def file_server(tmp_path):
    import functools
    import http.server
    import threading

    root = tmp_path / "served"
    root.mkdir()
    (root / "Miniforge3-x.sh").write_bytes(b"installer bytes" * 1000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def test_an_installer_with_the_wrong_checksum_is_refused_and_not_kept(file_server, tmp_path):
    from labtorch.cache.fill import fetch_verified
    from labtorch.errors import LabtorchError

    url, _ = file_server
    dest = tmp_path / "out" / "Miniforge3-x.sh"
    with pytest.raises(LabtorchError, match="does not match its pinned sha256"):
        fetch_verified(f"{url}/Miniforge3-x.sh", "0" * 64, dest)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_a_fetched_installer_is_verified_once_and_not_fetched_again(file_server, tmp_path):
    import hashlib

    from labtorch.cache.fill import fetch_verified

    url, root = file_server
    sha = hashlib.sha256((root / "Miniforge3-x.sh").read_bytes()).hexdigest()
    dest = tmp_path / "out" / "Miniforge3-x.sh"
    fetch_verified(f"{url}/Miniforge3-x.sh", sha, dest)
    (root / "Miniforge3-x.sh").unlink()  # upstream gone: the second fill must not need it
    assert fetch_verified(f"{url}/Miniforge3-x.sh", sha, dest) == dest
