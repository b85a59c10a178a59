"""The lab's package mirror: content (fetched once, cached) and its server process.

Content lives outside the repository in the cache (``$LABTORCH_LAB_CACHE``, default
``/var/cache/labtorch-lab``), built once and reused by every lab and CI run:

- ``pypi/``: the wheels the deploy needs from PyPI, fetched once with ``pip download`` for
  CPython 3.11 manylinux x86_64 (torch's dependencies, ipykernel and its dependencies,
  nvidia-ml-py, pip, setuptools, wheel) plus torch itself (lab fixture, see ``wheels``).
- ``whl-<format>/<variant>/`` (served as ``/whl/<variant>/``): the PyTorch-index layout (cpu,
  cu126, cu130, cu132): the local torch CPU wheel relabelled per variant (lab fixture, format
  ``labtorch.lab.wheels.FORMAT``) and links to the dependency wheels.
- ``installers/<hash>/``: the conda installer stand-in (tests/standins/conda, shipped in the
  wheel as labtorch/lab/conda_standin) and its .sha256.

The server (``labtorch.lab.mirror_app``) answers on ``http://127.77.<block>.254:80``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError
from labtorch.lab.room import LAB_DIR
from labtorch.lab.wheels import FORMAT, relabel

MIRROR_PORT = 80
VARIANTS = ("cpu", "cu126", "cu130", "cu132")
TORCH_WHEEL = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
REQUIREMENTS = (
    # torch 2.13.0's Requires-Dist and their own dependencies
    "filelock", "typing-extensions", "setuptools", "sympy", "networkx", "jinja2", "fsspec",
    "mpmath", "markupsafe",
    # what the provisioned env installs next to torch
    "numpy", "ipykernel", "nvidia-ml-py", "pip", "wheel",
)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64",
             "linux_x86_64")
# The conda installer stand-in lives in tests/standins/conda; the wheel carries it as
# labtorch/lab/conda_standin/ (pyproject package-dir), so that a pip-installed lab works too.
_SOURCE_STANDIN = LAB_DIR.parents[1] / "tests" / "standins" / "conda" / "installer.py"
_PACKAGED_STANDIN = LAB_DIR / "conda_standin" / "installer.py"
STANDIN = (_SOURCE_STANDIN if (LAB_DIR.parents[1] / "pyproject.toml").is_file()
           and _SOURCE_STANDIN.is_file() else _PACKAGED_STANDIN)


def cache_dir() -> Path:
    """The content cache: $LABTORCH_LAB_CACHE or /var/cache/labtorch-lab."""
    return Path(os.environ.get("LABTORCH_LAB_CACHE", "/var/cache/labtorch-lab"))


def torch_wheel() -> Path:
    """The local torch CPU wheel: $LABTORCH_LAB_TORCH_WHEEL or /opt/wheels/torch-2.13.0+cpu…."""
    path = Path(os.environ.get("LABTORCH_LAB_TORCH_WHEEL", TORCH_WHEEL))
    if not path.is_file():
        raise LabtorchError(f"the torch CPU wheel {path} is missing",
                            fix="set LABTORCH_LAB_TORCH_WHEEL to a local torch-*+cpu-cp311 wheel")
    return path


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two labs coming up at once build the cache once
        yield


def prepare_content(cache: Path | None = None) -> dict[str, Path]:
    """Build (once) and return the index roots: ``{"": pypi/, "whl/cu126": whl/cu126/, ...}``."""
    cache = cache or cache_dir()
    with _locked(cache):
        pypi = cache / "pypi"
        _download(pypi)
        source = torch_wheel()
        relabel(source, "", pypi)
        roots: dict[str, Path] = {"": pypi}
        deps = [p for p in pypi.glob("*.whl") if not p.name.startswith("torch-")]
        for variant in VARIANTS:
            root = cache / f"whl-{FORMAT}" / variant
            root.mkdir(parents=True, exist_ok=True)
            relabel(source, variant, root)
            for dep in deps:
                link = root / dep.name
                if not link.exists():
                    link.symlink_to(dep)
            roots[f"whl/{variant}"] = root
    return roots


def _download(pypi: Path) -> None:
    stamp = pypi / ".requirements"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    pypi.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
           "--abi", "abi3", "--abi", "none", "-d", str(pypi)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    result = subprocess.run([*cmd, *REQUIREMENTS], capture_output=True, text=True)
    if result.returncode != 0:
        raise LabtorchError(
            f"could not fetch the lab mirror's wheels into {pypi}: "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'pip failed'}",
            fix="PyPI must be reachable once (the result is cached); or fill the cache by hand")
    stamp.write_text(wanted)


def prepare_installers(cache: Path | None = None) -> tuple[Path, str | None]:
    """Build the conda installer stand-in once; returns (directory, None) or (dir, why not).

    Imports ``build_installer(dest_dir, flavor)`` from tests/standins/conda/installer.py by path.
    """
    cache = cache or cache_dir()
    if not STANDIN.is_file():
        empty = cache / "installers" / "none"
        empty.mkdir(parents=True, exist_ok=True)
        return empty, f"no conda installer stand-in at {STANDIN}: installer area is empty"
    digest = _tree_digest(STANDIN.parent)
    dest = cache / "installers" / digest
    with _locked(cache):
        if not (dest / ".built").exists():
            dest.mkdir(parents=True, exist_ok=True)
            spec = importlib.util.spec_from_file_location("labtorch_conda_standin", STANDIN)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
                built = Path(module.build_installer(dest, "Miniforge3"))
            except Exception as err:  # a stand-in still being built must not break the lab
                return dest, f"conda installer stand-in failed to build: {err}"
            for installer in [built, *dest.glob("*.sh")]:
                checksum = installer.with_name(installer.name + ".sha256")
                if not checksum.exists():  # the real download pages publish "<hex>  <name>"
                    digest_hex = hashlib.sha256(installer.read_bytes()).hexdigest()
                    checksum.write_text(f"{digest_hex}  {installer.name}\n")
            (dest / ".built").write_text(digest + "\n")
    return dest, None


def _tree_digest(folder: Path) -> str:
    """A short digest of every file under ``folder`` (names and bytes): the cache key."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def urls(address: str, port: int = MIRROR_PORT) -> dict[str, str]:
    """The mirror's URLs as the deploy uses them (pip index URLs end in /simple)."""
    base = f"http://{address}" if port == 80 else f"http://{address}:{port}"
    return {
        "base": base,
        "pypi": f"{base}/simple",
        "pytorch": f"{base}/whl/{{variant}}/simple",
        "installers": f"{base}/installers",
    }


def link_installers(state: Path, installers: Path) -> None:
    """Point ``<state>/mirror/installers`` at the current installer build (the served area).

    A running mirror follows the link on every request, so ``up`` after the stand-in changed
    serves the new installer without a restart.
    """
    link = state / "mirror" / "installers"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() == installers.resolve():
        return
    tmp = link.with_name("installers.new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(installers)
    tmp.replace(link)


def server_config(state: Path, address: str, roots: dict[str, Path],
                  port: int = MIRROR_PORT) -> str:
    """The mirror process's config.json text for the lab in ``state``."""
    mirror = state / "mirror"
    config: dict[str, Any] = {
        "address": address, "port": port, "control": str(mirror / "faults.json"),
        "installers": str(mirror / "installers"),
        "indexes": {prefix: str(root) for prefix, root in roots.items()},
    }
    return json.dumps(config, indent=2)


def needs_restart(state: Path, config: str) -> bool:
    """True when a running mirror was started with another config than ``config``."""
    try:
        return (state / "mirror" / "config.json").read_text() != config
    except OSError:
        return True


def start(state: Path, config: str) -> int:
    """Start the mirror process for the lab in ``state`` with ``config``; returns its pid."""
    mirror = state / "mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    control = mirror / "faults.json"
    if not control.exists():
        control.write_text(json.dumps({"mode": "ok", "corrupt": []}))
    config_file = mirror / "config.json"
    config_file.write_text(config)
    log = open(mirror / "mirror.log", "ab")  # noqa: SIM115 - handed to the child process
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labtorch.lab.mirror_app", str(config_file)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd="/")
    return proc.pid
