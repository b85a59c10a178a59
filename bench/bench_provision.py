"""Benchmark of the main job on the simulated lab, for 6 and 30 hosts.

For each room size it brings up a fresh lab, then measures with the real CLI
(`pyinfra -y inventory/lab.py deploy.py`):

- first-run wall time (bare hosts → provisioned) and converged-run wall time (second run);
- remote commands per host on the converged run (every command and file transfer pyinfra
  sends, counted in the pyinfra process itself);
- bytes fetched from the lab mirror per host on the first run (from the mirror's access log);
- the baseline measured in the same run: a one-fact pyinfra run over the same hosts
  (`pyinfra inventory/lab.py fact server.Hostname`), and ratios against it.

    python bench/bench_provision.py --hosts 6 30 [--out bench/results/provision.md]

Needs root and the lab's prerequisites (see the lab section). Takes minutes per size: each host
installs a ~180 MB torch wheel on the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r'"GET (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) (?P<size>\d+)')


def _counting_main() -> None:
    """Run pyinfra's CLI counting every remote command and transfer per host (child mode)."""
    from pyinfra.api.host import Host
    from pyinfra_cli.main import main

    counts: Counter[str] = Counter()
    for method in ("run_shell_command", "put_file", "get_file"):
        original = getattr(Host, method)

        def counted(self, *args, _original=original, **kwargs):
            counts[self.name] += 1
            return _original(self, *args, **kwargs)

        setattr(Host, method, counted)
    try:
        main()
    finally:
        Path(os.environ["LABTORCH_BENCH_COUNTS"]).write_text(json.dumps(counts))


def pyinfra(lab_dir: Path, *args: str) -> tuple[float, int, dict[str, int]]:
    """Run the pyinfra CLI on the lab; wall seconds, exit code, commands per host."""
    with tempfile.NamedTemporaryFile(suffix=".json") as counts:
        env = {**os.environ, "LABTORCH_LAB_DIR": str(lab_dir), "LABTORCH_BENCH_COUNTS": counts.name}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--count-commands", "--", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        per_host = json.loads(Path(counts.name).read_text() or "{}")
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
    return wall, done.returncode, per_host


def mirror_bytes(log: Path, offset: int) -> int:
    with log.open() as handle:
        handle.seek(offset)
        return sum(
            int(m["size"]) for m in map(LOG_LINE.search, handle) if m and m["status"] == "200"
        )


def measure(hosts: int, root: Path) -> dict[str, float]:
    from labtorch.lab import control

    lab_dir = root / f"lab-{hosts}"
    control.down(lab_dir, wipe=True)
    lab = control.up(lab_dir, hosts=hosts)
    try:
        log = lab_dir / "mirror" / "mirror.log"
        baseline, _, _ = pyinfra(lab_dir, "inventory/lab.py", "fact", "server.Hostname")
        offset = log.stat().st_size
        first, first_rc, _ = pyinfra(lab_dir, "-y", "inventory/lab.py", "deploy.py")
        fetched = mirror_bytes(log, offset)
        converged, conv_rc, per_host = pyinfra(lab_dir, "-y", "inventory/lab.py", "deploy.py")
    finally:
        control.down(lab_dir, wipe=True)
    commands = sorted(per_host.values()) or [0]
    return {
        "hosts": len(lab.hosts),
        "baseline_s": baseline,
        "first_s": first,
        "first_ok": first_rc == 0,
        "converged_s": converged,
        "converged_ok": conv_rc == 0,
        "commands_min": commands[0],
        "commands_max": commands[-1],
        "mirror_mib_per_host": fetched / len(lab.hosts) / 2**20,
    }


def table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| hosts | baseline: 1 fact (s) | first run (s) | converged run (s) | converged / baseline"
        " | remote commands per host, converged | mirror MiB per host, first run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["converged_s"] / r["baseline_s"]
        lines.append(
            f"| {r['hosts']} | {r['baseline_s']:.1f} | {r['first_s']:.0f}"
            f"{'' if r['first_ok'] else ' (failed)'} | {r['converged_s']:.1f}"
            f"{'' if r['converged_ok'] else ' (failed)'} | {ratio:.1f}x"
            f" | {r['commands_min']}–{r['commands_max']} | {r['mirror_mib_per_host']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[6, 30])
    parser.add_argument("--root", type=Path, default=Path("/tmp/labtorch-bench-provision"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [measure(n, args.root) for n in args.hosts]
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(
            "# Provisioning benchmark (bench/bench_provision.py)\n\n"
            f"Measured {time.strftime('%Y-%m-%d')} on this machine ({os.cpu_count()} cores), "
            "simulated lab, lab mirror on loopback.\n\n" + text + "\n"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--count-commands":
        sys.argv = ["pyinfra", *sys.argv[3:]]
        _counting_main()
    else:
        main()
