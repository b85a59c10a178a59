"""Serve, stop, inspect and verify the room cache on the controller (or the host it runs on).

The cache's state directory holds ``cache.json`` (what it serves), ``nginx.conf``, ``nginx.pid``,
``access.log`` (one line per request, HIT/MISS), ``error.log`` and ``data/`` (nginx's cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtorch.cache.nginx import CacheConfig, render, system_resolvers
from labtorch.errors import LabtorchError

#: Refuse to start with less free space than this under the cache (MiB).
MIN_FREE_MIB = 1024
_KEY = re.compile(rb"\nKEY: ([^\n]*)\n")
_LINK = re.compile(r'href="([^"#]+)#sha256=([0-9a-f]{64})"')


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise LabtorchError(
            "nginx is not installed on this machine (the room cache runs Debian's nginx)",
            fix="apt-get install nginx-light (or nginx), then run `labtorch cache serve` again",
        )
    return found


def _check_workers_can_enter(state: Path) -> None:
    """nginx's workers drop root: every folder above the cache must let others enter it."""
    if os.geteuid() != 0:
        return
    for folder in [state.resolve(), *state.resolve().parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise LabtorchError(
                f"nginx's workers (an unprivileged user) cannot enter {folder}",
                fix="use a --state-dir whose folders others may enter, e.g. "
                "/var/cache/labtorch-room (or chmod o+x the folder)",
            )


def _write_config(config: CacheConfig) -> Path:
    state = config.state
    for sub in ("data", "tmp/body", "tmp/proxy"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    conf = config.conf_file
    conf.write_text(render(config))
    (state / "cache.json").write_text(json.dumps({
        "address": config.address, "port": config.port, "url": config.url,
        "upstreams": list(config.upstream_urls), "max_size": config.max_size,
    }, indent=2) + "\n")
    return conf


def free_mib(path: Path) -> int:
    usage = shutil.disk_usage(path)
    return usage.free // (1024 * 1024)


def running_pid(state: Path) -> int | None:
    """The nginx master's pid when the cache in ``state`` is running."""
    try:
        pid = int((state / "nginx.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def serve(config: CacheConfig) -> str:
    """Start (or reload) the cache; returns a one-line summary. Verifies cached files first."""
    config.state.mkdir(parents=True, exist_ok=True)
    if free_mib(config.state) < MIN_FREE_MIB:
        raise LabtorchError(
            f"only {free_mib(config.state)} MiB free under {config.state}",
            fix=f"free at least {MIN_FREE_MIB} MiB or point --state-dir at a larger disk",
        )
    nginx = nginx_binary()
    _check_workers_can_enter(config.state)
    config = CacheConfig(**{**config.__dict__, "resolvers": system_resolvers()})
    conf = _write_config(config)
    test = subprocess.run([nginx, "-t", "-q", "-c", str(conf)], capture_output=True, text=True)
    if test.returncode != 0:
        raise LabtorchError(f"nginx refused the cache config: {_last_line(test.stderr)}",
                            fix=f"see {conf}; is {config.address}:{config.port} free?")
    removed = verify(config.state).bad
    pid = running_pid(config.state)
    if pid:
        os.kill(pid, signal.SIGHUP)
        action = "reloaded"
    else:
        start = subprocess.run([nginx, "-c", str(conf)], capture_output=True, text=True)
        if start.returncode != 0:
            raise LabtorchError(f"nginx did not start: {_last_line(start.stderr)}",
                                fix=f"is {config.address}:{config.port} already in use?")
        action = "serving"
    note = f"; {len(removed)} corrupt cached file(s) removed" if removed else ""
    return f"room cache {action} on {config.url} ({len(config.origins)} upstreams){note}"


def stop(state: Path, timeout: float = 20.0) -> str:
    """Stop the cache in ``state`` (graceful quit, then TERM); its files stay."""
    pid = running_pid(state)
    if pid is None:
        return f"no room cache running in {state}"
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(state):
        time.sleep(0.1)
    if running_pid(state):
        os.kill(pid, signal.SIGTERM)
    return f"room cache stopped (pid {pid}); cached files kept in {state / 'data'}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


@dataclass
class CachedFile:
    key: str
    path: Path
    body_offset: int
    size: int


def cached_files(state: Path) -> list[CachedFile]:
    """Every complete entry of nginx's cache: its key (the URI), file, body offset and size."""
    found = []
    for path in (state / "data").rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(65536)
        except OSError:
            continue
        match = _KEY.search(head)
        end = head.find(b"\r\n\r\n", match.end() if match else 0)
        if not match or end < 0:
            continue
        offset = end + 4
        found.append(CachedFile(match.group(1).decode("utf-8", "replace"), path, offset,
                                path.stat().st_size - offset))
    return found


def _body(entry: CachedFile) -> bytes:
    with entry.path.open("rb") as handle:
        handle.seek(entry.body_offset)
        return handle.read()


def published_hashes(entries: list[CachedFile]) -> dict[str, str]:
    """File name → sha256 from every cached PEP 503 page (``#sha256=`` fragments)."""
    hashes: dict[str, str] = {}
    for entry in entries:
        if entry.key.rsplit("/", 1)[-1].endswith((".whl", ".sh", ".exe", ".conda", ".bz2")):
            continue
        if entry.size > 50 * 1024 * 1024:
            continue
        text = _body(entry).decode("utf-8", "replace")
        for href, digest in _LINK.findall(text):
            hashes[href.rsplit("/", 1)[-1]] = digest
    return hashes


@dataclass
class Verified:
    checked: list[str]
    bad: list[str]
    unknown: list[str]


def verify(state: Path, extra: dict[str, str] | None = None) -> Verified:
    """Check every cached file whose sha256 is published (index pages, pinned installers).

    A file whose bytes do not match is removed from the cache, so the next request fetches it
    from upstream again. ``extra`` adds known hashes (file name → sha256), e.g. the installers.
    """
    entries = cached_files(state)
    hashes = {**published_hashes(entries), **(extra or {})}
    result = Verified([], [], [])
    for entry in entries:
        name = entry.key.split("?", 1)[0].rsplit("/", 1)[-1]
        want = hashes.get(name)
        if want is None:
            result.unknown.append(entry.key)
            continue
        digest = hashlib.sha256()
        with entry.path.open("rb") as handle:
            handle.seek(entry.body_offset)
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() == want:
            result.checked.append(entry.key)
        else:
            result.bad.append(entry.key)
            entry.path.unlink(missing_ok=True)
    return result


def status(state: Path) -> dict[str, Any]:
    """Size, files, hit ratio, upstreams, running or not, free disk, recent disk errors."""
    config: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        config = json.loads((state / "cache.json").read_text())
    entries = cached_files(state) if (state / "data").is_dir() else []
    counts: Counter[str] = Counter()
    upstream_bytes = 0
    try:
        for line in (state / "access.log").read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 8 and parts[-3] != "-":
                counts[parts[-3]] += 1
                if parts[-3] in ("MISS", "EXPIRED", "BYPASS"):
                    upstream_bytes += int(parts[-4]) if parts[-4].isdigit() else 0
    except OSError:
        pass
    served = sum(counts.values())
    hits = counts["HIT"] + counts["STALE"] + counts["UPDATING"] + counts["REVALIDATED"]
    disk_errors = []
    with contextlib.suppress(OSError):
        disk_errors = [line for line in (state / "error.log").read_text().splitlines()
                       if "No space left" in line][-3:]
    return {
        "url": config.get("url"),
        "running": running_pid(state) is not None,
        "files": len(entries),
        "bytes": sum(e.size for e in entries),
        "requests": served,
        "hits": hits,
        "hit_ratio": round(hits / served, 3) if served else None,
        "upstream_bytes": upstream_bytes,
        "upstreams": config.get("upstreams", []),
        "free_mib": free_mib(state) if state.exists() else None,
        "disk_errors": disk_errors,
    }
