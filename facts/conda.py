"""Conda facts: existing installs at the usual places (or a given prefix), their envs, and what an
env holds. Shell only lists files; the parsing is the pure functions :func:`parse_conda_installs`
and :func:`parse_env_packages`.

>>> [i.flavor for i in parse_conda_installs(SAMPLE_INSTALLS)]
['miniforge']
>>> inst = parse_conda_installs(SAMPLE_INSTALLS)[0]
>>> (inst.version, inst.complete, inst.owned, inst.env("pytorch").owned)
('25.3.0', True, True, True)
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api import FactBase

from labtorch.facts.system import SECTION

#: Where conda installs usually live (Linux); ``~`` is the SSH user's home.
USUAL_PREFIXES = (
    "~/miniforge3",
    "~/miniconda3",
    "~/anaconda3",
    "~/mambaforge",
    "/opt/miniforge3",
    "/opt/miniconda3",
    "/opt/anaconda3",
    "/opt/conda",
)
RECEIPT_DIR = ".labtorch"
RECEIPT = f"{RECEIPT_DIR}/receipt.json"
ENV_RECEIPTS = f"{RECEIPT_DIR}/envs"

SAMPLE_INSTALLS = """@@labtorch:prefix /root/miniforge3@@
@@labtorch:conda-bin@@
@@labtorch:history@@
@@labtorch:meta@@
conda-25.3.0-py312h7900ff3_0.json
history
python-3.12.10-h9e4cc4f_0_cpython.json
@@labtorch:receipt@@
{"tool": "labtorch", "state": "complete", "flavor": "miniforge", "version": "25.3.0-3"}
@@labtorch:env pytorch@@
@@labtorch:env-python@@
@@labtorch:env-receipt@@
{"tool": "labtorch", "env": "pytorch", "python": "3.11"}
@@labtorch:env scratch@@
@@labtorch:env-python@@
"""


@dataclass(frozen=True)
class CondaEnvInfo:
    """One env of a conda install; ``receipt`` is labtorch's record of creating it
    (``<install>/.labtorch/envs/<name>.json``), if any."""

    name: str
    prefix: str
    has_python: bool = False
    receipt: dict[str, Any] | None = None

    @property
    def owned(self) -> bool:
        """True when labtorch created this env (it may then change it, and only then)."""
        return bool(self.receipt and self.receipt.get("tool") == "labtorch")


@dataclass(frozen=True)
class CondaInstall:
    """A conda install found on a host.

    ``complete`` means ``bin/conda`` and ``conda-meta/history`` exist. ``receipt`` is labtorch's
    ``.labtorch/receipt.json``: present only when labtorch started (``state="started"``) or
    finished (``"complete"``) the install, or adopted it (``"adopted"``).
    """

    prefix: str
    flavor: str = "unknown"
    version: str | None = None
    has_conda: bool = False
    has_history: bool = False
    receipt: dict[str, Any] | None = None
    envs: tuple[CondaEnvInfo, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.has_conda and self.has_history

    @property
    def owned(self) -> bool:
        """True when labtorch installed (or was told to adopt) this install."""
        return bool(self.receipt and self.receipt.get("tool") == "labtorch")

    @property
    def half_finished(self) -> bool:
        """labtorch started this install and it did not finish (a host stopped mid-run).

        Only a receipt in state "started" says so: an adopted install (someone else's) or a
        "complete" one that lost files is *not* half-finished and is never reinstalled over.
        """
        return self.owned and (self.receipt or {}).get("state") == "started"

    def env(self, name: str) -> CondaEnvInfo | None:
        return next((env for env in self.envs if env.name == name), None)


_CONDA_META = re.compile(r"^conda-(\d[^-]*)-[^-]+\.json$")
_ANACONDA_META = re.compile(r"^(anaconda|_anaconda_depends)-")


def _flavor(prefix: str, meta: list[str], receipt: dict[str, Any] | None) -> str:
    if receipt and receipt.get("flavor"):
        return str(receipt["flavor"])
    if any(_ANACONDA_META.match(name) for name in meta):
        return "anaconda"
    base = prefix.rstrip("/").rsplit("/", 1)[-1].lower()
    for flavor in ("miniforge", "mambaforge", "miniconda", "anaconda"):
        if flavor in base:
            return "miniforge" if flavor == "mambaforge" else flavor
    return "unknown"


def _json(lines: list[str]) -> dict[str, Any] | None:
    text = "\n".join(lines).strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"tool": "unknown", "unreadable": text[:200]}
    return value if isinstance(value, dict) else None


def parse_conda_installs(text: str) -> list[CondaInstall]:
    """Parse :class:`CondaInstalls`' output (see ``SAMPLE_INSTALLS``) into installs, in order."""
    installs: list[dict[str, Any]] = []
    env: dict[str, Any] | None = None
    key: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(SECTION) and line.endswith("@@"):
            tag = line[len(SECTION) : -2]
            if tag.startswith("prefix "):
                installs.append({"prefix": tag[7:], "meta": [], "receipt": [], "envs": []})
                env, key = None, None
            elif not installs:
                continue
            elif tag.startswith("env "):
                env = {"name": tag[4:], "receipt": [], "python": False}
                installs[-1]["envs"].append(env)
                key = None
            elif tag == "env-python" and env is not None:
                env["python"] = True
            elif tag == "env-receipt" and env is not None:
                key = "env-receipt"
            elif tag in ("conda-bin", "history"):
                installs[-1][tag] = True
            elif tag in ("meta", "receipt"):
                env, key = None, tag
            continue
        if not line or not installs or key is None:
            continue
        if key == "env-receipt" and env is not None:
            env["receipt"].append(line)
        elif key in ("meta", "receipt"):
            installs[-1][key].append(line)
    result = []
    for item in installs:
        receipt = _json(item["receipt"])
        version = next(
            (m.group(1) for m in map(_CONDA_META.match, item["meta"]) if m is not None), None
        )
        prefix = item["prefix"]
        result.append(
            CondaInstall(
                prefix=prefix,
                flavor=_flavor(prefix, item["meta"], receipt),
                version=version,
                has_conda=bool(item.get("conda-bin")),
                has_history=bool(item.get("history")),
                receipt=receipt,
                envs=tuple(
                    CondaEnvInfo(
                        name=e["name"],
                        prefix=f"{prefix.rstrip('/')}/envs/{e['name']}",
                        has_python=e["python"],
                        receipt=_json(e["receipt"]),
                    )
                    for e in item["envs"]
                ),
            )
        )
    return result


def _install_listing(prefix_expr: str) -> str:
    """sh that lists one candidate prefix (only files and names; nothing is executed)."""
    return (
        f"p={prefix_expr}; "
        'if [ -d "$p" ]; then '
        f'echo "{SECTION}prefix $p@@"; '
        f'[ -x "$p/bin/conda" ] && echo "{SECTION}conda-bin@@"; '
        f'[ -f "$p/conda-meta/history" ] && echo "{SECTION}history@@"; '
        f'echo "{SECTION}meta@@"; ls -1 "$p/conda-meta" 2>/dev/null; '
        f'echo "{SECTION}receipt@@"; cat "$p/{RECEIPT}" 2>/dev/null; echo; '
        'for e in "$p"/envs/*/; do [ -d "$e" ] || continue; e=${e%/}; '
        f'echo "{SECTION}env ${{e##*/}}@@"; '
        f'[ -x "$e/bin/python" ] && echo "{SECTION}env-python@@"; '
        f'echo "{SECTION}env-receipt@@"; '
        f'cat "$p/{ENV_RECEIPTS}/${{e##*/}}.json" 2>/dev/null; echo; '
        "done; fi; "
    )


class CondaInstalls(FactBase[list[CondaInstall]]):
    """Conda installs (Miniforge, Miniconda, Anaconda) at the usual places plus ``prefixes``,
    with their version, whether they are complete, labtorch's receipt and their envs.

    Returns a list of :class:`CondaInstall`, one per existing prefix.
    """

    def command(self, prefixes: tuple[str, ...] = ()) -> str:
        candidates = []
        for prefix in (*prefixes, *USUAL_PREFIXES):
            if prefix.startswith("~"):
                expr = '"$HOME"' + shlex.quote(prefix[1:])
            else:
                expr = shlex.quote(prefix)
            if expr not in candidates:
                candidates.append(expr)
        return "".join(_install_listing(expr) for expr in candidates) + "true"

    def process(self, output: list[str]) -> list[CondaInstall]:
        seen: set[str] = set()
        result = []
        for install in parse_conda_installs("\n".join(output)):
            if install.prefix.rstrip("/") not in seen:
                seen.add(install.prefix.rstrip("/"))
                result.append(install)
        return result

    @staticmethod
    def default() -> list[CondaInstall]:
        return []


class CondaInstallAt(FactBase["CondaInstall | None"]):
    """The conda install at exactly ``prefix`` (absolute path), or None when the path is absent."""

    def command(self, prefix: str) -> str:
        return _install_listing(shlex.quote(prefix)) + "true"

    def process(self, output: list[str]) -> CondaInstall | None:
        installs = parse_conda_installs("\n".join(output))
        return installs[0] if installs else None

    @staticmethod
    def default() -> CondaInstall | None:
        return None


@dataclass(frozen=True)
class EnvPackages:
    """What an env's Python holds: its version and ``{normalized name: version}`` from pip."""

    python_version: str
    packages: dict[str, str]

    def version_of(self, name: str) -> str | None:
        return self.packages.get(_normalize(name))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_env_packages(text: str) -> EnvPackages | None:
    """Parse ``python -V`` followed by ``pip list --format=json``; None when Python is missing.

    >>> parse_env_packages('Python 3.11.2\\n[{"name": "Torch", "version": "2.7.1+cpu"}]')
    EnvPackages(python_version='3.11.2', packages={'torch': '2.7.1+cpu'})
    """
    lines = [line for line in text.splitlines() if line.strip()]
    version = next((line.split()[1] for line in lines if line.startswith("Python ")), None)
    if version is None:
        return None
    packages: dict[str, str] = {}
    for line in lines:
        if line.lstrip().startswith("["):
            try:
                rows = json.loads(line)
            except json.JSONDecodeError:
                continue
            packages.update({_normalize(row["name"]): row["version"] for row in rows})
    return EnvPackages(python_version=version, packages=packages)


class CondaEnvPackages(FactBase["EnvPackages | None"]):
    """Python version and pip-visible packages of the env at ``env_prefix``; None if no Python."""

    def command(self, env_prefix: str) -> str:
        python = shlex.quote(f"{env_prefix.rstrip('/')}/bin/python")
        return (
            f"if [ -x {python} ]; then {python} -V 2>&1 && "
            f"{python} -m pip list --format=json --disable-pip-version-check 2>/dev/null; fi; true"
        )

    def process(self, output: list[str]) -> EnvPackages | None:
        return parse_env_packages("\n".join(output))

    @staticmethod
    def default() -> EnvPackages | None:
        return None
