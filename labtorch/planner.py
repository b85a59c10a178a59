"""Which PyTorch build each host gets: GPU facts + site policy in, a frozen ``HostPlan`` out.

Pure Python: no pyinfra, no I/O beyond the packaged data (``labtorch.compat.load()``).

The rules, in order:

1. The policy window: releases matching ``SitePolicy.torch`` whose wheels support the Python the
   site asks for (or, without one, some Python at or below ``python_max``). An empty window is an
   impossible policy and raises :class:`~labtorch.errors.LabtorchError`.
2. A wheel variant fits a host when it is published for the host's OS, carries kernels for
   *every* GPU in the host (cubins by binary compatibility, PTX where really shipped: see
   :meth:`labtorch.compat.ArchList.covers`), and the driver meets the variant's floor on that OS
   (``SitePolicy.driver_floor``).
3. The newest torch in the window with a fitting variant wins; among its fitting variants the one
   nearest the driver (the newest CUDA not above the driver's CUDA; otherwise the oldest, which
   leans least on minor-version compatibility).
   A GPU served only by PTX needs the toolkit's driver (the driver JIT-compiles it). With
   torchaudio wanted, a variant whose index has no torchaudio (cu132 for 2.12-2.14) yields to
   one that has it.
4. No fitting variant, no GPU, a Jetson, an unknown compute capability or a broken driver: a
   ``cpu`` plan whose warning says why in plain words (or an error when ``allow_cpu`` is false).
   Even ``cpu`` plans install from the PyTorch CPU index: plain PyPI torch is never planned.
5. A GPU newer than every release the policy allows is an error (the policy must change), not a
   ``cpu`` plan.
6. A GPU without a CC is looked up by name; a name that fits several GPUs is planned once per
   candidate CC and gets that plan when every candidate gets the same one, else the ``cpu``
   plan saying which ``--compute-capability`` to give (``labtorch.gpu_plans``).

Pure lookups are memoized per process (``functools.lru_cache``): the packaged data never
changes while it runs, and a room repeats a handful of (GPU, driver) pairs.

>>> from labtorch.model import Gpu, GpuFacts, SitePolicy
>>> facts = GpuFacts(os="linux", driver_version="570.124.06", cuda_version="12.8",
...                  gpus=(Gpu("NVIDIA GeForce GTX 1080 Ti", compute_capability="6.1"),))
>>> plan = plan_host(facts, SitePolicy())
>>> plan.torch, plan.variant
('2.14.1', 'cu126')
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from labtorch import compat as compat_data
from labtorch.compat import (
    Compat,
    ComputeCapability,
    DriverVersion,
    Patch,
    Platform,
    Release,
    VariantBuild,
)
from labtorch.errors import LabtorchError
from labtorch.model import GpuFacts, HostPlan, OsName, SitePolicy

OFFICIAL_PYPI = "https://pypi.org/simple"


# --------------------------------------------------------------------------- the policy window


@dataclass(frozen=True, eq=False)
class Candidate:
    """One patch release the policy allows, with the Python it would be installed for.

    Compared by identity: candidates come from the cached :func:`policy_window`.
    """

    release: Release
    patch: Patch
    python: Version


def torch_specifier(spec: str) -> SpecifierSet:
    """Read ``SitePolicy.torch``: "latest", a bare version ("2.7", "2.7.1", "2.7.*") or a specifier.

    >>> str(torch_specifier("2.7")), str(torch_specifier("2.7.1")), str(torch_specifier("latest"))
    ('==2.7.*', '==2.7.1', '')
    >>> str(torch_specifier(">=2.5,<2.8")), str(torch_specifier("2.7.*"))
    ('<2.8,>=2.5', '==2.7.*')
    >>> torch_specifier("2.x")
    Traceback (most recent call last):
    labtorch.errors.LabtorchError: torch spec '2.x' is not a version or specifier; ...
    >>> torch_specifier("2.7.1+cu126")
    Traceback (most recent call last):
    labtorch.errors.LabtorchError: torch spec '2.7.1+cu126' names a build (+cu126); ...
    """
    text = spec.strip()
    if text in ("", "latest"):
        return SpecifierSet()
    try:
        if text[0].isdigit():
            if text.endswith(".*"):
                return SpecifierSet(f"=={text}")
            version = Version(text)
            if version.local is not None:
                raise LabtorchError(
                    f"torch spec {spec!r} names a build (+{version.local})",
                    fix=f"write {version.public}: the planner picks the build for each host",
                )
            parts = len(version.release)
            return SpecifierSet(f"=={text}.*" if parts < 3 else f"=={text}")
        return SpecifierSet(text)
    except (InvalidVersion, InvalidSpecifier) as err:
        raise LabtorchError(
            f"torch spec {spec!r} is not a version or specifier",
            fix="use 'latest', a release like 2.7 or 2.7.1, or a specifier like '>=2.5,<2.8'",
        ) from err


def python_version(text: str, what: str = "python") -> Version:
    """Read a "3.11"-style Python version; raise LabtorchError on anything else.

    >>> python_version("3.11")
    <Version('3.11')>
    """
    try:
        version = Version(text.strip())
    except InvalidVersion as err:
        raise LabtorchError(f"{what} {text!r} is not a Python version",
                            fix="write it like 3.11") from err
    if len(version.release) != 2:
        raise LabtorchError(f"{what} {text!r} is not a Python major.minor version",
                            fix="write it like 3.11")
    return version


@functools.lru_cache(maxsize=64)
def policy_window(policy: SitePolicy, data: Compat) -> tuple[Candidate, ...]:
    """Every (release, patch, Python) the policy allows, newest torch first.

    Raises LabtorchError naming the torch spec and the Python when nothing is left. Cached per
    (policy, data): a room shares one policy.
    """
    spec = torch_specifier(policy.torch)
    wanted = python_version(policy.python) if policy.python else None
    cap = python_version(policy.python_max, "python_max")
    matching = [(r, p) for r in data.releases for p in r.patches if spec.contains(p.version)
                and (p.torchvision is not None or not policy.include_torchvision)]
    if not matching:
        known = f"{data.releases[-1].patches[-1].version} to {data.releases[0].patches[0].version}"
        with_python = f" with Python {wanted}" if wanted else ""
        raise LabtorchError(
            f"torch {policy.torch!r}{with_python}: no known PyTorch release matches "
            f"(known: {known})",
            fix="pick a release from data/releases.yaml, or 'latest'",
        )
    window: list[Candidate] = []
    for release, patch in matching:
        python = _python_for(release, wanted, cap)
        if python is not None:
            window.append(Candidate(release, patch, python))
    if window:
        return tuple(window)
    newest = matching[0][0]
    supported = f"{newest.pythons[0]}–{newest.pythons[-1]}"
    if wanted is not None:
        others = [r.line for r in data.releases if r.supports_python(wanted)]
        alternative = f"torch {others[0]}" if others else "no known release"
        raise LabtorchError(
            f"torch {policy.torch!r} has no build for Python {wanted} "
            f"(torch {newest.line} supports Python {supported})",
            fix=f"choose --python within {supported}, or a torch release that supports "
            f"Python {wanted} (newest: {alternative})",
        )
    raise LabtorchError(
        f"torch {policy.torch!r} supports no Python at or below python_max {cap} "
        f"(torch {newest.line} supports Python {supported})",
        fix=f"raise python_max to {newest.pythons[0]} or later, or choose an older torch",
    )


def _python_for(release: Release, wanted: Version | None, cap: Version) -> Version | None:
    """The Python a release would be installed for, or None when it supports none allowed."""
    if wanted is not None:
        return wanted if release.supports_python(wanted) else None
    allowed = [p for p in release.pythons if p <= cap]
    return max(allowed) if allowed else None


# --------------------------------------------------------------------------- the host


@dataclass(frozen=True)
class HostGpus:
    """What the planner needs from the facts: names, compute capabilities and the driver."""

    names: tuple[str, ...]
    ccs: tuple[ComputeCapability, ...]
    driver: DriverVersion
    driver_cuda: Version | None

    @property
    def lowest(self) -> ComputeCapability:
        """The lowest compute capability in the host."""
        return min(self.ccs)

    def described(self) -> str:
        """ "NVIDIA T4 (CC 7.5), Tesla K80 (CC 3.7)" """
        return ", ".join(f"{n} (CC {c})" for n, c in zip(self.names, self.ccs, strict=True))


_FACTS_ERRORS = {
    "no_driver": "nvidia-smi could not talk to the driver ({detail}); the NVIDIA driver is not "
                 "loaded or is broken: reinstall the driver, then re-run",
    "not_installed": "nvidia-smi is not installed, so no NVIDIA driver is present; install the "
                     "NVIDIA driver if this host has an NVIDIA GPU, then re-run",
    "no_devices": "the NVIDIA driver found no GPU; check that the card is seated and enabled, "
                  "then re-run",
    "nvml_mismatch": "the NVIDIA driver and its NVML library differ in version (a driver update "
                     "without a reboot); reboot the host, then re-run",
    "invalid_field": "nvidia-smi rejected the query ({detail}); re-run with a plain nvidia-smi "
                     "output",
    "other": "nvidia-smi failed ({detail}); fix the driver, then re-run",
}


def read_host(facts: GpuFacts) -> HostGpus | str:
    """The GPUs and driver of a host, or the plain-words reason it can only get ``cpu``.

    >>> from labtorch.model import Gpu, GpuFacts
    >>> read_host(GpuFacts(error="no_driver", error_detail="NVIDIA-SMI has failed"))[:40]
    'nvidia-smi could not talk to the driver '
    >>> read_host(GpuFacts(driver_version="550.54.14", gpus=(Gpu("Tesla T4", None, "7.5"),))).lowest
    ComputeCapability(major=7, minor=5)
    """
    if facts.error is not None:
        detail = (facts.error_detail or facts.error).strip().splitlines()[0]
        return _FACTS_ERRORS.get(facts.error, _FACTS_ERRORS["other"]).format(detail=detail)
    if not facts.gpus:
        return "no NVIDIA GPU was reported"
    names: list[str] = []
    ccs: list[ComputeCapability] = []
    for index, gpu in enumerate(facts.gpus):
        name = gpu.name or f"GPU {index}"
        if gpu.compute_capability is None:
            return (f"{name}: its compute capability is unknown (not printed by the driver and "
                    f"not in data/gpus.yaml), so no build can be shown to have kernels for it; "
                    f"add --compute-capability or a row to data/gpus.yaml")
        try:
            ccs.append(_parse_cc(gpu.compute_capability))
        except ValueError:
            return f"{name}: compute capability {gpu.compute_capability!r} is not like '8.6'"
        names.append(name)
    if not facts.driver_version:
        return "the driver version is unknown, so no CUDA build can be shown to run"
    try:
        driver = _parse_driver(facts.driver_version)
    except ValueError:
        return f"driver version {facts.driver_version!r} is not readable"
    if driver.key.release[0] < 100:
        return (f"driver version {facts.driver_version!r} is not NVIDIA's driver number (a "
                f"Windows driver version such as 31.0.15.3640 is NVIDIA 536.40); give the "
                f"version nvidia-smi prints")
    return HostGpus(tuple(names), tuple(ccs), driver, _reported_cuda(facts.cuda_version))


def with_driver_cuda(gpus: HostGpus, platform: Platform, data: Compat) -> HostGpus:
    """Fill the driver's CUDA version from the toolkit table when nvidia-smi did not print it."""
    if gpus.driver_cuda is not None:
        return gpus
    derived = data.drivers.max_cuda(gpus.driver, _driver_os(platform))
    return HostGpus(gpus.names, gpus.ccs, gpus.driver, derived)


# Facts repeat the same few strings across a room: parse each once (pure, so memoized).
_parse_cc = functools.lru_cache(maxsize=256)(ComputeCapability.parse)
_parse_driver = functools.lru_cache(maxsize=1024)(DriverVersion.parse)


@functools.lru_cache(maxsize=256)
def _reported_cuda(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


# --------------------------------------------------------------------------- variant choice


@dataclass(frozen=True, eq=False)
class Choice:
    """The chosen release and build, with the builds of that release that were passed over.

    Compared by identity: choices come from the cache of :func:`choose_in_policy`.
    """

    candidate: Candidate
    build: VariantBuild
    passed_over: tuple[str, ...]
    minor_compat: bool


def driver_floor(build: VariantBuild, ccs: Iterable[ComputeCapability], platform: Platform,
                 policy: SitePolicy, data: Compat) -> tuple[DriverVersion, bool]:
    """The driver ``build`` needs on a host with GPUs of ``ccs``, and whether a GPU needs JIT.

    The site's reading (``policy.driver_floor``) applies, except that a GPU served only by PTX
    needs the toolkit's own driver: the driver JIT-compiles the PTX and rejects PTX written by
    a newer toolkit ("the provided PTX was compiled with an unsupported toolchain").
    """
    jit = any(build.jit_only(cc) for cc in ccs)
    kind = "toolkit" if jit else policy.driver_floor
    return data.drivers.floor(build.variant, _driver_os(platform), kind), jit


def fits(build: VariantBuild, host: HostGpus, platform: Platform, policy: SitePolicy,
         data: Compat) -> str | None:
    """None when ``build`` runs on ``host``; otherwise why not, in plain words."""
    missing = [str(cc) for cc in sorted(set(host.ccs)) if not build.covers(cc)]
    if missing:
        return f"no kernels for CC {', '.join(missing)} (arch list {build.archs})"
    floor, jit = driver_floor(build, host.ccs, platform, policy, data)
    if host.driver < floor:
        why = " (its PTX is JIT-compiled by the driver)" if jit else ""
        return f"needs driver ≥ {floor}{why}, host has {host.driver}"
    return None


def nearest_to_driver(builds: Sequence[VariantBuild], driver_cuda: Version | None
                      ) -> tuple[VariantBuild, bool]:
    """Among fitting builds, the newest CUDA not above the driver's; else the oldest.

    Returns the build and whether it relies on minor-version compatibility.
    """
    native = [b for b in builds if driver_cuda is not None and b.cuda <= driver_cuda]
    if native:
        return max(native, key=lambda b: b.cuda), False
    return min(builds, key=lambda b: b.cuda), True


def runs(build: VariantBuild, host: HostGpus, platform: Platform, policy: SitePolicy,
         data: Compat) -> bool:
    """The fast form of :func:`fits`: True when ``build`` runs on ``host``."""
    return (all(build.covers(cc) for cc in host.ccs)
            and host.driver >= driver_floor(build, host.ccs, platform, policy, data)[0])


def choose(window: Iterable[Candidate], host: HostGpus, platform: Platform,
           policy: SitePolicy, data: Compat) -> Choice | None:
    """The newest candidate with a fitting build, and its build nearest the driver.

    Patches of one release share its builds, so each release is judged once. When the site
    wants torchaudio, a build whose index carries no torchaudio for that patch (cu132 for
    2.12-2.14) is passed over for a fitting one that has it.
    """
    judged: Release | None = None
    for candidate in window:
        if candidate.release is judged:
            continue
        judged = candidate.release
        builds = candidate.release.builds.get(platform, ())
        fitting = [b for b in builds if runs(b, host, platform, policy, data)]
        if not fitting:
            continue
        passed = [f"{b.variant}: {fits(b, host, platform, policy, data)}"
                  for b in builds if b not in fitting]
        missing_audio = candidate.patch.torchaudio_not_on
        if policy.include_torchaudio and missing_audio:
            with_audio = [b for b in fitting if b.variant not in missing_audio]
            if with_audio:
                passed += [f"{b.variant}: its index has no torchaudio {candidate.patch.torchaudio}"
                           for b in fitting if b not in with_audio]
                fitting = with_audio
        build, minor = nearest_to_driver(fitting, host.driver_cuda)
        return Choice(candidate, build, tuple(passed), minor)
    return None


def choose_in_policy(host: HostGpus, platform: Platform, policy: SitePolicy,
                     data: Compat) -> Choice | None:
    """:func:`choose` over the whole policy window, remembered per (GPUs, driver, policy)."""
    return _choose_cached(frozenset(host.ccs), host.driver, host.driver_cuda, platform, policy,
                          data)


@functools.lru_cache(maxsize=4096)
def _choose_cached(ccs: frozenset[ComputeCapability], driver: DriverVersion,
                   driver_cuda: Version | None, platform: Platform, policy: SitePolicy,
                   data: Compat) -> Choice | None:
    """What the choice depends on (not the GPU names): a room repeats few of these."""
    host = HostGpus((), tuple(sorted(ccs)), driver, driver_cuda)
    return choose(policy_window(policy, data), host, platform, policy, data)


def why_cpu(window: Sequence[Candidate], host: HostGpus, platform: Platform,
            policy: SitePolicy, data: Compat) -> str:
    """Explain, in the lab's words, why no GPU build in the window fits ``host``."""
    unserved = [(n, c) for n, c in zip(host.names, host.ccs, strict=True)
                if not _served_ever(data, platform, c)]
    if unserved:
        gpus = ", ".join(f"{n} (CC {c})" for n, c in unserved)
        return (f"{gpus}: no PyTorch ≥{data.releases[-1].line} build for {platform} has "
                f"kernels for it")
    text = _why_cpu_shared(window, frozenset(host.ccs), host.driver, platform, policy, data)
    return text.replace(_GPUS, host.described())


_GPUS = "\x00gpus\x00"
"""Stands for the host's GPU list in :func:`_why_cpu_shared` texts."""


@functools.lru_cache(maxsize=4096)
def _why_cpu_shared(window: Sequence[Candidate], ccs: frozenset[ComputeCapability],
                    driver: DriverVersion, platform: Platform, policy: SitePolicy,
                    data: Compat) -> str:
    """:func:`why_cpu` for GPUs that some build serves, with ``_GPUS`` for their names."""
    covering = [b for r in _window_releases(window) for b in r.builds.get(platform, ())
                if all(b.covers(c) for c in ccs)]
    if not covering:
        serving = _releases_serving(data, platform, ccs)
        if not serving:
            return f"{_GPUS}: no single PyTorch build has kernels for all of these GPUs together"
        last = serving[0]
        variants = ", ".join(_variants_serving(last, platform, ccs))
        return (f"{_GPUS}: the newest PyTorch with a {platform} build with kernels for it is "
                f"torch {last.line} ({variants}), which torch {policy.torch!r} does not allow")
    floors = sorted({(driver_floor(b, ccs, platform, policy, data)[0], b.variant)
                     for b in covering})
    floor, variant = floors[0]
    return (f"driver {driver} is too old for every build with kernels for {_GPUS}: the lowest "
            f"floor is {floor} ({variant}); update the driver to ≥ {floor}")


def too_new_for_policy(window: Sequence[Candidate], host: HostGpus, platform: Platform,
                       policy: SitePolicy, data: Compat) -> LabtorchError | None:
    """The error for a GPU newer than every release the policy allows, else None.

    A CPU build is a fallback for hardware PyTorch has left behind, not for a site policy that
    pins a torch older than the GPU: that policy is what must change (``--torch 2.5`` on an
    RTX 5090, whose first kernels came with torch 2.7 cu128).
    """
    ccs = frozenset(host.ccs)
    serving = _releases_serving(data, platform, ccs)
    newest_allowed = window[0].release
    if not serving or Version(serving[-1].line) <= Version(newest_allowed.line):
        return None
    first = serving[-1]
    python = f" with Python {policy.python}" if policy.python else ""
    return LabtorchError(
        f"{host.described()} is newer than every torch that {policy.torch!r}{python} allows "
        f"(newest allowed: {newest_allowed.line}); the first PyTorch with {platform} kernels "
        f"for it is torch {first.line} ({', '.join(_variants_serving(first, platform, ccs))})",
        fix=f"allow torch ≥{first.line} for this host (e.g. --torch '>={first.line}'"
            + (f" and a Python torch {first.line} supports" if python else "")
            + "), or plan it separately",
    )


@functools.lru_cache(maxsize=1024)
def _served_ever(data: Compat, platform: Platform, cc: ComputeCapability) -> bool:
    """True when some build of some known release has kernels for ``cc`` on ``platform``."""
    return any(b.covers(cc) for b in _platform_builds(data, platform))


@functools.lru_cache(maxsize=1024)
def _releases_serving(data: Compat, platform: Platform, ccs: frozenset[ComputeCapability]
                      ) -> tuple[Release, ...]:
    """Releases (newest first) with one ``platform`` build that has kernels for all ``ccs``."""
    return tuple(r for r in data.releases if _variants_serving(r, platform, ccs))


def _variants_serving(release: Release, platform: Platform,
                      ccs: frozenset[ComputeCapability]) -> list[str]:
    return [b.variant for b in release.builds.get(platform, ())
            if all(b.covers(c) for c in ccs)]


@functools.lru_cache(maxsize=64)
def _window_releases(window: Sequence[Candidate]) -> tuple[Release, ...]:
    """The distinct releases of a (cached) policy window, newest first."""
    return tuple({id(c.release): c.release for c in window}.values())


@functools.lru_cache(maxsize=16)
def _platform_builds(data: Compat, platform: Platform) -> tuple[VariantBuild, ...]:
    """Every build of every release for ``platform``."""
    return tuple(b for r in data.releases for b in r.builds.get(platform, ()))


def _driver_os(platform: Platform) -> str:
    return "windows" if platform == "windows" else "linux"


# --------------------------------------------------------------------------- index and install


@dataclass(frozen=True)
class Source:
    """Where the wheels come from and how pip is told."""

    index_url: str
    mode: str
    extra_index_url: str | None
    described: str


def wheel_source(variant: str, policy: SitePolicy, data: Compat) -> Source:
    """The index for ``variant``: the site's own template, the mirror row's, or the official one.

    >>> from labtorch.model import SitePolicy
    >>> wheel_source("cu126", SitePolicy(), load_data()).index_url
    'https://download.pytorch.org/whl/cu126'
    >>> site = SitePolicy(pytorch_index_url="http://127.0.0.1:8080/whl/{variant}/simple")
    >>> wheel_source("cu126", site, load_data()).index_url
    'http://127.0.0.1:8080/whl/cu126/simple'
    """
    mirror = data.mirrors.get(policy.mirror)
    if mirror is None:
        raise LabtorchError(
            f"mirror {policy.mirror!r} is not in data/mirrors.yaml",
            fix=f"use one of {', '.join(sorted(data.mirrors))}, or set pytorch_index_url",
        )
    extra = policy.pypi_index_url
    if policy.pytorch_index_url:
        if "{variant}" not in policy.pytorch_index_url:
            raise LabtorchError(
                f"pytorch_index_url {policy.pytorch_index_url!r} has no {{variant}}",
                fix="write it like http://10.0.0.5/whl/{variant}",
            )
        url = policy.pytorch_index_url.format(variant=variant)
        return Source(url, "index", extra, "the site's own PyTorch index")
    if mirror.name != "official" and extra is None:
        extra = mirror.pypi
    wheels = mirror.pytorch_url(variant)
    if wheels is None or mirror.pytorch_wheels_mode is None:
        official = data.index_url_template.format(variant=variant)
        described = "the official PyTorch index"
        if mirror.name != "official":
            described += f" (mirror {mirror.name} carries no PyTorch wheels)"
        return Source(official, "index", extra, described)
    if mirror.pytorch_wheels_mode == "find-links":
        return Source(wheels, "find-links", extra or OFFICIAL_PYPI,
                      f"mirror {mirror.name} (a flat wheel directory)")
    official_row = mirror.name == "official"
    return Source(wheels, "index", extra,
                  "the official PyTorch index" if official_row else f"mirror {mirror.name}")


def pins(patch: Patch, variant: str, policy: SitePolicy) -> tuple[str, ...]:
    """The requirement strings: local versions (``+cu126``) pin the build exactly.

    >>> from labtorch.model import SitePolicy
    >>> pins(load_data().release("2.7").patches[0], "cu126", SitePolicy(include_torchaudio=False))
    ('torch==2.7.1+cu126', 'torchvision==0.22.1+cu126')
    """
    wanted = [f"torch=={patch.version}+{variant}"]
    if policy.include_torchvision:
        wanted.append(f"torchvision=={patch.torchvision}+{variant}")
    if policy.include_torchaudio:
        local = "" if patch.torchaudio_any_build else f"+{variant}"
        wanted.append(f"torchaudio=={patch.torchaudio}{local}")
    return tuple(wanted)


def verify_args(data: Compat, source: Source) -> tuple[tuple[str, ...], ...]:
    """The pip command for what the on-host verification imports (nvidia-ml-py, pinned in
    data/releases.yaml meta.verify_packages), from the site's PyPI index: the PyTorch index is
    not asked for it. Without a known PyPI index the env's pip.conf decides.

    >>> from labtorch.model import SitePolicy
    >>> verify_args(load_data(), wheel_source("cu126", SitePolicy(), load_data()))
    (('nvidia-ml-py==13.615.71',),)
    """
    if not data.verify_packages:
        return ()
    pypi = ("--index-url", source.extra_index_url) if source.extra_index_url else ()
    return ((*data.verify_packages, *pypi),)


def install_args(requirements: Sequence[str], source: Source) -> tuple[tuple[str, ...], ...]:
    """The pip arguments after ``pip install`` (one tuple per command)."""
    if source.mode == "find-links":
        assert source.extra_index_url is not None
        return ((*requirements, "--find-links", source.index_url,
                 "--index-url", source.extra_index_url),)
    extra = ("--extra-index-url", source.extra_index_url) if source.extra_index_url else ()
    return ((*requirements, "--index-url", source.index_url, *extra),)


# --------------------------------------------------------------------------- plans


def load_data() -> Compat:
    """The packaged compatibility data (loaded once per process)."""
    return compat_data.load()


def plan_host(facts: GpuFacts, policy: SitePolicy, *, os: str | None = None,
              host: str | None = None, arch: str = "x86_64",
              data: Compat | None = None) -> HostPlan:
    """Plan one host. ``os`` overrides ``facts.os``; ``arch`` is "x86_64" or "aarch64".

    Raises LabtorchError (naming ``host``) for an impossible policy, an unknown OS, or a host
    that can only get ``cpu`` while ``policy.allow_cpu`` is false.
    """
    data = data or load_data()
    os_name = _os_of(facts, os, host)
    platform = _platform(os_name, arch, host)
    try:
        window = policy_window(policy, data)
    except LabtorchError as err:
        raise LabtorchError(err.what, host=host, fix=err.fix) from err
    gpus = read_host(facts)
    if isinstance(gpus, str):
        if facts.error is None and any(g.compute_capability is None and g.name
                                       for g in facts.gpus):
            named = _plan_by_name(facts, policy, os, host, arch, data)
            if isinstance(named, HostPlan):
                return named
            gpus = named or gpus
        return _cpu_plan(window[0], os_name, facts, policy, data, gpus, host)
    jetson = jetson_reason(gpus)
    if jetson is not None:
        return _cpu_plan(window[0], os_name, facts, policy, data, jetson, host, gpus)
    gpus = with_driver_cuda(gpus, platform, data)
    choice = choose_in_policy(gpus, platform, policy, data)
    if choice is None:
        error = too_new_for_policy(window, gpus, platform, policy, data)
        if error is not None:
            raise LabtorchError(error.what, host=host, fix=error.fix)
        return _cpu_plan(window[0], os_name, facts, policy, data,
                         why_cpu(window, gpus, platform, policy, data), host, gpus)
    return _gpu_plan(choice, gpus, os_name, platform, policy, data)


def _plan_by_name(facts: GpuFacts, policy: SitePolicy, os: str | None, host: str | None,
                  arch: str, data: Compat) -> HostPlan | str | None:
    """A host whose GPU names fit several table rows: the plan every candidate gets, else why
    not (None when a name is not in the table). See ``labtorch.gpu_plans``."""
    from labtorch.gpu_plans import plan_by_candidates

    named = plan_by_candidates(facts, policy, os=os, host=host, arch=arch, data=data)
    if named.plan is not None:
        return named.plan
    if named.refusal is not None and named.outcomes:
        return f"{named.refusal.what}; {named.refusal.fix}"
    return None


# Jetson (Tegra) integrated GPUs: Nano/TX1 5.3, TX2 6.2, Xavier 7.2, Orin 8.7 (compat.md §4;
# CUDA Programming Guide). JetPack ships its own CUDA and PyTorch; the aarch64 wheels of
# download.pytorch.org are SBSA (server) builds that do not run on these iGPUs, although their
# arch lists would seem to cover 7.2 and 8.7 by binary compatibility. Jetson Thor (11.0) is an
# SBSA device under CUDA 13 and is served by the aarch64 cu13x wheels (RELEASE.md arch list).
TEGRA_CCS = frozenset(ComputeCapability(*cc) for cc in ((5, 3), (6, 2), (7, 2), (8, 7)))


def jetson_reason(gpus: HostGpus) -> str | None:
    """Why a Jetson (Tegra iGPU) host gets no wheel from the PyTorch index, else None.

    >>> jetson_reason(HostGpus(("Orin",), (ComputeCapability(8, 7),),
    ...                        DriverVersion.parse("540.4.0"), None))[:32]
    'Orin (CC 8.7) is a Jetson (Tegra'
    """
    if TEGRA_CCS.isdisjoint(gpus.ccs):
        return None
    tegra = [f"{n} (CC {c})" for n, c in zip(gpus.names, gpus.ccs, strict=True)
             if c in TEGRA_CCS]
    return (f"{', '.join(tegra)} is a Jetson (Tegra) integrated GPU: the PyTorch index has no "
            f"wheels for JetPack; install NVIDIA's PyTorch for JetPack on this host instead")


def _os_of(facts: GpuFacts, os: str | None, host: str | None) -> OsName:
    name = (os or facts.os or "unknown").lower()
    if name not in ("linux", "windows"):
        raise LabtorchError(f"the host's OS is {name!r}", host=host,
                            fix="pass --os linux or --os windows")
    return "windows" if name == "windows" else "linux"


def _platform(os_name: OsName, arch: str, host: str | None) -> Platform:
    if arch in ("x86_64", "amd64", "AMD64"):
        return "windows" if os_name == "windows" else "linux"
    if arch in ("aarch64", "arm64") and os_name == "linux":
        return "linux-aarch64"
    raise LabtorchError(f"no PyTorch CUDA wheels are planned for {os_name}/{arch}", host=host,
                        fix="plan x86_64 Linux/Windows or aarch64 Linux hosts")


def _gpu_plan(choice: Choice, gpus: HostGpus, os_name: OsName, platform: Platform,
              policy: SitePolicy, data: Compat) -> HostPlan:
    shared = _gpu_plan_shared(choice, gpus.ccs, gpus.driver, gpus.driver_cuda, os_name, platform,
                              policy, data)
    first = (f"GPUs: {gpus.described()}; the lowest compute capability "
             f"({shared.min_compute_capability}) decides"
             if len(gpus.names) > 1 else f"GPU: {gpus.described()}")
    return _for_host(shared, (first, *shared.reasons, *_branch_notes(gpus, data)), gpus.names)


@functools.lru_cache(maxsize=4096)
def _gpu_plan_shared(choice: Choice, ccs: tuple[ComputeCapability, ...], driver: DriverVersion,
                     driver_cuda: Version | None, os_name: OsName, platform: Platform,
                     policy: SitePolicy, data: Compat) -> HostPlan:
    """The plan every host with this choice gets, without its GPU names (a room repeats it)."""
    candidate, build = choice.candidate, choice.build
    floor, jit = driver_floor(build, ccs, platform, policy, data)
    reading = "toolkit reading: a GPU runs JIT-compiled PTX" if jit else \
        f"{policy.driver_floor} reading"
    source = wheel_source(build.variant, policy, data)
    reasons = [
        f"torch {candidate.patch.version} is the newest release allowed by torch "
        f"{policy.torch!r} with a {platform} build that has kernels for this host and runs "
        f"on its driver",
        f"{build.variant} (arch list {build.archs}{_ptx_note(build)}) gives "
        + ", ".join(f"CC {cc} the {build.kernel_for(cc)}" for cc in sorted(set(ccs))),
        f"driver {driver} (CUDA {driver_cuda or 'unknown'}) meets the {build.variant} "
        f"floor {floor} on {os_name} ({reading})",
        *(f"not {why}" for why in choice.passed_over),
        _python_reason(candidate, policy),
        f"wheels from {source.described}: {source.index_url}",
    ]
    pypi_default = candidate.release.pypi_default.get(platform)
    if pypi_default and pypi_default != build.variant:
        reasons.append(f"plain `pip install torch` from PyPI would give the {pypi_default} build "
                       f"on {platform}, so the {build.variant} index is named explicitly")
    warnings: list[str] = []
    _archs_evidence(build, candidate, platform, reasons, warnings)
    if choice.minor_compat:
        toolkit = data.drivers.floor(build.variant, _driver_os(platform), "toolkit")
        warnings.append(
            f"{build.variant} (CUDA {build.cuda}) is newer than the driver's CUDA "
            f"{driver_cuda}: it runs through NVIDIA minor-version compatibility, where PTX JIT "
            f"and torch.compile/Triton can fail; update the driver to ≥ {toolkit} to be safe"
        )
    held_back = _driver_holds_back(candidate, ccs, platform, policy, data)
    if held_back:
        warnings.append(held_back)
    audio = policy.include_torchaudio and build.variant not in candidate.patch.torchaudio_not_on
    if policy.include_torchaudio and not audio:
        warnings.append(
            f"torchaudio left out: the {build.variant} index carries no torchaudio for torch "
            f"{candidate.patch.version} (pytorch/pytorch#193651); install it from another index "
            f"yourself, or set include_torchaudio to false to silence this"
        )
    requirements = pins(candidate.patch, build.variant,
                        policy if audio else dataclasses.replace(policy, include_torchaudio=False))
    return HostPlan(
        torch=str(candidate.patch.version),
        torchvision=str(candidate.patch.torchvision) if policy.include_torchvision else None,
        torchaudio=str(candidate.patch.torchaudio) if audio else None,
        variant=build.variant,
        python=str(candidate.python),
        index_url=source.index_url,
        install=install_args(requirements, source) + verify_args(data, source),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        os=os_name,
        min_compute_capability=str(min(ccs)),
        driver_version=str(driver),
        extra_index_url=source.extra_index_url,
    )


def _archs_evidence(build: VariantBuild, candidate: Candidate, platform: Platform,
                    reasons: list[str], warnings: list[str]) -> None:
    """Say how sure the arch list is: assumed from the previous release (a reason), confirmed
    by a host (a reason), or contradicted by a host's verification report (a warning)."""
    status = build.archs_status
    if not status:
        return
    where = f"torch {candidate.release.line} {build.variant} on {platform}"
    if status.startswith("mismatch"):
        warnings.append(f"the arch list of {where} was corrected by a verification report "
                        f"({status}); plans made before relied on the old list: re-plan")
    elif status.startswith("assumed"):
        reasons.append(f"the arch list of {where} is {status} (not yet seen on a host; "
                       f"`labtorch check` records what a host's verification reports)")
    else:
        reasons.append(f"the arch list of {where} was {status}")


# A driver newer than any floor in data/drivers.yaml: "what could this GPU run at best?"
_ANY_DRIVER = DriverVersion.parse("9999.99")


def _driver_holds_back(candidate: Candidate, ccs: tuple[ComputeCapability, ...],
                       platform: Platform, policy: SitePolicy, data: Compat) -> str | None:
    """A warning when only the driver keeps this host from a newer torch the policy allows."""
    unbounded = HostGpus((), ccs, _ANY_DRIVER, None)
    best = choose_in_policy(unbounded, platform, policy, data)
    if best is None or best.candidate.patch.version <= candidate.patch.version:
        return None
    floors = [driver_floor(b, ccs, platform, policy, data)[0]
              for b in best.candidate.release.builds.get(platform, ())
              if all(b.covers(cc) for cc in ccs)]
    return (f"the driver holds this host back: torch {best.candidate.patch.version} has kernels "
            f"for it but needs driver ≥ {min(floors)}; update the NVIDIA driver, then re-plan")


def _for_host(shared: HostPlan, reasons: tuple[str, ...], gpus: tuple[str, ...]) -> HostPlan:
    """``shared`` with this host's reasons and GPU names."""
    return HostPlan(
        torch=shared.torch, torchvision=shared.torchvision, torchaudio=shared.torchaudio,
        variant=shared.variant, python=shared.python, index_url=shared.index_url,
        install=shared.install, reasons=reasons, warnings=shared.warnings, os=shared.os,
        min_compute_capability=shared.min_compute_capability, gpus=gpus,
        driver_version=shared.driver_version, extra_index_url=shared.extra_index_url,
    )


def _ptx_note(build: VariantBuild) -> str:
    return "; its PTX ships on Linux only" if build.archs.ptx and not build.ptx_available else ""


def _cpu_plan(candidate: Candidate, os_name: OsName, facts: GpuFacts, policy: SitePolicy,
              data: Compat, why: str, host: str | None,
              gpus: HostGpus | None = None) -> HostPlan:
    if not policy.allow_cpu:
        raise LabtorchError(f"no GPU build fits: {why}", host=host,
                            fix="fix the cause above, or set allow_cpu to accept a CPU build")
    shared = _cpu_plan_shared(candidate, os_name, policy, data)
    return HostPlan(
        torch=shared.torch, torchvision=shared.torchvision, torchaudio=shared.torchaudio,
        variant="cpu", python=shared.python, index_url=shared.index_url, install=shared.install,
        reasons=shared.reasons, warnings=(f"CPU build planned: {why}",), os=os_name,
        min_compute_capability=str(gpus.lowest) if gpus else None,
        gpus=tuple(g.name or f"GPU {i}" for i, g in enumerate(facts.gpus)),
        driver_version=facts.driver_version, extra_index_url=shared.extra_index_url,
    )


@functools.lru_cache(maxsize=256)
def _cpu_plan_shared(candidate: Candidate, os_name: OsName, policy: SitePolicy,
                     data: Compat) -> HostPlan:
    """The CPU plan for ``candidate``, without anything host-specific."""
    source = wheel_source("cpu", policy, data)
    reasons = (
        f"torch {candidate.patch.version} is the newest release allowed by torch "
        f"{policy.torch!r}; it is installed as the CPU build",
        _python_reason(candidate, policy),
        f"wheels from {source.described}: {source.index_url} (never plain PyPI torch)",
    )
    return HostPlan(
        torch=str(candidate.patch.version),
        torchvision=str(candidate.patch.torchvision) if policy.include_torchvision else None,
        torchaudio=str(candidate.patch.torchaudio) if policy.include_torchaudio else None,
        variant="cpu",
        python=str(candidate.python),
        index_url=source.index_url,
        install=install_args(pins(candidate.patch, "cpu", policy), source),
        reasons=reasons,
        os=os_name,
        extra_index_url=source.extra_index_url,
    )


def _python_reason(candidate: Candidate, policy: SitePolicy) -> str:
    if policy.python:
        return f"Python {candidate.python}, as the site asks"
    return (f"Python {candidate.python}: the newest torch {candidate.release.line} supports at or "
            f"below python_max {policy.python_max}")


def _branch_notes(gpus: HostGpus, data: Compat) -> list[str]:
    notes = ((name, _branch_note(cc, data)) for name, cc in zip(gpus.names, gpus.ccs, strict=True))
    # two identical cards give one note, not two
    return list(dict.fromkeys(f"{name}{note}" for name, note in notes if note))


@functools.lru_cache(maxsize=256)
def _branch_note(cc: ComputeCapability, data: Compat) -> str | None:
    branch = data.drivers.branch_for(cc)
    if branch is None:
        return None
    return (f" is {branch.architecture}: its last NVIDIA driver branch is {branch.last_branch} "
            f"(CUDA {branch.max_cuda})")


# --------------------------------------------------------------------------- groups


def gpu_versions(facts: GpuFacts, policy: SitePolicy, *, os: str | None = None,
                 arch: str = "x86_64", data: Compat | None = None) -> tuple[Version, ...] | None:
    """Every torch version in the policy window with a GPU build for this host, newest first.

    None when the host can only get ``cpu`` whatever the version (no GPU, broken driver,
    Jetson, ...). Raises LabtorchError for an impossible policy or an unknown OS.
    """
    data = data or load_data()
    platform = _platform(_os_of(facts, os, None), arch, None)
    policy_window(policy, data)  # an impossible policy raises here, GPU or not
    gpus = read_host(facts)
    if isinstance(gpus, str) or jetson_reason(gpus) is not None:
        return None
    gpus = with_driver_cuda(gpus, platform, data)
    return _gpu_versions_cached(frozenset(gpus.ccs), gpus.driver, gpus.driver_cuda, platform,
                                policy, data)


@functools.lru_cache(maxsize=4096)
def _gpu_versions_cached(ccs: frozenset[ComputeCapability], driver: DriverVersion,
                         driver_cuda: Version | None, platform: Platform, policy: SitePolicy,
                         data: Compat) -> tuple[Version, ...] | None:
    host = HostGpus((), tuple(sorted(ccs)), driver, driver_cuda)
    window = policy_window(policy, data)
    usable = {id(r) for r in _window_releases(window)
              if any(runs(b, host, platform, policy, data) for b in r.builds.get(platform, ()))}
    return tuple(c.patch.version for c in window if id(c.release) in usable) or None


@dataclass(frozen=True)
class GroupPlan:
    """The plans of a room: one ``HostPlan`` per host that could be planned, one
    ``LabtorchError`` (naming the host) per host that could not. Every host is in one of the two.

    ``torch`` is the version the GPU hosts share (None when no host has a GPU build).
    """

    plans: Mapping[str, HostPlan]
    errors: Mapping[str, LabtorchError]
    torch: str | None = None

    @property
    def ok(self) -> bool:
        """True when every host got a plan."""
        return not self.errors


def plan_group(hosts: Mapping[str, GpuFacts], policy: SitePolicy, *, os: str | None = None,
               data: Compat | None = None) -> GroupPlan:
    """Plan a room: the newest torch every GPU host can run, each host keeping its own variant.

    Hosts that can only get ``cpu`` do not hold the group back. When no single version suits
    every GPU host, the version suiting the most hosts wins and the others are planned alone,
    with a warning that the group is split. A host that cannot be planned (unknown OS, a GPU
    newer than the policy allows, ``allow_cpu`` false, ...) lands in ``errors``: it never stops
    the rest of the room.

    >>> from labtorch.model import Gpu, GpuFacts, SitePolicy
    >>> room = {"pc01": GpuFacts(os="linux", driver_version="570.124.06",
    ...                          gpus=(Gpu("NVIDIA GeForce RTX 3090", compute_capability="8.6"),)),
    ...         "pc02": GpuFacts(driver_version="570.124.06")}
    >>> group = plan_group(room, SitePolicy())
    >>> sorted(group.plans), str(group.errors["pc02"])
    (['pc01'], "pc02: the host's OS is 'unknown'; pass --os linux or --os windows")
    """
    data = data or load_data()
    errors: dict[str, LabtorchError] = {}
    options: dict[str, tuple[Version, ...] | None] = {}
    for name, facts in hosts.items():
        try:
            options[name] = gpu_versions(facts, policy, os=os, data=data)
        except LabtorchError as err:
            errors[name] = _naming(err, name)
    gpu_hosts = {name: set(v) for name, v in options.items() if v is not None}
    counts: dict[Version, int] = {}
    for versions in gpu_hosts.values():
        for version in versions:
            counts[version] = counts.get(version, 0) + 1
    chosen = max(counts, key=lambda v: (counts[v], v)) if counts else None
    pinned = dataclasses.replace(policy, torch=f"=={chosen}") if chosen else policy
    plans: dict[str, HostPlan] = {}
    for name, facts in hosts.items():
        if name in errors:
            continue
        try:
            plans[name] = _group_member(name, facts, policy, pinned, chosen, counts,
                                        gpu_hosts, os, data)
        except LabtorchError as err:
            errors[name] = _naming(err, name)
    return GroupPlan(plans, {n: errors[n] for n in hosts if n in errors},
                     str(chosen) if chosen else None)


def _group_member(name: str, facts: GpuFacts, policy: SitePolicy, pinned: SitePolicy,
                  chosen: Version | None, counts: Mapping[Version, int],
                  gpu_hosts: Mapping[str, set[Version]], os: str | None,
                  data: Compat) -> HostPlan:
    if chosen is None:
        return plan_host(facts, policy, os=os, host=name, data=data)
    if name in gpu_hosts and chosen not in gpu_hosts[name]:
        alone = plan_host(facts, policy, os=os, host=name, data=data)
        return dataclasses.replace(alone, warnings=(
            *alone.warnings,
            f"group split: this host cannot run torch {chosen} on its GPU, which "
            f"{counts[chosen]} of {len(gpu_hosts)} GPU hosts share; it gets torch "
            f"{alone.torch} instead",
        ))
    plan = plan_host(facts, pinned, os=os, host=name, data=data)
    return dataclasses.replace(plan, reasons=(
        *plan.reasons,
        f"group: torch {chosen} is the newest release "
        + ("every GPU host of the group can run" if counts[chosen] == len(gpu_hosts)
           else f"that {counts[chosen]} of {len(gpu_hosts)} GPU hosts can run"),
    ))


def _naming(err: LabtorchError, host: str) -> LabtorchError:
    """``err`` with the host named (planner errors raised below plan_host may lack it)."""
    return err if err.host == host else LabtorchError(err.what, host=host, fix=err.fix)
