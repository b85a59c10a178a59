"""`labtorch lab` (stub: filled in by its issue)."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Not yet built."""
