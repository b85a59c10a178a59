"""Where labtorch puts things on a Windows PC, computed from the site settings and the PC's facts.

The same settings as on Linux (``labtorch_*``, :data:`labtorch.roles.settings.DEFAULTS`) with
Windows defaults where a path is involved:

- ``labtorch_conda_prefix`` unset: ``<SystemDrive>\\labtorch\\miniforge3`` (scope "all", the
  default) or ``%USERPROFILE%\\miniforge3`` (scope "user"; refused when the profile path is not
  ASCII, since conda, MKL and the installer break there: set an ASCII prefix instead);
- the installer runs with ``/InstallationType=AllUsers`` (scope "all") or ``JustMe``;
- kernel spec: ``%ProgramData%\\jupyter\\kernels\\<name>`` (kernel scope "all") or
  ``%APPDATA%\\jupyter\\kernels\\<name>`` ("user");
- pip settings of the env: ``<env>\\pip.ini`` (pip's per-environment file on Windows).

>>> from labtorch.windows.facts import SAMPLE_SYSTEM, parse_system
>>> s = windows_settings({}, parse_system(SAMPLE_SYSTEM), host="pc-w01")
>>> layout = Layout.of(s, parse_system(SAMPLE_SYSTEM))
>>> (layout.prefix, layout.env_python)
('C:\\\\labtorch\\\\miniforge3', 'C:\\\\labtorch\\\\miniforge3\\\\envs\\\\pytorch\\\\python.exe')
>>> layout.installer_flags("AllUsers")
'/S /InstallationType=AllUsers /RegisterPython=0 /AddToPath=0 /D=C:\\\\labtorch\\\\miniforge3'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labtorch.errors import LabtorchError
from labtorch.roles.settings import PREFIX_DIRS, Settings, check_prefix
from labtorch.windows.facts import WindowsSystemInfo

_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\")
#: Characters the conda/constructor NSIS installer refuses in ``/D=`` (setup.md §1).
_INSTALLER_REFUSES = set("^%!=,()")


def default_prefix(flavor: str, scope: str, system: WindowsSystemInfo, host: str | None) -> str:
    """The install root when the site did not set ``labtorch_conda_prefix``."""
    folder = PREFIX_DIRS[flavor]
    if scope == "all":
        return f"{system.system_drive}\\labtorch\\{folder}"
    profile = system.home or ""
    if not profile.isascii() or " " in profile or not profile:
        raise LabtorchError(
            f"labtorch_install_scope is 'user' but the profile path {profile!r} is not plain "
            "ASCII without spaces, where conda and its installer break",
            host=host,
            fix="set labtorch_conda_prefix to an ASCII path such as C:\\labtorch\\miniforge3 "
            "(or use labtorch_install_scope = 'all')",
        )
    return f"{profile}\\{folder}"


def windows_settings(
    data: Mapping[str, Any], system: WindowsSystemInfo, *, host: str | None = None
) -> Settings:
    """:class:`Settings` for a Windows PC: the shared validation, Windows path defaults."""
    given = data.get("labtorch_conda_prefix")
    if given is not None and not _WINDOWS_PATH.match(str(given).replace("/", "\\")):
        raise LabtorchError(
            f"labtorch_conda_prefix={given!r} is not a Windows path",
            host=host,
            fix="set labtorch_conda_prefix for the windows group to a drive path such as "
            "C:\\labtorch\\miniforge3 (inventory/group_data/windows.py), or leave it unset",
        )
    # validate every other setting with a placeholder prefix, then choose the real one
    probe = given or f"{system.system_drive}\\labtorch\\miniforge3"
    settings = Settings.from_data({**data, "labtorch_conda_prefix": probe}, host=host,
                                  home=system.home, os="windows")
    prefix = given or default_prefix(settings.conda_flavor, settings.install_scope, system, host)
    prefix = check_prefix(str(prefix), key="labtorch_conda_prefix", host=host).replace("/", "\\")
    if _INSTALLER_REFUSES & set(prefix):
        raise LabtorchError(
            f"labtorch_conda_prefix={prefix!r} has a character the conda installer refuses",
            host=host,
            fix="use a drive path without ^ % ! = , ( ), e.g. C:\\labtorch\\miniforge3",
        )
    return dataclasses.replace(settings, conda_prefix=prefix)


@dataclass(frozen=True)
class Layout:
    """Every Windows path a role needs, from one host's settings and system facts."""

    prefix: str
    env_name: str
    kernel_name: str
    kernel_root: str
    install_type: str

    @classmethod
    def of(cls, settings: Settings, system: WindowsSystemInfo) -> Layout:
        if settings.kernel_scope == "user":
            base = system.appdata or f"{system.home}\\AppData\\Roaming"
        else:
            base = system.programdata
        return cls(
            prefix=settings.conda_prefix,
            env_name=settings.env_name,
            kernel_name=settings.kernel_name,
            kernel_root=f"{base}\\jupyter\\kernels",
            install_type="AllUsers" if settings.install_scope == "all" else "JustMe",
        )

    @property
    def conda_exe(self) -> str:
        return f"{self.prefix}\\Scripts\\conda.exe"

    @property
    def condarc(self) -> str:
        return f"{self.prefix}\\.condarc"

    @property
    def receipt_dir(self) -> str:
        return f"{self.prefix}\\.labtorch"

    @property
    def receipt(self) -> str:
        return f"{self.receipt_dir}\\receipt.json"

    @property
    def pending(self) -> str:
        """labtorch's folder beside the prefix while an install runs (the NSIS installer wants
        an empty target folder, so nothing of labtorch's may sit inside it before)."""
        return f"{self.prefix}.labtorch-install"

    @property
    def env_prefix(self) -> str:
        return f"{self.prefix}\\envs\\{self.env_name}"

    @property
    def env_python(self) -> str:
        return f"{self.env_prefix}\\python.exe"

    @property
    def env_receipt(self) -> str:
        return f"{self.receipt_dir}\\envs\\{self.env_name}.json"

    @property
    def pip_ini(self) -> str:
        return f"{self.env_prefix}\\pip.ini"

    @property
    def kernel_dir(self) -> str:
        return f"{self.kernel_root}\\{self.kernel_name}"

    def installer_flags(self, install_type: str | None = None) -> str:
        """NSIS arguments: flags without values first, ``/D=`` last and unquoted (setup.md §1)."""
        kind = install_type or self.install_type
        return f"/S /InstallationType={kind} /RegisterPython=0 /AddToPath=0 /D={self.prefix}"
