"""Hostile input stops here: bounded reads of saved outputs, names, prefixes, URLs (pure).

Every file a ``labtorch`` command reads that an admin (or anyone) saved goes through
:func:`read_saved_output`: at most :data:`MAX_INPUT_BYTES` are read (``--from /dev/zero`` stops at
once), and the bytes are decoded the way admins save them (UTF-8, UTF-8 with BOM, UTF-16 with
BOM as Windows PowerShell writes ``nvidia-smi > out.txt``). Names and prefixes that reach paths
are checked here against traversal and system folders; index-URL templates against everything
but ``{variant}``.
"""

from __future__ import annotations

import codecs
import ntpath
import posixpath
import re
from pathlib import Path
from typing import BinaryIO

from labtorch.errors import LabtorchError

#: The largest saved output any command reads (an 8-GPU ``nvidia-smi -q`` is about 75 KiB).
MAX_INPUT_BYTES = 1024 * 1024

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def decode_saved(data: bytes, name: str) -> str:
    """Bytes of a saved output -> text: BOM first (UTF-8, UTF-16), then UTF-8.

    >>> decode_saved("GPU 0".encode("utf-16"), "smi.txt")
    'GPU 0'
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as err:
                raise LabtorchError(f"{name} starts like {encoding} text but is not (byte "
                                    f"{err.start})", fix="save the output again") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LabtorchError(
            f"{name} is not UTF-8 or UTF-16 text (byte {err.start})",
            fix="save the output as UTF-8 (on Windows: `nvidia-smi | Out-File -Encoding utf8 "
            "smi.txt`, or `chcp 65001` in cmd.exe before capturing)",
        ) from err


def read_bounded(stream: BinaryIO, name: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """At most ``limit`` bytes of ``stream``; more is refused before it is read."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise LabtorchError(
            f"{name} is larger than {limit // (1024 * 1024)} MiB: not a saved output labtorch "
            "reads", fix="pass the file nvidia-smi (or labtorch) wrote, not a device or archive")
    return bytes(data)


def read_saved_output(path: Path | str, limit: int = MAX_INPUT_BYTES) -> str:
    """The text of a saved output file, bounded and decoded (UTF-8 or UTF-16 with BOM)."""
    try:
        with open(path, "rb") as stream:
            data = read_bounded(stream, str(path), limit)
    except OSError as err:
        raise LabtorchError(f"cannot read {path}: {err.strerror}",
                            fix="pass the path of a saved output") from err
    return decode_saved(data, str(path))


# --- names and prefixes ------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def safe_name(value: object) -> bool:
    """A name that becomes one path segment: starts with a letter, digit or '_', no '/'.

    >>> [safe_name(n) for n in ("pytorch", "dl-2.7", ".", "..", "-rf", "a/b")]
    [True, True, False, False, False, False]
    """
    return isinstance(value, str) and bool(_NAME.fullmatch(value))


#: Folders a conda prefix must never be, nor lie under (Linux); "/" itself included.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run",
               "/sbin", "/sys", "/usr/bin", "/usr/lib", "/usr/sbin", "/usr/share", "/usr/include",
               "/var/lib", "/var/log")
#: Top-level folders a prefix may lie under but never be.
SHALLOW = ("/", "/usr", "/usr/local", "/opt", "/home", "/root", "/var", "/srv", "/tmp", "/mnt",
           "/media")
_WINDOWS_SYSTEM = ("\\windows", "\\program files", "\\program files (x86)", "\\programdata",
                   "\\users")


def system_path_problem(path: str) -> str | None:
    """Why ``path`` is no place for a conda install labtorch owns, or None.

    >>> system_path_problem("/opt/miniforge3") is None
    True
    >>> system_path_problem("/opt/../etc")
    "contains '..'"
    >>> system_path_problem("/usr")
    'is a system folder'
    """
    if re.match(r"^[A-Za-z]:[\\/]", path):
        parts = re.split(r"[\\/]", path[2:])
        if ".." in parts or "." in parts:
            return "contains '..'" if ".." in parts else "contains '.'"
        folder = ntpath.normpath(path[2:]).rstrip("\\").lower() or "\\"
        if folder == "\\" or folder in _WINDOWS_SYSTEM or folder.startswith("\\windows\\"):
            return "is a system folder"
        return None
    parts = path.split("/")
    if ".." in parts or "." in parts:
        return "contains '..'" if ".." in parts else "contains '.'"
    clean = posixpath.normpath(path)
    if clean in SHALLOW:
        return "is a system folder"
    if any(clean == d or clean.startswith(d + "/") for d in SYSTEM_DIRS):
        return "lies in a system folder"
    return None


# --- URLs --------------------------------------------------------------------------------------

_TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")


def template_problem(url: str) -> str | None:
    """Why a PyTorch index template is unusable (a field other than ``{variant}``), or None.

    >>> template_problem("https://download.pytorch.org/whl/{variant}") is None
    True
    >>> template_problem("http://x/{variant}/{0}")
    "has the field '{0}'; only {variant} is filled in"
    """
    for field in _TEMPLATE_FIELD.findall(url):
        if field != "variant":
            return f"has the field '{{{field}}}'; only {{variant}} is filled in"
    stripped = _TEMPLATE_FIELD.sub("", url)
    if "{" in stripped or "}" in stripped:
        return "has an unmatched '{' or '}'"
    return None


def mask_credentials(text: str) -> str:
    """``scheme://user:password@host`` → ``scheme://user:***@host`` anywhere in ``text``.

    >>> mask_credentials("--index-url https://lab:s3cret@10.0.0.5/whl/cu126")
    '--index-url https://lab:***@10.0.0.5/whl/cu126'
    """
    return re.sub(r"(://[^/:@\s]*):[^/@\s]*@", r"\1:***@", text)
