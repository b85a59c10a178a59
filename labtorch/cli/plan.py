"""`labtorch plan` (stub: filled in by its issue)."""

from __future__ import annotations

import click


@click.group()
def plan() -> None:
    """Not yet built."""
