"""`labtorch gpus search NAME`: how labtorch reads a GPU name, and what each candidate gets.

    labtorch gpus search "gtx1060m"
    labtorch gpus search "GT 730" --driver 470.82.01 --os linux --format json

Without ``--driver``/``--os`` it shows the GPUs the name can be (CC, architecture, kind, the
table's source). With both it also plans each candidate and says whether `labtorch plan` would
answer (every candidate gets the same plan) or refuse (and with which flag to choose).
Exit status: 0 when the name matches the table, 1 when it matches nothing; bad options exit 2.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from labtorch.errors import LabtorchError
from labtorch.gpu_plans import NamePlans, plan_by_candidates
from labtorch.gpus import GpuMatch, lookup
from labtorch.model import Gpu, GpuFacts, SitePolicy

_FORMATS = ("table", "json")
_OSES = ("linux", "windows")


@click.group()
def gpus() -> None:
    """The GPU table: which GPU a name stands for, and its compute capability."""


@gpus.command()
@click.argument("name")
@click.option("--driver", metavar="VERSION",
              help="Also plan each candidate for this NVIDIA driver (needs --os).")
@click.option("--os", "os_name", metavar="linux|windows", help="The host's OS (with --driver).")
@click.option("--format", "output", default="table", show_default=True, metavar="json|table")
def search(name: str, driver: str | None, os_name: str | None, output: str) -> None:
    """Show the GPUs NAME can be, best match first, and how it was read."""
    if output not in _FORMATS:
        raise LabtorchError(f"--format {output!r} is not one of {', '.join(_FORMATS)}",
                            fix="pass --format table or --format json")
    if (driver is None) != (os_name is None):
        raise LabtorchError("--driver and --os go together", fix="pass both, or neither")
    if os_name is not None and os_name not in _OSES:
        raise LabtorchError(f"--os {os_name!r} is not one of {', '.join(_OSES)}",
                            fix="pass --os linux or --os windows")
    match = lookup(name)
    planned = None
    if driver is not None and match.status != "unknown":
        from labtorch.cli.plan import _driver

        facts = GpuFacts(os="windows" if os_name == "windows" else "linux",
                         driver_version=_driver(driver), gpus=(Gpu(name),), format="cli",
                         gpu_count=1)
        planned = plan_by_candidates(facts, SitePolicy(), os=os_name)
    if output == "json":
        click.echo(json.dumps(as_dict(match, planned), indent=2, ensure_ascii=False))
    else:
        _print(match, planned)
    if match.status == "unknown":
        raise SystemExit(1)


def as_dict(match: GpuMatch, planned: NamePlans | None) -> dict[str, Any]:
    """The search result as JSON-ready data (the shape `--format json` prints)."""
    gets = _plans_by_cc(match, planned)
    result: dict[str, Any] = {
        "query": match.query,
        "status": match.status,
        "compute_capability": match.compute_capability,
        "how": match.how,
        "message": match.message,
        "candidates": [
            {"name": c.name, "compute_capability": c.compute_capability,
             "architecture": c.architecture, "kind": c.kind, "source": c.source,
             **({"plan": gets.get(c.compute_capability)} if planned else {})}
            for c in match.candidates
        ],
    }
    if planned is not None:
        result["answer"] = planned.plan.to_dict() if planned.plan else None
        result["refusal"] = planned.refusal.line() if planned.refusal else None
    return result


def _plans_by_cc(match: GpuMatch, planned: NamePlans | None) -> dict[str, str]:
    """CC -> "torch 2.14.0 cu126" for each candidate CC that was planned."""
    if planned is None or not planned.outcomes:
        return {}
    if match.compute_capability is not None:  # one CC: planned once
        return {match.compute_capability: planned.outcomes[0].summary}
    return {o.ccs[0]: o.summary for o in planned.outcomes if o.ccs}


def _print(match: GpuMatch, planned: NamePlans | None) -> None:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=160)
    if match.status == "unknown":
        console.print(f"no match: {match.message}", markup=False, soft_wrap=True)
        return
    console.print(f"{match.query!r}: {len(match.candidates)} candidate(s), found {match.how}",
                  markup=False, soft_wrap=True)
    gets = _plans_by_cc(match, planned)
    table = Table("GPU", "CC", "architecture", "kind", "source")
    if planned is not None:
        table.add_column("plan")
    for c in match.candidates:
        row = [c.name, c.compute_capability, c.architecture, c.kind, c.source]
        if planned is not None:
            row.append(gets.get(c.compute_capability, "-"))
        table.add_row(*row)
    console.print(table)
    if planned is None:
        verdict = (f"compute capability {match.compute_capability}" if match.compute_capability
                   else "several compute capabilities: pass --driver and --os to see whether "
                        "the plans differ")
    elif planned.plan is not None:
        verdict = (f"answer: torch {planned.plan.torch} {planned.plan.variant} "
                   f"(every candidate gets this plan)")
    else:
        assert planned.refusal is not None
        verdict = f"refused: {planned.refusal.line()}"
    console.print(verdict, markup=False, soft_wrap=True)
