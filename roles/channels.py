"""The ``channels`` role: where conda and pip fetch from. Two deploys, run around the env role:

- :func:`conda_channels` (before the env exists): ``<prefix>/.condarc`` with the site's channels
  and mirror, in the conda install labtorch made (replacing the installer's own ``.condarc``);
- :func:`pip_index` (after the env exists): ``<env>/pip.conf`` with the site's PyPI index, for
  this env only.

Nothing in users' homes or /etc is touched. With ``labtorch_condarc_mode = "per-command"`` (or an
install labtorch did not make, e.g. an adopted one: the host's receipt decides, not the current
``labtorch_adopt_conda``) no ``.condarc`` is written and conda
commands get ``--override-channels -c <mirror>/<channel>`` (:func:`channel_args`), as in the manual
recipe. The PyTorch wheel index is not configured here: the torch role passes the planned
``--index-url``.

Settings: ``labtorch_conda_channels`` (["conda-forge"]), ``labtorch_conda_channel_url`` (None:
the mirror row's conda_cloud), ``labtorch_condarc_mode`` ("persistent"),
``labtorch_pypi_index_url`` / ``labtorch_mirror``.
"""

from __future__ import annotations

import re
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from pyinfra import host
from pyinfra.api import deploy

from labtorch import compat
from labtorch.cache.urls import cache_trusted_host, through_cache
from labtorch.facts.conda import CondaInstall, CondaInstallAt
from labtorch.roles import (
    MANAGED_MARK,
    host_os,
    host_settings,
    managed_file,
)
from labtorch.roles.settings import DEFAULTS, Settings

#: conda's default channel_alias (what channel names expand to without a mirror).
OFFICIAL_CHANNELS = "https://conda.anaconda.org"


@cache
def templates() -> Environment:
    """The dumb templates of roles/templates (they only interpolate computed values)."""
    return Environment(
        loader=PackageLoader("labtorch.roles", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


def pypi_index_url(settings: Settings) -> str:
    """The PyPI index pip uses in the env: the site's URL, else the mirror row's, else PyPI."""
    url = settings.policy.pypi_index_url
    if not url:
        mirror = compat.load().mirrors.get(settings.policy.mirror)
        url = (mirror.pypi if mirror and mirror.pypi else None) or "https://pypi.org/simple"
    return through_cache(url, settings.cache_url) if settings.cache_url else url


def conda_channel_url(settings: Settings) -> str | None:
    """Base URL of the conda channels: the site's, else the mirror row's (None for official)."""
    url = _upstream_channel_url(settings)
    if settings.cache_url:  # the room cache: conda's default channel_alias goes through it too
        return through_cache(url or OFFICIAL_CHANNELS, settings.cache_url).rstrip("/")
    return url


def _upstream_channel_url(settings: Settings) -> str | None:
    if settings.conda_channel_url:
        return settings.conda_channel_url.rstrip("/")
    if settings.policy.mirror == "official":
        return None
    mirror = compat.load().mirrors.get(settings.policy.mirror)
    return mirror.conda_cloud.rstrip("/") if mirror and mirror.conda_cloud else None


def render_condarc(settings: Settings) -> str:
    return (
        templates()
        .get_template("condarc.j2")
        .render(
            mark=MANAGED_MARK,
            channels=settings.conda_channels,
            no_defaults=not (settings.conda_flavor == "miniconda" and settings.accept_defaults_tos),
            channel_url=conda_channel_url(settings),
        )
    )


def without_password(url: str) -> str:
    """The URL with any ``user:password@`` removed, for comments everyone can read.

    >>> without_password("https://lab:s3cret@10.0.0.5/whl/cu126")
    'https://10.0.0.5/whl/cu126'
    """
    return re.sub(r"//[^/@\s]*@", "//", url)


def render_pip_conf(settings: Settings, torch_index: str) -> str:
    return (
        templates()
        .get_template("pip.conf.j2")
        .render(
            mark=MANAGED_MARK,
            index_url=pypi_index_url(settings),
            torch_index=without_password(torch_index),
            trusted_host=cache_trusted_host(settings.cache_url),
        )
    )


def uses_condarc(settings: Settings) -> bool:
    """Whether channels live in ``<prefix>/.condarc``, judged from the settings alone.

    The roles decide from the host's install instead (:func:`host_uses_condarc`, and
    :func:`labtorch.windows.roles.host_uses_condarc` on Windows); this is the fallback for
    callers that have no host to ask.
    """
    return settings.condarc_mode == "persistent" and not settings.adopt_conda


def condarc_is_labtorchs(settings: Settings, install: CondaInstall | None) -> bool:
    """Whether ``<prefix>/.condarc`` is labtorch's to write, decided from the host's receipt.

    Persistent mode and an install labtorch made (receipt state "complete" or "started") or is
    about to make (nothing at the prefix yet). An adopted install (state "adopted") or someone
    else's never gets its ``.condarc`` replaced, whatever ``labtorch_adopt_conda`` says now:
    its channels go per command.
    """
    if settings.condarc_mode != "persistent":
        return False
    if install is None:
        return True
    return install.owned and (install.receipt or {}).get("state") in ("complete", "started")


def host_uses_condarc(settings: Settings) -> bool:
    """:func:`condarc_is_labtorchs` for the host being deployed (one fact: its install)."""
    if settings.condarc_mode != "persistent":
        return False
    install = host.get_fact(CondaInstallAt, prefix=settings.conda_prefix)
    return condarc_is_labtorchs(settings, install)


def channel_args(settings: Settings, condarc: bool | None = None) -> tuple[str, ...]:
    """``--override-channels -c ...`` for conda commands when no ``.condarc`` carries them.

    ``condarc``: whether the host's ``.condarc`` carries the channels (:func:`host_uses_condarc`);
    None judges from the settings alone (:func:`uses_condarc`).
    """
    if uses_condarc(settings) if condarc is None else condarc:
        return ()
    base = conda_channel_url(settings)
    args: list[str] = ["--override-channels"]
    for channel in settings.conda_channels:
        args += ["-c", f"{base}/{channel}" if base else channel]
    return tuple(args)


@deploy("labtorch: conda channels", data_defaults=DEFAULTS)
def conda_channels() -> None:
    """Write ``<prefix>/.condarc`` with the site's channels (persistent mode only)."""
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.channels(host_settings())
        return
    settings = host_settings()
    if not host_uses_condarc(settings):
        host.noop("conda channels are passed per command (no .condarc)")
        return
    managed_file(
        name=f"conda channels in {settings.conda_prefix}/.condarc",
        path=f"{settings.conda_prefix}/.condarc",
        content=render_condarc(settings),
        replace_unmarked=True,  # the installer's own .condarc: the receipt says labtorch made it
    )


@deploy("labtorch: pip index", data_defaults=DEFAULTS)
def pip_index(torch_index: str = "the planned index") -> None:
    """Write ``<env>/pip.conf`` with the site's PyPI index (run after the env exists)."""
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.pip_index(host_settings(), torch_index)
        return
    settings = host_settings()
    managed_file(
        name=f"pip index in {settings.env_prefix}/pip.conf",
        path=f"{settings.env_prefix}/pip.conf",
        content=render_pip_conf(settings, torch_index),
        mode=pip_conf_mode(settings),
    )


def pip_conf_mode(settings: Settings) -> str:
    """``600`` (the deploying account only) when the PyPI index URL carries credentials, so that
    students cannot read the site mirror's password; ``644`` otherwise. pip run by another user
    skips a config file it cannot read and uses PyPI's defaults."""
    url = pypi_index_url(settings)
    return "600" if without_password(url) != url else "644"
