"""Fault switches for reliability tests, each a real mechanism:

- ``stop_host`` / ``start_host``: kill the host (its sshd and every process it runs, mid-run)
  and bring it back with its disk as it was, like a power cut and a reboot.
- ``mirror_mode(lab, "500" | "stall" | "ok")``: the mirror's fault layer answers every request
  with HTTP 500, or holds every request open until the switch goes back to ``ok``.
- ``corrupt(lab, FILE)`` / ``mirror_mode(lab, "ok")``: the mirror serves FILE (a wheel or
  installer name) with 64 bytes flipped: same size, wrong sha256.
- ``disk_full(lab, HOST, path="/opt")`` / ``disk_ok``: inside the host, an overlay whose upper
  layer is a tiny, filled tmpfs goes over ``path``: what is there stays readable, every write
  fails with ENOSPC ("No space left on device").

Switch states are recorded in lab.json (``faults``) and reset by ``labtorch lab down``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from labtorch.errors import LabtorchError
from labtorch.lab import hosts as hostmod
from labtorch.lab.control import Lab

MIRROR_MODES = ("ok", "500", "stall")
DISK_FULL_DIR = "/run/labtorch-lab-disk-full"

_DISK_FULL = """\
set -eu
F={stage}
mkdir -p $F
mount -t tmpfs -o size=64k,nr_inodes=64 labtorch-lab-disk-full $F
mkdir $F/upper $F/work
mount -t overlay labtorch-lab-disk-full -o lowerdir={path},upperdir=$F/upper,workdir=$F/work {path}
dd if=/dev/zero of=$F/fill bs=4k 2>/dev/null || true
i=0; while touch $F/inode$i 2>/dev/null; do i=$((i+1)); done
"""

_DISK_OK = """\
set -eu
umount {path}
umount {stage}
rmdir {stage}
"""


def _mirror_control(lab: Lab) -> Path:
    return lab.state_dir / "mirror" / "faults.json"


def _write_control(lab: Lab, state: dict[str, object]) -> None:
    control = _mirror_control(lab)
    tmp = control.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(control)  # the mirror reads it on every request: replace atomically
    lab.faults["mirror"] = state
    lab.save()


def mirror_mode(lab: Lab, mode: str) -> None:
    """Set the mirror to answer normally (``ok``, also clears corruption), ``500`` or ``stall``."""
    if mode not in MIRROR_MODES:
        raise LabtorchError(f"unknown mirror fault {mode!r}", fix=f"use one of {MIRROR_MODES}")
    state = {"mode": mode, "corrupt": [] if mode == "ok" else _corrupted(lab)}
    _write_control(lab, state)


def _corrupted(lab: Lab) -> list[str]:
    return list(lab.faults.get("mirror", {}).get("corrupt", []))


def corrupt(lab: Lab, filename: str) -> None:
    """Serve ``filename`` (last path segment of its URL) corrupted from now on."""
    if "/" in filename or not filename:
        raise LabtorchError(f"{filename!r} is not a file name",
                            fix="pass the name only, e.g. torch-2.13.0+cu126-cp311-...whl")
    state = {"mode": lab.faults.get("mirror", {}).get("mode", "ok"),
             "corrupt": sorted({*_corrupted(lab), filename})}
    _write_control(lab, state)


def stop_host(lab: Lab, name: str) -> None:
    """Kill host ``name`` and everything running on it."""
    hostmod.stop(lab.host(name))
    lab.faults.setdefault("stopped", [])
    if name not in lab.faults["stopped"]:
        lab.faults["stopped"].append(name)
    lab.save()


def start_host(lab: Lab, name: str) -> None:
    """Start a stopped host again (its files are as it left them)."""
    host = lab.host(name)
    if not hostmod.is_running(host):
        if name in lab.faults.get("disk_full", {}):
            del lab.faults["disk_full"][name]  # mounts died with the host
        started = hostmod.start(host)
        lab.hosts = [started if h.name == name else h for h in lab.hosts]
        lab.save()
        hostmod.wait_ready([started])
    if name in lab.faults.get("stopped", []):
        lab.faults["stopped"].remove(name)
    lab.save()


def _in_host(lab: Lab, name: str, script: str) -> None:
    host = lab.host(name)
    pid = hostmod.init_pid(host)
    if pid is None:
        raise LabtorchError("host is not running", host=name,
                            fix=f"run: labtorch lab fault {name} start")
    result = subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "sh", "-c", script],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise LabtorchError(f"fault switch failed: {result.stderr.strip()}", host=name)


def disk_full(lab: Lab, name: str, path: str = "/opt") -> None:
    """Make every write under ``path`` on host ``name`` fail with ENOSPC."""
    if not path.startswith("/") or any(c in path for c in " ,:'\"\\"):
        raise LabtorchError(f"{path!r} is not a plain absolute path", host=name)
    full = lab.faults.setdefault("disk_full", {})
    if name in full:
        return
    _in_host(lab, name, _DISK_FULL.format(stage=DISK_FULL_DIR, path=path))
    full[name] = path
    lab.save()


def disk_ok(lab: Lab, name: str) -> None:
    """Undo ``disk_full`` on host ``name``."""
    full = lab.faults.get("disk_full", {})
    if name not in full:
        return
    _in_host(lab, name, _DISK_OK.format(stage=DISK_FULL_DIR, path=full[name]))
    del full[name]
    lab.save()
