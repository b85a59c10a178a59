"""One output convention: --format table|json and --output FILE on every command that prints a
result; old spellings still work and say what to write instead; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from labtorch.cli import main
from labtorch.lab.gpu import RECORDED_DIR

SMI = RECORDED_DIR / "gpuexp-rtx-2080-super-linux-595.71.05-table.txt"


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_plan_writes_json_to_the_output_file_and_nothing_to_stdout(tmp_path: Path):
    out = tmp_path / "plan.json"
    result = _run("plan", "--from", str(SMI), "--format", "json", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(out.read_text())["variant"].startswith("cu")


def test_facts_parse_writes_its_table_to_the_output_file(tmp_path: Path):
    out = tmp_path / "facts.txt"
    result = _run("facts", "parse", str(SMI), "--format", "table", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "format table, os linux, driver 595.71.05" in out.read_text()
    assert "RTX 2080" in out.read_text()
    assert "\x1b[" not in out.read_text()  # plain text in files, no colour codes


def test_a_bad_format_is_a_usage_error_with_exit_2():
    result = _run("facts", "parse", str(SMI), "--format", "yaml")
    assert result.exit_code == 2
    assert "Invalid value for '--format': 'yaml'" in result.output


def test_every_result_command_takes_format_and_output():
    for path in (["plan"], ["facts", "parse"], ["check"], ["inventory-report"],
                 ["lab", "status"]):
        command = main
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {"--format", "--output"} <= options, path


def test_output_into_a_system_folder_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    """labtorch runs as root: --output ../../etc/... must never replace a system file."""
    from click.testing import CliRunner

    from labtorch.cli import main

    target = "/etc/labtorch-test-never-written.json"
    depth = len(tmp_path.parts) - 1
    monkeypatch.chdir(tmp_path)
    for given in (target, "../" * depth + target.lstrip("/"), "/dev/null"):
        result = CliRunner().invoke(main, ["plan", "--gpu", "RTX 3080", "--driver", "550.54.14",
                                           "--os", "linux", "--output", given])
        assert result.exit_code == 2, result.output
        assert "labtorch: error: --output" in result.output
    assert not Path(target).exists()
