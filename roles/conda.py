"""The ``conda`` role: a Miniforge (default) or Miniconda install labtorch owns.

Downloads the pinned installer from the site mirror, checks its sha256 against
data/installers.yaml (or ``labtorch_installer_sha256``), runs it silently and records a receipt in
``<prefix>/.labtorch/receipt.json``. The receipt is written *before* the installer runs, so a host
stopped mid-install is recognised as labtorch's half-finished install and repaired (``-u``) by the
next run. An install labtorch did not make is never touched unless ``labtorch_adopt_conda`` is set.

Settings (defaults in :data:`labtorch.roles.settings.DEFAULTS`): ``labtorch_conda_flavor``
(miniforge), ``labtorch_conda_version`` (pinned), ``labtorch_install_scope`` (all → /opt),
``labtorch_conda_prefix``, ``labtorch_installer_mirror``, ``labtorch_installer_sha256``,
``labtorch_adopt_conda`` (False), ``labtorch_accept_defaults_tos`` (False).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation

from labtorch.conda_decision import decide_conda
from labtorch.facts.conda import RECEIPT, CondaInstallAt
from labtorch.facts.system import free_mib_at
from labtorch.roles import (
    host_os,
    host_settings,
    host_system,
    refuse,
    write_json_command,
)
from labtorch.roles.net import DEFAULT_NET, NetPolicy, bounded, download_command, op_timeout
from labtorch.roles.settings import DEFAULTS, Installer, Settings

#: The channels Anaconda's terms of service cover (accepted only when the site opted in).
DEFAULTS_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")


@deploy("labtorch: conda", data_defaults=DEFAULTS)
def conda() -> None:
    """Install (or adopt, or repair) the site's conda at ``labtorch_conda_prefix``."""
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.conda(host_settings())
    else:
        _linux(host_settings())


def _linux(settings: Settings) -> None:
    system = host_system()
    installer = settings.installer(system.arch)
    free = free_mib_at(system, settings.conda_prefix)
    conda_installed(
        name=f"conda ({settings.conda_flavor} {settings.conda_version}) at {settings.conda_prefix}",
        prefix=settings.conda_prefix,
        installer=installer,
        adopt=settings.adopt_conda,
        accept_defaults_tos=settings.accept_defaults_tos and settings.conda_flavor == "miniconda",
        free_mib=free,
        min_free_mib=settings.min_free_mib,
        net=settings.net,
        _timeout=op_timeout(settings.net),
    )


def receipt(installer: Installer, state: str, **extra: object) -> dict[str, object]:
    """labtorch's record of an install it made: flavor, version, installer file and sha256."""
    return {
        "tool": "labtorch",
        "state": state,
        "flavor": installer.flavor,
        "version": installer.version,
        "installer": installer.file,
        "sha256": installer.sha256,
        **extra,
    }


def accept_tos_command(prefix: str) -> StringCommand:
    """Accept Anaconda's terms of service for the ``defaults`` channels, non-interactively."""
    channels = " ".join(f"-c {shlex.quote(c)}" for c in DEFAULTS_CHANNELS)
    return StringCommand(
        f"{shlex.quote(prefix + '/bin/conda')} tos accept --override-channels {channels}"
    )


@operation()
def conda_installed(
    prefix: str,
    installer: Installer,
    adopt: bool = False,
    accept_defaults_tos: bool = False,
    free_mib: int | None = None,
    min_free_mib: int = 0,
    net: NetPolicy = DEFAULT_NET,
):
    """Make ``prefix`` a complete conda install that labtorch owns.

    + prefix: absolute, ASCII, space-free install path
    + installer: the pinned :class:`~labtorch.roles.settings.Installer` (URL and sha256)
    + adopt: take over a complete install labtorch did not make (writes only a receipt)
    + accept_defaults_tos: accept Anaconda's ToS for ``defaults`` non-interactively (Miniconda)
    + free_mib / min_free_mib: refuse to start an install on a nearly full disk
    + net: timeouts and retries of the download (tried from ``installer.urls`` in order) and
      the bound on the installer's run (:mod:`labtorch.roles.net`)

    The decision is :func:`labtorch.conda_decision.decide_conda`, shared with Windows: labtorch's
    complete install → no change (or Anaconda's ToS accepted once); absent or labtorch's
    half-finished install (receipt "started") → download, verify, install (``-b -u -p``),
    receipt; someone else's → refuse unless ``adopt``; labtorch's receipt ("complete" or
    "adopted") but files missing → refuse (never installed over).
    """
    found = host.get_fact(CondaInstallAt, prefix=prefix)
    receipt_path = f"{prefix}/{RECEIPT}"
    step = decide_conda(
        found,
        prefix,
        half_finished=found is not None and found.half_finished,
        adopt=adopt,
        accept_defaults_tos=accept_defaults_tos,
        free_mib=free_mib,
        min_free_mib=min_free_mib,
        os="linux",
    )
    if step.action == "refuse":
        yield refuse(step.message, fix=step.fix)
        return
    if step.action == "keep":
        host.noop(step.message)
        return
    if step.action == "accept-tos":
        yield accept_tos_command(prefix)
        yield write_json_command(receipt_path, step.receipt)
        return
    if step.action == "adopt":
        yield write_json_command(receipt_path, step.receipt)
        return
    # "install": fresh, or over labtorch's half-finished install (step.repair); -u covers both
    staged = f"{prefix}/.labtorch/{installer.file}"
    yield write_json_command(receipt_path, receipt(installer, "started"))
    yield StringCommand(download_command(installer.urls, staged, installer.sha256, net))
    yield StringCommand(bounded(f"bash {shlex.quote(staged)} -b -u -p {shlex.quote(prefix)}", net))
    extra: dict[str, object] = {}
    if accept_defaults_tos:
        yield accept_tos_command(prefix)
        extra["defaults_tos_accepted"] = True
    yield write_json_command(receipt_path, receipt(installer, "complete", **extra))
    yield StringCommand("rm", "-f", shlex.quote(staged))
