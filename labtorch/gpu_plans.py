"""Plan a host whose GPU name fits several rows of the GPU table.

A name such as "GT 730" (a Fermi 2.1 or a Kepler 3.5 chip) or a cut "GeForce GTX 10..." stands
for several GPUs. labtorch plans the host once per candidate compute capability: when every
candidate gets the same plan (torch, variant, Python, index and pip commands), that plan is the
answer and its first reason names the candidates considered. Only when the plans differ is the
name refused, with each candidate, its CC, what it would get, and the flag that picks it.

>>> from labtorch.model import Gpu, GpuFacts, SitePolicy
>>> old = GpuFacts(os="linux", driver_version="470.82.01", gpus=(Gpu("GT 730"),))
>>> named = plan_by_candidates(old, SitePolicy())
>>> named.plan.variant, named.plan.reasons[0][:40]
('cpu', "'GT 730' may be GeForce GT 730 (Fermi GF")
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from labtorch.compat import Compat
from labtorch.errors import LabtorchError
from labtorch.gpus import GpuCandidate, GpuMatch, lookup
from labtorch.model import Gpu, GpuFacts, HostPlan, SitePolicy

MAX_COMBINATIONS = 64
"""More candidate combinations than this (several ambiguous GPUs in one host) are not tried."""

_CC_HINT = "nvidia-smi --query-gpu=compute_cap --format=csv prints it on R510 and newer drivers"


@dataclass(frozen=True)
class Outcome:
    """What a host gets when its ambiguous GPUs have these compute capabilities."""

    ccs: tuple[str, ...]  # one per ambiguous GPU, in host order
    summary: str  # "torch 2.14.0 cu126", "torch 2.14.0 cpu", or the planner's error
    key: tuple[object, ...]  # equal keys = the same plan


@dataclass(frozen=True)
class NamePlans:
    """The answer of ``plan_by_candidates``: a plan, or a refusal saying how to choose."""

    plan: HostPlan | None
    refusal: LabtorchError | None
    outcomes: tuple[Outcome, ...] = ()


def plan_key(plan: HostPlan) -> tuple[object, ...]:
    """What makes two plans the same for a host: what gets installed, and from where."""
    return (plan.torch, plan.torchvision, plan.torchaudio, plan.variant, plan.python,
            plan.index_url, plan.extra_index_url, plan.install)


def plan_by_candidates(facts: GpuFacts, policy: SitePolicy, *, os: str | None = None,
                       host: str | None = None, arch: str = "x86_64", data: Compat | None = None,
                       match: Callable[[str], GpuMatch] = lookup) -> NamePlans:
    """Plan ``facts`` whose GPUs without a CC are looked up by name; see the module doc.

    A GPU the table does not know refuses with the table's message. ``match`` is the name
    lookup (``labtorch.gpus.lookup`` unless a test passes another table's).
    """
    from labtorch.planner import plan_host

    gpus = list(facts.gpus)
    ambiguous: list[tuple[int, GpuMatch]] = []
    for index, gpu in enumerate(gpus):
        if gpu.compute_capability is not None or not gpu.name:
            continue
        found = match(gpu.name)
        if found.status == "exact" and found.compute_capability:
            gpus[index] = _with_cc(gpu, found.compute_capability)
        elif found.status == "ambiguous":
            ambiguous.append((index, found))
        else:
            what, _, fix = found.message.partition("; ")
            return NamePlans(None, LabtorchError(what, host=host, fix=fix or _CC_HINT))
    options = [_unique(c.compute_capability for c in found.candidates) for _, found in ambiguous]
    combinations = list(itertools.islice(itertools.product(*options), MAX_COMBINATIONS + 1))
    if len(combinations) > MAX_COMBINATIONS:
        return NamePlans(None, _refusal(ambiguous, (), host))
    outcomes: list[Outcome] = []
    plans: list[HostPlan | LabtorchError] = []
    for ccs in combinations:
        for (index, _), cc in zip(ambiguous, ccs, strict=True):
            gpus[index] = _with_cc(gpus[index], cc)
        try:
            plan: HostPlan | LabtorchError = plan_host(_with_gpus(facts, tuple(gpus)), policy,
                                                       os=os, host=host, arch=arch, data=data)
        except LabtorchError as err:
            plan = err
        plans.append(plan)
        outcomes.append(_outcome(ccs, plan))
    if len({o.key for o in outcomes}) > 1:
        return NamePlans(None, _refusal(ambiguous, outcomes, host), tuple(outcomes))
    first = plans[0]
    if isinstance(first, LabtorchError):
        return NamePlans(None, first, tuple(outcomes))
    considered = tuple(_considered(found) for _, found in ambiguous)
    reasons = (*considered, *first.reasons) if considered else first.reasons
    return NamePlans(replace(first, reasons=reasons), None, tuple(outcomes))


def _with_cc(gpu: Gpu, cc: str) -> Gpu:
    """``gpu`` with a CC from the table (direct construction: ``replace`` is slow per host)."""
    return Gpu(gpu.name, gpu.memory_mib, cc, "table", gpu.mig_enabled, gpu.name_truncated)


def _with_gpus(facts: GpuFacts, gpus: tuple[Gpu, ...]) -> GpuFacts:
    return GpuFacts(facts.os, facts.driver_version, facts.cuda_version, gpus, facts.error,
                    facts.error_detail, facts.format, facts.gpu_count,
                    facts.gpu_count_is_lower_bound)


def _outcome(ccs: tuple[str, ...], plan: HostPlan | LabtorchError) -> Outcome:
    if isinstance(plan, LabtorchError):
        return Outcome(ccs, f"no plan: {plan.what}", ("error", plan.what))
    return Outcome(ccs, f"torch {plan.torch} {plan.variant}", plan_key(plan))


def _considered(found: GpuMatch) -> str:
    names = " or ".join(_named(c) for c in found.candidates)
    return (f"{found.query!r} may be {names} ({found.how}); every candidate gets this plan, "
            f"so the exact model does not matter here")


def _named(candidate: GpuCandidate, plan: str = "") -> str:
    """ "GeForce GT 730 (Fermi GF108, CC 2.1)"; with ``plan``: "... (CC 2.1: torch 2.14.0 cpu)"."""
    cc = f"CC {candidate.compute_capability}{': ' + plan if plan else ''}"
    if candidate.name.endswith(")"):
        return f"{candidate.name[:-1]}, {cc})"
    return f"{candidate.name} ({cc})"


_LISTED = 6
"""Up to this many candidates are listed one by one; more are grouped by the plan they get."""


def _refusal(ambiguous: Sequence[tuple[int, GpuMatch]], outcomes: Sequence[Outcome],
             host: str | None) -> LabtorchError:
    """Each candidate (or group of candidates) with its CC and plan, and the flag to choose."""
    several = len(ambiguous) > 1
    parts: list[str] = []
    flags: list[str] = []
    for position, (index, found) in enumerate(ambiguous):
        gets = {} if several else {o.ccs[position]: o.summary for o in outcomes}
        which = f"GPU {index} " if several else ""
        if len(found.candidates) <= _LISTED:
            listed = " or ".join(_named(c, gets.get(c.compute_capability, ""))
                                 for c in found.candidates)
            parts.append(f"{which}{found.query!r} may be {listed}")
        else:
            parts.append(f"{which}{found.query!r} matches {len(found.candidates)} GPUs: "
                         f"{_grouped(found.candidates, gets)}")
        ccs = _unique(c.compute_capability for c in found.candidates)
        choices = (" or ".join(f"--compute-capability {cc}" for cc in ccs) if len(ccs) <= _LISTED
                   else f"--compute-capability X.Y (one of {', '.join(ccs)})")
        flags.append(f"{choices} for GPU {index}" if several else choices)
    cut = any(found.candidates and found.query.endswith(("...", "…")) for _, found in ambiguous)
    full_name = "run nvidia-smi --query-gpu=name --format=csv for the full name, or " if cut else ""
    return LabtorchError(f"{' and '.join(parts)}, and the plans differ", host=host,
                         fix=f"{full_name}pass {' and '.join(flags)} ({_CC_HINT})")


def _grouped(candidates: Sequence[GpuCandidate], gets: dict[str, str]) -> str:
    """ "CC 1.0 to 3.5 (e.g. GeForce 8800 GTX): torch 2.14.0 cpu, CC 5.0 to 6.1 (...): ..." """
    groups: dict[str, list[GpuCandidate]] = {}
    for candidate in candidates:
        groups.setdefault(gets.get(candidate.compute_capability, ""), []).append(candidate)
    texts = []
    for plan, members in groups.items():
        low, high = members[0].compute_capability, members[-1].compute_capability
        span = f"CC {low}" if low == high else f"CC {low} to {high}"
        text = f"{span} (e.g. {members[0].name})"
        texts.append(f"{text}: {plan}" if plan else text)
    return ", ".join(texts)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
