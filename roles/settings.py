"""Site settings of the provisioning roles: defaults, validation, and the ``SitePolicy``.

Every setting is host/group data with the ``labtorch_`` prefix (``inventory/group_data/all.py``);
:data:`DEFAULTS` lists each one with its default and is what the roles pass to
``@deploy(data_defaults=...)``. :func:`settings_for` reads them for one host, checks them and
says what is wrong in the admin's words.

>>> s = Settings.from_data({"labtorch_env_name": "dl"}, host="pc01", home="/home/lab")
>>> (s.env_name, s.conda_prefix, s.env_prefix)
('dl', '/opt/miniforge3', '/opt/miniforge3/envs/dl')
>>> Settings.from_data({"labtorch_install_scope": "user"}, home="/home/lab").conda_prefix
'/home/lab/miniforge3'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from labtorch import compat
from labtorch.cache.urls import through_cache
from labtorch.errors import DataError, LabtorchError
from labtorch.inputs import safe_name, system_path_problem
from labtorch.model import SitePolicy
from labtorch.roles.net import DEFAULT_NET, NetPolicy

#: Every setting with its default (documented in README.md ("Provisioning a room")).
DEFAULTS: dict[str, Any] = {
    # what to install (the planner's SitePolicy)
    "labtorch_torch_spec": "latest",
    "labtorch_python": None,
    "labtorch_python_max": "3.12",
    "labtorch_mirror": "official",
    "labtorch_pytorch_index_url": None,
    "labtorch_pypi_index_url": None,
    "labtorch_driver_floor": "minor",
    "labtorch_allow_cpu": True,
    "labtorch_include_torchvision": True,
    "labtorch_include_torchaudio": True,
    # the room lock (labtorch.room_lock): a path on the admin's machine, None = no lock
    "labtorch_lock_file": None,
    "labtorch_lock_newer_is_drift": False,
    # where and how
    "labtorch_env_name": "pytorch",
    "labtorch_conda_flavor": "miniforge",
    "labtorch_conda_version": None,
    "labtorch_install_scope": "all",
    "labtorch_conda_prefix": None,
    "labtorch_installer_mirror": None,
    "labtorch_installer_sha256": None,
    "labtorch_adopt_conda": False,
    "labtorch_accept_defaults_tos": False,
    "labtorch_conda_channels": ("conda-forge",),
    "labtorch_conda_channel_url": None,
    "labtorch_condarc_mode": "persistent",
    "labtorch_kernel_scope": "all",
    "labtorch_kernel_name": None,
    "labtorch_kernel_display_name": None,
    "labtorch_ipykernel_spec": "ipykernel",
    "labtorch_pip_extra_args": (),
    "labtorch_min_free_mib": 8192,
    "labtorch_os": None,
    # the room cache (docs/room-cache.md)
    "labtorch_cache_url": None,
    "labtorch_cache_fallback": False,
    "labtorch_wheel_dir": None,
    # network steps (docs/hardening.md): every download, pip and conda command is bounded
    "labtorch_connect_timeout": 10,
    "labtorch_stall_timeout": 60,
    "labtorch_net_retries": 2,
    "labtorch_command_timeout": 3600,
    "labtorch_fallback_mirrors": (),
    "labtorch_installer_fallback_urls": (),
    "labtorch_pypi_fallback_urls": (),
}

PREFIX_DIRS = {"miniforge": "miniforge3", "miniconda": "miniconda3"}
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./:\\-]+$")


_URL = re.compile(r"^https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KERNEL_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_MIRROR = re.compile(r"^[A-Za-z0-9_.-]+$")
_PYTHON = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
_CONDA_VERSION = re.compile(r"^[0-9][A-Za-z0-9._-]*$")
_SPEC = re.compile(r"^[A-Za-z0-9.,<>=!~*+ -]+$")
_LOCK_PATH = re.compile(r"^[^\x00-\x1f\x7f]+$")
_SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _bad(key: str, value: Any, allowed: str, host: str | None) -> LabtorchError:
    """The one error every setting check raises: host, setting, its value, what is allowed."""
    return LabtorchError(
        f"{key}={value!r} is not valid",
        host=host,
        fix=f"set {key} in inventory/group_data to {allowed}",
    )


def _choice(data: Mapping[str, Any], key: str, choices: tuple[str, ...], host: str | None) -> str:
    value = data.get(key)
    value = DEFAULTS[key] if value is None else value
    if value not in choices:
        raise LabtorchError(
            f"{key}={value!r} is not one of {', '.join(choices)}",
            host=host,
            fix=f"set {key} in inventory/group_data to one of {', '.join(choices)}",
        )
    return str(value)


def _text(value: Any, key: str, pattern: re.Pattern[str], allowed: str, host: str | None) -> str:
    """A string setting that must match ``pattern`` (it reaches a template or a shell command)."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad(key, value, allowed, host)
    return value


def _optional(
    value: Any, key: str, pattern: re.Pattern[str], allowed: str, host: str | None
) -> str | None:
    return None if value is None else _text(value, key, pattern, f"None or {allowed}", host)


def _url(value: Any, key: str, host: str | None, *, variant: bool = False) -> str | None:
    """None or an http(s) URL without spaces, quotes or line breaks."""
    if value is None:
        return None
    probe = value.replace("{variant}", "x") if variant and isinstance(value, str) else value
    _text(probe, key, _URL, "None or an http(s):// URL without spaces, quotes or line breaks", host)
    return str(value)


def _url_list(value: Any, key: str, host: str | None) -> tuple[str, ...]:
    """An ordered tuple of http(s) URLs (a single string is a one-element tuple)."""
    return _strings(value, key, _URL, "http(s):// URLs without spaces, quotes or line breaks",
                    host)


def _mirror_names(value: Any, host: str | None) -> tuple[str, ...]:
    """``labtorch_fallback_mirrors``: names of data/mirrors.yaml rows, tried in this order."""
    from labtorch import compat

    key = "labtorch_fallback_mirrors"
    names = _strings(value, key, _MIRROR, "mirror names of data/mirrors.yaml", host)
    known = compat.load().mirrors
    for name in names:
        if name not in known:
            raise _bad(key, value, f"a tuple of names from data/mirrors.yaml ({', '.join(known)})",
                       host)
    return names


def _flag(value: Any, key: str, host: str | None) -> bool:
    """True/False (also "yes"/"no", "true"/"false" and 1/0, as INI inventories write them)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    raise _bad(key, value, "True or False", host)


def _strings(
    value: Any, key: str, pattern: re.Pattern[str], allowed: str, host: str | None
) -> tuple[str, ...]:
    """A tuple setting; a single string is a one-element tuple (not its characters)."""
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (tuple, list)):
        raise _bad(key, value, f"a tuple of {allowed}", host)
    return tuple(_text(item, key, pattern, f"a tuple of {allowed}", host) for item in items)


def whole_number(value: Any, key: str, host: str | None, *, minimum: int = 0) -> int:
    """An integer setting (an int or a string of digits) of at least ``minimum``.

    >>> whole_number("300", "labtorch_verify_timeout", None, minimum=1)
    300
    >>> whole_number("5 min", "labtorch_verify_timeout", "pc01", minimum=1)
    Traceback (most recent call last):
    ...
    labtorch.errors.LabtorchError: pc01: labtorch_verify_timeout='5 min' is not valid; set \
labtorch_verify_timeout in inventory/group_data to a whole number of at least 1
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < minimum:
        raise _bad(key, value, f"a whole number of at least {minimum}", host)
    return number


def check_prefix(path: str, *, key: str, host: str | None) -> str:
    """Refuse prefixes conda cannot live in: non-ASCII, spaces, shell specials, relative paths.

    >>> check_prefix("/opt/miniforge3", key="labtorch_conda_prefix", host=None)
    '/opt/miniforge3'
    >>> check_prefix("/home/李/miniforge3", key="labtorch_conda_prefix", host="pc01")
    Traceback (most recent call last):
    ...
    labtorch.errors.LabtorchError: pc01: conda prefix '/home/李/miniforge3' contains non-ASCII \
characters or spaces, which break conda and MKL; set labtorch_conda_prefix to an ASCII path \
without spaces, e.g. /opt/miniforge3
    """
    if not path.isascii() or not _SAFE_PATH.fullmatch(path):
        raise LabtorchError(
            f"conda prefix {path!r} contains non-ASCII characters or spaces, "
            "which break conda and MKL",
            host=host,
            fix=f"set {key} to an ASCII path without spaces, e.g. /opt/miniforge3",
        )
    if not (path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path)):
        raise LabtorchError(
            f"conda prefix {path!r} is not an absolute path",
            host=host,
            fix=f"set {key} to an absolute path, e.g. /opt/miniforge3",
        )
    problem = system_path_problem(path)
    if problem:
        raise LabtorchError(
            f"conda prefix {path!r} {problem}",
            host=host,
            fix=f"set {key} to a folder of its own, e.g. /opt/miniforge3",
        )
    return path.rstrip("/\\") or "/"


@dataclass(frozen=True)
class Installer:
    """The installer one host downloads: file name, full URL and its pinned sha256."""

    flavor: str
    version: str
    file: str
    url: str
    sha256: str
    fallback_urls: tuple[str, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """Where to fetch it, in order: the site's mirror first, then its fallbacks."""
        return (self.url, *self.fallback_urls)


@cache
def _installer_table() -> dict[str, Any]:
    text = resources.files("labtorch.data").joinpath("installers.yaml").read_text("utf-8")
    table = yaml.safe_load(text)
    for row in table.get("installers", []):
        sha = str(row.get("sha256", ""))
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise DataError(f"data/installers.yaml: row {row.get('file')!r} has no valid sha256")
        if not row.get("source"):
            raise DataError(f"data/installers.yaml: row {row.get('file')!r} has no source")
    from labtorch.installers_refresh import installer_overlay  # `labtorch data installers`
    from labtorch.overlay import read_overlay

    return installer_overlay(table, read_overlay())


@dataclass(frozen=True)
class Settings:
    """The labtorch settings of one host, validated. Build with :meth:`from_data`."""

    policy: SitePolicy
    env_name: str
    conda_flavor: str
    conda_version: str
    install_scope: str
    conda_prefix: str
    installer_mirror: str | None
    installer_sha256: str | None
    adopt_conda: bool
    accept_defaults_tos: bool
    conda_channels: tuple[str, ...]
    conda_channel_url: str | None
    condarc_mode: str
    kernel_scope: str
    kernel_name: str
    kernel_display_name: str
    ipykernel_spec: str
    pip_extra_args: tuple[str, ...]
    min_free_mib: int
    home: str
    cache_url: str | None = None
    cache_fallback: bool = False
    wheel_dir: str | None = None
    net: NetPolicy = DEFAULT_NET
    fallback_mirrors: tuple[str, ...] = ()
    installer_fallback_urls: tuple[str, ...] = ()
    pypi_fallback_urls: tuple[str, ...] = ()
    host: str | None = None
    os: str = "linux"
    lock_file: str | None = None
    lock_newer_is_drift: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def env_prefix(self) -> str:
        return f"{self.conda_prefix}/envs/{self.env_name}"

    @property
    def env_python(self) -> str:
        return f"{self.env_prefix}/bin/python"

    @property
    def conda_exe(self) -> str:
        return f"{self.conda_prefix}/bin/conda"

    @property
    def receipt_dir(self) -> str:
        return f"{self.conda_prefix}/.labtorch"

    @property
    def kernel_dir(self) -> str:
        """Where the kernel spec goes: system-wide or in the SSH user's Jupyter data dir."""
        if self.kernel_scope == "user":
            return f"{self.home}/.local/share/jupyter/kernels/{self.kernel_name}"
        return f"/usr/local/share/jupyter/kernels/{self.kernel_name}"

    def installer(self, arch: str | None) -> Installer:
        """The pinned installer for this host's OS and architecture (raises if none is pinned)."""
        table = _installer_table()
        flavor = table["flavors"][self.conda_flavor]
        file = flavor["files"][self.os].format(version=self.conda_version, arch=arch or "x86_64")
        base = self.installer_mirror or self._installer_directory(flavor)
        if self.cache_url:  # the room cache fetches it from there, once for the room
            base = through_cache(base, self.cache_url)
        sha = self.installer_sha256
        if sha is None:
            sha = next((r["sha256"] for r in table["installers"] if r["file"] == file), None)
        if sha is None:
            raise LabtorchError(
                f"no pinned sha256 for {file}",
                host=self.host,
                fix="set labtorch_installer_sha256 to the checksum the publisher lists for it "
                "(Miniforge: the .sha256 next to the installer; Miniconda: "
                "repo.anaconda.com/miniconda)",
            )
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise LabtorchError(
                f"labtorch_installer_sha256={sha!r} is not a sha256 hex digest",
                host=self.host,
                fix="paste the 64 hex digits from the installer's .sha256 file",
            )
        fallbacks = [*self.installer_fallback_urls]
        for row in self.fallback_mirror_rows():
            directory = getattr(row, self.conda_flavor)
            if directory:
                fallbacks.append(directory)
        urls = tuple(f"{u.rstrip('/')}/{file}" for u in fallbacks)
        return Installer(
            self.conda_flavor, self.conda_version, file, f"{base.rstrip('/')}/{file}", sha,
            tuple(u for u in dict.fromkeys(urls) if u != f"{base.rstrip('/')}/{file}"),
        )

    def _installer_directory(self, flavor: Mapping[str, Any]) -> str:
        """Where the installer comes from without ``labtorch_installer_mirror``.

        The site mirror's installer directory for this flavor (data/mirrors.yaml: TUNA, BFSU,
        ...), else the flavor's upstream. The file name and its pinned sha256 never change with
        the directory.
        """
        if self.policy.mirror != "official":
            row = compat.load().mirrors.get(self.policy.mirror)
            directory = getattr(row, self.conda_flavor, None) if row else None
            if directory:
                return str(directory).format(version=self.conda_version)
        return str(flavor["upstream"]).format(version=self.conda_version)
    def fallback_mirror_rows(self) -> list[Any]:
        """The data/mirrors.yaml rows of ``labtorch_fallback_mirrors``, in the site's order."""
        from labtorch import compat

        mirrors = compat.load().mirrors
        return [mirrors[name] for name in self.fallback_mirrors]

    def pypi_fallbacks(self) -> tuple[str, ...]:
        """PyPI indexes pip tries, in order, after the site's own (URLs first, then rows)."""
        rows = [row.pypi for row in self.fallback_mirror_rows() if row.pypi]
        return tuple(dict.fromkeys([*self.pypi_fallback_urls, *rows]))

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        host: str | None = None,
        home: str | None = None,
        os: str = "linux",
    ) -> Settings:
        """Read and check every ``labtorch_*`` setting of one host's data (defaults applied)."""

        def get(key: str) -> Any:
            value = data.get(key)
            return DEFAULTS[key] if value is None else value

        flavor = _choice(data, "labtorch_conda_flavor", ("miniforge", "miniconda"), host)
        scope = _choice(data, "labtorch_install_scope", ("all", "user"), host)
        kernel_scope = _choice(data, "labtorch_kernel_scope", ("all", "user"), host)
        condarc_mode = _choice(data, "labtorch_condarc_mode", ("persistent", "per-command"), host)
        env_name = get("labtorch_env_name")
        if not safe_name(env_name) or env_name == "base":
            raise LabtorchError(
                f"labtorch_env_name={env_name!r} is not a usable env name",
                host=host,
                fix="use letters, digits, '.', '_' or '-' (starting with a letter, digit or '_'), "
                "and not 'base'",
            )
        home = home or "/root"
        prefix = get("labtorch_conda_prefix")
        if prefix is None:
            root = home if scope == "user" else "/opt"
            prefix = f"{root}/{PREFIX_DIRS[flavor]}"
        if not isinstance(prefix, str):
            raise _bad("labtorch_conda_prefix", prefix, "an absolute path", host)
        prefix = check_prefix(prefix, key="labtorch_conda_prefix", host=host)
        version = (
            _optional(
                get("labtorch_conda_version"),
                "labtorch_conda_version",
                _CONDA_VERSION,
                "an installer version such as '25.3.0-3'",
                host,
            )
            or _installer_table()["flavors"][flavor]["default_version"]
        )
        quote = " (quote it: 3.10 written as a number is 3.1)"
        policy = SitePolicy(
            torch=_text(
                get("labtorch_torch_spec"),
                "labtorch_torch_spec",
                _SPEC,
                "'latest' or a version specifier such as '2.7' or '>=2.5,<2.8'" + quote,
                host,
            ),
            python=_optional(
                get("labtorch_python"),
                "labtorch_python",
                _PYTHON,
                "a Python version string such as '3.11'" + quote,
                host,
            ),
            python_max=_text(
                get("labtorch_python_max"),
                "labtorch_python_max",
                _PYTHON,
                "a Python version string such as '3.12'" + quote,
                host,
            ),
            mirror=_text(
                get("labtorch_mirror"),
                "labtorch_mirror",
                _MIRROR,
                "the name of a row of data/mirrors.yaml, e.g. 'official' or 'tuna'",
                host,
            ),
            pytorch_index_url=_url(
                get("labtorch_pytorch_index_url"),
                "labtorch_pytorch_index_url",
                host,
                variant=True,
            ),
            pypi_index_url=_url(get("labtorch_pypi_index_url"), "labtorch_pypi_index_url", host),
            driver_floor=_choice(data, "labtorch_driver_floor", ("minor", "toolkit"), host),  # type: ignore[arg-type]
            allow_cpu=_flag(get("labtorch_allow_cpu"), "labtorch_allow_cpu", host),
            include_torchaudio=_flag(
                get("labtorch_include_torchaudio"), "labtorch_include_torchaudio", host
            ),
            include_torchvision=_flag(
                get("labtorch_include_torchvision"), "labtorch_include_torchvision", host
            ),
        )
        kernel_name = _text(
            get("labtorch_kernel_name") or env_name,
            "labtorch_kernel_name",
            _KERNEL_NAME,
            "None or a name of letters, digits, '.', '_' or '-'",
            host,
        )
        if not safe_name(kernel_name):
            raise _bad("labtorch_kernel_name", kernel_name,
                       "None or a name starting with a letter, digit or '_'", host)
        display = _text(
            get("labtorch_kernel_display_name") or f"Python ({env_name})",
            "labtorch_kernel_display_name",
            _PRINTABLE,
            "None or one line of text",
            host,
        )
        channels = _strings(
            get("labtorch_conda_channels"),
            "labtorch_conda_channels",
            _CHANNEL,
            "channel names (letters, digits, '.', '_', '-'), e.g. ('conda-forge',)",
            host,
        )
        if not channels:
            raise _bad("labtorch_conda_channels", channels, "at least one channel name", host)
        ipykernel_spec = get("labtorch_ipykernel_spec")
        try:
            if not isinstance(ipykernel_spec, str) or not _PRINTABLE.fullmatch(ipykernel_spec):
                raise InvalidRequirement(repr(ipykernel_spec))
            Requirement(ipykernel_spec)
        except InvalidRequirement:
            raise _bad(
                "labtorch_ipykernel_spec",
                ipykernel_spec,
                "a requirement such as 'ipykernel' or 'ipykernel>=6.29'",
                host,
            ) from None
        sha = _optional(
            get("labtorch_installer_sha256"),
            "labtorch_installer_sha256",
            _SHA256,
            "the 64 hex digits of the installer's sha256",
            host,
        )
        return cls(
            policy=policy,
            env_name=env_name,
            conda_flavor=flavor,
            conda_version=str(version),
            install_scope=scope,
            conda_prefix=prefix,
            installer_mirror=_url(
                get("labtorch_installer_mirror"), "labtorch_installer_mirror", host
            ),
            installer_sha256=None if sha is None else sha.lower(),
            adopt_conda=_flag(get("labtorch_adopt_conda"), "labtorch_adopt_conda", host),
            accept_defaults_tos=_flag(
                get("labtorch_accept_defaults_tos"), "labtorch_accept_defaults_tos", host
            ),
            conda_channels=channels,
            conda_channel_url=_url(
                get("labtorch_conda_channel_url"), "labtorch_conda_channel_url", host
            ),
            condarc_mode=condarc_mode,
            kernel_scope=kernel_scope,
            kernel_name=kernel_name,
            kernel_display_name=display,
            ipykernel_spec=ipykernel_spec,
            pip_extra_args=_strings(
                get("labtorch_pip_extra_args"),
                "labtorch_pip_extra_args",
                _PRINTABLE,
                "pip arguments, e.g. ('--no-compile',)",
                host,
            ),
            min_free_mib=whole_number(get("labtorch_min_free_mib"), "labtorch_min_free_mib", host),
            home=home,
            net=NetPolicy(
                connect_s=whole_number(
                    get("labtorch_connect_timeout"), "labtorch_connect_timeout", host, minimum=1
                ),
                stall_s=whole_number(
                    get("labtorch_stall_timeout"), "labtorch_stall_timeout", host, minimum=1
                ),
                retries=whole_number(get("labtorch_net_retries"), "labtorch_net_retries", host),
                command_s=whole_number(
                    get("labtorch_command_timeout"), "labtorch_command_timeout", host, minimum=10
                ),
            ),
            fallback_mirrors=_mirror_names(get("labtorch_fallback_mirrors"), host),
            installer_fallback_urls=_url_list(
                get("labtorch_installer_fallback_urls"), "labtorch_installer_fallback_urls", host
            ),
            pypi_fallback_urls=_url_list(
                get("labtorch_pypi_fallback_urls"), "labtorch_pypi_fallback_urls", host
            ),
            host=host,
            os=os,
            lock_file=_optional(get("labtorch_lock_file"), "labtorch_lock_file", _LOCK_PATH,
                                "a path on the admin's machine, e.g. 'locks/room1.yaml'", host),
            lock_newer_is_drift=_flag(get("labtorch_lock_newer_is_drift"),
                                      "labtorch_lock_newer_is_drift", host),
            cache_url=_url(get("labtorch_cache_url"), "labtorch_cache_url", host),
            cache_fallback=_flag(get("labtorch_cache_fallback"), "labtorch_cache_fallback", host),
            wheel_dir=_optional(
                get("labtorch_wheel_dir"),
                "labtorch_wheel_dir",
                _SAFE_PATH,
                "a folder on the controller holding .whl files, e.g. '/srv/wheels'",
                host,
            ),
        )
