"""Verification facts: run the on-host verification script, or read the report it left.

Both return the script's JSON document (see ``roles/files/labtorch_verify.py``) as a dict; the
judging is :func:`labtorch.verify_report.judge`. Parsing is the pure :func:`parse_report`, which
works on a saved output too:

>>> parse_report(['noise from a warning', '{"schema": "labtorch-verify/1", "torch": {}}'])
{'schema': 'labtorch-verify/1', 'torch': {}}
>>> parse_report(['Traceback (most recent call last):', 'Segmentation fault'])["error"]
'the verification printed no report: Traceback (most recent call last): | Segmentation fault'
>>> parse_report([]) is None
True
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from pyinfra.api import FactBase, StringCommand

SCHEMA = "labtorch-verify/1"


def parse_report(lines: list[str]) -> dict[str, Any] | None:
    """The last line that is a JSON object wins (the script prints exactly one, last).

    Returns None for no output; a document with ``error`` when nothing parses, so the judge
    reports "the verification did not run (...)" with the output's own last words.
    """
    if not lines:
        return None
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    tail = " | ".join(line.strip() for line in lines[-3:] if line.strip())
    return {"schema": SCHEMA, "error": f"the verification printed no report: {tail[:500]}"}


class VerificationRun(FactBase):
    """Run the verification script with the env's Python and return its report (a dict).

    ``python`` is the env's interpreter (absolute path); ``script`` the uploaded
    ``labtorch_verify.py``; ``plan`` the ``plan.json`` beside it. Not cached between calls: each
    call runs the checks again (a kernel start and a GPU matmul, a few seconds). Reads only,
    apart from writing its own report next to the plan.
    """

    def requires_command(self, python: str, script: str, plan: str,
                         kernel_timeout: int = 60) -> str:
        return python

    def command(self, python: str, script: str, plan: str, kernel_timeout: int = 60) -> Any:
        return StringCommand(
            shlex.quote(python), shlex.quote(script), "--plan", shlex.quote(plan),
            "--kernel-timeout", str(int(kernel_timeout)),
        )

    def process(self, output: list[str]) -> dict[str, Any] | None:
        return parse_report(output)

    @staticmethod
    def default() -> dict[str, Any] | None:
        return None


class StoredReport(FactBase):
    """The JSON document at ``path`` (a ``verify.json`` or ``plan.json``), or None when absent.

    What the compliance check reads without running anything on the host.
    """

    def command(self, path: str) -> Any:
        quoted = shlex.quote(path)
        return StringCommand(f"! test -f {quoted} || cat {quoted}")

    def process(self, output: list[str]) -> dict[str, Any] | None:
        text = "\n".join(output).strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            return {"schema": SCHEMA, "error": f"unreadable JSON ({err.msg})"}
        return value if isinstance(value, dict) else None

    @staticmethod
    def default() -> dict[str, Any] | None:
        return None
