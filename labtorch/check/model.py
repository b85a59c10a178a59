"""What one compliance check found: plain typed data, no pyinfra import.

A check run holds one ``HostReport`` per host; each host report holds one ``CheckResult`` per
check (``reach``, ``plan``, and the verification checks), plus the version facts an admin
otherwise collects by hand (``HostVersions``).

Statuses, from best to worst:

- ``pass``: the host proves what it must.
- ``skipped``: nothing to prove here (GPU checks of a CPU-only plan, or a check that an earlier
  failure made moot); never a failure by itself.
- ``simulated``: compliant with a note: the check could only run against a stand-in GPU (the
  simulated lab); it never counts as a failure.
- ``drift``: the host's plan changed since the deploy (new GPU, new driver, new site policy):
  ``labtorch check --fix`` re-runs the deploy there.
- ``fail``: the host does not prove what it must (torch missing, CPU build, kernel missing, ...).
- ``unreachable``: the host could not be checked at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "skipped", "simulated", "drift", "fail", "unreachable"]
STATUSES: tuple[Status, ...] = ("pass", "skipped", "simulated", "drift", "fail", "unreachable")
COMPLIANT: frozenset[str] = frozenset({"pass", "skipped", "simulated"})


@dataclass(frozen=True)
class CheckResult:
    """One cell of the host × check table.

    ``cause`` says in plain words what is wrong (empty when it passed), ``fix`` is the command
    that fixes it, ``detail`` what was observed (versions, paths) for the curious.
    """

    host: str
    check: str
    status: Status
    cause: str = ""
    fix: str = ""
    detail: str = ""

    @property
    def compliant(self) -> bool:
        return self.status in COMPLIANT


@dataclass(frozen=True)
class HostVersions:
    """The version facts of one host (``labtorch inventory-report``). ``None``: not known."""

    os: str | None = None
    gpus: tuple[str, ...] = ()
    compute_capabilities: tuple[str, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    conda_version: str | None = None
    python_version: str | None = None
    torch_version: str | None = None
    torch_variant: str | None = None
    simulated: bool = False
    # where the verification's device answers came from when not from the host's own GPU:
    # "recording turing-rtx2080super (synthetic)" (the lab's GPU stand-in)
    replayed: str | None = None


@dataclass(frozen=True)
class HostReport:
    """Everything one check run found on one host."""

    host: str
    room: str
    results: tuple[CheckResult, ...]
    versions: HostVersions = field(default_factory=HostVersions)

    @property
    def status(self) -> Status:
        """The worst status of the host's checks; ``pass`` when nothing failed and nothing was
        simulated (a host whose only non-pass checks were skipped passes)."""
        status = worst(r.status for r in self.results)
        return "pass" if status == "skipped" else status

    @property
    def compliant(self) -> bool:
        return self.status in COMPLIANT

    @property
    def problems(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.compliant)


@dataclass(frozen=True)
class CheckRun:
    """One ``labtorch check``: when, which inventory, and one report per host."""

    started_at: str
    inventory: str
    hosts: tuple[HostReport, ...]
    duration_s: float = 0.0

    @property
    def checks(self) -> tuple[str, ...]:
        """Every check name seen in this run, in first-seen order (the table's columns)."""
        seen: dict[str, None] = {}
        for host in self.hosts:
            for result in host.results:
                seen.setdefault(result.check, None)
        return tuple(seen)

    @property
    def rooms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.room for h in self.hosts))

    @property
    def unreachable(self) -> tuple[str, ...]:
        return tuple(h.host for h in self.hosts if h.status == "unreachable")

    @property
    def noncompliant(self) -> tuple[str, ...]:
        """Hosts that were checked and drifted or failed (unreachable hosts are not here)."""
        return tuple(h.host for h in self.hosts if h.status in ("drift", "fail"))

    @property
    def drifted(self) -> tuple[str, ...]:
        """Hosts a re-deploy should bring back: drifted or failed (``check --fix`` targets)."""
        return self.noncompliant

    @property
    def exit_code(self) -> int:
        """0: every host complies; 1: a checked host drifted or failed; 3: some host could not be
        checked (and every checked host complies). 2 is kept for bad input (labtorch.cli)."""
        if self.noncompliant:
            return 1
        if self.unreachable:
            return 3
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "inventory": self.inventory,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "summary": {room: room_summary(self, room) for room in self.rooms},
            "hosts": [
                {
                    "host": h.host,
                    "room": h.room,
                    "status": h.status,
                    "versions": versions_dict(h.versions),
                    "results": [asdict(r) for r in h.results],
                }
                for h in self.hosts
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckRun:
        """Inverse of ``to_dict`` (history stores runs as JSON)."""
        hosts = []
        for item in data["hosts"]:
            versions = dict(item.get("versions") or {})
            for key in ("gpus", "compute_capabilities"):
                versions[key] = tuple(versions.get(key) or ())
            hosts.append(
                HostReport(
                    host=item["host"],
                    room=item["room"],
                    results=tuple(CheckResult(**r) for r in item["results"]),
                    versions=HostVersions(**versions),
                )
            )
        return cls(
            started_at=data["started_at"],
            inventory=data["inventory"],
            hosts=tuple(hosts),
            duration_s=float(data.get("duration_s", 0.0)),
        )


@dataclass(frozen=True)
class TrendPoint:
    """One room's compliance in one stored run (see ``history.History.trend``)."""

    started_at: str
    room: str
    compliant: int
    total: int


def worst(statuses: Any) -> Status:
    """The worst of some statuses (order of ``STATUSES``); ``pass`` for none.

    >>> worst(["pass", "simulated", "drift"])
    'drift'
    """
    rank = {s: i for i, s in enumerate(STATUSES)}
    result: Status = "pass"
    for status in statuses:
        if rank[status] > rank[result]:
            result = status
    return result


def room_summary(run: CheckRun, room: str) -> dict[str, int]:
    """Counts of host statuses in one room, plus ``total`` and ``compliant``."""
    hosts = [h for h in run.hosts if h.room == room]
    counts: dict[str, int] = {status: 0 for status in STATUSES}
    for host in hosts:
        counts[host.status] += 1
    counts["total"] = len(hosts)
    counts["compliant"] = sum(1 for h in hosts if h.compliant)
    return counts


def versions_dict(versions: HostVersions) -> dict[str, Any]:
    """``HostVersions`` as JSON-ready data (tuples as lists)."""
    data = asdict(versions)
    data["gpus"] = list(versions.gpus)
    data["compute_capabilities"] = list(versions.compute_capabilities)
    return data
