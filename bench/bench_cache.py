"""Benchmark of the room cache on the simulated lab with a shaped upstream link.

From one run, on fresh hosts each time (the lab is wiped between runs):

- baseline: ONE host provisioned without the cache; its upstream bytes are "one host's bytes";
- for each room size (default 6 and 30): first provisioning without the cache, then with it
  (a fresh, empty cache): upstream bytes ÷ one host's bytes, and the wall time of the first
  provisioning with ÷ without the cache.

The upstream is ``labtorch.lab.shaped`` (the lab mirror's content in a network namespace behind
a veth pair shaped with tc tbf, default 100 Mbit/s); bytes are counted from that server's own
access log (file downloads, status 200). The cache runs on the lab address .253.

    python bench/bench_cache.py --hosts 6 30 [--rate 100mbit] [--out bench/results/cache.md]

Needs root, nginx and the lab's prerequisites. Takes long: each host installs a ~180 MB torch
wheel on the machine's cores, and without the cache every host pulls it over the shaped link.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from labtorch.cache import server  # noqa: E402
from labtorch.cache.nginx import CacheConfig  # noqa: E402
from labtorch.lab import control, shaped  # noqa: E402

LEFT: list[Path] = []


def wipe_all() -> None:
    for folder in LEFT:
        if (folder / "lab.json").exists():
            control.down(folder, wipe=True)
        shutil.rmtree(folder, ignore_errors=True)


def provision(lab_dir: Path, env: dict[str, str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "inventory/lab_cache.py", "deploy.py"],
        cwd=REPO, env={**os.environ, "LABTORCH_LAB_DIR": str(lab_dir), **env},
        capture_output=True, text=True,
    )
    return time.perf_counter() - start, run.returncode, run.stdout + run.stderr


def one_run(hosts: int, with_cache: bool, rate: str, only: list[str] | None = None) -> dict:
    """Fresh lab of ``hosts`` hosts, shaped upstream, one first provisioning; its figures."""
    lab_dir = Path(tempfile.mkdtemp(prefix="labtorch-bench-cache-"))
    cache_dir = Path(tempfile.mkdtemp(prefix="labtorch-bench-room-"))
    cache_dir.chmod(0o755)
    upstream = None
    try:
        lab = control.up(lab_dir, hosts=hosts)
        upstream = shaped.start(lab, rate=rate)
        env = {"LABTORCH_LAB_UPSTREAM": upstream.url}
        if only:
            env["LABTORCH_LAB_HOSTS"] = ",".join(only)
        if with_cache:
            config = CacheConfig(f"127.77.{lab.block}.253", 3141, cache_dir,
                                 (upstream.url + "/",), "20g")
            server.serve(config)
            env["LABTORCH_LAB_CACHE_URL"] = config.url
        wall, code, log = provision(lab_dir, env)
        if code != 0:
            print(log[-3000:], file=sys.stderr)
        files = shaped.served(upstream.log)
        return {"hosts": len(only) if only else hosts, "cache": with_cache, "wall": wall,
                "code": code, "bytes": sum(size for _, size in files), "files": len(files),
                "distinct": len({path for path, _ in files})}
    finally:
        if with_cache:
            server.stop(cache_dir)
        if upstream:
            shaped.stop(upstream)
        control.down(lab_dir)  # every process ends now; the disks are wiped after the last run
        LEFT.extend([lab_dir, cache_dir])  # (deleting GBs is not part of any measured figure)


def load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[6, 30])
    parser.add_argument("--rate", default="100mbit")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still take every lab down

    print(f"load before: {load()}", flush=True)
    try:
        measure(args)
    finally:
        wipe_all()


def measure(args: argparse.Namespace) -> None:
    base = one_run(1, False, args.rate)
    print(f"baseline (1 host, no cache): {base['bytes'] / 2**20:.1f} MiB upstream, "
          f"{base['wall']:.0f} s, exit {base['code']}", flush=True)
    one = base["bytes"] or 1
    rows = []
    for hosts in args.hosts:
        pair = {}
        for with_cache in (False, True):
            result = one_run(hosts, with_cache, args.rate)
            pair[with_cache] = result
            print(f"{hosts} hosts, {'with' if with_cache else 'without'} cache: "
                  f"upstream {result['bytes'] / 2**20:.1f} MiB = {result['bytes'] / one:.2f} x one "
                  f"host; {result['files']} file downloads ({result['distinct']} distinct); "
                  f"first provisioning {result['wall']:.0f} s; exit {result['code']}; "
                  f"load {load()}", flush=True)
        ratio = pair[True]["wall"] / pair[False]["wall"]
        print(f"{hosts} hosts: first provisioning with / without cache = {ratio:.2f}", flush=True)
        rows.append((hosts, pair, ratio))

    table = ["| hosts | upstream ÷ one host, without cache | with cache | first provisioning "
             "without (s) | with (s) | with ÷ without | exit codes (without, with) |",
             "|---|---|---|---|---|---|---|"]
    for hosts, pair, ratio in rows:
        without, with_ = pair[False]["bytes"] / one, pair[True]["bytes"] / one
        table.append(f"| {hosts} | {without:.2f} | {with_:.2f}"
                     f" | {pair[False]['wall']:.0f} | {pair[True]['wall']:.0f} | {ratio:.2f} | "
                     f"{pair[False]['code']}, {pair[True]['code']} |")
    text = "\n".join(table)
    print(text)
    print(f"one host's bytes (baseline run): {one / 2**20:.1f} MiB; load after: {load()}")
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
