"""`labtorch facts` (stub: filled in by its issue)."""

from __future__ import annotations

import click


@click.group()
def facts() -> None:
    """Not yet built."""
