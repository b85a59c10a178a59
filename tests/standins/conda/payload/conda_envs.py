# labtorch conda stand-in: NOT real conda. See tests/standins/conda/README.md.
"""Environments of the conda stand-in: lookup, listing, records, and building real venvs."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conda_config import (
    CONDA_VERSION,
    ROOT,
    SUBDIR,
    Context,
)
from conda_errors import (
    CondaError,
    CondaSystemExit,
    CondaValueError,
    DirectoryNotACondaEnvironmentError,
    EnvironmentLocationNotFound,
    EnvironmentNameNotFound,
    PackagesNotFoundError,
)

# ---------------------------------------------------------------------------- environments


def is_environment(prefix: Path) -> bool:
    return (prefix / "conda-meta" / "history").is_file()


def environments_txt() -> Path:
    return Path(os.path.expanduser("~")) / ".conda" / "environments.txt"


def register_env(prefix: Path) -> None:
    path = environments_txt()
    known = path.read_text().splitlines() if path.is_file() else []
    if str(prefix) not in known:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(f"{prefix}\n")


def unregister_env(prefix: Path) -> None:
    path = environments_txt()
    if path.is_file():
        keep = [line for line in path.read_text().splitlines() if line != str(prefix)]
        path.write_text("".join(f"{line}\n" for line in keep))


def known_prefixes(ctx: Context) -> list[Path]:
    """conda's list_all_known_prefixes: base, envs in envs_dirs, registered envs."""
    found: set[Path] = set()
    for envs_dir in ctx["envs_dirs"]:
        directory = Path(envs_dir)
        if directory.is_dir():
            found.update(p for p in directory.iterdir() if is_environment(p))
    path = environments_txt()
    if path.is_file():
        found.update(Path(line) for line in path.read_text().splitlines()
                     if line.strip() and is_environment(Path(line)))
    found.discard(ROOT)
    return [ROOT, *sorted(found)]


def env_name(prefix: Path, ctx: Context) -> str:
    if prefix == ROOT:
        return "base"
    if str(prefix.parent) in ctx["envs_dirs"]:
        return prefix.name
    return ""


def target_prefix(args: argparse.Namespace, ctx: Context, creating: bool = False) -> Path:
    """Resolve -n/-p like conda's context.target_prefix."""
    if getattr(args, "prefix", None):
        return Path(os.path.abspath(os.path.expanduser(args.prefix)))
    name: str | None = getattr(args, "name", None)
    if name:
        if "/" in name:
            raise CondaValueError(f"Invalid environment name: {name!r}\n"
                                  "  Characters not allowed: ('/', ' ', ':', '#')")
        if name in ("base", "root"):
            return ROOT
        envs_dirs: list[str] = ctx["envs_dirs"]
        for envs_dir in envs_dirs:
            candidate = Path(envs_dir) / name
            if is_environment(candidate):
                return candidate
        if creating:
            return Path(envs_dirs[0]) / name
        raise EnvironmentNameNotFound(name)
    if os.environ.get("CONDA_PREFIX"):
        return Path(os.environ["CONDA_PREFIX"])
    return ROOT


def assert_environment(prefix: Path) -> None:
    if not prefix.exists():
        raise EnvironmentLocationNotFound(prefix)
    if not is_environment(prefix):
        raise DirectoryNotACondaEnvironmentError(prefix)


def print_envs(ctx: Context) -> None:
    active = os.environ.get("CONDA_PREFIX", "")
    print("# conda environments:\n#")
    prefixes = known_prefixes(ctx)
    width = max([len(env_name(p, ctx)) for p in prefixes] + [20])
    for prefix in prefixes:
        star = "*" if str(prefix) == active else " "
        print(f"{env_name(prefix, ctx):<{width}} {star} {prefix}")
    print()


def envs_json(ctx: Context) -> dict[str, Any]:
    prefixes = known_prefixes(ctx)
    active = os.environ.get("CONDA_PREFIX", "")
    return {
        "envs": [str(p) for p in prefixes],
        "envs_details": {
            str(p): {
                "active": str(p) == active,
                "base": p == ROOT,
                "frozen": False,
                "name": env_name(p, ctx),
                "writable": os.access(p, os.W_OK),
            }
            for p in prefixes
        },
    }


# --------------------------------------------------------------------------------- records


def site_packages(prefix: Path) -> Path:
    lib = prefix / "lib"
    matches = sorted(lib.glob("python3.*/site-packages")) if lib.is_dir() else []
    return matches[0] if matches else lib / "python3/site-packages"


def installed_dists(prefix: Path) -> dict[str, tuple[str, str]]:
    """Normalised name -> (name, version) from the env's *.dist-info directories."""
    found: dict[str, tuple[str, str]] = {}
    sp = site_packages(prefix)
    for meta in sorted(sp.glob("*.dist-info/METADATA")) if sp.is_dir() else []:
        name = version = ""
        for line in meta.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
            elif not line.strip():
                break
        if name:
            found[normalise(name)] = (name, version)
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def write_record(prefix: Path, name: str, version: str, channel_url: str) -> None:
    build = "labtorch_standin_0"
    record = {
        "build": build,
        "build_number": 0,
        "channel": f"{channel_url}/{SUBDIR}",
        "depends": [],
        "fn": f"{name}-{version}-{build}.conda",
        "labtorch_conda_standin": "record written by the labtorch conda stand-in, not conda",
        "name": name,
        "subdir": SUBDIR,
        "url": f"{channel_url}/{SUBDIR}/{name}-{version}-{build}.conda",
        "version": version,
    }
    path = prefix / "conda-meta" / f"{name}-{version}-{build}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def channel_name(channel_url: str, ctx: Context) -> str:
    """The short name conda shows for a channel URL (e.g. conda-forge, pkgs/main)."""
    base = channel_url.rstrip("/")
    channels: list[str] = ctx["channels"]
    for known in channels:
        if base in ctx.expand(known) and not re.match(r"^[a-z]+://", known):
            if known == "defaults":
                return "/".join(base.rsplit("/", 2)[-2:])
            return known
    return base


def list_records(prefix: Path, ctx: Context) -> list[dict[str, Any]]:
    """`conda list --json`: conda records from conda-meta, pip-only dists as channel pypi."""
    rows: list[dict[str, Any]] = []
    conda_names: set[str] = set()
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        record = json.loads(path.read_text())
        if "name" not in record:
            continue
        base_url = record["channel"].rsplit("/", 1)[0]
        conda_names.add(normalise(record["name"]))
        rows.append({
            "base_url": base_url,
            "build_number": record["build_number"],
            "build_string": record["build"],
            "channel": channel_name(base_url, ctx),
            "dist_name": f"{record['name']}-{record['version']}-{record['build']}",
            "name": record["name"],
            "platform": record["subdir"],
            "version": record["version"],
        })
    for key, (name, version) in installed_dists(prefix).items():
        if key in conda_names:
            continue
        rows.append({
            "base_url": "https://pypi.org/",
            "build_number": 0,
            "build_string": "pypi_0",
            "channel": "pypi",
            "dist_name": f"{name.lower()}-{version}-pypi_0",
            "name": name.lower(),
            "platform": "pypi",
            "version": version,
        })
    return sorted(rows, key=lambda r: r["name"])


def append_history(prefix: Path, argv: list[str], lines: list[str]) -> None:
    history = prefix / "conda-meta" / "history"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    with history.open("a") as handle:
        handle.write(f"==> {stamp} <==\n# cmd: {' '.join(argv)}\n"
                     f"# conda version: {CONDA_VERSION}\n"
                     "# labtorch conda stand-in: not real conda\n")
        handle.writelines(f"{line}\n" for line in lines)


# ------------------------------------------------------------------------------ interpreters


def available_pythons() -> dict[str, Path]:
    """Full version -> interpreter: the base's own, then the host's /usr/bin/python3.N."""
    found: dict[str, Path] = {}
    base = ROOT / "bin" / "python"
    found[".".join(map(str, sys.version_info[:3]))] = base
    for candidate in sorted(Path("/usr/bin").glob("python3.[0-9]*")):
        if not re.fullmatch(r"python3\.\d+", candidate.name) or not os.access(candidate, os.X_OK):
            continue
        if os.path.realpath(candidate) == os.path.realpath(sys._base_executable):  # type: ignore[attr-defined]
            continue  # the base's own interpreter, already listed
        try:
            out = subprocess.run([str(candidate), "-c",
                                  "import sys, venv; print('%d.%d.%d' % sys.version_info[:3])"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            found.setdefault(out.stdout.strip(), candidate)
    return found


def conda_spec_to_specifier(version: str) -> str:
    """conda MatchSpec version -> PEP 440 specifier ('3.11' means 3.11.*)."""
    parts = []
    for piece in version.split(","):
        piece = piece.strip()
        if re.match(r"^(==|>=|<=|!=|~=|>|<)", piece):
            parts.append(piece)
        elif piece.startswith("="):
            parts.append("==" + piece[1:].rstrip("*").rstrip(".") + ".*")
        elif piece.endswith("*"):
            parts.append("==" + piece)
        else:
            parts.append("==" + piece + ".*" if piece.count(".") < 2 else "==" + piece)
    return ",".join(parts)


SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<version>.*)$")


def split_spec(spec: str) -> tuple[str, str]:
    if "::" in spec:
        spec = spec.split("::", 1)[1]
    match = SPEC.match(spec.strip())
    if not match:
        raise CondaValueError(f"Invalid spec: {spec}")
    version = match.group("version").strip()
    if version.startswith("=") and not version.startswith("=="):
        version = version[1:]
        version = version.split("=", 1)[0]  # drop a build string (name=ver=build)
    return match.group("name").lower(), version


def pick_python(version: str) -> tuple[str, Path] | None:
    from pip._vendor.packaging.specifiers import SpecifierSet  # the base's real pip
    from pip._vendor.packaging.version import Version

    pythons = available_pythons()
    if not version:
        best = max(pythons, key=Version)
        return best, pythons[best]
    wanted = SpecifierSet(conda_spec_to_specifier(version))
    matching = [v for v in pythons if Version(v) in wanted]
    if not matching:
        return None
    best = max(matching, key=Version)
    return best, pythons[best]


# ---------------------------------------------------------------------------- building envs


def base_pip_version() -> str:
    import pip

    return pip.__version__


def confirm(args: argparse.Namespace, message: str) -> None:
    """conda's confirm_yn: silent with -y (always_yes), else prompt; 'no' exits 0."""
    if args.yes or Context()["always_yes"]:
        return
    sys.stdout.write(f"{message} (y/[n])? ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CondaSystemExit("Exiting.")


def build_env(prefix: Path, python_choice: tuple[str, Path] | None,
              others: list[tuple[str, str]], channel_url: str, ctx: Context) -> list[str]:
    """Make the env: a real venv of the chosen interpreter, real pip, pip-installed extras.

    On failure it removes what it made: the whole prefix when it created it, else only
    conda-meta (a directory that was there before keeps its files).
    """
    created_here = not prefix.exists()

    def undo() -> None:
        shutil.rmtree(prefix if created_here else prefix / "conda-meta", ignore_errors=True)

    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    history: list[str] = []
    if python_choice is None:
        (prefix / "conda-meta" / "history").touch()
        return history
    version, interpreter = python_choice
    venv_python = interpreter if interpreter != ROOT / "bin" / "python" else Path(
        sys._base_executable)  # type: ignore[attr-defined]
    run = subprocess.run([str(venv_python), "-m", "venv", "--without-pip", str(prefix)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        undo()
        raise CondaError(f"could not create the environment's Python at {prefix}:\n{run.stderr}")
    (prefix / "conda-meta" / "history").touch()
    write_record(prefix, "python", version, channel_url)
    history.append(f"+{channel_url.rsplit('/', 1)[-1]}/{SUBDIR}::python-{version}-"
                   "labtorch_standin_0")
    # conda's add_pip_as_python_dependency (default true) makes pip a dependency of python.
    wants_pip = any(n == "pip" for n, _ in others) or ctx["add_pip_as_python_dependency"]
    extras = [(n, v) for n, v in others if n not in ("pip",)]
    if wants_pip:
        _copy_pip(prefix, version)
        write_record(prefix, "pip", base_pip_version(), channel_url)
        history.append(f"+{channel_url.rsplit('/', 1)[-1]}/{SUBDIR}::pip-{base_pip_version()}-"
                       "labtorch_standin_0")
    if extras:
        before = installed_dists(prefix)
        requirements = [n + (conda_spec_to_specifier(v) if v else "") for n, v in extras]
        pip_run = subprocess.run(
            [str(ROOT / "bin" / "python"), "-m", "pip", "--python", str(prefix / "bin" / "python"),
             "install", "--disable-pip-version-check", "--no-input", *requirements],
            capture_output=True, text=True)
        if pip_run.returncode != 0:
            undo()
            missing = [n + (f"={v}" if v else "") for n, v in extras]
            raise PackagesNotFoundError(missing, ctx.channel_urls())
        for key, (name, dist_version) in installed_dists(prefix).items():
            if key not in before:
                write_record(prefix, name.lower(), dist_version, channel_url)
                history.append(f"+{channel_url.rsplit('/', 1)[-1]}/{SUBDIR}::{name.lower()}-"
                               f"{dist_version}-labtorch_standin_0")
    return history


def _copy_pip(prefix: Path, python_version: str) -> None:
    """Give the env the base's real pip (copied: venv's ensurepip takes ~6 s per env)."""
    import pip

    source_sp = Path(pip.__file__).resolve().parent.parent
    target_sp = site_packages(prefix)
    target_sp.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source_sp / "pip", target_sp / "pip", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for dist_info in source_sp.glob("pip-*.dist-info"):
        shutil.copytree(dist_info, target_sp / dist_info.name, dirs_exist_ok=True)
        (target_sp / dist_info.name / "INSTALLER").write_text("conda\n")
    python = prefix / "bin" / "python"
    major_minor = ".".join(python_version.split(".")[:2])
    for script in ("pip", "pip3", f"pip{major_minor}"):
        path = prefix / "bin" / script
        path.write_text(f"#!{python}\n# labtorch conda stand-in: pip entry point\n"
                        "import sys\nfrom pip._internal.cli.main import main\n"
                        "if __name__ == '__main__':\n    sys.exit(main())\n")
        path.chmod(0o755)
