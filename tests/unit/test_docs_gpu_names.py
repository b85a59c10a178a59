"""Every command shown in docs/gpu-names.md runs and prints the lines the page shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "gpu-names.md"
BLOCKS = re.findall(r"```console\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_page_shows_commands() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[0][2:60] for b in BLOCKS])
def test_a_documented_command_prints_what_the_page_shows(block: str) -> None:
    command, *shown = block.splitlines()
    assert command.startswith("$ labtorch ")
    result = CliRunner().invoke(main, shlex.split(command)[2:])
    printed = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    for line in shown:
        if line.strip() and line.strip() != "…":
            assert line.strip() in printed, f"{command}: {line!r} not in:\n" + "\n".join(printed)
