"""GPU name -> CUDA compute capability, from the table in data/gpus.yaml.

nvidia-smi from R470 and older cannot print the compute capability (CC), so labtorch looks the
GPU name up. Real names are messy ("Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 3060 Laptop GPU",
"GeForce GTX 108..." cut by the nvidia-smi table), and one name can stand for several chips
("RTX 6000" is 7.5, 8.9 or 12.0). ``lookup`` matches robustly and never guesses: a name is
``exact`` only when every GPU it can be has one CC; otherwise ``ambiguous`` or ``unknown``, with a
message that says what to do.

>>> lookup("Tesla V100-SXM2-16GB").compute_capability
'7.0'
>>> lookup("NVIDIA GeForce RTX 3060 Laptop GPU").compute_capability
'8.6'
>>> lookup("RTX 6000").status
'ambiguous'
>>> architecture_of("3.7")
'Kepler'

The table is loaded and validated once; ``LABTORCH_GPU_TABLE`` names an extra YAML file of the
same shape whose rows are added to (or, by name, replace) the packaged ones.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from labtorch.errors import DataError, LabtorchError
from labtorch.gpu_names import (
    GpuName,
    may_be_noise,
    mobile_m_dropped,
    read_name,
    without_note,
    without_series,
)

GpuKind = Literal["desktop", "laptop", "workstation", "datacenter", "embedded"]
MatchStatus = Literal["exact", "ambiguous", "unknown"]

_SEE_README = "see README.md, section 'GPU names and compute capability'"
TABLE_ENV = "LABTORCH_GPU_TABLE"
"""Environment variable: path of a site YAML file with extra or overriding GPU rows."""

_KINDS: frozenset[str] = frozenset(("desktop", "laptop", "workstation", "datacenter", "embedded"))
_ROW_KEYS: frozenset[str] = frozenset(
    ("name", "cc", "aliases", "kind", "variant", "note", "unconfirmed")
)
_FAMILY_KEYS: frozenset[str] = frozenset(("family", "kind", "source", "gpus"))
_CC_RE = re.compile(r"^(\d+)\.(\d+)$")
_FIX = (
    "pass --compute-capability X.Y (recent drivers print it with "
    "nvidia-smi --query-gpu=compute_cap --format=csv; R470 and older do not)"
)


@dataclass(frozen=True)
class GpuCandidate:
    """One GPU a name can stand for: canonical name, CC ("8.6"), architecture, kind, source."""

    name: str
    compute_capability: str
    architecture: str
    kind: str = ""
    source: str = ""


@dataclass(frozen=True)
class GpuMatch:
    """The answer of ``lookup``.

    ``compute_capability`` is set only when ``status`` is "exact", which means every candidate
    has that one CC (a cut name such as "GeForce GTX 108..." can be exact with two candidates).
    ``message`` says in plain words what matched, or why nothing did and what to do.
    """

    query: str
    status: MatchStatus
    compute_capability: str | None
    candidates: tuple[GpuCandidate, ...]
    message: str
    how: str = ""  # how the candidates were found: "by name", "cut by nvidia-smi: ...", ...


@dataclass(frozen=True)
class GpuRow:
    """One validated row of data/gpus.yaml (``where`` names its file, family and row)."""

    name: str
    compute_capability: str
    architecture: str
    kind: GpuKind
    family: str
    source: str
    aliases: tuple[str, ...] = ()
    variant: str | None = None
    note: str | None = None
    unconfirmed: bool = False
    where: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.variant})" if self.variant else self.name

    def candidate(self) -> GpuCandidate:
        return GpuCandidate(
            self.display_name, self.compute_capability, self.architecture, self.kind, self.source
        )


# ---------------------------------------------------------------------------- the table

_PLACEHOLDERS = frozenset(("graphics device",))
_OTHER_VENDORS = frozenset(
    (
        "amd",
        "radeon",
        "intel",
        "arc",
        "iris",
        "uhd",
        "apple",
        "microsoft",
        "vmware",
        "virtualbox",
        "matrox",
        "llvmpipe",
        "aspeed",
    )
)
_Index = dict[str, list[GpuRow]]


class GpuTable:
    """Validated GPU rows, indexed by normalized name once. Build it with ``load_table``.

    ``lookup`` ranks what a name can be, best first, and stops at the first rank that finds
    rows: the name as written; the model number without its series word ("3080"); a laptop
    name with the old "M" suffix ("GTX 1060M"); a cut name's prefix; then the same without a
    trailing note ("GTX 1080 (room 3)"). Answers are cached per name.
    """

    def __init__(self, rows: Iterable[GpuRow], architectures: Mapping[str, str]) -> None:
        self.rows: tuple[GpuRow, ...] = tuple(rows)
        self.architectures: dict[str, str] = dict(architectures)
        self._by_key: _Index = {}  # word keys: "rtx 3080 ti"
        self._by_compact: _Index = {}  # compact keys: "rtx3080ti"
        self._by_number: _Index = {}  # compact keys without the series word: "3080ti"
        self._brands: dict[GpuRow, frozenset[str]] = {}
        for row in self.rows:
            brands: set[str] = set()
            for spelled in (row.name, *row.aliases):
                name = read_name(spelled)
                brands |= name.brands
                for index, key in (
                    (self._by_key, name.key),
                    (self._by_compact, name.compact),
                    (self._by_number, without_series(name.compact)),
                ):
                    rows_for_key = index.setdefault(key, [])
                    if row not in rows_for_key:
                        rows_for_key.append(row)
            self._brands[row] = frozenset(brands)
        self._sorted_keys = sorted(self._by_key)
        self._sorted_compact = sorted(self._by_compact)
        self._answers: dict[str, GpuMatch] = {}

    def lookup(self, name: str) -> GpuMatch:
        """Match one GPU name as nvidia-smi, NVML, WMI or an admin spells it. See ``lookup``."""
        answer = self._answers.get(name)
        if answer is None:
            answer = self._lookup(name)
            if len(self._answers) < 4096:
                self._answers[name] = answer
        return answer

    def clear_cache(self) -> None:
        """Forget the cached answers (benchmarks measure the matcher itself)."""
        self._answers.clear()

    def _lookup(self, name: str) -> GpuMatch:
        read = read_name(name)
        if not read.key and not read.truncated:
            return _unknown(name, f"{name!r} is not a GPU name", _FIX)
        if read.key in _PLACEHOLDERS:
            return _unknown(
                name,
                f"nvidia-smi printed the placeholder {name!r}: the driver is older than the GPU",
                "update the NVIDIA driver, or " + _FIX,
            )
        noted = without_note(name)
        if set(read_name(noted).key.split()) & _OTHER_VENDORS:  # a note may say "Intel box"
            return _unknown(name, f"{name!r} is not an NVIDIA GPU", "labtorch plans CUDA only")
        rows, how = self._ranked(read)
        if not rows and noted != name:
            rows, how = self._ranked(read_name(noted))
            how = f"{how}, after dropping the note {name[len(noted):].strip()!r}"
        if not rows:
            return self._not_found(name, read)
        brands = read.brands or read_name(noted).brands
        if brands:
            same_brand = [r for r in rows if self._brands[r] & brands]
            rows = same_brand or rows
        return _answer(name, read, rows, how)

    def _ranked(self, read: GpuName) -> tuple[list[GpuRow], str]:
        """The rows of the first rank that finds any, and how they were found."""
        if read.truncated:
            return self._prefix_rows(read), "cut by nvidia-smi: every GPU whose name starts so"
        if read.compact in self._by_compact:
            return self._by_compact[read.compact], "by name"
        number = without_series(read.compact)
        if number in self._by_number:
            if number == read.compact:
                return self._by_number[number], "by model number (no RTX/GTX/GT/GTS written)"
            return self._by_number[number], "by model number (another series word written)"
        dropped = mobile_m_dropped(read.compact)
        if dropped is not None:
            rows = self._by_compact.get(dropped) or self._by_number.get(without_series(dropped), [])
            if rows:
                return rows, "as the laptop GPU without the 'M' suffix"
        return [], ""

    def _prefix_rows(self, read: GpuName) -> list[GpuRow]:
        """Rows a cut name can be: its last word may be cut too, or be a dropped suffix."""
        prefix = read.key
        rows = self._rows_starting(prefix, whole_words=not read.partial)
        head, _, cut_word = prefix.rpartition(" ")
        if not rows and read.partial and may_be_noise(cut_word):  # "Gene...", "Lap...", "4..."
            rows = self._rows_starting(head, whole_words=True)
        if not rows and read.compact:  # written joined: "nvidiartx30..."
            rows = _starting(self._sorted_compact, self._by_compact, read.compact)
        return rows

    def _rows_starting(self, prefix: str, *, whole_words: bool) -> list[GpuRow]:
        """Rows with a name or alias that starts with ``prefix`` (at a word end if whole_words)."""
        if not whole_words or not prefix:
            return _starting(self._sorted_keys, self._by_key, prefix)
        found = dict.fromkeys(self._by_key.get(prefix, []))
        found.update(dict.fromkeys(_starting(self._sorted_keys, self._by_key, prefix + " ")))
        return list(found)

    def _not_found(self, name: str, read: GpuName) -> GpuMatch:
        near = difflib.get_close_matches(read.compact, self._sorted_compact, n=3, cutoff=0.8)
        names = _unique(r.display_name for key in near for r in self._by_compact[key])
        hint = f" (close: {_join(names, 'or')})" if names else ""
        what = "was cut short by nvidia-smi and matches no GPU" if read.truncated else "is not"
        return _unknown(
            name,
            f"{name!r} {what} in the GPU table{hint}",
            f"{_FIX}, or add the GPU to data/gpus.yaml or to the file named by {TABLE_ENV}",
        )


def _starting(sorted_keys: list[str], index: _Index, prefix: str) -> list[GpuRow]:
    """Rows of every key in ``sorted_keys`` that starts with ``prefix`` (binary search)."""
    found: dict[GpuRow, None] = {}
    for position in range(bisect.bisect_left(sorted_keys, prefix), len(sorted_keys)):
        key = sorted_keys[position]
        if not key.startswith(prefix):
            break
        found.update(dict.fromkeys(index[key]))
    return list(found)


def _answer(query: str, read: GpuName, rows: list[GpuRow], how: str) -> GpuMatch:
    rows = sorted(rows, key=lambda r: (_cc_tuple(r.compute_capability), r.display_name))
    candidates = tuple(r.candidate() for r in rows)
    ccs = _unique(r.compute_capability for r in rows)
    cut = "was cut short by nvidia-smi and " if read.truncated else ""
    if len(ccs) > 1:
        if len(rows) <= 6:
            options = _join([_with_cc(r) for r in rows], "or")
            what = f"{query!r} {cut}may be {options}"
        else:
            examples = ", ".join(r.display_name for r in rows[:3])
            what = (
                f"{query!r} {cut}matches {len(rows)} GPUs with compute capabilities "
                f"{ccs[0]} to {ccs[-1]} (e.g. {examples})"
            )
        fix = (
            "pass " + " or ".join(f"--compute-capability {cc}" for cc in ccs)
            if len(ccs) <= 4
            else "pass --compute-capability X.Y"
        )
        if read.truncated:
            fix = f"run nvidia-smi --query-gpu=name --format=csv for the full name, or {fix}"
        return GpuMatch(query, "ambiguous", None, candidates, f"{what}; {fix}", how)
    cc = ccs[0]
    if len(rows) == 1:
        row = rows[0]
        what = f"{query!r} is {row.display_name} (compute capability {cc}, {row.architecture})"
    else:
        names = _join([r.display_name for r in rows], "and")
        what = f"{query!r} {cut}can be {names}; all have compute capability {cc}"
    remarks = [r.note for r in rows if r.note]
    remarks += [f"{r.display_name}: UNCONFIRMED in data/gpus.yaml" for r in rows if r.unconfirmed]
    message = "; ".join([what, *_unique(remarks)])
    return GpuMatch(query, "exact", cc, candidates, message, how)


def _with_cc(row: GpuRow) -> str:
    """ "Quadro RTX 6000 (7.5)", or "GeForce GT 730 (Fermi GF108, 2.1)" for a chip variant."""
    inside = f"{row.variant}, " if row.variant else ""
    return f"{row.name} ({inside}{row.compute_capability})"


def _unknown(query: str, what: str, fix: str) -> GpuMatch:
    return GpuMatch(query, "unknown", None, (), f"{what}; {fix}", "")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _join(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _cc_tuple(cc: str) -> tuple[int, int]:
    major, minor = cc.split(".")
    return int(major), int(minor)


# ---------------------------------------------------------------------------- loading


def load_table(path: Path | None = None, *, extra: Path | None = None) -> GpuTable:
    """Load and validate a GPU table: the packaged data/gpus.yaml unless ``path`` is given.

    ``extra`` is a site file with a ``families:`` list of the same shape; its rows are added, and
    a row with the name (and variant) of a packaged row replaces it. Raises ``DataError`` naming
    the file and row of the first invalid row.
    """
    if path is None:
        packaged = resources.files("labtorch.data").joinpath("gpus.yaml")
        text, label = packaged.read_text(encoding="utf-8"), "data/gpus.yaml"
    else:
        text, label = _read(path), str(path)
    document = _parse(text, label)
    architectures = _architectures(document, label)
    rows = _rows(document, label, architectures)
    if extra is not None:
        site_rows = _rows(_parse(_read(extra), str(extra)), str(extra), architectures)
        replaced = {(r.name, r.variant) for r in site_rows}
        rows = [r for r in rows if (r.name, r.variant) not in replaced] + site_rows
    return GpuTable(rows, architectures)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"cannot read GPU table {path}: {exc.strerror}",
            fix=f"check the path (or unset {TABLE_ENV})",
        ) from exc


def _parse(text: str, label: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(f"{label} is not valid YAML: {exc}", fix="fix the YAML syntax") from exc
    if not isinstance(document, dict):
        raise DataError(f"{label} must be a mapping with 'families:'", fix=_SEE_README)
    return document


def _architectures(document: dict[str, Any], label: str) -> dict[str, str]:
    section = document.get("architectures")
    rows = section.get("rows") if isinstance(section, dict) else None
    if not isinstance(section, dict) or not section.get("source") or not isinstance(rows, dict):
        raise DataError(
            f"{label}: 'architectures' needs 'source' and 'rows' (cc: name)", fix=_SEE_README
        )
    result: dict[str, str] = {}
    for cc, arch in rows.items():
        if not isinstance(cc, str) or not _CC_RE.match(cc) or not isinstance(arch, str):
            raise DataError(
                f"{label}: architectures row {cc!r}: {arch!r} is not 'X.Y': name",
                fix='quote the CC, e.g. "8.6": Ampere',
            )
        result[cc] = arch
    return result


def _rows(document: dict[str, Any], label: str, architectures: Mapping[str, str]) -> list[GpuRow]:
    families = document.get("families")
    if not isinstance(families, list):
        raise DataError(f"{label}: 'families' must be a list", fix=_SEE_README)
    rows: list[GpuRow] = []
    seen: dict[tuple[str, str | None], str] = {}
    for index, family in enumerate(families, start=1):
        where = f"{label}: family #{index}"
        if not isinstance(family, dict):
            raise DataError(f"{where} is not a mapping", fix=_SEE_README)
        name = family.get("family")
        where = f"{label}: family {name!r}"
        unknown = sorted(str(k) for k in family if k not in _FAMILY_KEYS)
        if unknown:
            raise DataError(
                f"{where}: unknown field(s) {', '.join(unknown)}",
                fix=f"use only {', '.join(sorted(_FAMILY_KEYS))}",
            )
        for field in ("family", "source", "kind", "gpus"):
            if not family.get(field):
                raise DataError(
                    f"{where} has no {field!r}",
                    fix="every family needs 'family', 'source', 'kind' and 'gpus'",
                )
        if family["kind"] not in _KINDS:
            raise DataError(
                f"{where}: kind {family['kind']!r} is not one of {sorted(_KINDS)}",
                fix="use one of those kinds",
            )
        if not isinstance(family["gpus"], list):
            raise DataError(f"{where}: 'gpus' must be a list of rows", fix=_SEE_README)
        for number, raw in enumerate(family["gpus"], start=1):
            row = _row(raw, f"{where}, row {number}", family, architectures)
            identity = (row.name, row.variant)
            if identity in seen:
                raise DataError(
                    f"{row.where}: {row.display_name!r} is already at {seen[identity]}",
                    fix="remove one, or give each a different 'variant'",
                )
            seen[identity] = row.where
            rows.append(row)
    return rows


def _row(
    raw: object, where: str, family: dict[str, Any], architectures: Mapping[str, str]
) -> GpuRow:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: {raw!r} is not a mapping", fix="write {name: ..., cc: ...}")
    if isinstance(raw.get("name"), str):
        where = f"{where} ({raw['name']})"
    unknown = sorted(str(k) for k in raw if k not in _ROW_KEYS)
    if unknown:
        raise DataError(
            f"{where}: unknown field(s) {', '.join(unknown)}",
            fix=f"use only {', '.join(sorted(_ROW_KEYS))}",
        )
    name, cc, kind = raw.get("name"), raw.get("cc"), raw.get("kind", family["kind"])
    if not isinstance(name, str) or not read_name(name).key:
        raise DataError(f"{where}: 'name' must be a GPU name", fix="add name: <product name>")
    if isinstance(cc, float):  # an unquoted 8.6; 12.0 survives as "12.0"
        cc = repr(cc)
    if not isinstance(cc, str) or not _CC_RE.match(cc):
        raise DataError(f"{where}: cc {cc!r} is not 'major.minor'", fix='write e.g. cc: "8.6"')
    if cc not in architectures:
        raise DataError(
            f"{where}: cc {cc} is not in 'architectures'",
            fix="check the CC, or add it to 'architectures' with its source",
        )
    if kind not in _KINDS:
        raise DataError(
            f"{where}: kind {kind!r} is not one of {sorted(_KINDS)}", fix="use one of those kinds"
        )
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise DataError(f"{where}: 'aliases' must be a list of names", fix="write aliases: [a, b]")
    for optional in ("variant", "note"):
        if raw.get(optional) is not None and not isinstance(raw[optional], str):
            raise DataError(f"{where}: {optional!r} must be text", fix="quote it")
    if not isinstance(raw.get("unconfirmed", False), bool):
        raise DataError(f"{where}: 'unconfirmed' must be true or false", fix="write true/false")
    return GpuRow(
        name=name,
        compute_capability=cc,
        architecture=architectures[cc],
        kind=kind,
        family=str(family["family"]),
        source=str(family["source"]),
        aliases=tuple(aliases),
        variant=raw.get("variant"),
        note=raw.get("note"),
        unconfirmed=bool(raw.get("unconfirmed", False)),
        where=where,
    )


@functools.lru_cache(maxsize=1)
def _default_table(extra: str | None) -> GpuTable:
    return load_table(extra=Path(extra) if extra else None)


def default_table() -> GpuTable:
    """The packaged table plus the site file named by ``LABTORCH_GPU_TABLE`` (loaded once)."""
    return _default_table(os.environ.get(TABLE_ENV) or None)


# ---------------------------------------------------------------------------- the contract


def lookup(name: str) -> GpuMatch:
    """GPU name -> compute capability, or why not.

    >>> m = lookup("GeForce GTX 108...")
    >>> m.status, m.compute_capability, [c.name for c in m.candidates]
    ('exact', '6.1', ['GeForce GTX 1080', 'GeForce GTX 1080 Ti'])
    >>> lookup("Quadro RTX 6000").compute_capability
    '7.5'
    >>> lookup("NVIDIA GeForce RTX 9090").status
    'unknown'
    """
    return default_table().lookup(name)


def all_gpus() -> tuple[GpuCandidate, ...]:
    """Every row of the table as a candidate (for planner property tests)."""
    return tuple(row.candidate() for row in default_table().rows)


def architecture_of(compute_capability: str) -> str:
    """Architecture name of a CC: "3.7" -> "Kepler", "8.9" -> "Ada Lovelace", "12.0" -> "Blackwell".

    A well-formed CC that the table does not list (a GPU newer than labtorch) gives "unknown";
    anything that is not "major.minor" raises ``LabtorchError``.
    """
    cc = compute_capability.strip()
    if not _CC_RE.match(cc):
        raise LabtorchError(
            f"{compute_capability!r} is not a compute capability", fix="write major.minor, e.g. 8.6"
        )
    major, minor = _cc_tuple(cc)
    return default_table().architectures.get(f"{major}.{minor}", "unknown")
