"""The HTML report in a real browser: headless Chromium renders it, every host's row is in the
rendered DOM, and a screenshot is taken (kept under the test's tmp dir)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from labtorch.check import render
from labtorch.check.model import CheckResult, CheckRun, HostReport, HostVersions, TrendPoint

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed here (apt-get install chromium; .ci/run does)")

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def room_run() -> CheckRun:
    hosts = []
    for i in range(1, 13):
        name = f"pc{i:02d}"
        status = {3: "drift", 7: "fail", 11: "unreachable"}.get(i, "simulated")
        hosts.append(HostReport(
            name, "room-a" if i <= 6 else "room-b",
            (CheckResult(name, "reach", "unreachable" if status == "unreachable" else "pass",
                         "cannot connect" if status == "unreachable" else ""),
             *(() if status == "unreachable" else (
                 CheckResult(name, "plan", "drift" if status == "drift" else "pass",
                             "variant cu128 → cu126" if status == "drift" else ""),
                 CheckResult(name, "torch", "fail" if status == "fail" else "pass",
                             "torch <script>alert(1)</script> missing" if status == "fail"
                             else ""),
                 CheckResult(name, "gpu", "simulated")))),
            HostVersions(gpus=("NVIDIA GeForce RTX 3080",), driver_version="595.58.03")))
    return CheckRun("2026-11-28T06:00:00Z", "/srv/inventory/rooms.py", tuple(hosts), 2.0)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and "host-row" in (values.get("class") or ""):
            self.rows.append(values.get("data-host") or "")
        if tag == "script":
            self.scripts += 1


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_chromium_renders_every_host_row_and_takes_a_screenshot(tmp_path: Path) -> None:
    run = room_run()
    trend = [TrendPoint("2026-11-27T06:00:00Z", "room-a", 6, 6),
             TrendPoint("2026-11-27T06:00:00Z", "room-b", 5, 6)]
    page = tmp_path / "report.html"
    page.write_text(render.to_html(run, trend), encoding="utf-8")

    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    parser = _Dom()
    parser.feed(dom)
    assert parser.rows == [h.host for h in run.hosts]
    assert parser.scripts == 0  # the escaped cause did not become a script element
    assert "torch &lt;script&gt;alert(1)&lt;/script&gt; missing" in dom

    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
