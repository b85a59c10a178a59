# labtorch conda stand-in: NOT real conda. See tests/standins/conda/README.md.
"""The small YAML subset that `.condarc` files use, for the conda stand-in.

The stand-in runs on the host's bare base interpreter (no PyYAML), so it reads and writes
`.condarc` with this module. Supported: comments, top-level keys, block lists (`- x`), flow lists
(`[a, b]`), one level of nested maps (`custom_channels:`, `plugins:`) and plain, single- or
double-quoted scalars. Anything else is an error naming the line, like conda's
`ConfigurationLoadError`.

    >>> loads("channels:\\n  - conda-forge\\nshow_channel_urls: true\\n")
    {'channels': ['conda-forge'], 'show_channel_urls': True}
"""

from __future__ import annotations

import re
from typing import Any

HEADER = "# labtorch conda stand-in: written by the stand-in's `conda config`, not real conda\n"

_KEY = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-]+|'[^']*'|\"[^\"]*\")\s*:(?:\s+(?P<value>.*))?$"
)
_ITEM = re.compile(r"^(?P<indent> *)-\s+(?P<value>.*)$")


class YamlSubsetError(ValueError):
    """A `.condarc` line the stand-in's YAML subset cannot read."""


def _strip_comment(line: str) -> str:
    out = []
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            break
        out.append(char)
    return "".join(out).rstrip()


def scalar(text: str) -> Any:
    """Turn one YAML scalar into a Python value (YAML 1.1 booleans, as ruamel reads them)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [scalar(part) for part in inner.split(",")] if inner else []
    if text == "{}":
        return {}
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("null", "~", ""):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def loads(text: str) -> dict[str, Any]:
    """Parse `.condarc` text into a dict; raise YamlSubsetError naming the bad line."""
    result: dict[str, Any] = {}
    lines = [(n, _strip_comment(raw)) for n, raw in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line.strip()]
    top_key: str | None = None
    nested_key: str | None = None
    for number, line in lines:
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise YamlSubsetError(f"line {number}: tabs are not allowed for indentation")
        item = _ITEM.match(line)
        key = _KEY.match(line)
        indent = len(line) - len(line.lstrip())
        if item and top_key is not None:
            container = result[top_key]
            if nested_key is not None and isinstance(container, dict):
                target = container.setdefault(nested_key, [])
                if target is None:
                    target = container[nested_key] = []
            else:
                if container is None:
                    container = result[top_key] = []
                target = container
            if not isinstance(target, list):
                raise YamlSubsetError(f"line {number}: list item under a non-list key")
            target.append(scalar(item.group("value")))
        elif key and indent == 0:
            top_key = str(scalar(key.group("key")))
            nested_key = None
            value = key.group("value")
            result[top_key] = scalar(value) if value is not None else None
        elif key and top_key is not None:
            container = result[top_key]
            if container is None:
                container = result[top_key] = {}
            if not isinstance(container, dict):
                raise YamlSubsetError(f"line {number}: mapping entry under a non-mapping key")
            nested_key = str(scalar(key.group("key")))
            value = key.group("value")
            container[nested_key] = scalar(value) if value is not None else None
        else:
            raise YamlSubsetError(f"line {number}: cannot parse {line.strip()!r}")
    return result


def _dump_scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    text = str(value)
    if text == "" or text[0] in "[]{}#&*!|>'\"%@`-" or ": " in text or " #" in text:
        return "'" + text.replace("'", "''") + "'"
    if scalar(text) != text:  # would read back as a bool/int/null
        return "'" + text + "'"
    return text


def dumps(config: dict[str, Any]) -> str:
    """Write a dict in the block style conda's ruamel round-trip dump produces."""
    out = [HEADER]
    for key, value in config.items():
        if isinstance(value, dict):
            if not value:
                out.append(f"{key}: {{}}\n")
                continue
            out.append(f"{key}:\n")
            for sub_key, sub_value in value.items():
                if isinstance(sub_value, list):
                    out.append(f"  {sub_key}:\n")
                    out.extend(f"    - {_dump_scalar(v)}\n" for v in sub_value)
                else:
                    out.append(f"  {sub_key}: {_dump_scalar(sub_value)}\n")
        elif isinstance(value, list):
            if not value:
                out.append(f"{key}: []\n")
                continue
            out.append(f"{key}:\n")
            out.extend(f"  - {_dump_scalar(v)}\n" for v in value)
        else:
            out.append(f"{key}: {_dump_scalar(value)}\n")
    return "".join(out)
