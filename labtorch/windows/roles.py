"""The Windows side of every role: what each ``@deploy`` role calls when the host is Windows.

Each role (``labtorch.roles.conda``, ``channels``, ``env``, ``torch``, ``jupyter``, ``verify``)
decides the OS once and calls one function here with its validated :class:`Settings`; the
function works out the Windows paths (:class:`~labtorch.windows.layout.Layout`) and calls the
Windows operations. The decisions (what is labtorch's, what is already done, what to refuse)
are the Linux ones, reused.

What a Windows PC gets (defaults, scope "all"):

- ``C:\\labtorch\\miniforge3``: Miniforge installed silently with ``/S /InstallationType=AllUsers
  /RegisterPython=0 /AddToPath=0 /D=C:\\labtorch\\miniforge3`` after its SHA256 matched the pin;
  ``.labtorch\\receipt.json`` records it;
- ``C:\\labtorch\\miniforge3\\.condarc``: the site's channels, ``envs_dirs`` and ``pkgs_dirs``
  pinned inside the install (never in a user profile, which may have a non-ASCII name), only in
  an install labtorch made, as the host's receipt says (an adopted one keeps its own; its
  channels go per command);
- ``...\\envs\\pytorch`` with the planned Python, ``pip.ini`` (the site's PyPI index) and the
  planned torch build from the PyTorch index or its mirror (``--index-url``: plain PyPI torch is
  CPU-only on Windows);
- ``C:\\ProgramData\\jupyter\\kernels\\pytorch\\kernel.json``: the env's python.exe by absolute path
  and the env's DLL folders first on PATH;
- verification: ``labtorch_verify.py`` run by the env's python.exe (no ``conda init``, no
  execution policy involved), judged on the controller like Linux.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from pyinfra import host
from pyinfra.api.host import Host
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.ssh import SSHConnector

from labtorch.errors import LabtorchError
from labtorch.model import HostPlan
from labtorch.roles import MANAGED_MARK, host_settings, host_system, refused
from labtorch.roles.net import op_timeout
from labtorch.roles.settings import Settings
from labtorch.windows.facts import (
    WindowsCondaInstallAt,
    WindowsSystem,
    WindowsSystemInfo,
    free_mib_on_drive,
)
from labtorch.windows.layout import Layout, windows_settings
from labtorch.windows.operations import (
    conda_env_windows,
    conda_installed_windows,
    ipykernel_windows,
    managed_file_windows,
    pip_packages_windows,
    verification_windows,
)


def not_winssh(name: str) -> LabtorchError:
    """The error for a host that is Windows by its data but is not reached with ``@winssh``.

    >>> print(not_winssh("pc04"))  # doctest: +ELLIPSIS
    pc04: labtorch_os is "windows" but the host is not reached with the @winssh connector...
    """
    return LabtorchError(
        'labtorch_os is "windows" but the host is not reached with the @winssh connector, so '
        "labtorch's PowerShell would go to a POSIX shell",
        host=name,
        fix="name the PC @winssh/<address> in the inventory (e.g. \"@winssh/10.1.2.31\"), "
        "which sends every command as encoded PowerShell",
    )


def windows_host(current: Host, data: dict[str, Any]) -> tuple[Settings, WindowsSystemInfo]:
    """Settings and system facts of a Windows host (one PowerShell command); called once per
    host by :func:`labtorch.roles.host_settings`.

    Raises :class:`LabtorchError` before any command when the host is Windows by its data only
    but reached with a POSIX-shell connector (``@ssh``, ``@local``): use ``@winssh/<address>``.
    """
    connector = current.connector
    if not getattr(connector, "is_windows", False) and isinstance(
        connector, (SSHConnector, LocalConnector)
    ):
        raise not_winssh(current.name)
    system = current.get_fact(WindowsSystem)
    return windows_settings(data, system, host=current.name), system


def windows_system() -> WindowsSystemInfo:
    """The Windows system facts of the host being deployed.

    Raises :class:`LabtorchError` naming the host when its system facts are not Windows ones
    (the host says ``labtorch_os = "windows"`` without the ``@winssh`` connector).
    """
    system = host_system()
    if not isinstance(system, WindowsSystemInfo):
        raise not_winssh(host.name)
    return system


def layout(settings: Settings | None = None) -> Layout:
    """The Windows paths of the host being deployed."""
    system = windows_system()
    return Layout.of(settings or host_settings(), system)


@cache
def templates() -> Environment:
    """The Windows templates (``labtorch/windows/templates``): dumb, values only."""
    return Environment(
        loader=PackageLoader("labtorch.windows", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


# --- conda -----------------------------------------------------------------------------------


def conda(settings: Settings) -> None:
    """Install (or adopt, or finish) the site's conda at the Windows prefix."""
    system = windows_system()
    where = layout(settings)
    if where.install_type == "AllUsers" and getattr(system, "admin", None) is False:
        refused(
            name="labtorch refuses this host",
            line=f"{host.name}: the SSH user is not an elevated administrator, which an "
            "all-users conda install needs; connect as a member of Administrators (the account "
            "scripts/bootstrap-windows.ps1 authorised), or set labtorch_install_scope = 'user'",
        )
        return
    conda_installed_windows(
        name=f"conda ({settings.conda_flavor} {settings.conda_version}) at {where.prefix}",
        prefix=where.prefix,
        pending=where.pending,
        installer=settings.installer(system.arch),
        flags=where.installer_flags(),
        adopt=settings.adopt_conda,
        accept_defaults_tos=settings.accept_defaults_tos and settings.conda_flavor == "miniconda",
        free_mib=free_mib_on_drive(system, where.prefix),
        _timeout=op_timeout(settings.net),
        min_free_mib=settings.min_free_mib,
    )


# --- channels --------------------------------------------------------------------------------


def render_condarc(settings: Settings) -> str:
    """The Linux ``.condarc`` (channels, mirror) plus ``envs_dirs``/``pkgs_dirs`` in the prefix."""
    from labtorch.roles.channels import render_condarc as channels_condarc

    prefix = settings.conda_prefix  # the Layout's prefix: no host fact needed
    dirs = templates().get_template("condarc_dirs.j2").render(
        envs_dir=f"{prefix}\\envs", pkgs_dir=f"{prefix}\\pkgs"
    )
    return channels_condarc(settings) + dirs


def host_uses_condarc(settings: Settings) -> bool:
    """Whether ``<prefix>\\.condarc`` is labtorch's to write on the Windows host being deployed.

    The Linux decision (:func:`labtorch.roles.channels.condarc_is_labtorchs`) from this host's
    receipt (:class:`~labtorch.windows.facts.WindowsCondaInstallAt`), not from the current
    ``labtorch_adopt_conda``: an adopted install never gets its ``.condarc`` written, even after
    the setting is turned off; labtorch's install ("complete" or "started") and a PC with
    nothing at the prefix yet do (persistent mode only).
    """
    from labtorch.roles.channels import condarc_is_labtorchs

    if settings.condarc_mode != "persistent":
        return False
    install = host.get_fact(WindowsCondaInstallAt, prefix=layout(settings).prefix)
    return condarc_is_labtorchs(settings, install)


def channels(settings: Settings) -> None:
    """Write ``<prefix>\\.condarc`` (persistent mode, labtorch's install only: the receipt
    decides, :func:`host_uses_condarc`)."""
    if not host_uses_condarc(settings):
        host.noop("conda channels are passed per command (no .condarc)")
        return
    where = layout(settings)
    managed_file_windows(
        name=f"conda channels and folders in {where.condarc}",
        path=where.condarc,
        content=render_condarc(settings),
        replace_unmarked=True,  # the installer's own .condarc, in an install labtorch made
    )


def pip_index(settings: Settings, torch_index: str) -> None:
    """Write ``<env>\\pip.ini`` with the site's PyPI index (pip's per-env file on Windows)."""
    from labtorch.roles.channels import render_pip_conf

    where = layout(settings)
    managed_file_windows(
        name=f"pip index in {where.pip_ini}",
        path=where.pip_ini,
        content=render_pip_conf(settings, torch_index),
    )


# --- env, torch --------------------------------------------------------------------------------


def env(settings: Settings, plan: HostPlan) -> None:
    """Create (or finish) the env with ``plan.python`` using ``Scripts\\conda.exe``."""
    from labtorch.roles.channels import channel_args

    where = layout(settings)
    conda_env_windows(
        name=f"conda env {settings.env_name} with Python {plan.python}",
        prefix=where.prefix,
        env_name=settings.env_name,
        python=plan.python,
        channel_args=channel_args(settings, host_uses_condarc(settings)),
    )


def index_problem(plan: HostPlan) -> str | None:
    """Why a plan must not run on Windows: a CUDA build with no PyTorch index to come from.

    >>> index_problem(HostPlan("2.7.1", None, None, "cu118", "3.11", "x", (("torch==2.7.1",),)))
    'the plan installs cu118 torch without --index-url or --find-links'
    """
    if not plan.is_gpu:
        return None
    for args in plan.install:
        if any(a in ("--index-url", "-i", "--find-links", "-f") or a.startswith(
                ("--index-url=", "--find-links=")) for a in args):
            return None
    return f"the plan installs {plan.variant} torch without --index-url or --find-links"


def torch(settings: Settings, plan: HostPlan) -> None:
    """Install the planned torch build with the env's python.exe (CUDA wheels from the PyTorch
    index or its mirror; plain PyPI torch is CPU-only on Windows)."""
    problem = index_problem(plan)
    if problem:
        refused(
            name="labtorch refuses this torch plan",
            line=f"{host.name}: {problem}: plain PyPI torch is CPU-only on Windows; set "
            "labtorch_pytorch_index_url or labtorch_mirror to a PyTorch wheel index",
        )
        return
    where = layout(settings)
    pip_packages_windows(
        name=f"torch, the planned build, in {settings.env_name}",
        python_exe=where.env_python,
        install=plan.install,
        extra_args=settings.pip_extra_args,
        net=settings.net,
        _timeout=op_timeout(settings.net),
    )


# --- jupyter ---------------------------------------------------------------------------------


def render_kernel_json(settings: Settings) -> str:
    """kernel.json: python.exe by absolute path, the env's DLL folders first on PATH (an
    unactivated conda env otherwise fails with "DLL load failed", setup.md §5)."""
    where = layout(settings)
    env = where.env_prefix
    return templates().get_template("kernel.json.j2").render(
        python=where.env_python,
        display_name=settings.kernel_display_name,
        path=f"{env};{env}\\Library\\mingw-w64\\bin;{env}\\Library\\usr\\bin;"
        f"{env}\\Library\\bin;{env}\\Scripts;${{PATH}}",
        mark=MANAGED_MARK,
        env_prefix=env,
    )


def jupyter(settings: Settings) -> None:
    """ipykernel in the env and the kernel spec in %ProgramData% (or %APPDATA%) ``\\jupyter``."""
    where = layout(settings)
    ipykernel_windows(
        name=f"ipykernel in {settings.env_name}",
        python_exe=where.env_python,
        requirement=settings.ipykernel_spec,
        extra_args=settings.pip_extra_args,
        net=settings.net,
        _timeout=op_timeout(settings.net),
    )
    managed_file_windows(
        name=f"kernel spec {settings.kernel_name}",
        path=f"{where.kernel_dir}\\kernel.json",
        content=render_kernel_json(settings),
    )


# --- verify ----------------------------------------------------------------------------------


def plan_document(
    plan: HostPlan, settings: Settings, *, condarc_written: bool | None = None,
    where: Layout | None = None,
) -> dict[str, Any]:
    """The verify role's ``plan.json`` with the Windows paths of this host.

    ``condarc`` is recorded only when the channels role writes ``<prefix>\\.condarc`` on this
    host: ``condarc_written``, or None to ask the host's receipt (:func:`host_uses_condarc`);
    an adopted install's ``plan.json`` says ``"condarc": null``. ``where``: the host's paths
    (default: those of the host being deployed); with both given no fact is gathered.
    """
    from labtorch.roles import verify as verify_role

    where = where or layout(settings)
    if condarc_written is None:
        condarc_written = host_uses_condarc(settings)
    doc = verify_role.plan_document(plan, settings, condarc_written=condarc_written)
    doc["conda"]["prefix"] = where.prefix
    if doc.get("condarc"):
        doc["condarc"]["path"] = where.condarc
        doc["condarc"]["sha256"] = hashlib.sha256(
            render_condarc(settings).encode("utf-8")).hexdigest()
    doc["env"] = {"name": settings.env_name, "prefix": where.env_prefix,
                  "python": where.env_python}
    doc["pip_conf"]["path"] = where.pip_ini
    doc["jupyter"]["spec_dir"] = where.kernel_dir
    doc["jupyter"]["kernel_dirs"] = [where.kernel_root]
    doc["report"] = f"{where.receipt_dir}\\{verify_role.REPORT_NAME}"
    return doc


def plan_json(
    plan: HostPlan, settings: Settings, *, condarc_written: bool | None = None,
    where: Layout | None = None,
) -> str:
    """``plan.json``'s exact text, as on Linux (:func:`labtorch.roles.verify.plan_json`): stable
    key order, and no password of an index URL (:func:`labtorch.roles.verify.redact`), since
    every user of the PC can read the file. ``condarc_written``, ``where``: as
    :func:`plan_document`."""
    import json

    from labtorch.roles.verify import redact

    document = plan_document(plan, settings, condarc_written=condarc_written, where=where)
    return redact(json.dumps(document, indent=2, sort_keys=True)) + "\n"


def verify(plan: HostPlan, settings: Settings) -> None:
    """Record the plan, upload ``labtorch_verify.py`` (SFTP) and run it with python.exe."""
    from labtorch.roles import verify as verify_role

    where = layout(settings)
    plan_path = f"{where.receipt_dir}\\{verify_role.PLAN_NAME}"
    script_path = f"{where.receipt_dir}\\{verify_role.SCRIPT_NAME}"
    managed_file_windows(
        name=f"host plan in {plan_path}",
        path=plan_path,
        content=plan_json(plan, settings),
    )
    managed_file_windows(
        name=f"verification script in {script_path}",
        path=script_path,
        content=verify_role.script_text(),
    )
    verification_windows(
        name="verify PyTorch in the env",
        python_exe=where.env_python,
        script_path=script_path,
        plan_path=plan_path,
        plan=plan,
        kernel_timeout=int(host.data.get("labtorch_verify_kernel_timeout")),
        _timeout=int(host.data.get("labtorch_verify_timeout")),
    )
