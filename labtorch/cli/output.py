"""The one output convention of every ``labtorch`` command that prints a result.

``--format table|json`` chooses the form (a table for people, JSON for programs) and
``--output FILE`` where it goes (default: stdout; ``-`` is stdout too). Progress and warnings go
to stderr, so stdout holds the result alone. Older spellings (``--json FILE``, ``lab status
--json``) still work and say once, on stderr, what to write instead.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from labtorch.errors import LabtorchError

FORMATS = ("table", "json")

format_option = click.option(
    "--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True,
    help="table (for people) or json (for programs).")
output_option = click.option(
    "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the result to FILE instead of stdout ('-': stdout).")


def deprecated(old: str, new: str) -> None:
    """Say on stderr that ``old`` still works but ``new`` is the spelling to use."""
    click.echo(f"labtorch: warning: {old} is deprecated; use {new}", err=True)


def to_stdout(output: Path | None) -> bool:
    return output is None or output == Path("-")


def refuse_system_path(path: Path, option: str) -> None:
    """Refuse to write a report over a system file (``/etc/shadow``, a device): labtorch often
    runs as root, where a mistyped or hostile path would otherwise replace what it did not make.
 Raises :class:`LabtorchError` for a path in a system folder (after resolving ``..`` and
    links) or an existing file that is not a regular one (``/dev/zero``).
    """
    from labtorch.inputs import system_path_problem

    resolved = os.path.realpath(path)
    problem = system_path_problem(resolved)
    if problem == "is a system folder":  # /tmp, /srv ...: a folder, which the write refuses itself
        problem = None
    if problem is None and os.path.exists(resolved) and not os.path.isfile(resolved) \
            and not os.path.isdir(resolved):
        problem = "is not a regular file"
    if problem is not None:
        raise LabtorchError(f"{option} {resolved} {problem}",
                            fix=f"pass {option} a file in your own folders, e.g. ./report.json")


def write(text: str, output: Path | None, option: str = "--output") -> None:
    """``text`` to stdout (``output`` None or ``-``) or to the file ``output`` (never over a
    system file); ``option`` names the option in errors (``--html``, ``--junit`` ...)."""
    if to_stdout(output):
        click.echo(text, nl=False)
        return
    assert output is not None
    refuse_system_path(output, option)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise LabtorchError(f"cannot write {output}: {err.strerror}",
                            fix=f"choose a writable path for {option}") from err


def console() -> Console:
    """stdout console at the terminal's width (160 columns when stdout is not a terminal, so
    that cron mails and CI logs do not wrap)."""
    out = Console(highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=False, width=160)
    return out


def show(*renderables: Any, output: Path | None) -> None:
    """Print rich renderables to stdout, or as plain text (160 columns) to ``output``."""
    if to_stdout(output):
        out = console()
        for item in renderables:
            out.print(item) if not isinstance(item, str) else out.print(item, markup=False)
        return
    buffer = io.StringIO()
    plain = Console(file=buffer, width=160, highlight=False, soft_wrap=False, color_system=None)
    for item in renderables:
        plain.print(item) if not isinstance(item, str) else plain.print(item, markup=False)
    write(buffer.getvalue(), output)
