# labtorch conda stand-in: NOT real conda. See tests/standins/conda/README.md.
"""Post-extract step of the stand-in installer (constructor's `.install.py` counterpart).

Run by the installer's shell header with the new base interpreter:
`PREFIX/bin/python -E -s PREFIX/pkgs/.labtorch-standin-post-install.py --prefix ... --flavor ...`.
Writes conda's files into PREFIX: bin/conda, condabin/conda, conda-meta/ (history, records and
the stand-in marker), etc/profile.d/conda.sh and, for Miniforge, .condarc with conda-forge.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

STANDIN_NOTE = "labtorch conda stand-in: NOT real conda (tests/standins/conda/README.md)"
BUILD = "labtorch_standin_0"


def conda_wrapper(prefix: Path) -> str:
    cli = prefix / "lib" / "labtorch-conda-standin" / "conda_cli.py"
    return (
        "#!/bin/sh\n"
        f"# {STANDIN_NOTE}\n"
        f'exec "{prefix}/bin/python" -E -s "{cli}" "$@"\n'
    )


def conda_sh(prefix: Path) -> str:
    return (
        f"# {STANDIN_NOTE}\n"
        "# Puts condabin on PATH and defines `conda`; activation is not replayed (use conda run).\n"
        f'export CONDA_EXE="{prefix}/bin/conda"\n'
        f'export _CONDA_ROOT="{prefix}"\n'
        'case ":$PATH:" in\n'
        f'  *":{prefix}/condabin:"*) ;;\n'
        f'  *) export PATH="{prefix}/condabin:$PATH" ;;\n'
        "esac\n"
        'conda() { "$CONDA_EXE" "$@"; }\n'
    )


def install_pip(prefix: Path) -> None:
    """Put the interpreter's own bundled pip wheel into the base, unpacked as pip would.

    `python -m venv` with pip runs ensurepip (about 6 s); unpacking the same wheel that
    ensurepip would install takes a fraction of that and gives the same files, RECORD included.
    """
    import ensurepip

    try:
        package = ensurepip._get_packages()["pip"]  # type: ignore[attr-defined]
        wheel = (Path(package.wheel_path) if package.wheel_path
                 else Path(ensurepip.__file__).parent / "_bundled" / package.wheel_name)
        site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / \
            "site-packages"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    except (AttributeError, KeyError, OSError, zipfile.BadZipFile):
        subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True,
                       capture_output=True)
        return
    for dist_info in site.glob("pip-*.dist-info"):
        (dist_info / "INSTALLER").write_text("conda\n")
    for script in ("pip", "pip3", f"pip{sys.version_info[0]}.{sys.version_info[1]}"):
        path = prefix / "bin" / script
        path.write_text(f"#!{prefix}/bin/python\n# {STANDIN_NOTE}\n"
                        "import sys\nfrom pip._internal.cli.main import main\n"
                        "if __name__ == '__main__':\n    sys.exit(main())\n")
        path.chmod(0o755)
    importlib.invalidate_caches()


def record(name: str, version: str, channel: str) -> dict[str, object]:
    return {
        "build": BUILD,
        "build_number": 0,
        "channel": f"{channel}/linux-64",
        "depends": [],
        "fn": f"{name}-{version}-{BUILD}.conda",
        "labtorch_conda_standin": STANDIN_NOTE,
        "name": name,
        "subdir": "linux-64",
        "url": f"{channel}/linux-64/{name}-{version}-{BUILD}.conda",
        "version": version,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--flavor", required=True)
    parser.add_argument("--installer-version", required=True)
    parser.add_argument("--conda-version", required=True)
    parser.add_argument("--reinstall", action="store_true")
    args = parser.parse_args()
    prefix = Path(args.prefix)
    channel = ("https://conda.anaconda.org/conda-forge" if args.flavor == "Miniforge3"
               else "https://repo.anaconda.com/pkgs/main")

    install_pip(prefix)
    for folder in ("bin", "condabin", "conda-meta", "envs", "pkgs", "etc/profile.d"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    for path in (prefix / "bin" / "conda", prefix / "condabin" / "conda"):
        path.write_text(conda_wrapper(prefix))
        path.chmod(0o755)
    (prefix / "etc" / "profile.d" / "conda.sh").write_text(conda_sh(prefix))

    meta = prefix / "conda-meta"
    (meta / "labtorch-conda-standin.json").write_text(json.dumps({
        "conda_version": args.conda_version,
        "flavor": args.flavor,
        "installer_version": args.installer_version,
        "note": STANDIN_NOTE,
    }, indent=2, sort_keys=True) + "\n")
    import pip  # the real pip that venv's ensurepip put into the base

    python_version = ".".join(str(n) for n in sys.version_info[:3])
    packages = [("python", python_version), ("pip", pip.__version__),
                ("conda", args.conda_version)]
    for old in meta.glob(f"*-{BUILD}.json"):
        old.unlink()
    for name, version in packages:
        (meta / f"{name}-{version}-{BUILD}.json").write_text(
            json.dumps(record(name, version, channel), indent=2, sort_keys=True) + "\n")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    short = "conda-forge" if args.flavor == "Miniforge3" else "pkgs/main"
    with (meta / "history").open("a") as history:
        history.write(f"==> {stamp} <==\n# cmd: {args.flavor}-{args.installer_version} "
                      f"installer ({'update' if args.reinstall else 'install'})\n"
                      f"# conda version: {args.conda_version}\n# {STANDIN_NOTE}\n")
        history.writelines(f"+{short}/linux-64::{n}-{v}-{BUILD}\n" for n, v in packages)

    if args.flavor == "Miniforge3":
        # Miniforge's construct.yaml ships a .condarc with conda-forge; constructor's
        # header writes it on every run, -u included.
        (prefix / ".condarc").write_text(f"# {STANDIN_NOTE}\nchannels:\n  - conda-forge\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
