"""The reviewed overlay: what ``labtorch data refresh`` learned, kept beside the shipped data.

The shipped files (``labtorch/data/*.yaml``) are never edited. The overlay is one YAML file:

    refreshed_from: https://download.pytorch.org/whl/{variant}
    refreshed_at: "2026-12-02T15:00:00Z"
    releases:        # whole release rows, same form as data/releases.yaml; a row replaces the
      - torch: "2.15"  # shipped row of the same line, or adds a new line
        ...
    archs_seen:      # arch lists hosts' verification reports showed (labtorch check)
      - {torch: "2.15", variant: cu130, platform: linux, archs: "7.5;...;12.0+PTX", host: pc01}

It lives at ``$LABTORCH_OVERLAY`` when the site sets it, else
``$XDG_DATA_HOME/labtorch/overlay.yaml`` (``~/.local/share/labtorch/overlay.yaml``).

>>> doc = {"releases": [{"torch": "2.7", "variants": {"cu128": {"archs": "8.0"}}}]}
>>> seen = {"archs_seen": [{"torch": "2.7", "variant": "cu128", "platform": "linux",
...                         "archs": "8.0", "host": "pc01"}]}
>>> merged_releases(doc, seen)["releases"][0]["variants"]["cu128"]["archs_status"]
{'linux': 'seen on pc01'}
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from labtorch.errors import DataError

ENV = "LABTORCH_OVERLAY"


def overlay_path() -> Path:
    """Where the overlay lives: ``$LABTORCH_OVERLAY``, else the user data dir."""
    chosen = os.environ.get(ENV)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "labtorch" / "overlay.yaml"


def read_overlay(path: Path | None = None) -> dict[str, Any] | None:
    """The overlay document, or None when there is none. A broken file is a one-line error."""
    path = path or overlay_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DataError(f"cannot read the release-data overlay {path}: {err.strerror}",
                        fix=f"fix its permissions, or unset {ENV}") from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DataError(f"the release-data overlay {path} is not valid YAML",
                        fix="run `labtorch data refresh` again, or delete that file") from err
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise DataError(f"the release-data overlay {path} is not a mapping",
                        fix="run `labtorch data refresh` again, or delete that file")
    return doc


def write_overlay(doc: Mapping[str, Any], path: Path | None = None) -> Path:
    """Write the overlay atomically (a reader never sees half a file); return its path."""
    path = path or overlay_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    header = ("# labtorch release-data overlay: written by `labtorch data refresh` and "
              "`labtorch check`.\n# The shipped data is never edited; delete this file to "
              "go back to it.\n")
    partial.write_text(header + yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True),
                       encoding="utf-8")
    partial.replace(path)
    return path


def merged_releases(shipped: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The releases.yaml document with the overlay's rows and seen arch lists applied."""
    doc = copy.deepcopy(dict(shipped))
    rows: list[dict[str, Any]] = list(doc.get("releases") or [])
    index = {str(row.get("torch")): i for i, row in enumerate(rows) if isinstance(row, dict)}
    for row in overlay.get("releases") or []:
        if not isinstance(row, dict):
            raise DataError("the release-data overlay has a release row that is not a mapping",
                            fix="run `labtorch data refresh` again, or delete the overlay")
        line = str(row.get("torch"))
        if line in index:
            rows[index[line]] = copy.deepcopy(row)
        else:
            index[line] = len(rows)
            rows.append(copy.deepcopy(row))
    for seen in overlay.get("archs_seen") or []:
        if isinstance(seen, dict) and str(seen.get("torch")) in index:
            _apply_seen(rows[index[str(seen["torch"])]], seen)
    doc["releases"] = rows
    return doc


def _apply_seen(row: dict[str, Any], seen: Mapping[str, Any]) -> None:
    """Confirm (``seen on <host>``) or correct (``mismatch: ...``) one variant's arch list."""
    variants = row.get("variants")
    spec = variants.get(str(seen.get("variant"))) if isinstance(variants, dict) else None
    if not isinstance(spec, dict):
        return
    platform, host, reported = str(seen.get("platform")), seen.get("host"), str(seen.get("archs"))
    listed = str((spec.get("platform_archs") or {}).get(platform, spec.get("archs")))
    statuses = spec.get("archs_status")
    if not isinstance(statuses, dict):
        statuses = {p: statuses for p in ("linux", "windows", "linux-aarch64")} if statuses \
            else {}
    if _same(listed, reported):
        statuses[platform] = f"seen on {host}"
    else:
        before = statuses.get(platform) or "published"
        statuses[platform] = (f"mismatch: the data listed {listed} ({before}); {host}'s "
                              f"verification reported {reported}")
        spec["platform_archs"] = {**(spec.get("platform_archs") or {}), platform: reported}
    spec["archs_status"] = statuses


def _same(a: str, b: str) -> bool:
    return sorted(x.strip() for x in a.split(";")) == sorted(x.strip() for x in b.split(";"))
