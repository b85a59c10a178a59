"""A realistic upstream link for the lab: the lab mirror's content behind a shaped link.

The lab's own mirror sits on loopback (no cost per byte). For the room cache's tests and
benchmark, :func:`start` runs a second server of the same content (``labtorch.lab.mirror_app``)
inside a network namespace of its own, joined to the lab by a veth pair whose both ends are
shaped with ``tc qdisc ... tbf`` (e.g. 100 Mbit/s; ``netem`` is not available in this kernel,
so no added delay). The server's own access log (``<state>/upstream/upstream.log``) counts the
upstream downloads.

    up = shaped.start(lab, rate="100mbit")     # up.url: http://10.77.<block>.2
    ...
    shaped.stop(up)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from labtorch.errors import LabtorchError
from labtorch.lab.control import Lab


@dataclass(frozen=True)
class Upstream:
    namespace: str
    address: str
    pid: int
    log: Path
    control: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabtorchError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}",
                            fix="the shaped upstream needs root and iproute2 (ip netns, tc)")


def _names(lab: Lab) -> tuple[str, str, str, str, str]:
    block = lab.block
    return (f"ltup{block}", f"ltup{block}a", f"ltup{block}b", f"10.77.{block}.1",
            f"10.77.{block}.2")


def start(lab: Lab, rate: str = "100mbit") -> Upstream:
    """Start the shaped upstream of ``lab`` (idempotent per lab: an old one is stopped)."""
    namespace, outside, inside, host_side, address = _names(lab)
    stop_namespace(namespace)
    _ip("netns", "add", namespace)
    _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
    _ip("link", "set", inside, "netns", namespace)
    _ip("addr", "add", f"{host_side}/30", "dev", outside)
    _ip("link", "set", outside, "up")
    _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", inside)
    _ip("-n", namespace, "link", "set", inside, "up")
    _ip("-n", namespace, "link", "set", "lo", "up")
    shape = ["root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]
    for prefix, device in ((["tc"], outside), (["ip", "netns", "exec", namespace, "tc"], inside)):
        done = subprocess.run([*prefix, "qdisc", "replace", "dev", device, *shape],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise LabtorchError(f"tc tbf on {device} failed: {done.stderr.strip()}",
                                fix="the shaped upstream needs tc (iproute2) with tbf")
    state = lab.state_dir / "upstream"
    state.mkdir(parents=True, exist_ok=True)
    config = json.loads((lab.state_dir / "mirror" / "config.json").read_text())
    control = state / "faults.json"
    control.write_text(json.dumps({"mode": "ok", "corrupt": []}))
    config.update(address=address, port=80, control=str(control))
    (state / "config.json").write_text(json.dumps(config, indent=2))
    log = state / "upstream.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "labtorch.lab.mirror_app",
             str(state / "config.json")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/",
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    upstream = Upstream(namespace, address, proc.pid, log, control)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{upstream.url}/simple/", timeout=5).read()
            return upstream
        except OSError:
            time.sleep(0.3)
    stop(upstream)
    raise LabtorchError(f"the shaped upstream did not answer on {upstream.url}",
                        fix=f"see {log}")


def set_mode(upstream: Upstream, mode: str) -> None:
    """``ok`` or ``500`` (upstream down, as the lab's fault switch)."""
    tmp = upstream.control.with_suffix(".tmp")
    tmp.write_text(json.dumps({"mode": mode, "corrupt": []}))
    tmp.replace(upstream.control)


def stop(upstream: Upstream) -> None:
    """Stop the server and remove the namespace (and so the veth pair)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(upstream.pid, signal.SIGTERM)
    stop_namespace(upstream.namespace)


def stop_namespace(namespace: str) -> None:
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    for pid in listed.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGTERM)
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def served(log: Path) -> list[tuple[str, int]]:
    """``(URL path, bytes)`` of each file download (status 200) in a mirror_app access log."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split('"')
        if len(parts) < 3 or not parts[1].startswith("GET "):
            continue
        path = parts[1].split()[1]
        tail = parts[2].split()
        if len(tail) < 2 or tail[0] != "200" or not path.endswith((".whl", ".sh", ".exe")):
            continue
        found.append((path, int(tail[1]) if tail[1].isdigit() else 0))
    return found
