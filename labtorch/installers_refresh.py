"""Refresh the pinned Miniforge release and its checksums from the release's own ``.sha256``.

Miniforge publishes, next to every installer of a release, ``<installer>.sha256`` holding
``<64 hex>  <installer name>`` (on GitHub, and on every site mirror of the release directory).
:func:`refresh_installers` reads those files (never the installers), checks that each names its
installer, and returns the new overlay (``installers:``) and the review lines. The conda role
then pins that release and refuses any other bytes (:meth:`labtorch.roles.settings.Settings.
installer` reads the overlay through :func:`installer_overlay`).

>>> parse_sha256("1b57f8cb991982063f79b56176881093abb1dc76d73fda32102afde60585b5a1  "
...              "Miniforge3-25.3.0-3-Linux-x86_64.sh\\n", "Miniforge3-25.3.0-3-Linux-x86_64.sh")
'1b57f8cb991982063f79b56176881093abb1dc76d73fda32102afde60585b5a1'
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError

#: Miniforge's installer files per (OS, arch), as data/installers.yaml names them.
FILES = (("linux", "x86_64"), ("linux", "aarch64"), ("windows", "x86_64"))
_HEX = re.compile(r"^([0-9a-fA-F]{64})(?:\s+\*?(\S+))?\s*$")
_VERSION = re.compile(r"^[0-9][A-Za-z0-9._-]*$")


def parse_sha256(text: str, expected: str) -> str | None:
    """The hex digest of a ``.sha256`` file, when it names ``expected`` (or no file)."""
    for line in text.splitlines():
        match = _HEX.match(line.strip())
        if match and match.group(2) in (None, expected):
            return match.group(1).lower()
    return None


def refresh_installers(where: str, version: str, overlay: Mapping[str, Any],
                       table: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The overlay with Miniforge ``version`` pinned from ``where``'s ``.sha256`` files."""
    if not _VERSION.fullmatch(version):
        raise LabtorchError(f"--version {version!r} is not an installer version",
                            fix="write it as the release names it, e.g. 25.11.0-1")
    from labtorch.roles.settings import _installer_table

    table = table or _installer_table()
    flavor = table["flavors"]["miniforge"]
    before = str(flavor["default_version"])
    rows: list[dict[str, str]] = []
    lines: list[str] = []
    for os_name, arch in FILES:
        name = flavor["files"][os_name].format(version=version, arch=arch)
        text = _read(where, f"{name}.sha256")
        digest = None if text is None else parse_sha256(text, name)
        if digest is None:
            lines.append(f"  ? {name}: no usable {name}.sha256 at {where}; not pinned")
            continue
        rows.append({"file": name, "sha256": digest,
                     "source": f"{where.rstrip('/')}/{name}.sha256 (the release's own checksum)"})
        lines.append(f"  + {name} sha256 {digest}")
    if not rows:
        raise LabtorchError(f"no installer checksum of Miniforge {version} found at {where}",
                            fix="pass the release directory (the GitHub release download URL "
                                "or the site's mirror of it) and a version it holds")
    new = copy.deepcopy(dict(overlay))
    new["installers"] = {"miniforge": {"default_version": version, "installers": rows}}
    head = (f"~ miniforge default {before} → {version}" if before != version
            else f"= miniforge default stays {version}")
    return new, [head, *lines]


def _read(where: str, name: str) -> str | None:
    if "://" not in where:
        path = Path(where) / name
        return path.read_text("utf-8", errors="replace") if path.is_file() else None
    from labtorch.release_index import http_get

    got = http_get(f"{where.rstrip('/')}/{name}")
    return None if got is None else got[1].decode("utf-8", errors="replace")


def installer_overlay(table: Mapping[str, Any], overlay: Mapping[str, Any] | None
                      ) -> dict[str, Any]:
    """installers.yaml's table with a refreshed Miniforge pin applied."""
    refreshed = ((overlay or {}).get("installers") or {}).get("miniforge")
    if not isinstance(refreshed, Mapping):
        return dict(table)
    merged = copy.deepcopy(dict(table))
    merged["flavors"]["miniforge"]["default_version"] = str(refreshed["default_version"])
    known = {row["file"] for row in merged.get("installers", [])}
    merged["installers"] = [*merged.get("installers", []),
                            *(dict(r) for r in refreshed.get("installers") or ()
                              if r.get("file") not in known)]
    return merged
