"""The room lock: ``latest`` resolved once per room, so that plans never change by surprise.

A room whose hosts set ``labtorch_lock_file`` (a path on the admin's machine) keeps, per host,
the release, variant, Python and companions it was planned with, the GPU facts it was planned
from, and the wheel's sha256 where the index listed one:

    # labtorch room lock: written by `labtorch lock update`; the deploy and the check follow it
    resolved_at: "2026-12-02T15:00:00Z"
    hosts:
      pc01: {torch: 2.14.1, variant: cu130, python: "3.12", torchvision: 0.29.1,
             torchaudio: 2.11.0, os: linux, sha256: null, file: null, facts: {...}}

The lock applies only to hosts whose torch spec is ``latest``: a site that names a release has
already pinned it. ``labtorch lock update INVENTORY`` resolves ``latest`` for every host (and
prints who moves and why); ``labtorch data refresh --lock FILE`` shows who would move.

Pure: reading and writing the lock file is the only I/O.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from packaging.version import Version

from labtorch.compat import Compat, Release
from labtorch.errors import DataError, LabtorchError
from labtorch.model import Gpu, GpuFacts, HostPlan, SitePolicy
from labtorch.planner import load_data, plan_host

HEADER = ("# labtorch room lock: written by `labtorch lock update`; the deploy and the check "
          "follow it.\n# Move the room with `labtorch lock update INVENTORY`.\n")


@dataclass(frozen=True)
class LockedHost:
    """What one host is locked to."""

    torch: str
    variant: str
    python: str
    os: str
    torchvision: str | None = None
    torchaudio: str | None = None
    sha256: str | None = None
    file: str | None = None
    facts: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    policy: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The host's site policy when it was resolved (re-planning offline needs it)."""

    def describe(self) -> str:
        return f"torch {self.torch} {self.variant}"


@dataclass(frozen=True)
class RoomLock:
    """A room's lock file."""

    hosts: Mapping[str, LockedHost]
    resolved_at: str = ""

    def entry(self, host: str) -> LockedHost | None:
        return self.hosts.get(host)


def follows_lock(policy: SitePolicy) -> bool:
    """Only ``latest`` is locked: a named release is already pinned by the site."""
    return policy.torch.strip() in ("", "latest")


def read_lock(path: Path) -> RoomLock | None:
    """The lock at ``path``; None when it does not exist yet. A broken file: one-line error."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"the room lock {path} cannot be read ({type(err).__name__})",
                        fix="run `labtorch lock update INVENTORY` to write it again") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("hosts") or {}, dict):
        raise DataError(f"the room lock {path} is not a labtorch lock",
                        fix="run `labtorch lock update INVENTORY` to write it again")
    hosts: dict[str, LockedHost] = {}
    for name, row in (doc.get("hosts") or {}).items():
        try:
            hosts[str(name)] = LockedHost(
                torch=str(row["torch"]), variant=str(row["variant"]), python=str(row["python"]),
                os=str(row.get("os") or "linux"),
                torchvision=_opt(row.get("torchvision")), torchaudio=_opt(row.get("torchaudio")),
                sha256=_opt(row.get("sha256")), file=_opt(row.get("file")),
                facts=dict(row.get("facts") or {}), policy=dict(row.get("policy") or {}))
        except (KeyError, TypeError) as err:
            raise DataError(f"the room lock {path}: host {name} lacks {err}",
                            fix="run `labtorch lock update INVENTORY` to write it again") from err
    return RoomLock(hosts, str(doc.get("resolved_at") or ""))


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def write_lock(path: Path, lock: RoomLock) -> None:
    """Write the lock atomically."""
    doc = {"resolved_at": lock.resolved_at or now(),
           "hosts": {name: _row(entry) for name, entry in sorted(lock.hosts.items())}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(HEADER + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    partial.replace(path)


def _row(entry: LockedHost) -> dict[str, Any]:
    row = dataclasses.asdict(entry)
    row["facts"] = dict(entry.facts)
    row["policy"] = dict(entry.policy)
    return row


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_for(plan: HostPlan, facts: GpuFacts, policy: SitePolicy, *,
              sha256: str | None = None, file: str | None = None) -> LockedHost:
    """The lock row of a freshly resolved plan."""
    return LockedHost(torch=plan.torch, variant=plan.variant, python=plan.python, os=plan.os,
                      torchvision=plan.torchvision, torchaudio=plan.torchaudio, sha256=sha256,
                      file=file, facts=facts.to_dict(), policy=dataclasses.asdict(policy))


def policy_of(entry: LockedHost) -> SitePolicy:
    """The site policy a lock row was resolved with, asking for ``latest``."""
    fields = {f.name for f in dataclasses.fields(SitePolicy)}
    known = {k: v for k, v in entry.policy.items() if k in fields}
    return dataclasses.replace(SitePolicy(**known), torch="latest")


def facts_of(entry: LockedHost) -> GpuFacts:
    """The GPU facts a lock row was resolved from (what `data refresh` re-plans offline)."""
    data = dict(entry.facts)
    gpus = tuple(Gpu(**{k: v for k, v in g.items() if k in _GPU_FIELDS})
                 for g in data.get("gpus") or ())
    fields = {k: v for k, v in data.items() if k in _FACT_FIELDS and k != "gpus"}
    return GpuFacts(**fields, gpus=gpus)


_GPU_FIELDS = {f.name for f in dataclasses.fields(Gpu)}
_FACT_FIELDS = {f.name for f in dataclasses.fields(GpuFacts)}


# --------------------------------------------------------------------------- planning


def plan_locked(facts: GpuFacts, policy: SitePolicy, entry: LockedHost | None, *,
                os: str | None = None, host: str | None = None,
                data: Compat | None = None) -> HostPlan:
    """The host's plan following its lock row: the locked release, and the locked variant
    while it still fits the host (a changed GPU or driver may need another one; that change
    then shows as drift, as any hardware change does)."""
    data = data or load_data()
    if entry is None or not follows_lock(policy):
        return plan_host(facts, policy, os=os, host=host, data=data)
    pinned = dataclasses.replace(policy, torch=f"=={entry.torch}")
    plan = plan_host(facts, pinned, os=os, host=host, data=data)
    if plan.variant != entry.variant and plan.torch == entry.torch and entry.variant != "cpu":
        narrowed = only_variant(data, entry.torch, entry.variant)
        try:
            kept = plan_host(facts, pinned, os=os, host=host, data=narrowed)
        except LabtorchError:
            return plan
        if kept.variant == entry.variant:
            return kept
    return plan


@functools.lru_cache(maxsize=64)
def only_variant(data: Compat, torch: str, variant: str) -> Compat:
    """``data`` where the release of ``torch`` offers only ``variant`` (on every platform)."""
    version = Version(torch)
    releases: list[Release] = []
    for release in data.releases:
        if any(p.version == version for p in release.patches):
            builds = {platform: tuple(b for b in builds if b.variant == variant)
                      for platform, builds in release.builds.items()}
            release = dataclasses.replace(release, builds=builds)
        releases.append(release)
    return dataclasses.replace(data, releases=tuple(releases))


@dataclass(frozen=True)
class Move:
    """One host whose plan would change if the room moved to today's ``latest``."""

    host: str
    before: LockedHost
    after: HostPlan | None
    why: str

    def line(self) -> str:
        after = f"torch {self.after.torch} {self.after.variant}" if self.after else "no plan"
        return f"{self.host}: {self.before.describe()} → {after} ({self.why})"


def moves(lock: RoomLock, data: Compat) -> tuple[list[Move], list[str]]:
    """Re-plan every locked host from its recorded facts and policy with ``latest``: who would
    move, and who stays (with why)."""
    moving: list[Move] = []
    staying: list[str] = []
    for name, entry in sorted(lock.hosts.items()):
        try:
            fresh = plan_host(facts_of(entry), policy_of(entry), os=entry.os, host=name,
                              data=data)
        except LabtorchError as err:
            moving.append(Move(name, entry, None, f"re-planning fails: {err.what}"))
            continue
        if (fresh.torch, fresh.variant) == (entry.torch, entry.variant):
            staying.append(f"{name}: stays on {entry.describe()} ({newest_note(fresh, data)})")
            continue
        moving.append(Move(name, entry, fresh, why_move(entry, fresh)))
    return moving, staying


def why_move(entry: LockedHost, fresh: HostPlan) -> str:
    if Version(fresh.torch) > Version(entry.torch):
        return (f"torch {fresh.torch} is newer and has a {fresh.variant} build with kernels "
                f"for this host that runs on its driver with Python {fresh.python}")
    if Version(fresh.torch) < Version(entry.torch):
        return f"torch {entry.torch} is no longer known for this host (data changed)"
    return f"variant {entry.variant} → {fresh.variant} (data changed)"


def newest_note(plan: HostPlan, data: Compat) -> str:
    """Why a host stays: the newest known release, or what holds it back."""
    newest = data.releases[0].patches[0].version
    if Version(plan.torch) >= newest:
        return "already the newest release"
    held = [w for w in plan.warnings if "holds this host back" in w]
    if held:
        return held[0]
    return f"torch {newest} has no build for its GPU, driver or Python"


def newer_release(facts: GpuFacts, policy: SitePolicy, entry: LockedHost | None, *,
                  os: str | None = None, host: str | None = None,
                  data: Compat | None = None) -> str | None:
    """"newer release available: ..." when ``latest`` today plans a newer torch than the lock."""
    if entry is None or not follows_lock(policy):
        return None
    try:
        fresh = plan_host(facts, policy, os=os, host=host, data=data or load_data())
    except LabtorchError:
        return None
    if Version(fresh.torch) <= Version(entry.torch):
        return None
    return (f"newer release available: torch {fresh.torch} {fresh.variant} (locked to "
            f"{entry.describe()}; move the room with `labtorch lock update INVENTORY`)")


def plan_with_lock(facts: GpuFacts, policy: SitePolicy, lock_file: str | None, *,
                   os: str | None = None, host: str | None = None,
                   data: Compat | None = None) -> tuple[HostPlan, LockedHost | None]:
    """The plan the deploy and the check follow: the lock's, when the host's settings name a
    lock file and its torch spec is ``latest``. A host missing from the lock is refused (its
    ``latest`` would otherwise be resolved behind the admin's back)."""
    if lock_file is None or not follows_lock(policy):
        return plan_host(facts, policy, os=os, host=host, data=data), None
    lock = read_lock(Path(lock_file))
    entry = lock.entry(host or "") if lock else None
    if entry is None:
        where = "is not in the room lock" if lock else "has no room lock yet:"
        raise LabtorchError(f"{where} {lock_file}", host=host,
                            fix="run `labtorch lock update INVENTORY` to resolve `latest` for "
                                "the room (it prints what each host gets)")
    return plan_locked(facts, policy, entry, os=os, host=host, data=data), entry
