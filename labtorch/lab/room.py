"""The make-up of a simulated lab room: which host plays which recorded machine.

A room file is a small YAML document an admin can edit::

    name: default
    hosts:
      - {name: pc01, profile: pascal-p100}
      - {name: pc02, profile: turing-rtx2080super}

Profiles live in ``labtorch/lab/profiles.yaml`` (GPU generation, recorded nvidia-smi outputs).
``load_room(path, hosts=N)`` keeps the file's order and cycles through it for N hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labtorch.errors import LabtorchError
from labtorch.inputs import read_saved_output

LAB_DIR = Path(__file__).resolve().parent
DEFAULT_ROOM = LAB_DIR / "rooms" / "default.yaml"
PROFILES_FILE = LAB_DIR / "profiles.yaml"
MAX_HOSTS = 60
_HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class Profile:
    """One kind of machine: its GPU generation and the nvidia-smi outputs it replays."""

    name: str
    family: str
    driver: str | None = None
    forms: dict[str, str] = field(default_factory=dict)
    query: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    gpus: tuple[dict[str, str], ...] = ()
    error: str | None = None
    no_gpu: bool = False
    synthetic: bool = False


@dataclass(frozen=True)
class HostSpec:
    """One host of the room: its name and the profile it plays."""

    name: str
    profile: Profile


@dataclass(frozen=True)
class Room:
    """A named list of hosts, in the order they get addresses."""

    name: str
    hosts: tuple[HostSpec, ...]


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Read profiles.yaml; every entry becomes a ``Profile``."""
    raw = yaml.safe_load(read_saved_output(path)) or {}
    profiles: dict[str, Profile] = {}
    for name, row in raw.items():
        if not isinstance(row, dict) or "family" not in row:
            raise LabtorchError(f"{path}: profile {name!r} needs at least a 'family'")
        profiles[name] = Profile(
            name=name,
            family=str(row["family"]),
            driver=row.get("driver"),
            forms={str(k): str(v) for k, v in (row.get("forms") or {}).items()},
            query=row.get("query"),
            values={str(k): str(v) for k, v in (row.get("values") or {}).items()},
            gpus=tuple({str(k): str(v) for k, v in gpu.items()} for gpu in row.get("gpus") or ()),
            error=row.get("error"),
            no_gpu=bool(row.get("no_gpu", False)),
            synthetic=bool(row.get("synthetic", False)),
        )
    return profiles


def load_room(path: Path | None = None, *, hosts: int | None = None) -> Room:
    """Read a room file; with ``hosts``, cycle its host list to that many hosts (pc01, pc02, ...).

    >>> [h.profile.family for h in load_room(hosts=2).hosts]
    ['pascal', 'turing']
    """
    path = path or DEFAULT_ROOM
    if not path.is_file():
        raise LabtorchError(f"room file {path} does not exist", fix="pass --room FILE (YAML)")
    try:
        raw = yaml.safe_load(read_saved_output(path)) or {}
    except yaml.YAMLError as err:
        raise LabtorchError(f"room file {path} is not valid YAML: {err}") from err
    rows: list[Any] = raw.get("hosts") or []
    if not rows:
        raise LabtorchError(f"room file {path} lists no hosts",
                            fix="add 'hosts: [{name, profile}]'")
    profiles = load_profiles()
    specs: list[HostSpec] = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "profile" not in row:
            raise LabtorchError(f"room file {path}: host #{i} needs a 'profile'")
        profile = profiles.get(str(row["profile"]))
        if profile is None:
            raise LabtorchError(
                f"room file {path}: host #{i} names unknown profile {row['profile']!r}",
                fix=f"use one of {', '.join(sorted(profiles))}",
            )
        specs.append(HostSpec(str(row.get("name") or f"pc{i:02d}"), profile))
    if hosts is not None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise LabtorchError(f"--hosts {hosts} is out of range", fix=f"use 1..{MAX_HOSTS}")
        specs = [
            HostSpec(f"pc{i + 1:02d}", specs[i % len(specs)].profile) for i in range(hosts)
        ]
    if len(specs) > MAX_HOSTS:
        raise LabtorchError(f"room file {path} has {len(specs)} hosts",
                            fix=f"keep {MAX_HOSTS} or fewer")
    names = [s.name for s in specs]
    for name in names:
        if not _HOST_NAME.match(name):
            raise LabtorchError(f"room file {path}: host name {name!r} is not a valid hostname",
                                fix="use lowercase letters, digits and '-'")
    if len(set(names)) != len(names):
        raise LabtorchError(f"room file {path}: host names repeat",
                            fix="give each host its own name")
    return Room(str(raw.get("name") or path.stem), tuple(specs))
