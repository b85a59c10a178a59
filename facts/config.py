"""Which conda and pip configuration is in effect on a host: every config file conda or pip
would read, in their precedence order, and the values that win.

The command only prints files between markers; :func:`parse_config_files`,
:func:`effective_conda_channels` and :func:`effective_pip_index` do the rest in Python.

>>> files = parse_config_files(SAMPLE)
>>> effective_conda_channels(files)
['conda-forge', 'nodefaults']
>>> effective_pip_index(files)
'https://pypi.tuna.tsinghua.edu.cn/simple'
"""

from __future__ import annotations

import configparser
import shlex
from dataclasses import dataclass
from typing import Any

import yaml
from pyinfra.api import FactBase

from labtorch.facts.system import SECTION

#: conda's search path on Unix (conda base/constants.py SEARCH_PATH), lowest precedence first.
CONDARC_PATHS = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
    "{prefix}/.condarc",
    "{prefix}/condarc",
    "~/.config/conda/.condarc",
    "~/.conda/.condarc",
    "~/.condarc",
)
#: pip's files on Unix (pip docs, topics/configuration), lowest precedence first.
PIP_CONF_PATHS = (
    "/etc/xdg/pip/pip.conf",
    "/etc/pip.conf",
    "~/.pip/pip.conf",
    "~/.config/pip/pip.conf",
    "{env}/pip.conf",
)

SAMPLE = """@@labtorch:file conda /opt/miniforge3/.condarc@@
channels: [conda-forge, nodefaults]
@@labtorch:file pip /etc/pip.conf@@
[global]
index-url = https://pypi.org/simple
@@labtorch:file pip /opt/miniforge3/envs/pytorch/pip.conf@@
[global]
index-url = https://pypi.tuna.tsinghua.edu.cn/simple
"""


@dataclass(frozen=True)
class ConfigFile:
    """One config file: ``kind`` ("conda" or "pip"), its path and its parsed content."""

    kind: str
    path: str
    data: dict[str, Any]
    error: str | None = None


def parse_config_files(text: str) -> list[ConfigFile]:
    """Split the fact's output into files (in the order printed = precedence) and parse each."""
    files: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{SECTION}file ") and stripped.endswith("@@"):
            kind, _, path = stripped[len(SECTION) + 5 : -2].partition(" ")
            files.append((kind, path, []))
        elif files:
            files[-1][2].append(line)
    result = []
    for kind, path, lines in files:
        body = "\n".join(lines)
        try:
            data = _conda(body) if kind == "conda" else _pip(body)
            result.append(ConfigFile(kind, path, data))
        except (yaml.YAMLError, configparser.Error) as err:
            result.append(ConfigFile(kind, path, {}, error=str(err).splitlines()[0]))
    return result


def _conda(body: str) -> dict[str, Any]:
    data = yaml.safe_load(body) or {}
    return data if isinstance(data, dict) else {}


def _pip(body: str) -> dict[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(body)
    return {section: dict(parser[section]) for section in parser.sections()}


def effective_conda_channels(files: list[ConfigFile]) -> list[str]:
    """The ``channels`` conda uses: lists from all files merged, higher precedence first."""
    channels: list[str] = []
    for file in reversed([f for f in files if f.kind == "conda"]):
        for channel in file.data.get("channels") or []:
            if channel not in channels:
                channels.append(str(channel))
    return channels


def effective_pip_index(files: list[ConfigFile]) -> str | None:
    """The ``index-url`` pip uses: the last file that sets it (``[global]`` or ``[install]``)."""
    index = None
    for file in (f for f in files if f.kind == "pip"):
        for section in ("global", "install"):
            index = file.data.get(section, {}).get("index-url", index)
    return index


def _expr(path: str) -> str:
    return '"$HOME"' + shlex.quote(path[1:]) if path.startswith("~") else shlex.quote(path)


class PackageConfig(FactBase[list[ConfigFile]]):
    """Every conda and pip config file in effect for the install at ``prefix`` and its env
    ``env_prefix``, in precedence order (lowest first). Returns a list of :class:`ConfigFile`.
    """

    def command(self, prefix: str, env_prefix: str) -> str:
        parts = []
        for kind, paths in (("conda", CONDARC_PATHS), ("pip", PIP_CONF_PATHS)):
            for template in paths:
                path = _expr(template.format(prefix=prefix, env=env_prefix))
                parts.append(
                    f'f={path}; [ -f "$f" ] && echo "{SECTION}file {kind} $f@@" && cat "$f"; '
                )
        return "".join(parts) + "true"

    def process(self, output: list[str]) -> list[ConfigFile]:
        return parse_config_files("\n".join(output))

    @staticmethod
    def default() -> list[ConfigFile]:
        return []
