"""``labtorch cache fill``: download everything a room needs through the cache, once, ahead.

The room's facts come from a saved gather: a folder with one saved nvidia-smi output per host
(``<host>.txt``; ``<host>.windows.txt`` for a Windows PC). The planner plans the room
(``plan_group``); the distinct plans (OS x Python x variant x pins) are fetched once each with
``pip download --only-binary=:all: --platform ... --python-version ...`` through the cache, and
the conda installer of each OS with its pinned sha256 checked. Everything goes *through* the
room cache, so the cache ends up holding each file once; a second fill after an interruption
finds what is cached (no upstream download) and fetches only the rest, and the cache's
``verify`` re-checks every cached file against its published hash.
"""

from __future__ import annotations

import errno
import hashlib
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labtorch.cache.urls import plan_through_cache
from labtorch.errors import LabtorchError
from labtorch.facts.nvidia_smi import enrich, parse
from labtorch.model import GpuFacts, HostPlan, SitePolicy
from labtorch.planner import plan_group

#: pip's --platform tags per OS (the wheels torch publishes for x86_64 PCs).
PLATFORMS = {
    "linux": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
              "linux_x86_64"),
    "windows": ("win_amd64",),
}


@dataclass(frozen=True)
class Download:
    """One distinct set of wheels: the hosts that share it and the pip arguments."""

    os: str
    python: str
    variant: str
    requirements: tuple[tuple[str, ...], ...]
    hosts: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.os}-py{self.python}-{self.variant}"


def room_facts(folder: Path) -> dict[str, tuple[str, GpuFacts]]:
    """``host -> (os, facts)`` from a folder of saved nvidia-smi outputs."""
    found: dict[str, tuple[str, GpuFacts]] = {}
    for path in sorted(folder.glob("*.txt")):
        name, _, rest = path.name.partition(".")
        os_name = "windows" if rest == "windows.txt" else "linux"
        found[name] = (os_name, enrich(parse(path.read_text(errors="replace"), os_name)))
    if not found:
        raise LabtorchError(f"no saved nvidia-smi outputs (<host>.txt) in {folder}",
                            fix="save `nvidia-smi` of each PC as <host>.txt "
                                "(<host>.windows.txt for Windows) in that folder")
    return found


def distinct_downloads(room: dict[str, tuple[str, GpuFacts]], policy: SitePolicy,
                       cache_url: str) -> tuple[list[Download], dict[str, str]]:
    """The room's distinct plans (each once) and the hosts that could not be planned."""
    plans: dict[str, HostPlan] = {}
    errors: dict[str, str] = {}
    for os_name in ("linux", "windows"):
        hosts = {n: f for n, (o, f) in room.items() if o == os_name}
        if not hosts:
            continue
        group = plan_group(hosts, policy, os=os_name)
        plans.update({n: plan_through_cache(p, cache_url) for n, p in group.plans.items()})
        errors.update({n: e.line() for n, e in group.errors.items()})
    by_key: dict[tuple[object, ...], list[str]] = {}
    for name, plan in sorted(plans.items()):
        by_key.setdefault((plan.os, plan.python, plan.variant, plan.install), []).append(name)
    downloads = [Download(str(o), str(p), str(v), i, tuple(h))  # type: ignore[arg-type]
                 for (o, p, v, i), h in by_key.items()]
    return downloads, errors


def pip_download_args(download: Download, dest: Path) -> list[list[str]]:
    """The ``pip download`` commands of one distinct plan (wheels only, for its platform)."""
    commands = []
    for args in download.requirements:
        command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:",
                   "--python-version", download.python, "--implementation", "cp",
                   "-d", str(dest / download.name), "--progress-bar", "off"]
        for platform in PLATFORMS[download.os]:
            command += ["--platform", platform]
        commands.append(command + list(args))
    return commands


def fetch_verified(url: str, sha256: str, dest: Path, progress: object | None = None) -> Path:
    """Download ``url`` to ``dest`` (skipped when already there with the right sha256)."""
    if dest.is_file() and _sha256(dest) == sha256:
        return dest
    tmp = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as reply, tmp.open("wb") as out:
            total = int(reply.headers.get("Content-Length") or 0)
            task = progress.add_task(dest.name, total=total or None) if progress else None  # type: ignore[attr-defined]
            for chunk in iter(lambda: reply.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress.update(task, advance=len(chunk))  # type: ignore[attr-defined]
    except OSError as err:
        tmp.unlink(missing_ok=True)  # nothing half-written is left to be taken for a file
        if err.errno == errno.ENOSPC:
            raise LabtorchError(f"no space left on the disk of {dest.parent} while fetching "
                                f"{dest.name}", fix="free space there (or use --dest on a "
                                "larger disk) and fill again") from err
        raise LabtorchError(f"could not fetch {url}: {err}",
                            fix="is the room cache running and its upstream reachable?") from err
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise LabtorchError(f"{dest.name} from {url} does not match its pinned sha256",
                            fix="run `labtorch cache verify` on the cache host, then fill again")
    tmp.replace(dest)
    return dest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_pip(commands: Iterable[list[str]]) -> None:
    """Run the pip downloads (pip checks every wheel against the index's sha256)."""
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = [line for line in done.stderr.splitlines() if line.strip()][-1:]
            raise LabtorchError(f"pip download failed: {last[0] if last else 'no message'}",
                                fix="check the cache's upstreams (`labtorch cache status`) "
                                    "and fill again: what is cached is kept")
