"""``labtorch data refresh``: learn PyTorch releases from a wheel index into the overlay.

From each variant's ``torch`` listing (``<index>/<variant>/torch/``) the refresh learns the
releases at or after ``since`` (by default the newest shipped release line), their variants per
OS (the wheels' platform tags), their Python tags and Requires-Python (PEP 658 metadata where
served, else the listing's ``data-requires-python``); from the ``torchvision`` and ``torchaudio``
listings' metadata, which of their releases pins each torch. Whole wheels are never read.

What it writes is a release row per line, in the form of data/releases.yaml:

- a variant the previous release also had inherits its arch list, marked "assumed from <line>";
  a variant no earlier release had has no known arch list and is left out (reported);
- a variant the drivers table does not know (a new CUDA) is left out (reported);
- a patch no torchvision pins yet keeps ``torchvision: null``: plans that want torchvision stay
  on an earlier patch until a refresh sees it; a torchaudio that admits no build of a patch
  lists every variant under ``torchaudio_not_on`` (plans leave torchaudio out, with a warning).

:func:`refresh` returns the new overlay and the review lines; the CLI prints and writes them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from labtorch.compat import Compat
from labtorch.release_index import IndexSource, Metadata

#: How many of a companion's newest releases have their metadata read per variant.
COMPANION_DEPTH = 6


@dataclass
class PatchSeen:
    """One torch patch as the index shows it."""

    version: Version
    variants: dict[str, set[str]] = field(default_factory=dict)  # platform -> variants
    pythons: set[Version] = field(default_factory=set)
    requires_python: str | None = None
    requires_dist: tuple[str, ...] = ()
    files: dict[tuple[str, str, str], tuple[str, str | None]] = field(default_factory=dict)
    """(variant, platform, "3.12") -> (file name, sha256)."""


@dataclass(frozen=True)
class Companion:
    """One torchvision/torchaudio release on one variant and the torch it admits."""

    version: Version
    variant: str
    torch: SpecifierSet
    exact: bool


@dataclass
class Refresh:
    """What a refresh learned: the new overlay and the lines of the review diff."""

    overlay: dict[str, Any]
    changes: list[str]
    notes: list[str]
    patches: dict[Version, PatchSeen]


def wheel_facts(filename: str) -> tuple[Version, str, str, Version] | None:
    """(public version, local label, platform, Python) of a torch wheel file, or None.

    >>> wheel_facts("torch-2.15.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl")
    (<Version('2.15.0')>, 'cu130', 'linux', <Version('3.12')>)
    >>> wheel_facts("torch-2.15.0+cu130-cp313-cp313t-win_amd64.whl") is None  # free-threaded
    True
    """
    try:
        _name, version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    for tag in tags:
        if not tag.interpreter.startswith("cp") or tag.abi.endswith("t"):
            continue
        platform = ("windows" if tag.platform == "win_amd64" else
                    "linux-aarch64" if tag.platform.endswith("aarch64") else
                    "linux" if tag.platform.endswith("x86_64") and "linux" in tag.platform else
                    None)
        digits = tag.interpreter[2:]
        if platform is None or not digits.isdigit():
            continue
        python = Version(f"{digits[0]}.{digits[1:]}")
        return Version(version.public), version.local or "", platform, python
    return None


def scan_torch(source: IndexSource, variants: Iterable[str], since: Version
               ) -> dict[Version, PatchSeen]:
    """Every final torch patch at or after ``since`` that the variants' listings carry."""
    patches: dict[Version, PatchSeen] = {}
    for variant in variants:
        read: set[Version] = set()
        for file in source.listing(variant, "torch") or ():
            facts = wheel_facts(file.filename)
            if facts is None:
                continue
            version, local, platform, python = facts
            if local != variant or version.is_prerelease or version.is_devrelease \
                    or version < since:
                continue
            seen = patches.setdefault(version, PatchSeen(version))
            seen.variants.setdefault(platform, set()).add(variant)
            seen.pythons.add(python)
            seen.files[(variant, platform, str(python))] = (file.filename, file.sha256)
            seen.requires_python = seen.requires_python or file.requires_python
            if version not in read:
                read.add(version)
                metadata = source.metadata(variant, "torch", file)
                if metadata is not None:
                    seen.requires_python = metadata.requires_python or seen.requires_python
                    seen.requires_dist = seen.requires_dist or metadata.requires_dist
    return patches


def scan_companion(source: IndexSource, project: str, variants: Iterable[str]
                   ) -> list[Companion]:
    """The newest releases of ``project`` per variant with the torch each admits."""
    found: list[Companion] = []
    for variant in variants:
        by_version: dict[Version, Any] = {}
        for file in source.listing(variant, project) or ():
            facts = _any_wheel_version(file.filename)
            if facts is None or facts.is_prerelease or facts.is_devrelease:
                continue
            by_version.setdefault(facts, file)
        for version in sorted(by_version, reverse=True)[:COMPANION_DEPTH]:
            metadata = source.metadata(variant, project, by_version[version])
            pin = torch_pin(metadata)
            if pin is not None:
                found.append(Companion(version, variant, pin,
                                       all(s.operator in ("==", "===") for s in pin)))
    return found


def _any_wheel_version(filename: str) -> Version | None:
    try:
        return Version(parse_wheel_filename(filename)[1].public)
    except (InvalidWheelFilename, InvalidVersion):
        return None


def torch_pin(metadata: Metadata | None) -> SpecifierSet | None:
    """The specifier a companion's metadata puts on torch (None: unknown or unpinned).

    >>> str(torch_pin(Metadata(None, ("numpy", "torch==2.15.0"))))
    '==2.15.0'
    """
    if metadata is None:
        return None
    for text in metadata.requires_dist:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name == "torch" and str(requirement.specifier):
            return requirement.specifier
    return None


# --------------------------------------------------------------------------- rows


def refresh(source: IndexSource, data: Compat, shipped: Mapping[str, Any],
            overlay: Mapping[str, Any] | None, *, since: Version | None = None) -> Refresh:
    """Learn from ``source`` and build the new overlay (``shipped``: releases.yaml's document;
    ``data``: what is in force now, shipped plus the current overlay)."""
    variants = sorted(data.drivers.variant_toolkit)
    since = since or Version(f"{data.releases[0].line}.0")
    patches = scan_torch(source, variants, since)
    vision = scan_companion(source, "torchvision", variants) if patches else []
    audio = scan_companion(source, "torchaudio", variants) if patches else []
    shipped_rows = {str(r.get("torch")): r for r in shipped.get("releases") or ()}
    current_rows = _current_rows(shipped, overlay)
    notes: list[str] = []
    lines = sorted({f"{v.major}.{v.minor}" for v in patches}, key=Version)
    new_rows: dict[str, dict[str, Any]] = {}
    for line in lines:
        line_patches = sorted((p for v, p in patches.items() if f"{v.major}.{v.minor}" == line),
                              key=lambda p: p.version)
        row = _row(line, line_patches, current_rows, vision, audio, data, notes,
                   source.described())
        if row is not None and _comparable(row) != _comparable(current_rows.get(line)):
            new_rows[line] = row  # unchanged lines keep their row (and its source) as they are
    overlay_rows = {str(r.get("torch")): r for r in (overlay or {}).get("releases") or ()}
    for line, row in new_rows.items():
        if _comparable(row) != _comparable(shipped_rows.get(line)):
            overlay_rows[line] = row
        else:
            overlay_rows.pop(line, None)
    new_overlay: dict[str, Any] = {
        "refreshed_from": source.described(),
        "refreshed_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "releases": [overlay_rows[k] for k in sorted(overlay_rows, key=Version)],
    }
    if overlay and overlay.get("archs_seen"):
        new_overlay["archs_seen"] = copy.deepcopy(overlay["archs_seen"])
    changes = review(current_rows, {**current_rows, **new_rows})
    return Refresh(new_overlay, changes, notes, patches)


def _current_rows(shipped: Mapping[str, Any], overlay: Mapping[str, Any] | None
                  ) -> dict[str, dict[str, Any]]:
    from labtorch.overlay import merged_releases

    doc = merged_releases(shipped, {"releases": (overlay or {}).get("releases") or []})
    return {str(r.get("torch")): r for r in doc["releases"]}


def _comparable(row: Mapping[str, Any] | None) -> Any:
    if row is None:
        return None
    return {k: v for k, v in row.items() if k not in ("note", "source")}


def _row(line: str, patches: list[PatchSeen], current: Mapping[str, dict[str, Any]],
         vision: list[Companion], audio: list[Companion], data: Compat, notes: list[str],
         where: str) -> dict[str, Any] | None:
    newest = patches[-1]
    known = current.get(line)
    previous = _previous_row(line, current)
    row: dict[str, Any] = copy.deepcopy(known) if known else {"torch": line}
    platforms: dict[str, list[str]] = {}
    variants: dict[str, Any] = {}
    known_variants = (known or {}).get("variants") or {}
    previous_variants = (previous or {}).get("variants") or {}
    for platform in ("linux", "windows", "linux-aarch64"):
        for variant in sorted(newest.variants.get(platform, ()), key=_variant_key):
            if variant not in data.drivers.variant_toolkit:
                notes.append(f"torch {line} {variant}: CUDA variant unknown to drivers.yaml; "
                             f"left out until labtorch knows its driver floor")
                continue
            spec = known_variants.get(variant)
            if spec is None and variant in previous_variants:
                spec = {**copy.deepcopy(previous_variants[variant]),
                        "archs_status": f"assumed from {previous['torch']}"}  # type: ignore[index]
            if spec is None:
                notes.append(f"torch {line} {variant} on {platform}: no earlier release had "
                             f"this variant, so its arch list is unknown; left out")
                continue
            variants[variant] = spec
            platforms.setdefault(platform, []).append(variant)
    for platform, names in ((known or {}).get("platforms") or {}).items():
        if platform not in newest.variants and platform not in platforms:
            notes.append(f"torch {line}: the index carries no {platform} wheels; "
                         f"{platform} kept as the data had it")
            platforms[platform] = list(names)
            variants.update({n: known_variants[n] for n in names if n in known_variants})
    if not platforms:
        notes.append(f"torch {line}: no variant with a known arch list; not added")
        return None
    known_pythons = {Version(str(p)) for p in (known or {}).get("python") or ()}
    pythons = sorted({p for p in newest.pythons | known_pythons
                      if newest.requires_python is None
                      or SpecifierSet(newest.requires_python).contains(f"{p}.0")})
    all_variants = {v for vs in platforms.values() for v in vs}
    patch_rows = {str(p.get("version")): p for p in (known or {}).get("patches") or ()}
    for seen in patches:
        patch_rows[str(seen.version)] = _patch_row(seen, all_variants, vision, audio, previous,
                                                   patch_rows.get(str(seen.version)), notes)
    default = dict((known or previous or {}).get("pypi_default") or {})
    for platform in list(default):
        if default[platform] != "cpu" and default[platform] not in platforms.get(platform, []):
            default[platform] = platforms.get(platform, ["cpu"])[-1]
            notes.append(f"torch {line}: PyPI default for {platform} assumed {default[platform]}")
    requires = f"Requires-Python {newest.requires_python}" if newest.requires_python else \
        "no Requires-Python"
    toolkit = [d for d in newest.requires_dist if d.startswith("cuda-toolkit")]
    row.update(
        python=[str(p) for p in pythons] or row.get("python") or [],
        patches=[patch_rows[k] for k in sorted(patch_rows, key=Version)],
        platforms=platforms,
        variants=variants,
        pypi_default=default or {"linux": platforms.get("linux", ["cpu"])[-1]},
        conda_pytorch_channel=bool(row.get("conda_pytorch_channel", False)),
        note=f"learned from {where}: {requires}"
             + (f"; Requires-Dist {', '.join(toolkit)}" if toolkit else "")
             + "; arch lists marked 'assumed' come from the previous release",
        source=f"index listing and PEP 658 metadata of {where}",
    )
    return row


def _patch_row(seen: PatchSeen, variants: set[str], vision: list[Companion],
               audio: list[Companion], previous: Mapping[str, Any] | None,
               known: Mapping[str, Any] | None, notes: list[str]) -> dict[str, Any]:
    version = seen.version
    row: dict[str, Any] = {"version": str(version)}
    tv = [c.version for c in vision if c.torch.contains(version)]
    if tv:
        row["torchvision"] = str(max(tv))
    elif known and known.get("torchvision"):
        row["torchvision"] = str(known["torchvision"])
    else:
        row["torchvision"] = None
        notes.append(f"torch {version}: no torchvision pins it yet (companion lags); plans "
                     f"that want torchvision stay on an earlier release")
    admitting = [c for c in audio if c.torch.contains(version)]
    if admitting:
        best = max(c.version for c in admitting)
        row["torchaudio"] = str(best)
        if not all(c.exact for c in admitting if c.version == best):
            row["torchaudio_any_build"] = True
        lacking = sorted(variants - {c.variant for c in admitting if c.version == best},
                         key=_variant_key)
        if lacking:
            row["torchaudio_not_on"] = lacking
    elif known and known.get("torchaudio"):
        return {**dict(known), "version": str(version), "torchvision": row["torchvision"]}
    else:
        last = _last_torchaudio(previous)
        row["torchaudio"] = last or "0"
        row["torchaudio_any_build"] = True
        row["torchaudio_not_on"] = sorted(variants, key=_variant_key)
        notes.append(f"torch {version}: no torchaudio admits it (companion lags); plans leave "
                     f"torchaudio out")
    return row


def _last_torchaudio(previous: Mapping[str, Any] | None) -> str | None:
    patches = (previous or {}).get("patches") or []
    return str(patches[-1]["torchaudio"]) if patches else None


def _previous_row(line: str, rows: Mapping[str, Mapping[str, Any]]
                  ) -> Mapping[str, Any] | None:
    older = [k for k in rows if Version(k) < Version(line)]
    return rows[max(older, key=Version)] if older else None


def _variant_key(variant: str) -> tuple[int, str]:
    digits = variant.removeprefix("cu")
    return (int(digits) if digits.isdigit() else 0, variant)


# --------------------------------------------------------------------------- review diff


def review(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
           ) -> list[str]:
    """The review diff: one line per added/removed/changed fact, ``+``/``-``/``~`` first.

    >>> old = {"2.14": {"torch": "2.14", "python": ["3.10"], "platforms": {"linux": ["cu126"]},
    ...                 "patches": [{"version": "2.14.0"}]}}
    >>> new = {**old, "2.15": {"torch": "2.15", "python": ["3.11"],
    ...        "platforms": {"linux": ["cu130"]}, "patches": [{"version": "2.15.0",
    ...        "torchvision": "0.30.0", "torchaudio": "2.11.0"}]}}
    >>> review(old, new)[0]
    '+ torch 2.15 (new release): patches 2.15.0; Python 3.11; linux cu130'
    """
    lines: list[str] = []
    for line in sorted(set(before) | set(after), key=Version):
        old, new = before.get(line), after.get(line)
        if new is None or _comparable(old) == _comparable(new):
            continue
        if old is None:
            lines.append(f"+ torch {line} (new release): {_summary(new)}")
            previous = _previous_row(line, after)
            if previous:
                lines.extend(_dropped(previous, new, line))
        else:
            lines.extend(_changed(line, old, new))
        for patch in new.get("patches") or ():
            if old is None or str(patch.get("version")) not in _patch_versions(old):
                lines.append(f"  + patch {patch.get('version')}: torchvision "
                             f"{patch.get('torchvision') or 'none yet'}, torchaudio "
                             f"{patch.get('torchaudio')}"
                             + (f" (not on {', '.join(patch['torchaudio_not_on'])})"
                                if patch.get("torchaudio_not_on") else ""))
        for variant, spec in (new.get("variants") or {}).items():
            status = spec.get("archs_status") if isinstance(spec, dict) else None
            if isinstance(status, str) and status.startswith("assumed"):
                lines.append(f"  ? {variant} arch list {spec.get('archs')} {status}")
    return lines


def _summary(row: Mapping[str, Any]) -> str:
    patches = ", ".join(str(p.get("version")) for p in row.get("patches") or ())
    pythons = ", ".join(str(p) for p in row.get("python") or ())
    platforms = "; ".join(f"{k} {', '.join(v)}" for k, v in (row.get("platforms") or {}).items())
    return f"patches {patches}; Python {pythons}; {platforms}"


def _patch_versions(row: Mapping[str, Any]) -> set[str]:
    return {str(p.get("version")) for p in row.get("patches") or ()}


def _dropped(previous: Mapping[str, Any], new: Mapping[str, Any], line: str) -> list[str]:
    lines = []
    for platform, old_variants in (previous.get("platforms") or {}).items():
        gone = sorted(set(old_variants) - set((new.get("platforms") or {}).get(platform, ())))
        if gone:
            lines.append(f"  - {platform}: {', '.join(gone)} dropped since torch "
                         f"{previous.get('torch')}")
    old_py = set(map(str, previous.get("python") or ()))
    gone_py = sorted(old_py - set(map(str, new.get("python") or ())), key=Version)
    if gone_py:
        lines.append(f"  - Python {', '.join(gone_py)} dropped since torch "
                     f"{previous.get('torch')} (torch {line} raised Requires-Python)")
    return lines


def _changed(line: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = [f"~ torch {line}: {_summary(new)}"]
    lines.extend(_dropped({**old, "torch": f"{line} before"}, new, line))
    for platform, variants in (new.get("platforms") or {}).items():
        added = sorted(set(variants) - set((old.get("platforms") or {}).get(platform, ())))
        if added:
            lines.append(f"  + {platform}: {', '.join(added)}")
    return lines
