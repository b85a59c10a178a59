"""The documentation site: every setting and every command is in the reference pages."""

from __future__ import annotations

from pathlib import Path

import click

from labtorch.cli import main
from labtorch.room_files import all_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_in_the_settings_reference():
    text = (DOCS / "reference" / "settings.md").read_text()
    missing = [key for key in all_settings() if f"`{key}`" not in text]
    assert missing == []


def test_every_command_and_option_is_in_the_commands_reference():
    text = (DOCS / "reference" / "commands.md").read_text()

    def walk(command: click.Command, path: list[str]) -> list[str]:
        if isinstance(command, click.Group):
            return [m for name, sub in command.commands.items() for m in walk(sub, [*path, name])]
        wanted = [f"## `{' '.join(path)}`"] + [
            f"`{p.opts[0]}`" for p in command.params if isinstance(p, click.Option)]
        return [w for w in wanted if w not in text]

    assert walk(main, ["labtorch"]) == []
