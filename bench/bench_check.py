"""Benchmark: `labtorch check` wall time over N simulated lab hosts, divided by the floor.

The floor is a parallel ``ssh HOST true`` over the same hosts (all started at once), measured in
the same run, once with OpenSSH's default key exchange and once with curve25519 (what paramiko,
and so pyinfra, negotiates; see ../shared/reference/lab-notes.md). The check is timed
in-process (``labtorch.check.run.run_check``: load inventory, connect, one remote command per
host, evaluate), so Python's start-up is not counted.

    python bench/bench_check.py                    # 6 and 30 hosts, bare lab hosts
    python bench/bench_check.py --hosts 6 --provision   # provision first (slow)

Each size gets its own lab (``labtorch lab up --state-dir DIR/<N>``), taken down afterwards.
Prints one Markdown table row per size: medians of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABTORCH = [str(Path(sys.executable).parent / "labtorch")]


def lab_up(state: Path, hosts: int) -> None:
    subprocess.run([*LABTORCH, "lab", "up", "--state-dir", str(state), "--hosts", str(hosts)],
                   check=True, cwd=REPO, capture_output=True, text=True)


def lab_down(state: Path) -> None:
    subprocess.run([*LABTORCH, "lab", "down", "--state-dir", str(state), "--wipe"],
                   check=False, cwd=REPO, capture_output=True, text=True)


def host_names(state: Path) -> list[str]:
    import json

    data = json.loads((state / "lab.json").read_text())
    return [h["name"] for h in data["hosts"]]


def ssh_true(state: Path, hosts: list[str], kex: str | None) -> float:
    """Wall seconds for ``ssh HOST true`` on every host at once."""
    extra = ["-o", f"KexAlgorithms={kex}"] if kex else []
    start = time.monotonic()
    procs = [subprocess.Popen(["ssh", "-F", str(state / "ssh_config"), *extra, host, "true"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for host in hosts]
    codes = [p.wait() for p in procs]
    elapsed = time.monotonic() - start
    if any(codes):
        raise SystemExit(f"ssh true failed on some host: {codes}")
    return elapsed


def check_once(inventory: Path) -> float:
    from labtorch.check.run import run_check

    start = time.monotonic()
    run = run_check(inventory)
    elapsed = time.monotonic() - start
    if run.unreachable:
        raise SystemExit(f"unreachable during the benchmark: {run.unreachable}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[6, 30])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/labtorch-bench-check"))
    parser.add_argument("--provision", action="store_true",
                        help="provision the hosts first, so the verification really runs")
    args = parser.parse_args()
    os.chdir(REPO)
    inventory = REPO / "inventory" / "lab.py"
    print("| hosts | provisioned | ssh true (default kex) s | ssh true (curve25519) s "
          "| check s | check / ssh true | check / ssh true (curve25519) |")
    print("|---|---|---|---|---|---|---|")
    for count in args.hosts:
        state = args.state_dir / str(count)
        lab_up(state, count)
        try:
            os.environ["LABTORCH_LAB_DIR"] = str(state)
            if args.provision:
                subprocess.run([sys.executable, "-m", "pyinfra", str(inventory), "deploy.py",
                                "-y"], check=False, cwd=REPO, capture_output=True)
            hosts = host_names(state)
            ssh_true(state, hosts, None)  # warm caches once
            floors, floors_25519, checks = [], [], []
            for _ in range(args.runs):
                floors.append(ssh_true(state, hosts, None))
                floors_25519.append(ssh_true(state, hosts, "curve25519-sha256"))
                checks.append(check_once(inventory))
            floor = statistics.median(floors)
            floor_25519 = statistics.median(floors_25519)
            check = statistics.median(checks)
            print(f"| {count} | {'yes' if args.provision else 'no'} | {floor:.2f} | "
                  f"{floor_25519:.2f} | {check:.2f} | {check / floor:.2f} | "
                  f"{check / floor_25519:.2f} |", flush=True)
        finally:
            lab_down(state)


if __name__ == "__main__":
    main()
