"""Benchmark: plan 10,000 hosts drawn from the GPU table × real driver versions × both OSes.

Prints hosts per second for ``labtorch.planner.plan_host`` and, measured in the same run on
the same hosts, for a driver-only baseline that picks wheels the way uv ``--torch-backend=auto``
and light-the-torch do (the newest CUDA variant whose driver floor the driver meets, never
looking at the GPU). Besides the speed ratio it prints how many of the baseline's picks carry
no kernels for the host's GPU: the failure the planner exists to prevent.

It also plans the same hosts from their GPU names alone, written lower case without spaces
(the path of an R470 driver that prints no compute capability: the name matcher, and for a
name that fits several GPUs one plan per candidate), and as rooms of 80 with ``plan_group``
(the newest torch every GPU host of a room can run; a host that cannot be planned lands in the
room's errors).

With ``--overlay FILE`` (a release-data overlay written by ``labtorch data refresh``) it also
plans the same hosts with the overlay merged in, next to the shipped-data run.

    python bench/bench_planner.py [--hosts 10000] [--seed 7] [--overlay FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections.abc import Sequence
from pathlib import Path

from labtorch.compat import Compat, ComputeCapability, DriverVersion, parse, shipped_texts
from labtorch.gpus import all_gpus, default_table
from labtorch.model import Gpu, GpuFacts, SitePolicy
from labtorch.planner import plan_group, plan_host

DRIVERS = {
    "linux": ("418.40.04", "470.82.01", "525.60.13", "535.54.03", "550.54.14", "560.35.05",
              "570.124.06", "575.57.08", "580.95.05", "590.48.01", "595.71.05"),
    "windows": ("472.50", "528.33", "537.13", "551.61", "561.17", "572.61", "581.57", "591.86"),
}


ROOM = 80


def draw_hosts(count: int, seed: int) -> list[GpuFacts]:
    """``count`` hosts: a random GPU row (sometimes two), a random driver and OS."""
    rng = random.Random(seed)
    table = all_gpus()
    hosts = []
    for _ in range(count):
        os = rng.choice(("linux", "windows"))
        gpus = [rng.choice(table) for _ in range(1 if rng.random() < 0.9 else 2)]
        hosts.append(GpuFacts(
            os=os,  # type: ignore[arg-type]
            driver_version=rng.choice(DRIVERS[os]),
            gpus=tuple(Gpu(g.name, compute_capability=g.compute_capability) for g in gpus),
        ))
    return hosts


def driver_only_pick(facts: GpuFacts, data: Compat) -> tuple[str, str] | None:
    """The baseline: newest torch, newest variant whose minor-compat floor the driver meets."""
    assert facts.driver_version is not None
    driver = DriverVersion.parse(facts.driver_version)
    for release in data.releases:
        builds = [b for b in release.builds.get(facts.os, ())  # type: ignore[call-overload]
                  if driver >= data.drivers.floor(b.variant, facts.os, "minor")]
        if builds:
            best = max(builds, key=lambda b: b.cuda)
            return release.line, best.variant
    return None


def has_kernels(facts: GpuFacts, line: str, variant: str, data: Compat) -> bool:
    build = data.release(line).build(variant, facts.os)  # type: ignore[arg-type]
    return all(build.covers(ComputeCapability.parse(g.compute_capability or "0.0"))
               for g in facts.gpus)


def timed(label: str, items: Sequence[object], plan: object, *, hosts: int | None = None
          ) -> tuple[float, list[object]]:
    """Run ``plan`` over ``items``; print hosts per second (``hosts``: how many they hold)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    results = [plan(h) for h in items]  # type: ignore[operator]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    count = len(items) if hosts is None else hosts
    # per CPU-second too: on a shared, loaded box the wall clock counts other people's jobs
    print(f"{label:<34} {count / seconds:>10,.0f} hosts/s  ({seconds:.2f} s; "
          f"{count / cpu:,.0f} hosts per CPU-second)")
    return seconds, results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--overlay", type=Path, help="also plan with this overlay merged in")
    args = parser.parse_args(argv)
    data = parse(shipped_texts())  # the shipped data alone, whatever overlay the user has
    hosts = draw_hosts(args.hosts, args.seed)
    policy = SitePolicy()
    print(f"{args.hosts:,} hosts from {len(all_gpus())} GPU rows × "
          f"{sum(map(len, DRIVERS.values()))} drivers × 2 OSes (seed {args.seed})")
    baseline_s, picks = timed("baseline: driver-only (uv/ltt)", hosts,
                              lambda h: driver_only_pick(h, data))
    planner_s, plans = timed("labtorch planner", hosts,
                             lambda h: plan_host(h, policy, data=data))
    print(f"{'speed ratio planner / baseline':<34} {baseline_s / planner_s:>10.3f}")
    if args.overlay:
        from labtorch.overlay import read_overlay

        merged = parse(shipped_texts(), overlay=read_overlay(args.overlay))
        print(f"overlay {args.overlay}: releases {merged.releases[0].line} .. "
              f"{merged.releases[-1].line}")
        overlay_s, _ = timed("labtorch planner + overlay", hosts,
                             lambda h: plan_host(h, policy, data=merged))
        print(f"{'speed ratio overlay / baseline':<34} {baseline_s / overlay_s:>10.3f}")
    by_name = [dataclasses.replace(h, gpus=tuple(
        Gpu((g.name or "").lower().replace(" ", "")) for g in h.gpus)) for h in hosts]
    default_table().clear_cache()
    named_s, _ = timed("labtorch planner, GPUs by name", by_name,
                       lambda h: plan_host(h, policy, data=data))
    print(f"{'speed ratio by name / baseline':<34} {baseline_s / named_s:>10.3f}")
    rooms = [{f"pc{i:05d}": h for i, h in enumerate(hosts[start:start + ROOM], start)}
             for start in range(0, len(hosts), ROOM)]
    group_s, groups = timed(f"labtorch plan_group (rooms of {ROOM})", rooms,
                            lambda r: plan_group(r, policy, data=data), hosts=len(hosts))
    print(f"{'speed ratio plan_group / baseline':<34} {baseline_s / group_s:>10.3f}  "
          f"({len(rooms)} rooms, "
          f"{sum(len(g.errors) for g in groups):,} host errors)")  # type: ignore[attr-defined]
    wrong = sum(1 for h, p in zip(hosts, picks, strict=True)
                if p is not None and not has_kernels(h, *p, data))  # type: ignore[misc]
    gpu_plans = sum(1 for p in plans if p.variant != "cpu")  # type: ignore[attr-defined]
    print(f"baseline picks without kernels for the host's GPU: {wrong:,} of {len(hosts):,}")
    print(f"planner: {gpu_plans:,} GPU plans, {len(hosts) - gpu_plans:,} CPU plans with a reason")


if __name__ == "__main__":
    main()
