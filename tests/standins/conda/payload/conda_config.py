# labtorch conda stand-in: NOT real conda. See tests/standins/conda/README.md.
"""Configuration of the conda stand-in: .condarc search path, merging, `conda config`.

Replays conda/base/constants.py SEARCH_PATH, conda/base/context.py merging and
conda/cli/main_config.py (texts and exit codes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import condarc_yaml
from conda_errors import (
    ArgumentError,
    CondaError,
    CondaKeyError,
    CondaValueError,
    ConfigurationLoadError,
    print_json,
)

ROOT = Path(sys.prefix)
MARKER = ROOT / "conda-meta" / "labtorch-conda-standin.json"
SUBDIR = "linux-64"
ANACONDA_TOS_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")


def _marker() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MARKER.read_text())
    return data


CONDA_VERSION: str = _marker()["conda_version"]
FLAVOR: str = _marker()["flavor"]


def conda_at_least(version: str, major: int, minor: int) -> bool:
    """True when ``version`` ("25.9.1") is at least major.minor (version rules below)."""
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]]
    parts += [0] * (2 - len(parts))
    return (parts[0], parts[1]) >= (major, minor)


# Version rules replayed by the stand-in (see README "Version rules"):
#: conda >= 25.9 no longer puts `defaults` in an empty channel list (conda 25.9 release notes:
#: the implicit `defaults` channel is gone; an empty list stays empty).
EMPTY_CHANNELS_ADD_DEFAULTS = not conda_at_least(CONDA_VERSION, 25, 9)
#: conda 23.x read `nodefaults` from a .condarc as an ordinary channel name (only the CLI and
#: environment.yml treated it as "drop defaults"): it was fetched through channel_alias, a 404.
NODEFAULTS_FROM_RC_IS_A_CHANNEL = not conda_at_least(CONDA_VERSION, 24, 1)


# ----------------------------------------------------------------------------- configuration

PRIMITIVES = {
    "always_yes": "bool",
    "auto_activate": "bool",
    "auto_update_conda": "bool",
    "channel_alias": "str",
    "channel_priority": "str",
    "json": "bool",
    "notify_outdated_conda": "bool",
    "offline": "bool",
    "show_channel_urls": "bool",
    "ssl_verify": "bool_or_str",
    "allow_other_channels": "bool",
    "override_channels_enabled": "bool",
    "add_pip_as_python_dependency": "bool",
}
SEQUENCES = ("channels", "default_channels", "envs_dirs", "pkgs_dirs", "create_default_packages")
MAPS = ("custom_channels", "custom_multichannels")
PLUGIN_PRIMITIVES = {"auto_accept_tos": "bool"}
ALIASES = {"envs_path": "envs_dirs", "auto_activate_base": "auto_activate"}
DEFAULTS: dict[str, Any] = {
    "always_yes": False,
    "auto_activate": True,
    "auto_update_conda": True,
    "channel_alias": "https://conda.anaconda.org",
    "channel_priority": "flexible",
    "json": False,
    "notify_outdated_conda": True,
    "offline": False,
    "show_channel_urls": None,
    "ssl_verify": True,
    "allow_other_channels": True,
    "override_channels_enabled": True,
    "add_pip_as_python_dependency": True,
    "channels": [],
    "default_channels": list(ANACONDA_TOS_CHANNELS),
    "envs_dirs": [],
    "pkgs_dirs": [],
    "create_default_packages": [],
    "custom_channels": {},
    "custom_multichannels": {},
}


def user_rc_path() -> Path:
    return Path(os.path.expanduser("~")) / ".condarc"


def sys_rc_path() -> Path:
    return ROOT / ".condarc"


def search_path() -> list[Path]:
    """conda's SEARCH_PATH (base/constants.py), lowest precedence first, for Linux."""
    home = Path(os.path.expanduser("~"))
    xdg = os.environ.get("XDG_CONFIG_HOME", str(home / ".config"))
    paths = [
        Path("/etc/conda/.condarc"),
        Path("/etc/conda/condarc"),
        Path("/var/lib/conda/.condarc"),
        Path("/var/lib/conda/condarc"),
        ROOT / ".condarc",
        ROOT / "condarc",
        Path(xdg) / "conda" / ".condarc",
        Path(xdg) / "conda" / "condarc",
        home / ".config" / "conda" / ".condarc",
        home / ".conda" / ".condarc",
        home / ".condarc",
    ]
    if os.environ.get("CONDA_PREFIX"):
        paths.append(Path(os.environ["CONDA_PREFIX"]) / ".condarc")
    if os.environ.get("CONDARC"):
        paths.append(Path(os.environ["CONDARC"]))
    unique: list[Path] = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def read_rc(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = condarc_yaml.loads(text)
    except condarc_yaml.YamlSubsetError as exc:
        raise ConfigurationLoadError(path, str(exc)) from None
    return {ALIASES.get(k, k): v for k, v in data.items()}


def _typify(key: str, kind: str, value: Any, source: str) -> Any:
    if kind == "bool_or_str":  # ssl_verify: a boolean or a CA bundle path
        text = str(value).strip().lower()
        if isinstance(value, bool) or text not in ("true", "yes", "on", "false", "no", "off"):
            return value
        return text in ("true", "yes", "on")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "y", "1"):
            return True
        if text in ("false", "no", "off", "n", "0"):
            return False
        raise CondaValueError(f"Invalid value {value!r} for {key} ({source}): expected a boolean")
    return value


def _env_overrides() -> dict[str, Any]:
    """CONDA_<KEY> environment variables (conda's EnvRawParameter), highest file precedence."""
    found: dict[str, Any] = {}
    for key in list(PRIMITIVES) + list(SEQUENCES) + ["envs_path"]:
        value = os.environ.get("CONDA_" + key.upper())
        if value is None:
            continue
        name = ALIASES.get(key, key)
        if name in SEQUENCES:
            delimiter = os.pathsep if name in ("envs_dirs", "pkgs_dirs") else ","
            found[name] = [v for v in value.split(delimiter) if v]
        else:
            found[name] = _typify(name, PRIMITIVES[name], value, "CONDA_" + key.upper())
    auto_tos = os.environ.get("CONDA_PLUGINS_AUTO_ACCEPT_TOS")
    if auto_tos is not None:
        found["plugins"] = {"auto_accept_tos": _typify("plugins.auto_accept_tos", "bool",
                                                       auto_tos, "env")}
    return found


def collect_sources() -> list[tuple[str, dict[str, Any]]]:
    sources = [(str(path), read_rc(path)) for path in search_path() if path.is_file()]
    env = _env_overrides()
    if env:
        sources.append(("envvars", env))
    return sources


class Context:
    """Merged configuration: primitives last wins, sequences highest first, maps merged."""

    def __init__(self, cli_channels: list[str] | None = None, override: bool = False) -> None:
        if override and not cli_channels:
            raise ArgumentError("At least one -c / --channel flag must be supplied when using "
                                "--override-channels.")
        self.sources = collect_sources()
        merged: dict[str, Any] = {}
        for key, default in DEFAULTS.items():
            merged[key] = list(default) if isinstance(default, list) else (
                dict(default) if isinstance(default, dict) else default)
        plugins: dict[str, Any] = {"auto_accept_tos": False}
        seq_parts: dict[str, list[list[Any]]] = {k: [] for k in SEQUENCES}
        for source, data in self.sources:
            for key, value in data.items():
                if key in PRIMITIVES and value is not None:
                    merged[key] = _typify(key, PRIMITIVES[key], value, source)
                elif key in SEQUENCES and value is not None:
                    seq_parts[key].append(value if isinstance(value, list) else [value])
                elif key in MAPS and isinstance(value, dict):
                    merged[key].update(value)
                elif key == "plugins" and isinstance(value, dict):
                    for sub, sub_value in value.items():
                        if sub in PLUGIN_PRIMITIVES:
                            plugins[sub] = _typify(f"plugins.{sub}", "bool", sub_value, source)
        for key, parts in seq_parts.items():
            if not parts:
                continue
            combined: list[Any] = []
            for part in reversed(parts):
                for item in part:
                    if item not in combined:
                        combined.append(item)
            merged[key] = combined
        if not merged["channels"] and EMPTY_CHANNELS_ADD_DEFAULTS:
            merged["channels"] = ["defaults"]
        self.rc_channels = set(merged["channels"])
        if cli_channels:
            merged["channels"] = list(cli_channels) if override else list(cli_channels) + [
                c for c in merged["channels"] if c not in cli_channels]
        home = Path(os.path.expanduser("~"))
        if not seq_parts["envs_dirs"]:
            merged["envs_dirs"] = [str(ROOT / "envs"), str(home / ".conda" / "envs")]
        if not seq_parts["pkgs_dirs"]:
            merged["pkgs_dirs"] = [str(ROOT / "pkgs"), str(home / ".conda" / "pkgs")]
        merged["envs_dirs"] = [os.path.expanduser(d) for d in merged["envs_dirs"]]
        merged["pkgs_dirs"] = [os.path.expanduser(d) for d in merged["pkgs_dirs"]]
        self.values = merged
        self.plugins = plugins
        if os.environ.get("CI", "").lower() == "true":
            self.plugins["auto_accept_tos"] = True  # conda-anaconda-tos treats CI=true as accepted

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def channel_base_urls(self) -> list[str]:
        """Expand channel names to base URLs like conda's Channel model (defaults, aliases)."""
        urls: list[str] = []
        for channel in self.values["channels"]:
            urls.extend(u for u in self.expand(channel) if u not in urls)
        return urls

    def expand(self, channel: str) -> list[str]:
        """One channel name or URL -> its base URLs."""
        if channel == "defaults":
            return list(self.values["default_channels"])
        if channel == "nodefaults":
            if NODEFAULTS_FROM_RC_IS_A_CHANNEL and channel in self.rc_channels:
                return [self.values["channel_alias"].rstrip("/") + "/nodefaults"]
            return []
        if re.match(r"^[a-z]+://", channel):
            return [channel.rstrip("/")]
        if channel in self.values["custom_channels"]:
            return [str(self.values["custom_channels"][channel]).rstrip("/") + "/" + channel]
        return [self.values["channel_alias"].rstrip("/") + "/" + channel]

    def channel_urls(self) -> list[str]:
        return [f"{u}/{s}" for u in self.channel_base_urls() for s in (SUBDIR, "noarch")]


# ---------------------------------------------------------------------------------- config


def _format_value(key: str, value: Any) -> list[str]:
    if isinstance(value, dict):
        if not value:
            return [f"{key}: {{}}"]
        lines = [f"{key}:"]
        for k, v in value.items():
            lines.append(f"  {k}: {v}")
        return lines
    if isinstance(value, (list, tuple)):
        if not value:
            return [f"{key}: []"]
        return [f"{key}:"] + [f"  - {v}" for v in value]
    return [f"{key}: {value}"]


def _print_config_item(key: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _print_config_item(f"{key}.{k}", v)
    elif isinstance(value, (bool, int, str)):
        print(f"--set {key} {value}")
    elif isinstance(value, list):
        count = len(value)
        for index, item in enumerate(reversed(value)):
            if key == "channels" and index in (0, count - 1):
                note = "  # lowest priority" if index == 0 else "  # highest priority"
                print(f"--add {key} {item!r} {note}")
            else:
                print(f"--add {key} {item!r}")


def _known_key(key: str) -> bool:
    first, *rest = key.split(".")
    if first == "plugins":
        return bool(rest) and rest[0] in PLUGIN_PRIMITIVES
    return ALIASES.get(first, first) in DEFAULTS


def cmd_config(args: argparse.Namespace, argv: list[str]) -> int:
    if args.show is not None:
        ctx = Context()
        keys = [ALIASES.get(k, k) for k in args.show] if args.show else sorted(DEFAULTS)
        unknown = [k for k in keys if not _known_key(k)]
        if unknown:
            listed = "".join(f"\n  - {k}" for k in unknown)
            raise ArgumentError(f"Invalid configuration parameters: {listed}")
        shown: dict[str, Any] = {}
        for key in keys:
            if key.startswith("plugins."):
                shown.setdefault("plugins", {})[key.split(".", 1)[1]] = \
                    ctx.plugins[key.split(".", 1)[1]]
            else:
                shown[key] = ctx[key]
        if not args.show:
            shown["plugins"] = dict(ctx.plugins)
        shown = dict(sorted(shown.items()))
        if args.json:
            print(json.dumps(shown, indent=2, sort_keys=True))
        else:
            for key, value in shown.items():
                print("\n".join(_format_value(key, value)))
        return 0
    if args.show_sources:
        ctx = Context()
        if args.json:
            print(json.dumps(dict(ctx.sources), indent=2, sort_keys=True))
        else:
            for source, values in ctx.sources:
                print(f"==> {source} <==")
                for key, value in values.items():
                    print("\n".join(_format_value(key, value)))
                print()
        return 0

    if args.system:
        rc_path = sys_rc_path()
    elif args.file:
        rc_path = Path(os.path.expanduser(args.file))
    elif args.env and os.environ.get("CONDA_PREFIX"):
        rc_path = Path(os.environ["CONDA_PREFIX"]) / ".condarc"
    else:
        rc_path = user_rc_path()
    if rc_path.exists():
        rc = read_rc(rc_path)
    elif sys_rc_path().exists():
        rc = read_rc(sys_rc_path())  # conda falls back to the system rc (main_config.py)
    else:
        rc = {}
    warnings: list[str] = []
    got: dict[str, Any] = {}

    if args.get is not None:
        for key in args.get or sorted(rc):
            if not _known_key(key):
                message = f"Unknown key: {key!r}"
                if args.json:
                    warnings.append(message)
                else:
                    print(message, file=sys.stderr)
                continue
            node: Any = rc
            try:
                for part in ALIASES.get(key, key).split("."):
                    node = node[part]
            except (KeyError, TypeError):
                continue
            if args.json:
                got[key] = node
            else:
                _print_config_item(key, node)

    for items, prepend in ((args.prepend, True), (args.append, False)):
        for key, item in items:
            key = ALIASES.get(key, key)
            if key not in SEQUENCES:
                raise CondaValueError(f"Key '{key}' is not a known sequence parameter.")
            current = rc.setdefault(key, [])
            if not isinstance(current, list):
                raise CondaError(f"key {key!r} should be a list, not "
                                 f"{type(current).__name__}.")
            if item in current:
                where = "top" if prepend else "bottom"
                message = f"Warning: '{item}' already in '{key}' list, moving to the {where}"
                current = rc[key] = [p for p in current if p != item]
                if args.json:
                    warnings.append(message)
                else:
                    print(message, file=sys.stderr)
            current.insert(0 if prepend else len(current), item)

    for key, item in args.set:
        if not _known_key(key):
            print(f"Unknown key: {key!r}", file=sys.stderr)
            raise CondaKeyError(key, "unknown parameter")
        first, *rest = ALIASES.get(key, key).split(".")
        if first == "plugins" and len(rest) == 1:
            rc.setdefault("plugins", {})[rest[0]] = _typify(key, "bool", item, "--set parameter")
        elif first in PRIMITIVES and not rest:
            rc[first] = _typify(first, PRIMITIVES[first], item, "--set parameter")
        elif first in MAPS and len(rest) == 1:
            rc.setdefault(first, {})[rest[0]] = item
        else:
            raise CondaKeyError(key, "invalid parameter")

    for key, item in args.remove:
        key = ALIASES.get(key, key)
        if key not in SEQUENCES:
            raise CondaKeyError(key, "unknown parameter" if not _known_key(key)
                                else "invalid parameter")
        if key not in rc:
            if key != "channels":
                raise CondaKeyError(key, "undefined in config")
            rc[key] = ["defaults"]
        if item not in rc[key]:
            raise CondaKeyError(key, f"value {item!r} not present in config")
        rc[key] = [i for i in rc[key] if i != item]

    for key in args.remove_key:
        parts = ALIASES.get(key, key).split(".")
        node = rc
        try:
            for part in parts[:-1]:
                node = node[part]
            del node[parts[-1]]
        except (KeyError, TypeError):
            raise CondaKeyError(key, "undefined in config") from None

    if not args.get:
        try:
            rc_path.parent.mkdir(parents=True, exist_ok=True)
            rc_path.write_text(condarc_yaml.dumps(rc))
        except OSError as exc:
            raise CondaError(f"Cannot write to condarc file at {rc_path}\nCaused by {exc!r}") \
                from None
    if args.json:
        print_json({"get": got, "rc_path": str(rc_path), "success": True, "warnings": warnings})
    return 0
