"""The GPU fact: every NVIDIA GPU of a host and its driver, in one remote command.

The command prints two nvidia-smi outputs between markers: the csv query (index, name, memory,
compute capability, driver; retried without ``compute_cap`` on drivers that answer "not a valid
field") and the default header table (for the CUDA version the driver supports). The pure function
:func:`parse_gpu_output` turns that text into ``GpuFacts`` with the pure parsers in
``labtorch.facts.nvidia_smi`` and fills missing compute capabilities from the GPU table.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from labtorch.errors import LabtorchError
from labtorch.facts.system import SECTION, split_sections
from labtorch.model import GpuFacts

QUERY_FIELDS = "index,name,memory.total,compute_cap,driver_version"
QUERY_FIELDS_OLD = "index,name,memory.total,driver_version"

GPU_COMMAND = (
    "if command -v nvidia-smi >/dev/null 2>&1; then "
    f"f={QUERY_FIELDS}; "
    "out=$(nvidia-smi --query-gpu=$f --format=csv,noheader,nounits 2>&1); rc=$?; "
    'case "$out" in *"not a valid field"*) '
    f"f={QUERY_FIELDS_OLD}; "
    "out=$(nvidia-smi --query-gpu=$f --format=csv,noheader,nounits 2>&1); rc=$?;; esac; "
    f"echo '{SECTION}fields@@'; echo \"$f\"; "
    f"echo '{SECTION}query@@'; printf '%s\\n' \"$out\"; "
    f"echo '{SECTION}query-rc@@'; echo $rc; "
    f"echo '{SECTION}table@@'; nvidia-smi 2>&1; "
    f"echo '{SECTION}table-rc@@'; echo $?; "
    f"else echo '{SECTION}missing@@'; fi"
)


def parse_gpu_output(text: str, os_hint: str | None = "linux") -> GpuFacts:
    """Parse :data:`GPU_COMMAND`'s output into enriched ``GpuFacts``.

    No nvidia-smi on the host gives ``error="not_installed"``; a failing driver keeps the
    driver's own words in ``error_detail`` (the planner then plans CPU and warns).
    """
    from labtorch.facts import nvidia_smi

    sections = split_sections(text)
    if "missing" in sections:
        return GpuFacts(
            os=_os(os_hint),
            error="not_installed",
            error_detail="nvidia-smi is not on PATH",
            format="error",
        )
    query = "\n".join(sections.get("query", []))
    table = "\n".join(sections.get("table", []))
    fields_line = "".join(sections.get("fields", [])).strip() or QUERY_FIELDS
    parsed: list[GpuFacts] = []
    problems: list[str] = []
    for parse in (
        lambda: nvidia_smi.parse_query_csv(query, fields_line.split(","), os_hint=os_hint),
        lambda: nvidia_smi.parse(table, os_hint=os_hint),
    ):
        try:
            parsed.append(parse())
        except LabtorchError as err:  # one unreadable form must not hide the other
            problems.append(err.what)
    if not parsed:
        return GpuFacts(
            os=_os(os_hint), error="other", error_detail="; ".join(problems), format="other"
        )
    return nvidia_smi.enrich(nvidia_smi.merge(*parsed))


def _os(os_hint: str | None) -> str:
    return os_hint if os_hint in ("linux", "windows") else "unknown"


class NvidiaGpus(FactBase[GpuFacts]):
    """GPUs, driver version and supported CUDA version of a Linux host, as ``GpuFacts``.

    One command; never fails the host: a missing or broken driver is a fact, not an error.
    """

    def command(self) -> str:
        return GPU_COMMAND

    def process(self, output: list[str]) -> GpuFacts:
        return parse_gpu_output("\n".join(output), os_hint="linux")

    @staticmethod
    def default() -> GpuFacts:
        return GpuFacts(os="unknown", error="other", error_detail="GPU fact not gathered")
