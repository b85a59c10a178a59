"""Build the labtorch conda STAND-IN installer: a Miniforge/Miniconda-like `.sh` for the lab.

No registry reachable here serves conda, so the simulated lab installs this instead. It is a
self-contained POSIX shell script shaped like conda/constructor's `header.sh` (same `-b -p -u -f
-h` flags, messages and exit codes) with its payload appended as a base64 tar, as constructor
appends its tarball. Running it makes PREFIX a real venv of the host's /usr/bin/python3 (real
pip) and adds the stand-in `conda` (payload/conda_cli.py). The same inputs give the same bytes,
so the deploy can pin its sha256 like a real installer's.

    >>> from pathlib import Path
    >>> path = build_installer(Path("/tmp/mirror/installers"))   # doctest: +SKIP
    >>> path.name                                                   # doctest: +SKIP
    'Miniforge3-25.3.0-3-Linux-x86_64.sh'

Import by file path (tests/ is not a package):
`importlib.util.spec_from_file_location("conda_standin", "tests/standins/conda/installer.py")`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

PAYLOAD_DIR = Path(__file__).parent / "payload"
FLAVORS = ("Miniforge3", "Miniconda3")
DEFAULT_VERSION = "25.3.0-3"  # data/installers.yaml miniforge default_version
STANDIN_NOTE = "labtorch conda stand-in: NOT a real conda installer (tests/standins/conda)"

# Payload file -> where it lands under PREFIX (sorted, fixed metadata: reproducible bytes).
PAYLOAD_FILES = {
    "conda_cli.py": "lib/labtorch-conda-standin/conda_cli.py",
    "conda_config.py": "lib/labtorch-conda-standin/conda_config.py",
    "conda_envs.py": "lib/labtorch-conda-standin/conda_envs.py",
    "conda_errors.py": "lib/labtorch-conda-standin/conda_errors.py",
    "condarc_yaml.py": "lib/labtorch-conda-standin/condarc_yaml.py",
    "post_install.py": "pkgs/.labtorch-standin-post-install.py",
}


def installer_name(flavor: str, version: str) -> str:
    """The file name the real project publishes for this flavour and version.

    >>> installer_name("Miniforge3", "25.3.0-3")
    'Miniforge3-25.3.0-3-Linux-x86_64.sh'
    >>> installer_name("Miniconda3", "py312_25.5.1-0")
    'Miniconda3-py312_25.5.1-0-Linux-x86_64.sh'
    """
    return f"{flavor}-{version}-Linux-x86_64.sh"


def conda_version_of(version: str) -> str:
    """The conda version an installer version ships ("py312_25.5.1-0" -> "25.5.1").

    >>> conda_version_of("25.3.0-3"), conda_version_of("py312_25.5.1-0")
    ('25.3.0', '25.5.1')
    """
    return re.sub(r"^py\d+_", "", version).split("-", 1)[0]


def _payload() -> bytes:
    """A gzip'd tar of the payload with fixed mtimes, owners and order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for source, target in sorted(PAYLOAD_FILES.items(), key=lambda kv: kv[1]):
            data = (PAYLOAD_DIR / source).read_bytes()
            info = tarfile.TarInfo(target)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return base64.encodebytes(packed.getvalue())


HEADER = r"""#!/bin/sh
#
# NAME:  __NAME__
# VER:   __VERSION__
# PLAT:  linux-64
# LINES: @LINES@
# SHA256 of payload: __PAYLOAD_SHA256__
#
# __NOTE__
# It replays conda/constructor's header.sh command line (tests/standins/conda/README.md) and
# installs the stand-in `conda` into a venv of the host's python3. The payload after line
# @LINES@ is a base64 tar.gz.

if ! echo "$0" | grep '\.sh$' > /dev/null; then
    printf 'Please run using "bash" or "sh", but not "." or "source"\n' >&2
    return 1
fi

THIS_DIR=$(DIRNAME=$(dirname "$0"); cd "$DIRNAME"; pwd)
THIS_FILE=$(basename "$0")
THIS_PATH="$THIS_DIR/$THIS_FILE"
PREFIX="${HOME:-/opt}/__DEFAULT_DIR__"
BATCH=0
FORCE=0
KEEP_PKGS=1
SKIP_SCRIPTS=0
TEST=0
REINSTALL=0
USAGE="
usage: $0 [options]

Installs __NAME__ __VERSION__ (labtorch conda stand-in)

-b           run install in batch mode (without manual intervention),
             it is expected the license terms (if any) are agreed upon
-f           no error if install prefix already exists
-h           print this help message and exit
-p PREFIX    install prefix, defaults to $PREFIX, must not contain spaces.
-s           skip running pre/post-link/install scripts
-u           update an existing installation
-t           run package tests after installation (may install conda-build)
-k           keep the package cache (accepted; the stand-in keeps none)
"

while getopts "bifhkp:sut" x; do
    case "$x" in
        h)
            printf "%s\n" "$USAGE"
            exit 2
        ;;
        b)
            BATCH=1
            ;;
        i)
            BATCH=0
            ;;
        f)
            FORCE=1
            ;;
        k)
            KEEP_PKGS=1
            ;;
        p)
            PREFIX="$OPTARG"
            ;;
        s)
            SKIP_SCRIPTS=1
            ;;
        u)
            FORCE=1
            ;;
        t)
            TEST=1
            ;;
        ?)
            printf "ERROR: did not recognize option '%s', please try -h\n" "$x"
            exit 1
            ;;
    esac
done

if [ "$BATCH" = "0" ]; then
    printf "\nWelcome to __NAME__ __VERSION__ (labtorch conda stand-in)\n\n"
    printf "__NAME__ will now be installed into this location:\n%s\n\n" "$PREFIX"
    printf "  - Press ENTER to confirm the location\n"
    printf "  - Press CTRL-C to abort the installation\n"
    printf "  - Or specify a different location below\n\n"
    printf "[%s] >>> " "$PREFIX"
    read -r user_prefix
    if [ "$user_prefix" != "" ]; then
        case "$user_prefix" in
            *\ * )
                printf "ERROR: Cannot install into directories with spaces\n" >&2
                exit 1
                ;;
            *)
                eval PREFIX="$user_prefix"
                ;;
        esac
    fi
fi

case "$PREFIX" in
    *\ * )
        printf "ERROR: Cannot install into directories with spaces\n" >&2
        exit 1
        ;;
esac

if [ "$FORCE" = "0" ] && [ -e "$PREFIX" ]; then
    printf "ERROR: File or directory already exists: '%s'\n" "$PREFIX" >&2
    printf "If you want to update an existing installation, use the -u option.\n" >&2
    exit 1
elif [ "$FORCE" = "1" ] && [ -e "$PREFIX" ]; then
    REINSTALL=1
fi

# The stand-in's base interpreter: the host's python3 (Debian: /usr/bin/python3 + python3-venv).
HOST_PYTHON=""
for candidate in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && \
       "$candidate" -c "import venv, ensurepip" >/dev/null 2>&1; then
        HOST_PYTHON="$candidate"
        break
    fi
done
if [ -z "$HOST_PYTHON" ]; then
    printf "ERROR: the labtorch conda stand-in needs a host python3 with venv and ensurepip\n" >&2
    printf "(Debian/Ubuntu: apt-get install python3-venv)\n" >&2
    exit 1
fi

GOT_SHA256=$(tail -n +@LINES@ "$THIS_PATH" | sha256sum - | cut -d ' ' -f 1)
if [ "$GOT_SHA256" != "__PAYLOAD_SHA256__" ]; then
    printf "ERROR: sha256 mismatch of the payload (installer file is damaged)\n" >&2
    printf "expected: __PAYLOAD_SHA256__\n     got: %s\n" "$GOT_SHA256" >&2
    exit 1
fi

if ! mkdir -p "$PREFIX"; then
    printf "ERROR: Could not create directory: '%s'\n" "$PREFIX" >&2
    exit 1
fi

PREFIX=$(cd "$PREFIX"; pwd)
export PREFIX

printf "PREFIX=%s\n" "$PREFIX"
printf "Unpacking payload ...\n"

if ! "$HOST_PYTHON" -m venv --without-pip "$PREFIX"; then
    printf "ERROR: could not create the base environment in %s\n" "$PREFIX" >&2
    exit 1
fi

if ! tail -n +@LINES@ "$THIS_PATH" | base64 -d | tar -xzf - -C "$PREFIX" --no-same-owner; then
    printf "ERROR: could not extract tar starting at line @LINES@\n" >&2
    exit 1
fi

printf "\nInstalling base environment...\n\n"
printf "Transaction\n\n  Prefix: %s\n\n" "$PREFIX"
printf "Transaction starting\n"
if [ "$REINSTALL" = "1" ]; then
    REINSTALL_OPT="--reinstall"
else
    REINSTALL_OPT=""
fi
if ! "$PREFIX/bin/python" -E -s "$PREFIX/pkgs/.labtorch-standin-post-install.py" \
        --prefix "$PREFIX" --flavor "__FLAVOR__" --installer-version "__VERSION__" \
        --conda-version "__CONDA_VERSION__" $REINSTALL_OPT; then
    printf "ERROR: executing the post-install step failed\n" >&2
    exit 1
fi
rm -f "$PREFIX/pkgs/.labtorch-standin-post-install.py"
printf "Transaction finished\n\n"
printf "installation finished.\n"

if [ "$PYTHONPATH" != "" ]; then
    printf "WARNING:\n"
    printf "    You currently have a PYTHONPATH environment variable set. This may cause\n"
    printf "    unexpected behavior when running the Python interpreter in __NAME__.\n"
    printf "    For best results, please verify that your PYTHONPATH only points to\n"
    printf "    directories of packages that are compatible with the Python interpreter\n"
    printf "    in __NAME__: %s\n" "$PREFIX"
fi

if [ "$BATCH" = "0" ]; then
    printf "\nYou may wish to edit your .bashrc to setup __NAME__:\n\n"
    printf "source %s/etc/profile.d/conda.sh\n\n" "$PREFIX"
    printf "Thank you for installing __NAME__!\n"
fi
exit 0
"""


def build_installer(dest_dir: Path, flavor: str = "Miniforge3",
                    version: str = DEFAULT_VERSION) -> Path:
    """Write the stand-in installer for `flavor` and `version` into dest_dir; return its path.

    Args:
        dest_dir: folder to write into (created if missing), e.g. the lab mirror's installer area.
        flavor: "Miniforge3" (channels: [conda-forge] in PREFIX/.condarc) or "Miniconda3"
            (`defaults` channels, needs `conda tos accept` like Miniconda ≥25.5).
        version: installer version as in the real file name: "<conda version>-<build>" for
            Miniforge ("25.3.0-3"), "py<XY>_<conda version>-<build>" for Miniconda
            ("py312_25.5.1-0"); `conda --version` prints the conda version part.

    Returns:
        The path of the `.sh` file; identical inputs give identical bytes (stable sha256).
        `<file>.sha256` ("<hex>  <file name>") is written next to it, as Miniforge publishes.
    """
    if flavor not in FLAVORS:
        raise ValueError(f"unknown conda stand-in flavour {flavor!r}; use one of {FLAVORS}")
    if not version or " " in version or "/" in version:
        raise ValueError(f"bad installer version {version!r}; expected e.g. '25.3.0-3'")
    payload = _payload()
    conda_version = conda_version_of(version)
    text = (HEADER.replace("__NAME__", flavor)
            .replace("__VERSION__", version)
            .replace("__FLAVOR__", flavor)
            .replace("__CONDA_VERSION__", conda_version)
            .replace("__DEFAULT_DIR__", flavor.lower())
            .replace("__NOTE__", STANDIN_NOTE)
            .replace("__PAYLOAD_SHA256__", hashlib.sha256(payload).hexdigest()))
    lines = text.count("\n") + 1
    text = text.replace("@LINES@", str(lines))
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / installer_name(flavor, version)
    path.write_bytes(text.encode() + payload)
    path.chmod(0o755)
    # Miniforge releases publish a .sha256 next to each installer (sha256sum format).
    path.with_name(path.name + ".sha256").write_text(f"{sha256_of(path)}  {path.name}\n")
    return path


def source_digest() -> str:
    """sha256 over this file and the payload: changes whenever a built installer would change.

    Use it to key a cache of built installers (hashing installer.py alone misses payload edits).
    """
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in sorted(PAYLOAD_FILES):
        digest.update(name.encode() + b"\0" + (PAYLOAD_DIR / name).read_bytes())
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, as the deploy verifies installers (and `.sha256` files hold)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
