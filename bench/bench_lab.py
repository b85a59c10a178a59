"""Benchmark: bringing the simulated lab up and down, and the SSH floor over its hosts.

For each size (default 6 and 30 hosts) in a fresh state directory:

- ``up``: wall time of ``labtorch.lab.control.up`` from nothing (mirror content already cached,
  as on every run after the first), and of a second, idempotent ``up``;
- the floor: a parallel ``ssh HOST true`` over all hosts (every client started at once), with
  OpenSSH's default key exchange (sntrup761x25519-sha512@openssh.com on OpenSSH 9.2) and with
  curve25519-sha256 (what paramiko, so pyinfra, negotiates). Later benchmarks divide by it;
- ``down``: wall time until every process is gone.

    python bench/bench_lab.py                  # 6 and 30 hosts, 3 runs of the floor
    python bench/bench_lab.py --hosts 6 60 --runs 5

Prints a Markdown table and writes it to bench/results/lab.md. Needs root (like the lab).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from labtorch.lab import control

RESULTS = Path(__file__).resolve().parent / "results" / "lab.md"
KEX = {"default": None, "curve25519": "curve25519-sha256"}


def floor(lab: control.Lab, kex: str | None) -> float:
    """Seconds for ``ssh HOST true`` on every host at once (all clients started together)."""
    extra = ["-o", f"KexAlgorithms={kex}"] if kex else []
    start = time.perf_counter()
    procs = [subprocess.Popen(["ssh", "-F", str(lab.ssh_config), *extra, h.name, "true"])
             for h in lab.hosts]
    codes = [p.wait() for p in procs]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise SystemExit(f"ssh failed on {sum(1 for c in codes if c)} hosts")
    return elapsed


def measure(hosts: int, runs: int) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix=f"labtorch-bench-lab-{hosts}-"))
    try:
        start = time.perf_counter()
        lab = control.up(state, hosts=hosts)
        row = {"up": time.perf_counter() - start}
        start = time.perf_counter()
        control.up(state)
        row["up again"] = time.perf_counter() - start
        for label, kex in KEX.items():
            row[f"floor {label}"] = statistics.median(floor(lab, kex) for _ in range(runs))
        start = time.perf_counter()
        control.down(state)
        row["down"] = time.perf_counter() - start
        return row
    finally:
        control.down(state, wipe=True)
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[6, 30])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    columns = ["up", "up again", "floor default", "floor curve25519", "down"]
    lines = [
        "# Simulated lab: bring-up and SSH floor",
        "",
        f"Machine: {platform.node()}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, load average {load:.1f} at start (other jobs "
        "on the machine slow every figure); wall seconds; floor = parallel "
        f"`ssh HOST true` over all hosts, median of {args.runs} runs "
        "(default kex: sntrup761x25519-sha512@openssh.com; curve25519: curve25519-sha256).",
        "",
        "| hosts | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for hosts in args.hosts:
        row = measure(hosts, args.runs)
        lines.append(f"| {hosts} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
