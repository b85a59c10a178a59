"""The ``labtorch`` command. Each sub-command lives in its own module of this package.

Bad input exits 2 with one line on stderr naming what was wrong and what to do; every exit
code is listed in :mod:`labtorch.cli.codes`.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from labtorch.cli.codes import EXIT_USAGE
from labtorch.errors import LabtorchError

#: Longer arguments are refused before any command sees them (Linux's PATH_MAX).
MAX_ARG_CHARS = 4096


class _Group(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:  # every argument of the command line, before any command sees it
            if "\x00" in arg or len(arg) > MAX_ARG_CHARS:
                click.echo(f"labtorch: error: an argument ({arg[:40]!r}...) holds a NUL byte or "
                           f"is longer than {MAX_ARG_CHARS} characters; pass plain paths and "
                           "values", err=True)
                sys.exit(EXIT_USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabtorchError as err:
            click.echo(f"labtorch: error: {err.line()}", err=True)
            sys.exit(EXIT_USAGE)
        except OSError as err:  # a path the OS refuses (name too long, a device, no permission)
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"labtorch: error: {where}{err.strerror or err}; pass a readable file "
                       "or folder", err=True)
            sys.exit(EXIT_USAGE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labtorch")
def main() -> None:
    """Plan, provision and re-check PyTorch GPU environments for lab rooms."""


def _register() -> None:
    from labtorch.cli import cache, check, facts, lab, plan
    from labtorch.cli.data import data
    from labtorch.cli.gpus import gpus
    from labtorch.cli.init import init
    from labtorch.cli.inventory import inventory
    from labtorch.cli.lock import lock

    main.add_command(cache.cache)
    main.add_command(facts.facts)
    main.add_command(plan.plan)
    main.add_command(gpus)
    main.add_command(lab.lab)
    main.add_command(inventory)
    main.add_command(data)
    main.add_command(lock)
    main.add_command(init)
    for command in check.COMMANDS:
        main.add_command(command)


_register()
