"""Pure parsers for every output form of ``nvidia-smi`` a lab produces, normalized to ``GpuFacts``.

Forms: the default table, ``-q``, ``-q -x`` (XML), ``--query-gpu ... --format=csv`` (with or
without header and units), ``-L``, nvidia-smi's own failures (driver not loaded, no devices,
driver/library mismatch, invalid query field) and the shell's "command not found" in any
language (bash, sh, zsh, cmd.exe, PowerShell). Linux and Windows text (CRLF, UTF-8 BOM) alike.

Nothing here runs a command or looks a GPU up in a table: ``parse`` reports only what the output
printed. ``enrich`` then fills compute capabilities from ``labtorch.gpus`` and ``merge`` combines
several forms captured on one host (the csv query gives compute capability, the table the CUDA
version).

>>> facts = parse("GPU 0: NVIDIA GeForce RTX 3080 (UUID: GPU-8fe3a97d)")
>>> facts.format, facts.gpu_count, facts.gpus[0].name
('L', 1, 'NVIDIA GeForce RTX 3080')
>>> parse("No devices were found").error
'no_devices'
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

from labtorch.errors import LabtorchError
from labtorch.model import CcSource, FactsError, Gpu, GpuFacts, OsName

__all__ = ["FACT_QUERY_FIELDS", "FORMATS", "detect_format", "enrich", "merge", "parse",
           "parse_query_csv"]

FORMATS = ("table", "q", "xml", "csv", "L", "error", "other")
# The query labtorch's own fact runs (noheader,nounits); parse() recognises its rows by shape.
FACT_QUERY_FIELDS = ("index", "name", "memory.total", "compute_cap", "driver_version")

# Values nvidia-smi prints when it has nothing to say.
_NOTHING = {"", "N/A", "[N/A]", "ERR!", "[ERR!]", "Unknown Error", "[Unknown Error]",
            "Not Supported", "[Not Supported]", "None", "[Insufficient Permissions]"}
_Q_BANNER = "==============NVSMI LOG=============="
_OS_HINTS = ("linux", "windows")
_SHELLS = {"bash", "-bash", "sh", "-sh", "dash", "ash", "zsh", "-zsh", "ksh", "fish", "busybox"}
_QUOTES = ("'", '"', "„", "“", "”", "«", "»", "‘", "’", "「", "」", "‚")
# --query-gpu field names we know by heart; a csv header must name at least one of them.
_KNOWN_FIELDS = {
    "timestamp", "driver_version", "kmd_version", "count", "name", "gpu_name", "index", "uuid",
    "gpu_uuid", "serial", "gpu_serial", "pci.bus_id", "gpu_bus_id", "memory.total",
    "memory.used", "memory.free", "memory.reserved", "compute_cap", "mig.mode.current",
    "driver_model.current", "addressing_mode", "pstate", "temperature.gpu", "utilization.gpu",
    "utilization.memory", "fan.speed", "power.draw", "vbios_version",
}
_FIELD_ALIASES = {"gpu_name": "name", "gpu_uuid": "uuid", "gpu_serial": "serial",
                  "gpu_bus_id": "pci.bus_id"}


# ---------------------------------------------------------------------------------------------
# Entry points


def parse(text: str, os_hint: str | None = None) -> GpuFacts:
    """Parse any nvidia-smi output (or its failure) into normalized facts.

    Args:
        text: what the command printed (stdout and stderr together are fine).
        os_hint: "linux" or "windows" when the caller knows the host's OS; used only where the
            output itself does not tell (WDDM/TCC, ``C:\\`` or ``/usr`` process paths, cmd.exe
            messages tell; a bash message does not, Git Bash exists).

    Returns:
        ``GpuFacts`` with ``format`` one of table, q, xml, csv, L, error, other.
        ``compute_capability`` is set only where the output printed it (csv ``compute_cap``).

    Raises:
        LabtorchError: the text is none of nvidia-smi's forms (empty, random text).
    """
    hint = _check_os_hint(os_hint)
    clean = _normalize(text)
    kind = detect_format(text)
    if kind == "error":
        return _parse_error(clean, hint)
    if kind == "other":
        return GpuFacts(os=_decide_os("unknown", hint, text), format="other")
    if kind == "xml":
        return _parse_xml(clean, hint, text)
    if kind == "q":
        return _parse_q(clean, hint, text)
    if kind == "table":
        return _parse_table(clean, hint, text)
    if kind == "L":
        return _parse_list(clean, hint, text)
    if kind == "csv":
        lines = [line for line in clean.split("\n") if line.strip()]
        fields = FACT_QUERY_FIELDS if _looks_like_fact_query(lines) else None
        return parse_query_csv(text, fields, os_hint)
    raise LabtorchError(
        f"the text is not nvidia-smi output ({_describe(clean)})",
        fix="pass what `nvidia-smi`, `nvidia-smi -q`, `nvidia-smi -q -x`, `nvidia-smi -L` or "
        "`nvidia-smi --query-gpu=... --format=csv` printed on the host",
    )


def detect_format(text: str) -> str | None:
    """Name the form of an nvidia-smi output: table, q, xml, csv, L, error, other; None if none.

    >>> detect_format("Failed to initialize NVML: Driver/library version mismatch")
    'error'
    >>> detect_format("compute_cap\\n8.9\\n") is None, detect_format("hello") is None
    (False, True)
    """
    clean = _normalize(text)
    stripped = clean.strip()
    if not stripped:
        return None
    lines = [line for line in clean.split("\n") if line.strip()]
    if stripped.startswith("<?xml") or stripped.startswith("<nvidia_smi_log"):
        return "xml"
    if _Q_BANNER in clean:
        return "q"
    if any(_is_table_header(line) for line in lines) and any(
        line.startswith("+") for line in lines
    ):
        return "table"
    if _classify_error(clean) is not None:
        return "error"
    if lines[0].startswith("GPU ") and "(UUID:" in lines[0]:
        return "L"
    if (_csv_header(lines[0]) is not None or _looks_like_headerless_csv(lines)
            or _looks_like_fact_query(lines)):
        return "csv"
    if stripped.startswith("List of valid properties to query") or (
        "NVIDIA System Management Interface" in stripped
    ):
        return "other"
    return None


def parse_query_csv(
    text: str, fields: Sequence[str] | None = None, os_hint: str | None = None
) -> GpuFacts:
    """Parse ``nvidia-smi --query-gpu=FIELDS --format=csv[,noheader][,nounits]`` output.

    Args:
        text: the command's output; a header line ("name, memory.total [MiB]") is used when
            present, values may carry units ("8192 MiB") or not.
        fields: the query's field names in order, when the caller ran the query itself
            (``("index", "name", "memory.total", "compute_cap", "driver_version")``); then no
            header is needed. Without fields and without header the name and memory.total
            columns are recognised from their values (a GPU name; total = free + used).
        os_hint: as for ``parse``.

    >>> f = parse_query_csv("0, NVIDIA GeForce RTX 3080, 10240, 8.6, 535.54.03",
    ...                     ["index", "name", "memory.total", "compute_cap", "driver_version"])
    >>> f.driver_version, f.gpus[0].compute_capability, f.gpus[0].compute_capability_source
    ('535.54.03', '8.6', 'reported')
    """
    hint = _check_os_hint(os_hint)
    clean = _normalize(text)
    if _classify_error(clean) is not None:
        return _parse_error(clean, hint)
    rows = [row for row in csv.reader(clean.strip().split("\n"), skipinitialspace=True) if row]
    if not rows:
        raise LabtorchError("the --query-gpu output is empty",
                            fix="run the query on the host again and pass what it printed")
    header = _csv_header(", ".join(rows[0]))
    if header is not None:
        names: list[str] | None = header
        rows = rows[1:]
    elif fields is not None:
        names = [_field_name(f) for f in fields]
    else:
        names = None
    gpus: list[Gpu] = []
    driver: str | None = None
    content_os: OsName = "unknown"
    count: int | None = None
    for row in rows:
        values = [v.strip() for v in row]
        if names is not None and len(values) != len(names):
            raise LabtorchError(
                f"a --query-gpu row has {len(values)} values but the query has {len(names)} "
                "fields",
                fix="pass the same field list the query was run with",
            )
        record = dict(zip(names, values, strict=True)) if names else _guess_columns(values)
        driver = driver or _version(record.get("kmd_version")) or _version(
            record.get("driver_version"))
        content_os = _strongest(content_os, _os_from_driver_model(record.get(
            "driver_model.current")))
        if _value(record.get("addressing_mode")) == "HMM":
            content_os = _strongest(content_os, "linux")
        count = _int(record.get("count")) or count
        cc = _compute_cap(record.get("compute_cap"))
        gpus.append(Gpu(
            name=_value(record.get("name")),
            memory_mib=_mib(record.get("memory.total")),
            compute_capability=cc,
            compute_capability_source="reported" if cc else "unknown",
            mig_enabled=_mig(record.get("mig.mode.current")),
        ))
    return GpuFacts(
        os=_decide_os(content_os, hint, text),
        driver_version=driver,
        gpus=tuple(gpus),
        format="csv",
        gpu_count=len(gpus),
        gpu_count_is_lower_bound=count is not None and count > len(gpus),
    )


def enrich(facts: GpuFacts) -> GpuFacts:
    """Fill compute capabilities the output did not print from the GPU table (labtorch.gpus).

    A GPU whose name ``labtorch.gpus.lookup`` answers "exact" gets that capability with source
    "table" (a truncated table name such as "NVIDIA GeForce RTX 2080 ..." is exact when every
    GPU it could be shares one capability); "ambiguous" and "unknown" names stay "unknown".
    Capabilities the driver reported are never replaced.
    """
    import labtorch.gpus as gpu_table

    enriched = []
    for gpu in facts.gpus:
        if gpu.compute_capability is None and gpu.name is not None:
            match = gpu_table.lookup(gpu.name)
            if match.status == "exact" and match.compute_capability:
                gpu = replace(gpu, compute_capability=match.compute_capability,
                              compute_capability_source="table")
        enriched.append(gpu)
    return replace(facts, gpus=tuple(enriched))


def merge(*facts: GpuFacts) -> GpuFacts:
    """Combine facts parsed from several outputs of one host into one.

    Scalars take the first known value, GPUs are merged position by position when the lists
    have the same length (a reported capability wins over a table one, a full name over a
    truncated one); otherwise the longest list is kept. The result has no error when any
    input parsed without one (e.g. an R470 driver refused ``compute_cap`` but the table
    answered).

    >>> csv_part = parse_query_csv("8.9", ["compute_cap"])
    >>> table_like = parse("GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1)")
    >>> both = merge(csv_part, table_like)
    >>> both.gpus[0].name, both.gpus[0].compute_capability, both.format
    ('NVIDIA GeForce RTX 4090', '8.9', 'csv+L')
    """
    if not facts:
        raise LabtorchError("nothing to merge", fix="pass at least one parsed output")
    ok = [f for f in facts if f.error is None]
    pool = ok or list(facts)
    base = max(pool, key=lambda f: (len(f.gpus), not f.gpu_count_is_lower_bound))
    gpus = list(base.gpus)
    for other in pool:
        if other is not base and len(other.gpus) == len(gpus):
            gpus = [_merge_gpu(a, b) for a, b in zip(gpus, other.gpus, strict=True)]
    formats: list[str] = []
    for f in facts:
        if f.format not in formats:
            formats.append(f.format)
    first_error = pool[0]
    return GpuFacts(
        os=next((f.os for f in facts if f.os != "unknown"), "unknown"),
        driver_version=next((f.driver_version for f in facts if f.driver_version), None),
        cuda_version=next((f.cuda_version for f in facts if f.cuda_version), None),
        gpus=tuple(gpus),
        error=None if ok else first_error.error,
        error_detail=None if ok else first_error.error_detail,
        format="+".join(formats),
        gpu_count=base.gpu_count if base.gpu_count is not None else (len(gpus) or None),
        gpu_count_is_lower_bound=base.gpu_count_is_lower_bound,
    )


# ---------------------------------------------------------------------------------------------
# Failures


def _classify_error(text: str) -> tuple[FactsError, str, OsName] | None:
    """(error kind, the message's own words, OS the message proves) for a failure text."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    words = " ".join(lines)
    if "couldn't communicate with the NVIDIA driver" in words:
        return "no_driver", words, "windows" if "WDDM" in words else "unknown"
    if "couldn't find libnvidia-ml.so" in words:
        return "no_driver", words, "linux"
    if "couldn't find nvml.dll" in words.lower():
        return "no_driver", words, "windows"
    for line in lines:
        if line.startswith("Failed to initialize NVML"):
            reason = line.partition(":")[2].strip()
            if reason.startswith("Driver/library version mismatch"):
                return "nvml_mismatch", words, "unknown"
            if reason in ("Driver Not Loaded", "NVML Shared Library Not Found"):
                return "no_driver", words, "unknown"
            return "other", words, "unknown"
        if line.startswith("Field ") and line.endswith("is not a valid field to query."):
            return "invalid_field", line, "unknown"
        if line.rstrip(".") in ("No devices were found", "No devices found"):
            return "no_devices", line, "unknown"
        if line.startswith("Unable to determine the device handle for"):
            return "other", words, "unknown"
    shell = _shell_failure(lines)
    if shell is not None:
        return shell[0], "\n".join(lines[:3]), shell[1]
    return None


def _shell_failure(lines: list[str]) -> tuple[FactsError, OsName] | None:
    """(not_installed or other, the OS the message proves) for a shell's failure to run
    nvidia-smi, else None. POSIX shell messages prove no OS (Git Bash exists).

    Recognised by structure rather than by wording, so every language works: PowerShell
    names its ``CommandNotFoundException``; cmd.exe and PowerShell quote the command name
    (``'nvidia-smi' is not recognized...``, ``Der Befehl "nvidia-smi" ist entweder...``,
    ``'nvidia-smi' 不是内部或外部命令``), unless Ubuntu's handler follows with
    ``sudo apt install nvidia-utils-...`` lines (Linux); POSIX shells write
    ``bash: nvidia-smi: <message>``, ``sh: 1: nvidia-smi: not found`` or
    ``zsh: command not found: nvidia-smi``.
    """
    text = "\n".join(lines)
    if "CommandNotFoundException" in text:
        return "not_installed", "windows"
    quoted = any(f"{q}{name}{p}" in text for name in ("nvidia-smi", "nvidia-smi.exe")
                 for q in _QUOTES for p in _QUOTES)
    if quoted and any(line.startswith(("sudo apt install ", "apt install ")) for line in lines):
        return "not_installed", "linux"  # Ubuntu's command-not-found handler, any language
    if len(lines) > 8 or any(line.startswith(("|", "GPU ")) for line in lines):
        return None
    if quoted:
        return "not_installed", "windows"
    for line in lines:
        parts = [part.strip() for part in line.split(":")]
        if len(parts) < 2 or parts[0].rsplit("/", 1)[-1] not in _SHELLS:
            continue
        if any(p == "nvidia-smi" or p.endswith("/nvidia-smi") for p in parts[1:]):
            return ("other" if "Permission denied" in line else "not_installed"), "unknown"
    return None


def _parse_error(text: str, hint: OsName | None) -> GpuFacts:
    found = _classify_error(text)
    if found is None:  # pragma: no cover - detect_format said "error"
        raise LabtorchError("the text is not an nvidia-smi failure")
    kind, detail, content_os = found
    return GpuFacts(
        os=_decide_os(content_os, hint, text),
        error=kind,
        error_detail=detail,
        format="error",
        gpu_count=0 if kind == "no_devices" else None,
    )


# ---------------------------------------------------------------------------------------------
# The default table


def _parse_table(text: str, hint: OsName | None, raw: str) -> GpuFacts:
    lines = text.split("\n")
    content_os: OsName = "unknown"
    start = next(i for i, line in enumerate(lines) if _is_table_header(line))
    header = lines[start]
    driver = _header_value(header, "KMD Version") or _header_value(header, "Driver Version")
    cuda = _header_value(header, "CUDA UMD Version") or _header_value(header, "CUDA Version")
    # Column headings: the rows between the header border and the "|====" line.
    i = start + 1
    while i < len(lines) and not lines[i].startswith("|="):
        i += 1
    headings = [_cells(line) for line in lines[start + 1:i]
                if line.startswith("|") and not line.startswith("|-")]
    if any("Driver-Model" in c or "TCC/WDDM" in c for row in headings for c in row):
        content_os = "windows"
    mem_at = _find_cell(headings, "Memory-Usage")
    mig_at = _find_cell(headings, "MIG M.")
    # GPU blocks: groups of "|" rows between "+----+----" borders, until the box ends.
    blocks: list[list[list[str]]] = []
    current: list[list[str]] = []
    i += 1
    while i < len(lines) and lines[i].startswith(("|", "+")):
        if lines[i].startswith("+") and "+" not in lines[i].strip()[1:-1]:
            break  # a full-width border: the Processes or MIG devices box begins
        if lines[i].startswith("+"):
            if current:
                blocks.append(current)
            current = []
        else:
            current.append(_cells(lines[i]))
        i += 1
    if current:
        blocks.append(current)
    box_cut = all(not line.strip() for line in lines[i:])
    gpus = [_table_gpu(block, mem_at, mig_at) for block in blocks]
    # nvidia-smi prints a failure for a lost GPU above the table of the others.
    before = _classify_error("\n".join(lines[:start]))
    content_os = _strongest(content_os, _os_from_paths(_table_process_words(lines[i:])))
    return GpuFacts(
        os=_decide_os(content_os, hint, raw),
        driver_version=driver,
        cuda_version=cuda,
        gpus=tuple(gpus),
        error=before[0] if before else None,
        error_detail=before[1] if before else None,
        format="table",
        gpu_count=len(gpus),
        gpu_count_is_lower_bound=box_cut or before is not None,
    )


def _is_table_header(line: str) -> bool:
    """``| NVIDIA-SMI 550.54.14   Driver Version: ...`` (not ``NVIDIA-SMI has failed ...``)."""
    return line.startswith("|") and line.strip("| ").startswith("NVIDIA-SMI ")


def _header_value(line: str, label: str) -> str | None:
    """The word after ``label:`` in the table's first line, e.g.
    ``| NVIDIA-SMI 610.57.04   KMD Version: 610.57.04   CUDA UMD Version: 13.3 |``."""
    _, found, rest = f" {line.strip().strip('|')}".partition(f" {label}:")
    words = rest.split()
    return _version(words[0]) if found and words else None


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _find_cell(rows: list[list[str]], label: str) -> tuple[int, int] | None:
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if label in cell:
                return r, c
    return None


def _table_gpu(block: list[list[str]], mem_at: tuple[int, int] | None,
               mig_at: tuple[int, int] | None) -> Gpu:
    # First cell of the first row: "0  NVIDIA GeForce RTX 2080 ...    Off" (index, name, and
    # the Persistence-M / Driver-Model value).
    first = block[0][0].split()
    name = " ".join(first[1:-1]) if len(first) > 2 else None

    def cell(at: tuple[int, int] | None) -> str | None:
        if at is None or at[0] >= len(block) or at[1] >= len(block[at[0]]):
            return None
        return block[at[0]][at[1]]

    memory = cell(mem_at)
    return Gpu(
        name=_value(name),
        memory_mib=_mib(memory.rpartition("/")[2]) if memory else None,
        mig_enabled=_mig(cell(mig_at)),
        name_truncated=bool(name and name.endswith("...")),
    )


def _table_process_words(lines: list[str]) -> Iterator[str]:
    """Words of the rows of the Processes box (process names carry the OS's paths)."""
    in_box = False
    for line in lines:
        if line.startswith("|") and line.strip("| ").startswith("Processes:"):
            in_box = True
        elif in_box and line.startswith("|"):
            yield from line.strip("|").split()
        elif not line.startswith("+"):
            in_box = False


# ---------------------------------------------------------------------------------------------
# nvidia-smi -q


@dataclass
class _Node:
    key: str
    value: str | None
    children: list[_Node] = field(default_factory=list)

    def get(self, *path: str) -> str | None:
        node: _Node | None = self
        for key in path:
            node = next((c for c in node.children if c.key == key), None) if node else None
        return node.value if node else None

    def walk(self) -> Iterator[_Node]:
        for child in self.children:
            yield child
            yield from child.walk()


def _q_tree(text: str) -> _Node:
    """Indentation tree of ``Key : value`` lines (sections are keys without a value)."""
    root = _Node("", None)
    stack: list[tuple[int, _Node]] = [(-1, root)]
    for line in text.expandtabs(4).split("\n"):
        if not line.strip() or line.startswith("====="):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if " : " in body:
            key, _, value = body.partition(" : ")
        elif body.endswith(" :"):
            key, value = body[:-2], ""
        else:
            key, value = body, None
        node = _Node(key.strip(), value.strip() if value is not None else None)
        while stack[-1][0] >= indent:
            stack.pop()
        stack[-1][1].children.append(node)
        stack.append((indent, node))
    return root


def _parse_q(text: str, hint: OsName | None, raw: str) -> GpuFacts:
    tree = _q_tree(text)
    sections = [n for n in tree.children if n.key.startswith("GPU ") and n.value is None]
    content_os: OsName = "unknown"
    gpus = []
    for section in sections:
        content_os = _strongest(content_os, _os_from_driver_model(section.get("Driver Model",
                                                                              "Current")))
        if _value(section.get("Addressing Mode")) == "HMM":
            content_os = _strongest(content_os, "linux")
        processes = next((c for c in section.children if c.key == "Processes"), None)
        if processes is not None:
            content_os = _strongest(content_os, _os_from_paths(
                n.value or "" for n in processes.walk() if n.key in ("Name", "Process Name")))
        gpus.append(Gpu(
            name=_value(section.get("Product Name")),
            memory_mib=_mib(section.get("FB Memory Usage", "Total")),
            mig_enabled=_mig(section.get("MIG Mode", "Current")),
        ))
    attached = _int(tree.get("Attached GPUs"))
    return GpuFacts(
        os=_decide_os(content_os, hint, raw),
        driver_version=_version(tree.get("KMD Version")) or _version(tree.get("Driver Version")),
        cuda_version=_version(tree.get("CUDA UMD Version")) or _version(tree.get("CUDA Version")),
        gpus=tuple(gpus),
        format="q",
        gpu_count=len(gpus),
        gpu_count_is_lower_bound=attached is not None and attached > len(gpus),
    )


# ---------------------------------------------------------------------------------------------
# nvidia-smi -q -x


def _parse_xml(text: str, hint: OsName | None, raw: str) -> GpuFacts:
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as err:
        raise LabtorchError(
            f"the nvidia-smi -q -x output is not well-formed XML ({err})",
            fix="capture the whole output again (`nvidia-smi -q -x > gpus.xml`)",
        ) from err
    if root.tag != "nvidia_smi_log":
        raise LabtorchError(f"the XML root is <{root.tag}>, not <nvidia_smi_log>",
                            fix="pass the output of `nvidia-smi -q -x`")
    content_os: OsName = "unknown"
    gpus = []
    for gpu in root.findall("gpu"):
        content_os = _strongest(content_os, _os_from_driver_model(gpu.findtext(
            "driver_model/current_dm")))
        if _value(gpu.findtext("addressing_mode")) == "HMM":
            content_os = _strongest(content_os, "linux")
        content_os = _strongest(content_os, _os_from_paths(
            el.text or "" for el in gpu.iter("process_name")))
        gpus.append(Gpu(
            name=_value(gpu.findtext("product_name")),
            memory_mib=_mib(gpu.findtext("fb_memory_usage/total")),
            mig_enabled=_mig(gpu.findtext("mig_mode/current_mig")),
        ))
    attached = _int(root.findtext("attached_gpus"))
    return GpuFacts(
        os=_decide_os(content_os, hint, raw),
        driver_version=_version(root.findtext("kmd_version"))
        or _version(root.findtext("driver_version")),
        cuda_version=_version(root.findtext("cuda_umd_version"))
        or _version(root.findtext("cuda_version")),
        gpus=tuple(gpus),
        format="xml",
        gpu_count=len(gpus),
        gpu_count_is_lower_bound=attached is not None and attached > len(gpus),
    )


# ---------------------------------------------------------------------------------------------
# nvidia-smi -L


def _parse_list(text: str, hint: OsName | None, raw: str) -> GpuFacts:
    """``GPU 0: NAME (UUID: GPU-...)`` lines; indented ``MIG ... Device n:`` lines below one."""
    gpus: list[Gpu] = []
    for line in text.split("\n"):
        if line.startswith("GPU ") and ": " in line:
            label = line.partition(": ")[2]
            name = label.rpartition(" (")[0] if label.endswith(")") else label
            gpus.append(Gpu(name=_value(name.strip())))
        elif line.strip().startswith("MIG ") and gpus:
            gpus[-1] = replace(gpus[-1], mig_enabled=True)
    return GpuFacts(os=_decide_os("unknown", hint, raw), gpus=tuple(gpus), format="L",
                    gpu_count=len(gpus))


# ---------------------------------------------------------------------------------------------
# --query-gpu csv helpers


def _field_name(token: str) -> str:
    """``memory.total [MiB]`` -> ``memory.total``; ``gpu_name`` -> ``name``."""
    name = token.strip().partition(" [")[0].strip()
    return _FIELD_ALIASES.get(name, name)


def _csv_header(line: str) -> list[str] | None:
    """The field names when ``line`` is a --query-gpu csv header, else None."""
    tokens = next(csv.reader([line], skipinitialspace=True), [])
    names = [_field_name(t) for t in tokens]
    if not names or not all(n and n.replace(".", "").replace("_", "").isalnum()
                            and n[0].isalpha() and n == n.strip() for n in names):
        return None
    if not any(n in _KNOWN_FIELDS for n in names):
        return None
    return names


def _looks_like_headerless_csv(lines: list[str]) -> bool:
    rows = list(csv.reader(lines, skipinitialspace=True))
    widths = {len(row) for row in rows}
    if len(widths) != 1 or widths.pop() < 2:
        return False
    return all(any(v.startswith("GPU-") or v in ("[N/A]", "[Not Supported]") for v in row)
               for row in rows)


def _looks_like_fact_query(lines: list[str]) -> bool:
    """Rows shaped like FACT_QUERY_FIELDS with nounits: ``0, Tesla T4, 15360, 7.5, 550.54.14``."""
    rows = list(csv.reader(lines, skipinitialspace=True))
    return bool(rows) and all(
        len(row) == len(FACT_QUERY_FIELDS)
        and row[0].isdigit()
        and _looks_like_gpu_name(row[1])
        and (_int(row[2]) is not None or _value(row[2]) is None)
        and (_compute_cap(row[3]) is not None or _value(row[3]) is None)
        and (_version(row[4]) is not None or _value(row[4]) is None)
        for row in rows
    )


def _guess_columns(values: list[str]) -> dict[str, str]:
    """Name and memory.total of a headerless row whose query is unknown, from value shapes.

    The name is the first value that reads like a product name; memory.total the first of
    three adjacent integers where the first is the sum of the next two (NVIDIA documents the
    order total, free, used and total, used, free).
    """
    record: dict[str, str] = {}
    for value in values:
        if _looks_like_gpu_name(value):
            record["name"] = value
            break
    numbers = [_int(v) for v in values]
    for i in range(len(numbers) - 2):
        a, b, c = numbers[i:i + 3]
        if a is not None and b is not None and c is not None and a > 0 and a == b + c:
            record["memory.total"] = values[i]
            break
    return record


def _looks_like_gpu_name(value: str) -> bool:
    if _value(value) is None or value.startswith(("GPU-", "MIG-", "0x")) or ":" in value:
        return False
    if value in ("Default", "Enabled", "Disabled", "Active", "Not Active", "Exclusive_Process",
                 "Prohibited", "WDDM", "TCC", "Yes", "No", "valid", "HMM"):
        return False
    if value.startswith("P") and value[1:].isdigit():  # performance state
        return False
    return any(ch.isalpha() for ch in value) and not value.replace(".", "").isdigit()


# ---------------------------------------------------------------------------------------------
# Values and OS evidence


def _normalize(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _check_os_hint(os_hint: str | None) -> OsName | None:
    if os_hint is None:
        return None
    if os_hint not in _OS_HINTS:
        raise LabtorchError(f"unknown OS {os_hint!r}", fix="pass --os linux or --os windows")
    return cast(OsName, os_hint)


def _decide_os(content: OsName, hint: OsName | None, raw: str) -> OsName:
    """What the output proves, else the caller's hint, else CRLF line ends (Windows tools)."""
    if content != "unknown":
        return content
    if hint is not None:
        return hint
    return "windows" if "\r\n" in raw else "unknown"


def _strongest(current: OsName, new: OsName) -> OsName:
    """Keep the first proof of an OS (driver model before process paths)."""
    return current if current != "unknown" else new


def _os_from_driver_model(value: str | None) -> OsName:
    return "windows" if _value(value) in ("WDDM", "TCC", "MCDM") else "unknown"


def _os_from_paths(words: Iterable[str]) -> OsName:
    for word in words:
        if len(word) > 2 and word[0].isalpha() and word[1:3] == ":\\":
            return "windows"
        if len(word) > 1 and word.startswith("/") and word[1] not in "/ ":
            return "linux"
    return "unknown"


def _value(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    return None if value in _NOTHING else value


def _version(raw: str | None) -> str | None:
    """``610.57.04 [Deprecated; ...]`` -> ``610.57.04``; N/A, ERR!, Not Found -> None."""
    value = _value(raw)
    value = _value(value.partition("[")[0]) if value else None
    return value if value and value[0].isdigit() else None


def _int(raw: str | None) -> int | None:
    value = _value(raw)
    return int(value) if value is not None and value.isdigit() else None


def _mib(raw: str | None) -> int | None:
    """``8192 MiB``, ``8192MiB`` or ``8192`` -> 8192."""
    value = _value(raw)
    if value is None:
        return None
    number = value.removesuffix("MiB").strip()
    return int(number) if number.isdigit() else None


def _compute_cap(raw: str | None) -> str | None:
    value = _value(raw)
    if value is None:
        return None
    major, dot, minor = value.partition(".")
    return value if dot and major.isdigit() and minor.isdigit() else None


def _mig(raw: str | None) -> bool | None:
    value = _value(raw)
    return {"Enabled": True, "Disabled": False}.get(value) if value else None


def _merge_gpu(a: Gpu, b: Gpu) -> Gpu:
    rank: dict[CcSource, int] = {"reported": 2, "table": 1, "unknown": 0}
    cc_from = a if rank[a.compute_capability_source] >= rank[b.compute_capability_source] else b
    if a.name is None or (a.name_truncated and b.name is not None and not b.name_truncated):
        named = b
    else:
        named = a
    return Gpu(
        name=named.name,
        memory_mib=a.memory_mib if a.memory_mib is not None else b.memory_mib,
        compute_capability=cc_from.compute_capability,
        compute_capability_source=cc_from.compute_capability_source,
        mig_enabled=a.mig_enabled if a.mig_enabled is not None else b.mig_enabled,
        name_truncated=named.name_truncated,
    )


def _describe(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        return "it is empty"
    first = stripped.split("\n", 1)[0]
    return f"it starts with {first[:60]!r}"
