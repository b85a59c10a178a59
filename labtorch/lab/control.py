"""Bring a simulated lab up, report on it, take it down.

A lab is a state directory (``--state-dir``, default ``$LABTORCH_LAB_DIR`` or ``.lab/`` in the
current directory) holding ``lab.json`` (machine-readable state), ``inventory.py`` (pyinfra),
``ssh_config``, ``known_hosts``, the client key ``id_ed25519`` and one directory per host. Each
lab gets its own loopback block 127.77.<block>.0/24 (hosts .1-.60, mirror .254), derived from
its state directory and registered in /run/labtorch-lab/blocks/, so several labs coexist.

>>> lab = up(Path("/tmp/mylab"))      # doctest: +SKIP
>>> lab.ssh("pc02", "nvidia-smi -L").stdout  # doctest: +SKIP
'GPU 0: NVIDIA GeForce RTX 2080 SUPER (UUID: ...)'
>>> down(Path("/tmp/mylab"))          # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError
from labtorch.lab import hosts as hostmod
from labtorch.lab import mirror as mirrormod
from labtorch.lab.gpu import fixtures_dir, replay_bundle
from labtorch.lab.hosts import Host
from labtorch.lab.inventory import write_inventory, write_ssh_config
from labtorch.lab.room import load_room

REGISTRY = Path("/run/labtorch-lab/blocks")
FORBIDDEN_PREFIXES = ("/run", "/proc", "/sys", "/dev")


def default_state_dir() -> Path:
    """$LABTORCH_LAB_DIR, else ``.lab`` in the current directory."""
    return Path(os.environ.get("LABTORCH_LAB_DIR") or ".lab")


@dataclass
class Lab:
    """A lab as recorded in ``lab.json``: what tests and the CLI work with."""

    state_dir: Path
    name: str
    block: int
    room: str
    hosts: list[Host]
    mirror: dict[str, Any]
    faults: dict[str, Any] = field(default_factory=dict)
    up: bool = True

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.py"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def mirror_urls(self) -> dict[str, str]:
        return dict(self.mirror["urls"])

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabtorchError(f"no host {name!r} in the lab at {self.state_dir}",
                            fix=f"use one of {', '.join(h.name for h in self.hosts)}")

    def ssh(self, host: str, command: str, *, timeout: float = 600,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` over real SSH (the lab's ssh_config); returns the result."""
        return subprocess.run(["ssh", "-F", str(self.ssh_config), host, command],
                              capture_output=True, text=True, timeout=timeout, check=check)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "state_dir": str(self.state_dir), "block": self.block,
                "room": self.room, "up": self.up, "simulated": True,
                "hosts": [h.as_json() for h in self.hosts], "mirror": self.mirror,
                "faults": self.faults,
                "files": {"inventory": str(self.inventory), "ssh_config": str(self.ssh_config),
                          "known_hosts": str(self.known_hosts), "ssh_key": str(self.ssh_key)}}

    def save(self) -> None:
        tmp = self.state_dir / "lab.json.tmp"
        tmp.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        tmp.replace(self.state_dir / "lab.json")


def load(state_dir: Path | None = None) -> Lab | None:
    """The lab recorded in ``state_dir`` (None if there is none)."""
    state_dir = (state_dir or default_state_dir()).resolve()
    path = state_dir / "lab.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Lab(state_dir, raw["name"], int(raw["block"]), raw["room"],
               [Host.from_json(h) for h in raw["hosts"]], raw["mirror"], raw.get("faults", {}),
               bool(raw.get("up", True)))


def require(state_dir: Path | None = None) -> Lab:
    """The lab recorded in ``state_dir``; a clear error when there is none."""
    lab = load(state_dir)
    if lab is None:
        where = (state_dir or default_state_dir()).resolve()
        raise LabtorchError(f"no lab at {where}", fix="run: labtorch lab up")
    return lab


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    with open(state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _claim_block(state_dir: Path, previous: int | None) -> int:
    """A 127.77.<block>.0/24 no other live lab uses; stable for a given state directory."""
    REGISTRY.mkdir(parents=True, exist_ok=True)
    with open(REGISTRY / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two labs coming up at once get different blocks
        return _free_block(state_dir, previous)


def _free_block(state_dir: Path, previous: int | None) -> int:
    start = previous or (int(hashlib.sha256(str(state_dir).encode()).hexdigest(), 16) % 200) + 20
    for offset in range(235):
        block = (start - 1 + offset) % 254 + 1
        entry = REGISTRY / str(block)
        if entry.exists():
            owner = Path(entry.read_text().strip())
            if owner == state_dir:
                return block
            other = load(owner)
            if other is not None and other.up and other.block == block:
                continue
        entry.write_text(f"{state_dir}\n")
        return block
    raise LabtorchError("every loopback block 127.77.*.0/24 is taken by a running lab",
                        fix="take a lab down: labtorch lab down --state-dir DIR")


def _client_key(state_dir: Path) -> str:
    key = state_dir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labtorch-lab",
                        "-f", str(key)], check=True)
    return (state_dir / "id_ed25519.pub").read_text()


def up(state_dir: Path | None = None, *, room_file: Path | None = None,
       hosts: int | None = None) -> Lab:
    """Bring the lab in ``state_dir`` up (idempotent: running parts are kept) and return it."""
    hostmod.check_prerequisites()
    state_dir = (state_dir or default_state_dir()).resolve()
    if str(state_dir).startswith(FORBIDDEN_PREFIXES):
        raise LabtorchError(f"lab state directory {state_dir} is under a system directory",
                            fix="use e.g. .lab or /var/lib/labtorch-lab")
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir):
        return _up(state_dir, room_file, hosts)


def _up(state_dir: Path, room_file: Path | None, count: int | None) -> Lab:
    old = load(state_dir)
    if old is not None and room_file is None:  # keep the recorded room (and size, if not given)
        recorded = old.room.split("#", 1)
        room_file = Path(recorded[0])
        if count is None and len(recorded) > 1:
            count = int(recorded[1])
    room = load_room(room_file, hosts=count)
    room_key = str((room_file or Path(__file__).parent / "rooms" / "default.yaml").resolve())
    if count is not None:
        room_key += f"#{count}"
    fixtures = fixtures_dir()
    block = _claim_block(state_dir, old.block if old else None)
    pubkey = _client_key(state_dir)
    roots = mirrormod.prepare_content()
    installers, installer_note = mirrormod.prepare_installers()

    mirror_address = f"127.77.{block}.254"
    urls = mirrormod.urls(mirror_address)
    mirror: dict[str, Any] = dict(old.mirror) if old else {}
    mirrormod.link_installers(state_dir, installers)
    config = mirrormod.server_config(state_dir, mirror_address, roots)
    if _mirror_running(mirror) and mirrormod.needs_restart(state_dir, config):
        _stop_mirror(mirror)
    if not _mirror_running(mirror):
        mirror = {"address": mirror_address, "port": mirrormod.MIRROR_PORT,
                  "pid": mirrormod.start(state_dir, config)}
    mirror.update(urls=urls, installers_dir=str(installers), installer_note=installer_note,
                  config=str(state_dir / "mirror" / "config.json"))

    previous = {h.name: h for h in old.hosts} if old else {}
    wanted = {spec.name: (spec, f"127.77.{block}.{index}")
              for index, spec in enumerate(room.hosts, 1)}
    kept = {name for name, (spec, address) in wanted.items()
            if name in previous and hostmod.is_running(previous[name])
            and (previous[name].address, previous[name].profile) == (address, spec.profile.name)}
    # hosts that leave the room or change address/profile stop first: their addresses get reused
    hostmod.stop_all([h for name, h in previous.items() if name not in kept])
    running: list[Host] = []
    started: list[Host] = []
    for name, (spec, address) in wanted.items():
        if name in kept:  # running hosts are left alone (their overlays are live)
            running.append(previous[name])
            continue
        home = state_dir / "hosts" / name
        host = hostmod.prepare(spec, home, address, replay_bundle(spec.profile, fixtures),
                               pubkey, urls)
        host = hostmod.start(host)
        started.append(host)
        running.append(host)

    faults = dict(old.faults) if old else {}
    fresh = {h.name for h in started}  # a (re)started host has no stop or full-disk fault left
    if faults.get("stopped"):
        faults["stopped"] = [n for n in faults["stopped"] if n not in fresh and n in wanted]
    if faults.get("disk_full"):
        faults["disk_full"] = {n: p for n, p in faults["disk_full"].items()
                               if n not in fresh and n in wanted}
    lab = Lab(state_dir, state_dir.name, block, room_key, running, mirror, faults, True)
    lab.save()  # record pids before waiting, so that `down` can clean a failed start
    hostmod.wait_ready(started)
    _wait_mirror(lab)
    lab.known_hosts.write_text("".join(hostmod.host_key_line(h) for h in running))
    write_ssh_config(lab)
    write_inventory(lab)
    lab.save()
    return lab


def _mirror_running(mirror: dict[str, Any]) -> bool:
    pid = mirror.get("pid")
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    config = str(mirror.get("config", "")).encode()
    return b"labtorch.lab.mirror_app" in cmdline and config in cmdline


def _wait_mirror(lab: Lab, timeout: float = 20.0) -> None:
    url = lab.mirror["urls"]["pypi"] + "/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            log = lab.state_dir / "mirror" / "mirror.log"
            raise LabtorchError(f"the lab mirror does not answer at {url}", fix=f"see {log}")
        time.sleep(0.05)


def down(state_dir: Path | None = None, *, wipe: bool = False) -> Lab | None:
    """End every process of the lab (hosts, mirror); with ``wipe``, delete the hosts' disks too.

    Host mounts live only in the hosts' own mount namespaces and vanish with them. Without a
    ``lab.json`` in ``state_dir`` nothing is ended and None is returned: with no record of a lab,
    no process can be known to be ours.
    """
    state_dir = (state_dir or default_state_dir()).resolve()
    lab = load(state_dir)
    if lab is None:  # no lab recorded here: nothing of ours to end (the CLI says "no lab there")
        return None
    with _locked(state_dir):
        hostmod.stop_all(lab.hosts)
        _stop_mirror(lab.mirror)
        for pid in leftover_pids(state_dir):
            os.kill(pid, signal.SIGKILL)
        entry = REGISTRY / str(lab.block)
        if entry.exists() and Path(entry.read_text().strip()) == state_dir:
            entry.unlink()
        lab.hosts = [Host(h.name, h.address, h.port, h.profile, h.family, h.home, None)
                     for h in lab.hosts]
        lab.mirror["pid"] = None
        lab.up = False
        lab.faults = {}
        (state_dir / "mirror" / "faults.json").unlink(missing_ok=True)
        lab.save()
        if wipe:
            _wipe(state_dir)
    return lab


def _stop_mirror(mirror: dict[str, Any]) -> None:
    if not _mirror_running(mirror):
        return
    pid = int(mirror["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _mirror_running(mirror) and time.monotonic() < deadline:
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    if _mirror_running(mirror):
        os.kill(pid, signal.SIGKILL)


_ARG_SEPARATORS = re.compile(rb"[\0\s=:,'\"]+")


def names_lab(cmdline: bytes, state_dir: Path) -> bool:
    """True when a ``/proc/<pid>/cmdline`` names a path inside this lab's hosts or mirror.

    A path counts only when an argument (or a ``KEY=value`` value, or a word of a ``sh -c``
    string) *starts with* ``<state dir>/hosts/`` or ``<state dir>/mirror/`` (absolute, resolved):
    a mere substring such as ``/backup/srv/lab/hosts/x`` for a lab in ``/srv/lab`` -- or anything
    containing ``/hosts`` for a lab in ``/`` -- does not.
    """
    root = str(state_dir.resolve()).rstrip("/")
    needles = (f"{root}/hosts/".encode(), f"{root}/mirror/".encode())
    return any(token.startswith(needles) for token in _ARG_SEPARATORS.split(cmdline))


def leftover_pids(state_dir: Path) -> list[int]:
    """Processes outside the hosts whose command line names this lab (should be none)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and names_lab(cmdline, state_dir):
            found.append(int(proc.name))
    return found


def _wipe(state_dir: Path) -> None:
    """Delete what `up` created in ``state_dir`` (never anything else)."""
    import shutil

    for name in ("hosts", "mirror"):
        shutil.rmtree(state_dir / name, ignore_errors=True)
    for name in ("lab.json", "inventory.py", "ssh_config", "known_hosts", "id_ed25519",
                 "id_ed25519.pub", ".lock"):
        (state_dir / name).unlink(missing_ok=True)
    with suppress(OSError):
        state_dir.rmdir()


def status(state_dir: Path | None = None) -> dict[str, Any]:
    """Per host: address, profile, whether its sshd answers; and the mirror's state."""
    lab = require(state_dir)
    rows = []
    for host in lab.hosts:
        alive = hostmod.is_running(host)
        rows.append({"name": host.name, "address": host.address, "profile": host.profile,
                     "family": host.family, "running": alive,
                     "ssh": alive and hostmod.answers_ssh(host.address, host.port)})
    return {"lab": lab, "hosts": rows, "mirror_running": _mirror_running(lab.mirror)}
