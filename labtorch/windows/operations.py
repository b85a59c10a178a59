"""Windows operations: the same decisions as the Linux ones, carried out with PowerShell.

Each operation reads a Windows fact, compares it with the wanted state and either calls
``host.noop`` or yields PowerShell scripts (:func:`labtorch.windows.powershell.script`), which the
``@winssh`` connector encodes. Small files go over SFTP (``FileUploadCommand``). Refusals fail
the one host with the same ``LabtorchError`` text as on Linux.
"""

from __future__ import annotations

import hashlib
import json
from io import BytesIO
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, StringCommand, operation

from labtorch.conda_decision import decide_conda
from labtorch.errors import LabtorchError
from labtorch.roles import MANAGED_MARK, json_text
from labtorch.roles.conda import DEFAULTS_CHANNELS, receipt
from labtorch.roles.env import foreign_env, keeps_env
from labtorch.roles.net import DEFAULT_NET, NetPolicy
from labtorch.roles.settings import Installer
from labtorch.roles.torch import missing_pins, pinned_packages
from labtorch.windows.facts import (
    STARTED_PHASE,
    WindowsCondaInstallAt,
    WindowsEnvPackages,
    WindowsFileState,
    WindowsVerificationRun,
    started_install,
)
from labtorch.windows.powershell import script


def ps(name: str, values: dict[str, Any] | None = None) -> StringCommand:
    """One PowerShell operation script as a pyinfra command."""
    return StringCommand(script(name, values))


def refusal(message: str, fix: str) -> StringCommand:
    """A script that fails this host only, printing why and what to do (PowerShell ``refuse``)."""
    text = str(LabtorchError(message, host=host.name, fix=fix))
    logger.error(text)
    return ps("refuse", {"Message": f"labtorch: {text}"})


@operation()
def managed_file_windows(path: str, content: str, replace_unmarked: bool = False):
    """Make the Windows file ``path`` hold exactly ``content`` (UTF-8, as given); refuse to
    replace a file labtorch did not write.

    + path: absolute Windows path (``C:\\\\labtorch\\\\miniforge3\\\\.condarc``)
    + content: the whole file; must contain ``MANAGED_MARK``
    + replace_unmarked: the file lies inside an install labtorch made (the installer's own
      ``.condarc``), so an unmarked version may be replaced

    One fact (exists, sha256, marked) decides: same sha256 → no change; absent or labtorch's →
    upload over SFTP; someone else's → the host fails with a message, the file is left alone.
    """
    if MANAGED_MARK not in content:
        raise ValueError(f"managed file content for {path} lacks the {MANAGED_MARK!r} marker")
    data = content.encode("utf-8")
    current = host.get_fact(WindowsFileState, path=path, mark=MANAGED_MARK)
    wanted = hashlib.sha256(data).hexdigest()
    if current is not None and current.exists and current.sha256 == wanted:
        host.noop(f"{path} is already up to date")
        return
    if current is not None and current.exists and not current.marked and not replace_unmarked:
        yield refusal(
            f"{path} exists and was not written by labtorch",
            fix="move it aside (labtorch never overwrites files it did not create) "
            "or change the labtorch setting that names this path",
        )
        return
    yield ps("make-dir", {"Path": path.rsplit("\\", 1)[0]})
    yield FileUploadCommand(BytesIO(data), path)


@operation()
def conda_installed_windows(
    prefix: str,
    pending: str,
    installer: Installer,
    flags: str,
    adopt: bool = False,
    accept_defaults_tos: bool = False,
    free_mib: int | None = None,
    min_free_mib: int = 0,
):
    """Make ``prefix`` a complete conda install that labtorch owns, with the NSIS installer.

    + prefix: ASCII install root without spaces (``C:\\\\labtorch\\\\miniforge3``)
    + pending: labtorch's folder beside it while installing (installer and "started" receipt)
    + installer: the pinned installer (URL and sha256)
    + flags: the installer's arguments, ``/D=<prefix>`` last and unquoted
    + adopt: take over a complete install labtorch did not make (writes only a receipt)
    + accept_defaults_tos: accept Anaconda's ToS for ``defaults`` (Miniconda, opted in)
    + free_mib / min_free_mib: refuse to start on a nearly full drive

    States: complete and labtorch's → no change (except accepting Anaconda's ToS once when the
    site opts in later, as on Linux); absent → download with Invoke-WebRequest, compare
    Get-FileHash SHA256 with the pin, write the "started" receipt beside the prefix, install
    silently, receipt; left half-finished by an interrupted labtorch run (the pending receipt
    proves labtorch started the installer for exactly this prefix, and conda is not complete,
    see :func:`~labtorch.windows.facts.started_install`) → removed (the script checks the receipt
    again first) and installed again; someone else's → refuse unless ``adopt``; labtorch's but
    broken after completion → refuse (nothing is deleted). The decision is
    :func:`labtorch.conda_decision.decide_conda`, the same function as on Linux; this operation
    only turns its step into PowerShell.
    """
    found = host.get_fact(WindowsCondaInstallAt, prefix=prefix)
    receipt_path = f"{prefix}\\.labtorch\\receipt.json"
    step = decide_conda(
        found,
        prefix,
        half_finished=(found is not None and not found.complete
                       and started_install(found.receipt, prefix)),
        adopt=adopt,
        accept_defaults_tos=accept_defaults_tos,
        free_mib=free_mib,
        min_free_mib=min_free_mib,
        os="windows",
    )
    if step.action == "refuse":
        yield refusal(step.message, fix=step.fix)
        return
    if step.action == "keep":
        host.noop(step.message)
        return
    if step.action == "accept-tos":
        yield accept_tos(prefix)
        yield ps("write-text", {"Path": receipt_path, "Text": json_text(step.receipt)})
        return
    if step.action == "adopt":
        yield ps("write-text", {"Path": receipt_path, "Text": json_text(step.receipt)})
        return
    extra: dict[str, object] = {"prefix": prefix}
    if accept_defaults_tos:
        extra["defaults_tos_accepted"] = True
    if step.repair:
        yield ps("remove-half-install", {"Prefix": prefix, "Pending": pending})
    yield ps(
        "install-conda",
        {
            "Prefix": prefix,
            "Pending": pending,
            "Url": installer.url,
            "File": installer.file,
            "Sha256": installer.sha256,
            "Flags": flags,
            "Started": compact_json(
                receipt(installer, "started", prefix=prefix, phase=STARTED_PHASE)),
            "Complete": compact_json(receipt(installer, "complete", **extra)),
        },
    )
    if accept_defaults_tos:
        yield accept_tos(prefix)


def accept_tos(prefix: str) -> StringCommand:
    """``conda.exe tos accept`` for the ``defaults`` channels (the site opted in)."""
    tos: list[str] = ["tos", "accept", "--override-channels"]
    for channel in DEFAULTS_CHANNELS:
        tos += ["-c", channel]
    return ps("run", {"Exe": f"{prefix}\\Scripts\\conda.exe", "ExeArgs": tos})


def compact_json(data: dict[str, Any]) -> str:
    """A receipt on one line (``install-conda`` must fit cmd.exe's command line)."""
    return json.dumps(data, sort_keys=True) + "\n"


@operation()
def conda_env_windows(prefix: str, env_name: str, python: str,
                      channel_args: tuple[str, ...] = ()):
    """Make ``<prefix>\\envs\\<env_name>`` a labtorch env with Python ``python``.

    + prefix: the conda install (its ``Scripts\\conda.exe`` is called by absolute path)
    + env_name: the env's name
    + python: the planned Python ("3.11")
    + channel_args: ``--override-channels -c ...`` when channels are passed per command

    The env is recorded in ``<prefix>\\.labtorch\\envs\\<name>.json`` before conda runs, so a
    half-created env is recognised as labtorch's and finished by the next run.
    """
    install = host.get_fact(WindowsCondaInstallAt, prefix=prefix)
    env_prefix = f"{prefix}\\envs\\{env_name}"
    found = install.env(env_name) if install is not None else None
    if found is not None and not found.owned:
        what, fix = foreign_env(env_prefix)
        yield refusal(what, fix=fix)
        return
    python_exe = f"{env_prefix}\\python.exe"
    packages = host.get_fact(WindowsEnvPackages, python=python_exe) if found else None
    if keeps_env(env_name, packages.python_version if packages else None, python):
        return
    yield ps(
        "conda-env",
        {
            "Conda": f"{prefix}\\Scripts\\conda.exe",
            "EnvPrefix": env_prefix,
            "ReceiptPath": f"{prefix}\\.labtorch\\envs\\{env_name}.json",
            "Receipt": json_text({"tool": "labtorch", "env": env_name, "python": python}),
            "CondaArgs": [f"python={python}", "pip", *channel_args],
        },
    )


@operation()
def pip_packages_windows(
    python_exe: str,
    install: tuple[tuple[str, ...], ...],
    extra_args: tuple[str, ...] = (),
    net: NetPolicy = DEFAULT_NET,
):
    """``python.exe -m pip install`` each argument tuple unless every pin is already met.

    + python_exe: the env's interpreter, absolute
    + install: pip argument tuples (``HostPlan.install``: CUDA wheels from the PyTorch index
      or its mirror, since plain PyPI torch is CPU-only on Windows)
    + extra_args: added to every pip command
    """
    packages = host.get_fact(WindowsEnvPackages, python=python_exe)
    pins = pinned_packages(install)
    missing = missing_pins(pins, packages.packages if packages else {})
    if not missing:
        host.noop(f"{', '.join(f'{n}=={v}' for n, v in pins.items())} already installed")
        return
    for args in install:
        yield ps("run", {"Exe": python_exe, "ExeArgs": [
            "-m", "pip", "install", *pip_net_args(net), *args, *extra_args]})


def pip_net_args(net: NetPolicy) -> list[str]:
    """pip's own stall timeout and retries; no ``-q``, so a mirror's answer stays in the log."""
    return ["--disable-pip-version-check", "--progress-bar", "off",
            "--timeout", str(net.stall_s), "--retries", str(net.retries)]


@operation()
def ipykernel_windows(python_exe: str, requirement: str = "ipykernel",
                      extra_args: tuple[str, ...] = (), net: NetPolicy = DEFAULT_NET):
    """pip-install ``requirement`` into the env unless an installed version satisfies it.

    + python_exe: the env's interpreter, absolute
    + requirement: a PEP 508 requirement ("ipykernel")
    + extra_args: added to the pip command
    """
    from packaging.requirements import Requirement

    wanted = Requirement(requirement)
    packages = host.get_fact(WindowsEnvPackages, python=python_exe)
    have = packages.version_of(wanted.name) if packages else None
    if have is not None and wanted.specifier.contains(have, prereleases=True):
        host.noop(f"{wanted.name} {have} is already installed")
        return
    yield ps("run", {"Exe": python_exe, "ExeArgs": [
        "-m", "pip", "install", *pip_net_args(net), requirement, *extra_args]})


@operation()
def verification_windows(python_exe: str, script_path: str, plan_path: str, plan: Any,
                         kernel_timeout: int = 60):
    """Run the verification script with the env's python.exe at execution time and judge it.

    + python_exe / script_path / plan_path: absolute Windows paths
    + plan: the host's ``HostPlan``; kernel_timeout: seconds for the kernel to start

    As on Linux: nothing is yielded when the host passes (never a change), one failing command
    listing every cause and fix when it does not; nothing runs during ``--dry``.
    """
    from labtorch.roles.verify import verdict_commands
    if not host.state.is_executing:
        host.noop("verification runs at execution time, after the other roles")
        return
    report = host.get_fact(WindowsVerificationRun, python=python_exe, script_path=script_path,
                           plan=plan_path, kernel_timeout=kernel_timeout)
    yield from verdict_commands(report, plan, python_exe)
