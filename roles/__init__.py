"""Provisioning roles: each a pyinfra ``@deploy`` with documented defaults, each idempotent.

Order in ``deploy.py``: :func:`~labtorch.roles.conda.conda` →
:func:`~labtorch.roles.channels.channels` → :func:`~labtorch.roles.env.env` →
:func:`~labtorch.roles.torch.torch` → :func:`~labtorch.roles.jupyter.jupyter` →
:func:`~labtorch.roles.verify.verify`. Every role decides the OS once (:func:`host_os`) and
calls its Linux helper or its Windows helper (:mod:`labtorch.windows.roles`).

Shared pieces live here: the per-host :class:`~labtorch.roles.settings.Settings`
(:func:`host_settings`), a refusal that fails one host with a clear message (:func:`refuse`), and
:func:`managed_file`, the operation that writes small files labtorch owns.

Importing the roles applies :mod:`labtorch.pyinfra_fixes`: a host that goes away in the middle of
a run fails alone instead of ending pyinfra's run for the whole room.
"""

from __future__ import annotations

import json
import shlex
import weakref
from io import StringIO
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.host import Host
from pyinfra.facts.files import FileContents

from labtorch import pyinfra_fixes
from labtorch.errors import LabtorchError
from labtorch.facts.system import HostSystem, SystemInfo
from labtorch.roles.settings import DEFAULTS, Settings

pyinfra_fixes.install()

#: Marker every labtorch-written config file carries; a file without it is never overwritten.
MANAGED_MARK = "managed by labtorch"

# Per pyinfra State (weakly: a new State never sees an old one's answers, even where Python
# reuses the old object's id), then per host name.
_SETTINGS: weakref.WeakKeyDictionary[Any, dict[str, tuple[Settings, SystemInfo]]] = (
    weakref.WeakKeyDictionary()
)


def host_system(current: Host | None = None) -> SystemInfo:
    """The host's :class:`SystemInfo`, gathered once per run (one remote command)."""
    return _cached(host if current is None else current)[1]


def host_settings(current: Host | None = None) -> Settings:
    """The validated labtorch settings of ``current`` (default: the host being deployed).

    Raises ``LabtorchError`` naming the host and the setting when the site data is wrong.
    """
    return _cached(host if current is None else current)[0]


def _cached(current: Host) -> tuple[Settings, SystemInfo]:
    per_state = _SETTINGS.setdefault(current.state, {})
    key = current.name
    if key not in per_state:
        data = {name: current.data.get(name) for name in DEFAULTS}
        from labtorch.windows import is_windows_host  # Windows is decided before any command

        if is_windows_host(current):
            from labtorch.windows.roles import windows_host

            per_state[key] = windows_host(current, data)
            return per_state[key]
        wanted = data.get("labtorch_os")
        if wanted is not None and wanted not in ("linux", "windows"):
            raise LabtorchError(
                f"labtorch_os={wanted!r} is not supported: labtorch provisions Linux and Windows",
                host=current.name,
                fix="set labtorch_os = 'linux' or 'windows', or leave this host out of the room",
            )
        system = current.get_fact(HostSystem)
        os_name = wanted or system.os
        if os_name not in ("linux", "windows"):
            raise LabtorchError(
                f"could not tell the OS (uname said {system.kernel!r})",
                host=current.name,
                fix="set labtorch_os = 'linux' or 'windows' in the host's inventory data",
            )
        settings = Settings.from_data(data, host=current.name, home=system.home, os=os_name)
        if settings.cache_url:
            settings = _through_reachable_cache(current, settings)
        per_state[key] = (settings, system)
    return per_state[key]


def host_os(current: Host | None = None) -> str:
    """ "linux" or "windows": the one OS decision every role dispatches on."""
    return host_settings(current).os


def windows_not_ready(role: str) -> None:
    """The Windows branch of a role until the Windows issue fills it in."""
    raise LabtorchError(
        f"the {role} role has no Windows helper yet",
        host=host.name,
        fix="provision Windows PCs by hand for now, or leave them out with --limit",
    )


def _through_reachable_cache(current: Host, settings: Settings) -> Settings:
    """The room cache must answer this host; else it fails alone (or, when the site opted in
    with ``labtorch_cache_fallback``, fetches from upstream with a warning)."""
    from dataclasses import replace

    from labtorch.facts.cache import CacheReachable

    if current.get_fact(CacheReachable, url=settings.cache_url):
        return settings
    if settings.cache_fallback:
        logger.warning(
            f"{current.print_prefix}the room cache {settings.cache_url} does not answer: "
            "fetching from upstream (labtorch_cache_fallback)"
        )
        return replace(settings, cache_url=None)
    raise LabtorchError(
        f"the room cache {settings.cache_url} does not answer this host",
        host=current.name,
        fix="start it (`labtorch cache serve` on the cache host) and check this host reaches "
        "its address; or set labtorch_cache_fallback = True to fetch from upstream meanwhile",
    )


def refuse(message: str, fix: str) -> StringCommand:
    """A command that fails this host only, printing why and what to do.

    Operations yield it instead of raising, so one refusing host never stops the others and
    ``--dry`` shows the refusal as a pending change.
    """
    text = str(LabtorchError(message, host=host.name, fix=fix))
    logger.error(text)
    return StringCommand("echo", shlex.quote(f"labtorch: {text}"), ">&2;", "exit", "1")


def json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def write_json_command(path: str, data: dict[str, Any]) -> StringCommand:
    """Write a small JSON file (a receipt) atomically with plain sh: folders 755, file 644."""
    directory = path.rsplit("/", 1)[0]
    tmp = f"{path}.tmp"
    return StringCommand(  # explicit modes, whatever the SSH session's umask
        f"(umask 022 && mkdir -p {shlex.quote(directory)} && printf '%s' "
        f"{shlex.quote(json_text(data))} > {shlex.quote(tmp)} && chmod 644 {shlex.quote(tmp)} "
        f"&& mv {shlex.quote(tmp)} {shlex.quote(path)})"
    )


@operation()
def managed_file(path: str, content: str, mode: str = "644", replace_unmarked: bool = False):
    """Make ``path`` hold exactly ``content``; refuse to replace a file labtorch did not write.

    + path: absolute path of the file
    + content: the whole file; must contain ``MANAGED_MARK`` so later runs recognise it
    + mode: octal permissions
    + replace_unmarked: the file lies inside something labtorch made (the installer's own
      ``.condarc`` in labtorch's conda install), so an unmarked version may be replaced

    One fact (the file's current lines) decides: equal → no change; absent or labtorch's →
    upload; someone else's → the host fails with a message and the file is left alone.
    """
    if MANAGED_MARK not in content:
        raise ValueError(f"managed_file content for {path} lacks the {MANAGED_MARK!r} marker")
    current = host.get_fact(FileContents, path=path)
    if current is not None and "\n".join(current).rstrip("\n") == content.rstrip("\n"):
        host.noop(f"{path} is already up to date")
        return
    unmarked = current is not None and not any(MANAGED_MARK in line for line in current)
    if unmarked and not replace_unmarked:
        yield refuse(
            f"{path} exists and was not written by labtorch",
            fix="move it aside (labtorch never overwrites files it did not create) "
            "or change the labtorch setting that names this path",
        )
        return
    directory = path.rsplit("/", 1)[0]
    yield StringCommand("mkdir", "-p", shlex.quote(directory))
    yield FileUploadCommand(
        StringIO(content), path, remote_temp_filename=host.get_temp_filename(path)
    )
    yield StringCommand("chmod", mode, shlex.quote(path))


@operation()
def refused(line: str):
    """Fail this host at execution with ``line`` (a ``LabtorchError``'s text), others go on.

    + line: what was wrong and what to do, naming the host
    """
    logger.error(line)
    from labtorch.windows import is_windows_host

    if is_windows_host(host):  # PowerShell, not sh, on the other side
        from labtorch.windows.powershell import script

        yield StringCommand(script("refuse", {"Message": f"labtorch: {line}"}))
        return
    yield StringCommand("echo", shlex.quote(f"labtorch: {line}"), ">&2;", "exit", "1")
