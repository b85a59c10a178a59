"""Plain typed data shared by facts, planner, roles and checks. No pyinfra import here.

The normalized GPU facts of one host (``GpuFacts``) and the site policy (``SitePolicy``) go into
the planner; a frozen ``HostPlan`` comes out. Deploys only carry plans out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OsName = Literal["linux", "windows", "unknown"]
CcSource = Literal["reported", "table", "unknown"]
FactsError = Literal[
    "no_driver", "not_installed", "no_devices", "nvml_mismatch", "invalid_field", "other"
]


@dataclass(frozen=True)
class Gpu:
    """One physical GPU as nvidia-smi (or WMI) reports it.

    ``compute_capability`` is a "major.minor" string such as "8.6"; ``compute_capability_source``
    says where it came from: printed by the driver (``reported``), looked up by name in
    data/gpus.yaml (``table``), or not known (``unknown``).
    """

    name: str | None
    memory_mib: int | None = None
    compute_capability: str | None = None
    compute_capability_source: CcSource = "unknown"
    mig_enabled: bool | None = None
    name_truncated: bool = False


@dataclass(frozen=True)
class GpuFacts:
    """Everything nvidia-smi told us about one host, normalized.

    ``format`` is the output form it was parsed from (table, q, xml, csv, L, error, other).
    ``error`` is None or one of no_driver, not_installed, no_devices, nvml_mismatch,
    invalid_field, other; ``error_detail`` keeps the driver's own words.
    """

    os: OsName = "unknown"
    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: tuple[Gpu, ...] = ()
    error: FactsError | None = None
    error_detail: str | None = None
    format: str = "unknown"
    gpu_count: int | None = None
    gpu_count_is_lower_bound: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpus"] = [asdict(g) for g in self.gpus]
        for gpu in data["gpus"]:
            gpu["memory_mib"] = gpu.pop("memory_mib")
        return data


@dataclass(frozen=True)
class SitePolicy:
    """What the site asks for. ``torch`` is "latest" or a spec ("2.7", "==2.7.1", ">=2.5,<2.8").

    ``python`` None lets the planner pick the newest Python the chosen release supports, capped
    at ``python_max`` (conda-forge and mirrors lag on brand-new Pythons).
    ``mirror`` names a row of data/mirrors.yaml ("official", "tuna", "aliyun", ...);
    ``pytorch_index_url`` (a template with ``{variant}``, e.g.
    "http://10.0.0.5/whl/{variant}") and ``pypi_index_url`` override it for a site's own mirror.
    ``driver_floor`` is "minor" (NVIDIA minor-version
    compatibility, what PyTorch maintainers accept) or "toolkit" (the toolkit's own driver).
    """

    torch: str = "latest"
    python: str | None = None
    python_max: str = "3.12"
    mirror: str = "official"
    pytorch_index_url: str | None = None
    pypi_index_url: str | None = None
    driver_floor: Literal["minor", "toolkit"] = "minor"
    allow_cpu: bool = True
    include_torchaudio: bool = True
    include_torchvision: bool = True


@dataclass(frozen=True)
class HostPlan:
    """What one host gets. Frozen; deploys carry it out, checks compare against it.

    ``variant`` is "cuXYZ" or "cpu". ``install`` holds the pip arguments after ``pip install``
    (one list per command) so a role can run them with any env's Python on any OS.
    """

    torch: str
    torchvision: str | None
    torchaudio: str | None
    variant: str
    python: str
    index_url: str
    install: tuple[tuple[str, ...], ...]
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    os: OsName = "linux"
    min_compute_capability: str | None = None
    gpus: tuple[str, ...] = field(default=())
    driver_version: str | None = None
    extra_index_url: str | None = None

    @property
    def is_gpu(self) -> bool:
        return self.variant != "cpu"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["install"] = [list(cmd) for cmd in self.install]
        data["reasons"] = list(self.reasons)
        data["warnings"] = list(self.warnings)
        data["gpus"] = list(self.gpus)
        return data
