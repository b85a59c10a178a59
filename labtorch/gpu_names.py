"""How labtorch reads a GPU name as people, inventories and nvidia-smi write it.

A name is reduced to a *key*: lower case, without vendor and brand words ("NVIDIA", "GeForce",
"Quadro", "Tesla", "GRID"), memory sizes, form factors (PCIe, SXM4, NVL), laptop markers
("Laptop GPU", "Max-Q", "Mobile") and vGPU profiles. The *compact* key is the same without
spaces and with vendor words, "GPU" and laptop markers stripped even when they were written
joined to the model ("nvidiartx3080", "GPU3080", "rtx3060laptop"); two spellings that differ
only in spacing have one compact key.

>>> read_name("NVIDIA GeForce RTX 5070Ti Laptop GPU").key
'rtx 5070 ti'
>>> read_name("nvidiageforcertx3080ti").compact
'rtx3080ti'
>>> n = read_name("GeForce GTX 108...")
>>> (n.key, n.truncated, n.partial)
('gtx 108', True, True)
>>> without_note("GeForce GTX 1080 (room 3, left rack)")
'GeForce GTX 1080'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BRANDS = frozenset(("geforce", "quadro", "tesla", "grid"))
"""Brand words: dropped from keys, but a name that says one prefers rows of that brand."""

NOISE_WORDS = frozenset(
    (
        "nvidia",
        "pcie",
        "pci",
        "nvl",
        "dgxs",
        "fhhl",
        "generation",
        "edition",
        "workstation",
        "server",
        "gpu",
        "nvgpu",
        "oem",
        "lhr",
    )
)
_NOISE_RE = re.compile(
    r"^(?:\d+(?:\.\d+)?(?:gb|gib|mb|g)|sxm\d*|hbm\d*e?|g?ddr\d+x?"  # memory, form factor
    r"|\d+[abcq])$"  # vGPU profile: "NVIDIA A10-24Q", "GRID T4-16C"
)
_LAPTOP_RE = re.compile(
    r"(?:\bwith\s+)?\bmax-?\s?q\b(?:\s+design)?|\blaptop(?:\s+gpu)?\b|\bmobile\b|\bnotebook\b"
)
SERIES = ("rtx", "gtx", "gts", "gt")
"""Series words a model number may be written without ("3080" for "RTX 3080")."""

# Written joined to the model: "nvidiartx3080", "geforcegtx1080", "GPU3080", "rtx3060laptop".
_JOINED_PREFIXES = ("nvidia", "geforce", "quadro", "tesla", "grid", "gpu")
_JOINED_SUFFIXES = (
    "laptopgpu", "laptop", "mobile", "notebook", "maxqdesign", "maxq",
    *sorted(NOISE_WORDS, key=len, reverse=True),
)
_NOTE_RE = re.compile(r"\s+\(|[,;\[|]|\s+-\s+|\s+/\s+")


@dataclass(frozen=True)
class GpuName:
    """A GPU name reduced to what identifies it."""

    key: str  # lower-case words without vendor, memory, form factor or laptop markers
    compact: str  # ``key`` without spaces; joined vendor words and laptop markers stripped
    brands: frozenset[str]  # "geforce", "quadro", "tesla", "grid" when the name said so
    truncated: bool  # the name ended in "..." (nvidia-smi's table cuts long names)
    partial: bool  # truncated inside the last word of ``key``


def read_name(name: str) -> GpuName:
    """Reduce a GPU name to its keys; spelling, vendor words and memory/form suffixes drop out.

    >>> read_name("Tesla V100-SXM2-16GB").key
    'v100'
    >>> read_name("GPU 3080").compact
    '3080'
    """
    text = name.strip()
    truncated = text.endswith(("...", "…"))
    if truncated:
        text = text.removesuffix("...").removesuffix("…").rstrip(".")
    ends_inside_word = truncated and bool(text) and text[-1].isalnum()
    text = text.lower()
    for mark in ("(r)", "(tm)", "®", "™"):
        text = text.replace(mark, " ")
    text = _LAPTOP_RE.sub(" ", text)
    text = re.sub(r"(\d)\s+(gb|gib|mb)\b", r"\1\2", text)  # "12 GB" -> "12gb"
    text = re.sub(r"(\d)(ti|super)\b", r"\1 \2", text)  # "1050Ti" -> "1050 ti"
    words = [w for w in re.split(r"[\s\-_/(),]+", text) if w]
    last = len(words) - 1
    kept: list[str] = []
    partial = False
    for i, word in enumerate(words):
        if word in NOISE_WORDS or _NOISE_RE.match(word) or word in BRANDS:
            continue
        kept.append(word)
        partial = ends_inside_word and i == last
    brands = {w for w in words if w in BRANDS}
    compact, joined_brands = _strip_joined("".join(kept), truncated=truncated)
    key = " ".join(kept)
    return GpuName(key, compact, frozenset(brands | joined_brands), truncated, partial)


def _strip_joined(compact: str, *, truncated: bool) -> tuple[str, set[str]]:
    """Strip vendor words and laptop markers written joined to the model name."""
    brands: set[str] = set()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _JOINED_PREFIXES:
            if compact.startswith(prefix) and len(compact) > len(prefix):
                compact = compact[len(prefix):]
                if prefix in BRANDS:
                    brands.add(prefix)
                stripped = True
    stripped = not truncated  # a cut name may end in the first letters of a real model word
    while stripped:
        stripped = False
        for suffix in _JOINED_SUFFIXES:
            if compact.endswith(suffix) and len(compact) > len(suffix):
                compact = compact[: -len(suffix)]
                stripped = True
    return compact, brands


def without_series(compact: str) -> str:
    """The compact key without its leading series word: "rtx5070ti" -> "5070ti",
    "rtxa6000" -> "a6000"."""
    for series in SERIES:
        if compact.startswith(series) and any(c.isdigit() for c in compact[len(series):]):
            return compact[len(series):]
    return compact


def without_note(name: str) -> str:
    """The name before a trailing note: "(...)", ", ...", "; ...", " - ...", "[...]", " | ...".

    Returns the name unchanged when it has no such note.
    """
    match = _NOTE_RE.search(name)
    return name[: match.start()].strip() if match and match.start() > 0 else name


def may_be_noise(cut_word: str) -> bool:
    """Whether a word cut by nvidia-smi may be the start of a word that ``read_name`` drops."""
    words = NOISE_WORDS | {"laptop", "mobile", "notebook", "with", "max", "design", "sxm", "hbm"}
    return any(w.startswith(cut_word) for w in words) or bool(re.match(r"^\d", cut_word))


def mobile_m_dropped(compact: str) -> str | None:
    """ "gtx1060m" -> "gtx1060": from the 10-series on, laptop GPUs carry no "M" suffix.

    Only four-digit model numbers: a "GT 710M" is another chip than the GT 710.
    """
    match = re.fullmatch(r"(\D*\d{4})m", compact)
    return match.group(1) if match else None
