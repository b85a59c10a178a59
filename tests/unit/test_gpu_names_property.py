"""Generated property test: every row of the GPU table, rewritten the ways people and
nvidia-smi write names, is still found, and is answered unless the candidates' plans differ.

Rewrites of each row's name: without vendor and brand words, without spaces, lower case, the
lower-case vendor word joined to the model, "Laptop GPU" after a laptop part, and cut with "..."
at the two widths of nvidia-smi's table (R5xx+: 24 characters of "NVIDIA <name>"; older: 15
characters of the name). For each rewrite:

- the row is among the candidates (a rewrite never loses the GPU);
- an answer's plan equals the row's own plan (plan_key);
- a refusal happens only when the candidates' plans really differ;
- a rewrite that drops nothing but spelling (case, spaces, joining) is answered whenever the
  row's own name is.

Plain parametrisation (hypothesis is not a dev dependency): one test per row, every rewrite
and two driver/OS settings inside it.
"""

from __future__ import annotations

import re

import pytest

from labtorch.errors import LabtorchError
from labtorch.gpu_plans import NamePlans, plan_by_candidates, plan_key
from labtorch.gpus import GpuRow, default_table
from labtorch.model import Gpu, GpuFacts, SitePolicy
from labtorch.planner import plan_host

ROWS = default_table().rows
SETTINGS = (("linux", "580.95.05"), ("windows", "472.50"))
_BRAND_RE = re.compile(r"\b(?:NVIDIA|GeForce|Quadro|Tesla|GRID)\s+", re.IGNORECASE)


def cut(name: str, kept: int) -> str:
    """``name`` as nvidia-smi's table prints it when it is longer than the column."""
    return name if len(name) <= kept + 3 else name[:kept] + "..."


def rewrites(row: GpuRow) -> dict[str, str]:
    """Every rewrite of the row's name, by kind."""
    name = row.name
    full = name if name.upper().startswith("NVIDIA") else f"NVIDIA {name}"
    forms = {
        "no vendor": _BRAND_RE.sub("", name).strip() or name,
        "no spaces": name.replace(" ", ""),
        "lower case": name.lower(),
        "joined": "nvidia" + name.lower().replace(" ", ""),
        "cut (R5xx table)": cut(full, 24),
        "cut (old table)": cut(name, 15),
    }
    if row.kind == "laptop":
        forms["laptop"] = f"{name} Laptop GPU"
    return forms


SPELLING_ONLY = ("no spaces", "lower case", "joined")


def _own_plan_key(row: GpuRow, os_name: str, driver: str) -> tuple[object, ...] | str:
    facts = GpuFacts(os=os_name, driver_version=driver,  # type: ignore[arg-type]
                     gpus=(Gpu(row.name, compute_capability=row.compute_capability),))
    try:
        return plan_key(plan_host(facts, SitePolicy()))
    except LabtorchError as err:  # the planner's own refusal (a GPU newer than the policy)
        return f"error: {err}"


def _resolve(name: str, os_name: str, driver: str) -> NamePlans:
    facts = GpuFacts(os=os_name, driver_version=driver,  # type: ignore[arg-type]
                     gpus=(Gpu(name),))
    return plan_by_candidates(facts, SitePolicy())


@pytest.mark.parametrize("row", ROWS, ids=[r.display_name for r in ROWS])
def test_every_rewrite_of_a_row_finds_it_and_answers_unless_plans_differ(row: GpuRow) -> None:
    table = default_table()
    for os_name, driver in SETTINGS:
        own = _own_plan_key(row, os_name, driver)
        own_name = _resolve(row.name, os_name, driver)
        for kind, written in rewrites(row).items():
            where = f"{kind} {written!r} ({os_name}, driver {driver})"
            match = table.lookup(written)
            assert row.display_name in [c.name for c in match.candidates], where
            named = _resolve(written, os_name, driver)
            if named.plan is not None:
                assert plan_key(named.plan) == own, where
            else:
                assert named.refusal is not None, where
                keys = {o.key for o in named.outcomes}
                assert len(keys) > 1 or not named.outcomes, where
                assert kind not in SPELLING_ONLY or own_name.plan is None, where
