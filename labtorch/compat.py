"""The compatibility knowledge of data/*.yaml, loaded and validated once.

``load()`` reads data/releases.yaml, data/drivers.yaml and data/mirrors.yaml from the installed
``labtorch.data`` package and returns one frozen :class:`Compat`. Every row is checked when it is
read; a bad row raises :class:`~labtorch.errors.DataError` naming the file and the row.

The two rules the planner depends on live here, next to the data they read:

* :meth:`ArchList.covers`: does a wheel carry kernels for a GPU of compute capability X.Y?
  A cubin ``sm_AB`` runs on ``A.C`` for ``C >= B`` (same major only); PTX for ``A.B`` is
  JIT-compiled by the driver for any CC at or above ``A.B``, but only where the wheel for that
  platform really ships the PTX.
* :meth:`DriverTable.floor`: the lowest driver that runs a ``cuXYZ`` wheel on an OS, read as
  NVIDIA minor-version compatibility ("minor") or as the toolkit's own driver ("toolkit").

>>> compat = load()
>>> str(compat.release("2.7").build("cu128", "linux").archs)
'7.5;8.0;8.6;9.0;10.0;12.0+PTX'
>>> str(compat.drivers.floor("cu126", "linux", "minor"))
'525.60.13'
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from packaging.version import InvalidVersion, Version

from labtorch.errors import DataError

Platform = Literal["linux", "windows", "linux-aarch64"]
FloorKind = Literal["minor", "toolkit"]
PLATFORMS: tuple[Platform, ...] = ("linux", "windows", "linux-aarch64")
DRIVER_OS = ("linux", "windows")


# --------------------------------------------------------------------------- small value types


@dataclass(frozen=True, order=True)
class ComputeCapability:
    """A CUDA compute capability such as 8.6, ordered numerically (12.0 > 9.0).

    >>> ComputeCapability.parse("8.6") < ComputeCapability.parse("12.0")
    True
    >>> str(ComputeCapability.parse(" 6.1 "))
    '6.1'
    """

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ComputeCapability:
        """Parse "X.Y"; raise ValueError on anything else."""
        parts = text.strip().split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{text!r} is not a compute capability like '8.6'")
        return cls(int(parts[0]), int(parts[1]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def sm(self) -> str:
        """The kernel name PyTorch prints, e.g. "sm_86"."""
        return f"sm_{self.major}{self.minor}"


@dataclass(frozen=True)
class ArchList:
    """The architectures compiled into one wheel: cubins plus optional PTX.

    >>> archs = ArchList.parse("7.5;8.0;8.6;9.0;10.0;12.0+PTX")
    >>> archs.covers(ComputeCapability(8, 9), ptx=True)    # sm_86 cubin runs on 8.9
    True
    >>> archs.covers(ComputeCapability(6, 1), ptx=True)    # nothing below 7.5
    False
    >>> archs.covers(ComputeCapability(12, 1), ptx=False)  # sm_120 cubin runs on 12.1
    True
    >>> archs.covers(ComputeCapability(13, 0), ptx=True)   # only PTX reaches a newer major
    True
    >>> archs.covers(ComputeCapability(13, 0), ptx=False)
    False
    """

    cubins: tuple[ComputeCapability, ...]
    ptx: tuple[ComputeCapability, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ArchList:
        """Parse a TORCH_CUDA_ARCH_LIST string ("5.0;6.0;8.6+PTX")."""
        cubins: list[ComputeCapability] = []
        ptx: list[ComputeCapability] = []
        for item in text.split(";"):
            entry = item.strip()
            with_ptx = entry.endswith("+PTX")
            cc = ComputeCapability.parse(entry.removesuffix("+PTX"))
            cubins.append(cc)
            if with_ptx:
                ptx.append(cc)
        if not cubins:
            raise ValueError(f"{text!r} lists no architecture")
        return cls(tuple(sorted(cubins)), tuple(sorted(ptx)))

    def kernel_for(self, cc: ComputeCapability, *, ptx: bool) -> str | None:
        """Name the kernels a GPU of ``cc`` would run, or None when the wheel has none.

        ``ptx`` says whether this platform's wheel really carries the PTX entries.

        >>> ArchList.parse("5.0;6.0;7.0").kernel_for(ComputeCapability(6, 1), ptx=True)
        'sm_60 cubin'
        >>> ArchList.parse("8.0;12.0+PTX").kernel_for(ComputeCapability(13, 0), ptx=True)
        'compute_120 PTX (JIT)'
        """
        same_major = [c for c in self.cubins if c.major == cc.major and c.minor <= cc.minor]
        if same_major:
            return f"{max(same_major).sm} cubin"
        if ptx:
            below = [c for c in self.ptx if c <= cc]
            if below:
                best = max(below)
                return f"compute_{best.major}{best.minor} PTX (JIT)"
        return None

    def covers(self, cc: ComputeCapability, *, ptx: bool) -> bool:
        """True when a GPU of ``cc`` gets kernels from this wheel (see :meth:`kernel_for`)."""
        return self.kernel_for(cc, ptx=ptx) is not None

    @functools.cached_property
    def text(self) -> str:
        """The TORCH_CUDA_ARCH_LIST form, built once (plans print it in their reasons)."""
        return ";".join(f"{c}+PTX" if c in self.ptx else str(c) for c in self.cubins)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, order=True)
class DriverVersion:
    """An NVIDIA driver version: compared as a version, printed as NVIDIA writes it.

    >>> DriverVersion.parse("570.124.06") > DriverVersion.parse("570.26")
    True
    >>> str(DriverVersion.parse("570.124.06"))
    '570.124.06'
    """

    key: Version
    text: str = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> DriverVersion:
        """Parse "550.54.14" or "591.86"; raise ValueError on anything else."""
        cleaned = str(text).strip()
        parts = cleaned.split(".")
        if not cleaned or not all(p.isdigit() for p in parts) or len(parts) > 4:
            raise ValueError(f"{text!r} is not a driver version like '550.54.14'")
        if any(len(p) > 6 for p in parts) or int(parts[0]) > 9999:
            raise ValueError(f"{text!r} is no NVIDIA driver version (they look like '550.54.14')")
        return cls(Version(cleaned), cleaned)

    def __str__(self) -> str:
        return self.text


def variant_cuda(variant: str) -> Version:
    """The CUDA version a ``cuXYZ`` variant is built with.

    >>> str(variant_cuda("cu126")), str(variant_cuda("cu102")), str(variant_cuda("cu130"))
    ('12.6', '10.2', '13.0')
    """
    digits = variant.removeprefix("cu")
    if not variant.startswith("cu") or len(digits) < 3 or not digits.isdigit():
        raise ValueError(f"{variant!r} is not a CUDA variant like 'cu126'")
    return Version(f"{int(digits[:-1])}.{digits[-1]}")


# --------------------------------------------------------------------------- releases


@dataclass(frozen=True)
class VariantBuild:
    """One published wheel variant of a release on one platform."""

    variant: str
    platform: Platform
    cuda: Version
    archs: ArchList
    ptx_available: bool
    archs_status: str | None = field(default=None, compare=False)
    """None (published lists), "assumed from <release>" (a refreshed release inheriting the
    previous release's list), "seen on <host>" (a verification report confirmed it) or
    "mismatch: ..." (a report disagreed; ``archs`` then holds what the host reported)."""
    _answers: dict[ComputeCapability, str | None] = field(
        default_factory=dict, compare=False, hash=False, repr=False)

    def kernel_for(self, cc: ComputeCapability) -> str | None:
        """The kernels this wheel offers a GPU of ``cc`` (PTX only where really shipped)."""
        try:
            return self._answers[cc]
        except KeyError:
            answer = self._answers[cc] = self.archs.kernel_for(cc, ptx=self.ptx_available)
            return answer

    def covers(self, cc: ComputeCapability) -> bool:
        """True when a GPU of ``cc`` gets kernels from this wheel."""
        return self.kernel_for(cc) is not None

    def jit_only(self, cc: ComputeCapability) -> bool:
        """True when a GPU of ``cc`` gets only PTX from this wheel (JIT-compiled by the driver,
        which then must be at least as new as the toolkit that wrote the PTX)."""
        kernel = self.kernel_for(cc)
        return kernel is not None and kernel.endswith("(JIT)")


@dataclass(frozen=True)
class Patch:
    """One patch release and its matching domain libraries."""

    version: Version
    torchvision: Version | None
    """None while no torchvision pins this torch yet (a lagging companion: a policy that wants
    torchvision stays on an earlier patch)."""
    torchaudio: Version
    torchaudio_any_build: bool = False
    torchaudio_not_on: frozenset[str] = frozenset()
    """Variants whose index carries no matching torchaudio (e.g. cu132 for 2.12-2.14)."""


@dataclass(frozen=True, eq=False)
class Release:
    """A PyTorch release line ("2.7") with its patches (newest first) and builds per platform."""

    line: str
    pythons: tuple[Version, ...]
    patches: tuple[Patch, ...]
    builds: Mapping[Platform, tuple[VariantBuild, ...]]
    pypi_default: Mapping[str, str]
    conda_pytorch_channel: bool
    source: str

    def build(self, variant: str, platform: Platform) -> VariantBuild:
        """The build of ``variant`` on ``platform``; KeyError when not published."""
        for build in self.builds.get(platform, ()):
            if build.variant == variant:
                return build
        raise KeyError(f"torch {self.line} has no {variant} build for {platform}")

    def supports_python(self, python: Version) -> bool:
        """True when wheels exist for this Python (major.minor)."""
        return Version(f"{python.major}.{python.minor}") in self.pythons


# --------------------------------------------------------------------------- drivers


@dataclass(frozen=True, eq=False)
class DriverTable:
    """NVIDIA driver floors (NV-RN Tables 2 and 3) and the last driver branch per architecture.

    Compared and hashed by identity, so that its answers can be cached per loaded table.
    """

    minor: Mapping[str, Mapping[str, DriverVersion]]
    """cuda family ("13", "12", "11", "11.0") -> os -> lowest driver."""
    toolkit: tuple[tuple[Version, str, Mapping[str, DriverVersion | None]], ...]
    """(cuda, release, {os: driver or None}) in file order."""
    variant_toolkit: Mapping[str, tuple[Version, str]]
    """variant -> (cuda, toolkit release) it ships."""
    branches: tuple[ArchitectureBranch, ...]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - tables live for the whole process
    def floor(self, variant: str, os: str, kind: FloorKind) -> DriverVersion:
        """The lowest driver that runs ``variant`` wheels on ``os``.

        >>> drivers = load().drivers
        >>> str(drivers.floor("cu128", "windows", "minor"))
        '528.33'
        >>> str(drivers.floor("cu128", "linux", "toolkit"))
        '570.124.06'
        >>> str(drivers.floor("cu130", "linux", "minor"))
        '580'
        """
        cuda, release = self.variant_toolkit[variant]
        if kind == "minor":
            for family in (f"{cuda.major}.{cuda.minor}", str(cuda.major)):
                if family in self.minor:
                    return self.minor[family][os]
        row = self._toolkit_row(cuda, release)
        toolkit_driver = row.get(os)
        if toolkit_driver is None:
            # NVIDIA lists "N/A" for Windows from CUDA 13 on: the family's minimum is all we know.
            return self.minor[str(cuda.major)][os]
        return toolkit_driver

    def uses_minor_compat(self, variant: str, driver_cuda: Version | None) -> bool:
        """True when the driver's own CUDA version is older than the variant's."""
        return driver_cuda is not None and self.variant_toolkit[variant][0] > driver_cuda

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - tables live for the whole process
    def max_cuda(self, driver: DriverVersion, os: str) -> Version | None:
        """The newest CUDA a driver supports natively, from Table 3 (None when below all rows).

        >>> str(load().drivers.max_cuda(DriverVersion.parse("550.54.14"), "linux"))
        '12.4'
        >>> str(load().drivers.max_cuda(DriverVersion.parse("591.86"), "windows"))
        '13.0'
        """
        best: Version | None = None
        for cuda, _release, drivers in self.toolkit:
            floor = drivers.get(os)
            if floor is None:
                floor = self.minor.get(str(cuda.major), {}).get(os) if cuda.minor == 0 else None
            if floor is not None and driver >= floor and (best is None or cuda > best):
                best = cuda
        return best

    def branch_for(self, cc: ComputeCapability) -> ArchitectureBranch | None:
        """The architecture row (last driver branch) a GPU of ``cc`` falls in, if any."""
        for branch in self.branches:
            if branch.min_cc <= cc <= branch.max_cc:
                return branch
        return None

    def _toolkit_row(self, cuda: Version, release: str) -> Mapping[str, DriverVersion | None]:
        for row_cuda, row_release, drivers in self.toolkit:
            if row_cuda == cuda and row_release == release:
                return drivers
        raise KeyError(f"no toolkit driver row for CUDA {cuda} {release}")


@dataclass(frozen=True)
class ArchitectureBranch:
    """The last NVIDIA driver branch for one GPU architecture."""

    architecture: str
    min_cc: ComputeCapability
    max_cc: ComputeCapability
    last_branch: str
    max_cuda: Version


# --------------------------------------------------------------------------- mirrors


@dataclass(frozen=True)
class Mirror:
    """One row of data/mirrors.yaml."""

    name: str
    pypi: str | None
    pytorch_wheels: str | None
    pytorch_wheels_mode: Literal["index", "find-links"] | None
    conda_cloud: str | None
    pytorch_conda_channel: bool
    miniforge: str | None
    miniconda: str | None
    source: str

    def pytorch_url(self, variant: str) -> str | None:
        """The wheel location for ``variant`` (template + row), None when not carried.

        >>> load().mirrors["nju"].pytorch_url("cu126")
        'https://mirrors.nju.edu.cn/pytorch/whl/cu126'
        """
        return None if self.pytorch_wheels is None else self.pytorch_wheels.format(variant=variant)


# --------------------------------------------------------------------------- the whole


@dataclass(frozen=True, eq=False)
class Compat:
    """All compatibility data. ``releases`` is newest first. Hashed by identity."""

    releases: tuple[Release, ...]
    drivers: DriverTable
    mirrors: Mapping[str, Mirror]
    index_url_template: str
    last_conda_pytorch_release: str
    verify_packages: tuple[str, ...] = ()  # "nvidia-ml-py==13.615.71": what verification imports

    def release(self, line: str) -> Release:
        """The release line ``line`` ("2.7"); KeyError when unknown."""
        for release in self.releases:
            if release.line == line:
                return release
        raise KeyError(f"no PyTorch release {line} in data/releases.yaml")


@functools.cache
def load() -> Compat:
    """Load data/*.yaml from the installed ``labtorch.data`` package, once per process, with the
    reviewed overlay of ``labtorch data refresh`` merged in when there is one
    (:func:`labtorch.overlay.overlay_path`)."""
    from labtorch.overlay import read_overlay

    return parse(shipped_texts(), overlay=read_overlay())


def shipped_texts() -> dict[str, str]:
    """The YAML texts of the shipped data files (never edited by labtorch)."""
    root = resources.files("labtorch.data")
    return {name: root.joinpath(name).read_text(encoding="utf-8") for name in _FILES}


def load_from(directory: Path) -> Compat:
    """Load the three files from ``directory`` (tests and site overrides); not cached."""
    return parse({name: (directory / name).read_text(encoding="utf-8") for name in _FILES})


_FILES = ("releases.yaml", "drivers.yaml", "mirrors.yaml")


def parse(texts: Mapping[str, str], overlay: Mapping[str, Any] | None = None) -> Compat:
    """Validate the YAML texts of the three files and build :class:`Compat`.

    ``overlay`` (a document written by ``labtorch data refresh``) replaces or adds release rows
    and applies the arch lists hosts reported; its rows are validated like shipped ones.
    """
    docs = {name: _yaml(name, text) for name, text in texts.items()}
    if overlay:
        from labtorch.overlay import merged_releases

        docs["releases.yaml"] = merged_releases(docs["releases.yaml"], overlay)
    drivers = _drivers(docs["drivers.yaml"])
    releases = _releases(docs["releases.yaml"], drivers)
    mirrors = _mirrors(docs["mirrors.yaml"])
    meta = _mapping("releases.yaml", "meta", docs["releases.yaml"].get("meta"))
    template = _text("releases.yaml", "meta", meta, "index_url_template")
    if "{variant}" not in template:
        raise DataError("releases.yaml: meta: index_url_template has no {variant}",
                        fix="write it like https://download.pytorch.org/whl/{variant}")
    return Compat(
        releases=releases,
        drivers=drivers,
        mirrors=mirrors,
        index_url_template=template,
        last_conda_pytorch_release=_text("releases.yaml", "meta", meta,
                                         "last_conda_pytorch_channel_release"),
        verify_packages=_verify_packages(meta),
    )


def _verify_packages(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """meta.verify_packages ``{name: {version, source}}`` as pins ("nvidia-ml-py==13.615.71")."""
    rows = _mapping("releases.yaml", "meta.verify_packages", meta.get("verify_packages") or {})
    pins = []
    for name, row in rows.items():
        row = _mapping("releases.yaml", f"meta.verify_packages.{name}", row)
        version = _text("releases.yaml", f"meta.verify_packages.{name}", row, "version")
        _text("releases.yaml", f"meta.verify_packages.{name}", row, "source")
        pins.append(f"{name}=={version}")
    return tuple(pins)


# --------------------------------------------------------------------------- row validation

_FIX = "correct that row of data/{file}"


def _fail(file: str, row: str, what: str) -> DataError:
    return DataError(f"{file}: {row}: {what}", fix=_FIX.format(file=file))


def _yaml(file: str, text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DataError(f"{file}: not valid YAML ({err})", fix=_FIX.format(file=file)) from err
    if not isinstance(doc, dict):
        raise DataError(f"{file}: top level is not a mapping", fix=_FIX.format(file=file))
    return doc


def _mapping(file: str, row: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(file, row, "expected a mapping")
    return value


def _rows(file: str, doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    rows = doc.get(key)
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{file}: '{key}' is missing or empty", fix=_FIX.format(file=file))
    for index, row in enumerate(rows, 1):
        _mapping(file, f"{key} row {index}", row)
    return rows


def _text(file: str, row: str, data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(file, row, f"'{key}' is missing or not text")
    return value


def _version(file: str, row: str, value: Any, what: str) -> Version:
    try:
        return Version(str(value))
    except InvalidVersion as err:
        raise _fail(file, row, f"{what} {value!r} is not a version") from err


def _driver(file: str, row: str, value: Any, what: str) -> DriverVersion:
    try:
        return DriverVersion.parse(str(value))
    except ValueError as err:
        raise _fail(file, row, f"{what}: {err}") from err


def _keys(file: str, row: str, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _fail(file, row, f"unknown field(s) {', '.join(unknown)}")


def _source(file: str, row: str, data: Mapping[str, Any]) -> str:
    if not str(data.get("source", "")).strip():
        raise _fail(file, row, "has no 'source:'")
    return str(data["source"])


_RELEASE_KEYS = ("torch", "python", "patches", "platforms", "variants", "pypi_default",
                 "conda_pytorch_channel", "note", "source")
_VARIANT_KEYS = ("archs", "ptx_on", "platform_archs", "archs_status")
_PATCH_KEYS = ("version", "torchvision", "torchaudio", "torchaudio_any_build",
               "torchaudio_not_on")


def _releases(doc: Mapping[str, Any], drivers: DriverTable) -> tuple[Release, ...]:
    file = "releases.yaml"
    releases: list[Release] = []
    for index, data in enumerate(_rows(file, doc, "releases"), 1):
        line = str(data.get("torch", "?"))
        row = f"release row {index} (torch {line})"
        _keys(file, row, data, _RELEASE_KEYS)
        source = _source(file, row, data)
        line_version = _version(file, row, line, "torch")
        pythons = tuple(_version(file, row, p, "python") for p in data.get("python") or ())
        if not pythons:
            raise _fail(file, row, "'python' lists no version")
        patches = tuple(_patch(file, row, line_version, p) for p in data.get("patches") or ())
        if not patches:
            raise _fail(file, row, "'patches' lists no version")
        variants = _mapping(file, row, data.get("variants"))
        platforms = _mapping(file, row, data.get("platforms"))
        builds: dict[Platform, tuple[VariantBuild, ...]] = {}
        for platform, names in platforms.items():
            if platform not in PLATFORMS:
                raise _fail(file, row, f"unknown platform {platform!r} (known: {PLATFORMS})")
            builds[platform] = tuple(
                _build(file, row, name, platform, variants, drivers) for name in names
            )
        defaults = _mapping(file, row, data.get("pypi_default"))
        pypi_default = {str(k): str(v) for k, v in defaults.items()}
        for platform, variant in pypi_default.items():
            published = {b.variant for b in builds.get(platform, ())}  # type: ignore[call-overload]
            if variant != "cpu" and variant not in published:
                raise _fail(file, row, f"pypi_default {platform}: {variant} is not published there")
        releases.append(Release(
            line=line,
            pythons=pythons,
            patches=tuple(sorted(patches, key=lambda p: p.version, reverse=True)),
            builds=builds,
            pypi_default=pypi_default,
            conda_pytorch_channel=bool(data.get("conda_pytorch_channel")),
            source=source,
        ))
    lines = [Version(r.line) for r in releases]
    if len(set(lines)) != len(lines):
        raise DataError(f"{file}: a torch release line is listed twice", fix=_FIX.format(file=file))
    return tuple(sorted(releases, key=lambda r: Version(r.line), reverse=True))


def _patch(file: str, row: str, line: Version, data: Any) -> Patch:
    patch = _mapping(file, row, data)
    where = f"{row}, patch {patch.get('version', '?')}"
    _keys(file, where, patch, _PATCH_KEYS)
    version = _version(file, where, patch.get("version"), "version")
    if (version.major, version.minor) != (line.major, line.minor):
        raise _fail(file, where, f"patch {version} does not belong to torch {line}")
    not_on = patch.get("torchaudio_not_on") or []
    if not isinstance(not_on, list) or not all(_is_variant(v) for v in not_on):
        raise _fail(file, where, f"torchaudio_not_on {not_on!r} is not a list of variants "
                                 f"like [cu132]")
    return Patch(
        version=version,
        torchvision=None if patch.get("torchvision") is None
        else _version(file, where, patch.get("torchvision"), "torchvision"),
        torchaudio=_version(file, where, patch.get("torchaudio"), "torchaudio"),
        torchaudio_any_build=bool(patch.get("torchaudio_any_build", False)),
        torchaudio_not_on=frozenset(str(v) for v in patch.get("torchaudio_not_on") or ()),
    )


def _is_variant(name: object) -> bool:
    try:
        variant_cuda(str(name))
    except ValueError:
        return False
    return True


def _build(file: str, row: str, name: Any, platform: Platform, variants: Mapping[str, Any],
           drivers: DriverTable) -> VariantBuild:
    where = f"{row}, {platform} {name}"
    spec = variants.get(name)
    if spec is None:
        raise _fail(file, where, "is published but has no entry under 'variants'")
    spec = _mapping(file, where, spec)
    _keys(file, where, spec, _VARIANT_KEYS)
    try:
        cuda = variant_cuda(str(name))
    except ValueError as err:
        raise _fail(file, where, str(err)) from err
    if str(name) not in drivers.variant_toolkit:
        raise _fail(file, where, "has no row in drivers.yaml 'variants'")
    archs_text = (spec.get("platform_archs") or {}).get(platform, spec.get("archs"))
    try:
        archs = ArchList.parse(str(archs_text))
    except ValueError as err:
        raise _fail(file, where, f"archs: {err}") from err
    ptx_on = spec.get("ptx_on")
    ptx_available = bool(archs.ptx) and (ptx_on is None or platform in ptx_on)
    status = spec.get("archs_status")
    if isinstance(status, dict):
        status = status.get(platform)
    return VariantBuild(str(name), platform, cuda, archs, ptx_available,
                        None if status is None else str(status))


def _drivers(doc: Mapping[str, Any]) -> DriverTable:
    file = "drivers.yaml"
    minor: dict[str, dict[str, DriverVersion]] = {}
    for index, data in enumerate(_rows(file, doc, "minor_version_compat"), 1):
        row = f"minor_version_compat row {index} (CUDA {data.get('cuda', '?')})"
        _keys(file, row, data, ("cuda", "linux", "windows", "source"))
        _source(file, row, data)
        minor[_text(file, row, {k: str(v) for k, v in data.items()}, "cuda")] = {
            os: _driver(file, row, data.get(os), f"{os} driver") for os in DRIVER_OS
        }
    toolkit: list[tuple[Version, str, Mapping[str, DriverVersion | None]]] = []
    for index, data in enumerate(_rows(file, doc, "toolkit_drivers"), 1):
        row = f"toolkit_drivers row {index} (CUDA {data.get('cuda', '?')} {data.get('release')})"
        _keys(file, row, data, ("cuda", "release", "linux", "windows", "source"))
        _source(file, row, data)
        by_os: dict[str, DriverVersion | None] = {
            os: None if data.get(os) is None else _driver(file, row, data.get(os), f"{os} driver")
            for os in DRIVER_OS
        }
        if by_os["linux"] is None:
            raise _fail(file, row, "has no linux driver")
        toolkit.append((_version(file, row, data.get("cuda"), "cuda"),
                        _text(file, row, data, "release"), by_os))
    variant_toolkit: dict[str, tuple[Version, str]] = {}
    for index, data in enumerate(_rows(file, doc, "variants"), 1):
        row = f"variants row {index} ({data.get('variant', '?')})"
        _keys(file, row, data, ("variant", "cuda", "toolkit_release", "source"))
        _source(file, row, data)
        name = _text(file, row, data, "variant")
        cuda = _version(file, row, data.get("cuda"), "cuda")
        release = _text(file, row, data, "toolkit_release")
        try:
            if variant_cuda(name) != cuda:
                raise _fail(file, row, f"variant {name} does not match cuda {cuda}")
        except ValueError as err:
            raise _fail(file, row, str(err)) from err
        if not any(c == cuda and r == release for c, r, _ in toolkit):
            raise _fail(file, row, f"no toolkit_drivers row for CUDA {cuda} {release}")
        variant_toolkit[name] = (cuda, release)
    branches: list[ArchitectureBranch] = []
    for index, data in enumerate(_rows(file, doc, "architecture_driver_branches"), 1):
        row = f"architecture_driver_branches row {index} ({data.get('architecture', '?')})"
        _keys(file, row, data, ("architecture", "compute_capability", "last_branch", "max_cuda",
                                "source"))
        _source(file, row, data)
        ccs = _mapping(file, row, data.get("compute_capability"))
        try:
            low, high = (ComputeCapability.parse(str(ccs.get(k))) for k in ("min", "max"))
        except ValueError as err:
            raise _fail(file, row, str(err)) from err
        branches.append(ArchitectureBranch(
            architecture=_text(file, row, data, "architecture"), min_cc=low, max_cc=high,
            last_branch=_text(file, row, data, "last_branch"),
            max_cuda=_version(file, row, data.get("max_cuda"), "max_cuda"),
        ))
    return DriverTable(minor, tuple(toolkit), variant_toolkit, tuple(branches))


_MIRROR_KEYS = ("name", "pypi", "pytorch_wheels", "pytorch_wheels_mode", "conda_cloud",
                "pytorch_conda_channel", "miniforge", "miniconda", "note", "source")


def _mirrors(doc: Mapping[str, Any]) -> dict[str, Mirror]:
    file = "mirrors.yaml"
    mirrors: dict[str, Mirror] = {}
    for index, data in enumerate(_rows(file, doc, "mirrors"), 1):
        row = f"mirrors row {index} ({data.get('name', '?')})"
        _keys(file, row, data, _MIRROR_KEYS)
        source = _source(file, row, data)
        urls = {}
        for key in ("pypi", "pytorch_wheels", "conda_cloud", "miniforge", "miniconda"):
            value = data.get(key)
            if value is not None and not str(value).startswith(("https://", "http://")):
                raise _fail(file, row, f"{key} {value!r} is not an http(s) URL")
            urls[key] = None if value is None else str(value)
        mode = data.get("pytorch_wheels_mode")
        if (urls["pytorch_wheels"] is None) != (mode is None) or mode not in (
            None, "index", "find-links"
        ):
            raise _fail(file, row, "pytorch_wheels and pytorch_wheels_mode (index | find-links) "
                                   "must be set together")
        if urls["pytorch_wheels"] is not None and "{variant}" not in urls["pytorch_wheels"]:
            raise _fail(file, row, "pytorch_wheels has no {variant}")
        name = _text(file, row, data, "name")
        mirrors[name] = Mirror(
            name=name, pypi=urls["pypi"], pytorch_wheels=urls["pytorch_wheels"],
            pytorch_wheels_mode=mode, conda_cloud=urls["conda_cloud"],
            pytorch_conda_channel=bool(data.get("pytorch_conda_channel")),
            miniforge=urls["miniforge"], miniconda=urls["miniconda"], source=source,
        )
    return mirrors
