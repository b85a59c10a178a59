"""Check PowerShell text with a real PowerShell grammar (tree-sitter-powershell from PyPI).

Used by the Windows tests on every script labtorch generates. What this proves: the text is
syntactically valid PowerShell as that grammar reads it (zero ERROR and MISSING nodes), plus
one pitfall the grammar accepts but PowerShell rejects at run time: ``"$name: ..."`` in an
expandable string (PowerShell reads ``$name:`` as a drive-qualified variable and fails). What it
does not prove: that the commands behave as intended on Windows (no Windows machine here).
"""

from __future__ import annotations

import re
from functools import cache

import tree_sitter
import tree_sitter_powershell

#: ``$x:`` is only valid for these scope and drive qualifiers (``$env:PATH``, ``$script:x``).
_QUALIFIERS = ("env", "global", "script", "local", "private", "using", "variable", "function")
_BAD_COLON = re.compile(r"\$(?!\{)([A-Za-z_][A-Za-z0-9_]*):(?![A-Za-z_{])")


@cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def problems(text: str) -> list[str]:
    """Every syntax problem in ``text``: ERROR/MISSING nodes with their line, and
    ``"$name:"`` pitfalls inside expandable strings. Empty when the script is clean."""
    tree = _parser().parse(text.encode("utf-8"))
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        line = node.start_point[0] + 1
        if node.is_error or node.type == "ERROR":
            found.append(f"line {line}: ERROR at {node.text.decode(errors='replace')[:60]!r}")
        elif node.is_missing:
            found.append(f"line {line}: MISSING {node.type}")
        elif node.type == "expandable_string_literal":
            for match in _BAD_COLON.finditer(node.text.decode(errors="replace")):
                if match.group(1).lower() not in _QUALIFIERS:
                    found.append(f"line {line}: '${match.group(1)}:' in a string (use ${{...}})")
        stack.extend(node.children)
    return found
