"""Host facts that are not about GPUs or conda: OS, architecture, home, Python on PATH, free disk.

One command per host answers all of them (one round trip); the parsing is the pure function
:func:`parse_system`, which works on a saved output too.

>>> info = parse_system(SAMPLE_OUTPUT)
>>> (info.os, info.arch, info.home, info.python_version)
('linux', 'x86_64', '/root', '3.11.2')
>>> free_mib_at(info, "/root/miniforge3")
20480
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from pyinfra.api import FactBase

SECTION = "@@labtorch:"

SAMPLE_OUTPUT = """@@labtorch:uname@@
Linux x86_64
@@labtorch:home@@
/root
@@labtorch:python@@
/usr/bin/python3
Python 3.11.2
@@labtorch:df@@
Filesystem     1024-blocks      Used Available Capacity Mounted on
/dev/sda1         41152736  18000000  20971520      47% /
"""


@dataclass(frozen=True)
class SystemInfo:
    """What a host is: ``os`` ("linux" | "windows" | "unknown"), machine ``arch``, the SSH
    user's ``home``, the ``python`` found on PATH (path and version, or None) and the free space
    of each mounted filesystem as ``{mount point: MiB}``."""

    os: str = "unknown"
    arch: str | None = None
    kernel: str | None = None
    home: str | None = None
    python: str | None = None
    python_version: str | None = None
    free_mib: dict[str, int] = field(default_factory=dict)


def split_sections(text: str) -> dict[str, list[str]]:
    """Split ``@@labtorch:name@@`` delimited output into ``{name: lines}``."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(SECTION) and stripped.endswith("@@"):
            current = sections.setdefault(stripped[len(SECTION) : -2], [])
            continue
        if current is not None:
            current.append(line)
    return sections


def parse_system(text: str) -> SystemInfo:
    """Parse the output of :class:`HostSystem`'s command (see ``SAMPLE_OUTPUT``)."""
    sections = split_sections(text)
    uname = " ".join(sections.get("uname", [])).split()
    kernel = uname[0] if uname else None
    os_name = {"linux": "linux"}.get((kernel or "").lower(), "unknown")
    if kernel and kernel.lower().startswith(("mingw", "msys", "cygwin", "windows")):
        os_name = "windows"
    arch = uname[1] if len(uname) > 1 else None
    home_lines = [line.strip() for line in sections.get("home", []) if line.strip()]
    python_lines = [line.strip() for line in sections.get("python", []) if line.strip()]
    python = python_lines[0] if python_lines and python_lines[0].startswith("/") else None
    python_version = None
    for line in python_lines:
        if line.startswith("Python "):
            python_version = line.split()[1]
    free: dict[str, int] = {}
    for line in sections.get("df", []):
        parts = line.split()
        if len(parts) < 6 or not parts[3].isdigit():
            continue
        mount = " ".join(parts[5:])
        free[mount] = int(parts[3]) // 1024
    return SystemInfo(
        os=os_name,
        arch=arch,
        kernel=kernel,
        home=home_lines[0] if home_lines else None,
        python=python,
        python_version=python_version,
        free_mib=free,
    )


def free_mib_at(info: SystemInfo, path: str) -> int | None:
    """Free MiB on the filesystem that holds ``path`` (the longest matching mount point)."""
    best: str | None = None
    for mount in info.free_mib:
        inside = path == mount or path.startswith(mount.rstrip("/") + "/") or mount == "/"
        if inside and (best is None or len(mount) > len(best)):
            best = mount
    return info.free_mib[best] if best is not None else None


class HostSystem(FactBase[SystemInfo]):
    """OS, architecture, home directory, Python on PATH and free disk, in one command.

    ``paths`` are extra directories whose filesystem's free space is wanted (the nearest existing
    parent is measured). Returns a :class:`SystemInfo`.
    """

    def command(self, paths: tuple[str, ...] = ()) -> str:
        quoted = " ".join(_quote(p) for p in ("$HOME", "/opt", "/tmp", *paths))
        return (
            f"echo '{SECTION}uname@@'; uname -s -m; "
            f"echo '{SECTION}home@@'; echo \"$HOME\"; "
            f"echo '{SECTION}python@@'; "
            'p=$(command -v python3 || command -v python) && echo "$p" && "$p" -V 2>&1; '
            f"echo '{SECTION}df@@'; "
            f"for d in {quoted}; do "
            'while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done; '
            'df -Pk "$d" 2>/dev/null; done; true'
        )

    def process(self, output: list[str]) -> SystemInfo:
        return parse_system("\n".join(output))

    @staticmethod
    def default() -> SystemInfo:
        return SystemInfo()


def _quote(path: str) -> str:
    """Double-quote a path for sh but keep ``$HOME`` expandable."""
    if path == "$HOME":
        return '"$HOME"'
    return '"' + posixpath.normpath(path).replace('"', '\\"').replace("$", "\\$") + '"'
