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

from labtorch.errors import DataError, LabtorchError
from labtorch.model import SitePolicy

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
}

PREFIX_DIRS = {"miniforge": "miniforge3", "miniconda": "miniconda3"}
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./:\\-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


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
    if not path.isascii() or not _SAFE_PATH.match(path):
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
    return path.rstrip("/\\") or "/"


@dataclass(frozen=True)
class Installer:
    """The installer one host downloads: file name, full URL and its pinned sha256."""

    flavor: str
    version: str
    file: str
    url: str
    sha256: str


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
    return table


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
    host: str | None = None
    os: str = "linux"
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
        base = self.installer_mirror or flavor["upstream"].format(version=self.conda_version)
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
        return Installer(
            self.conda_flavor, self.conda_version, file, f"{base.rstrip('/')}/{file}", sha
        )

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
        env_name = str(get("labtorch_env_name"))
        if not _ENV_NAME.match(env_name) or env_name == "base":
            raise LabtorchError(
                f"labtorch_env_name={env_name!r} is not a usable env name",
                host=host,
                fix="use letters, digits, '.', '_' or '-', and not 'base'",
            )
        home = home or "/root"
        prefix = get("labtorch_conda_prefix")
        if prefix is None:
            root = home if scope == "user" else "/opt"
            prefix = f"{root}/{PREFIX_DIRS[flavor]}"
        prefix = check_prefix(str(prefix), key="labtorch_conda_prefix", host=host)
        version = (
            get("labtorch_conda_version")
            or _installer_table()["flavors"][flavor]["default_version"]
        )
        policy = SitePolicy(
            torch=str(get("labtorch_torch_spec")),
            python=None if get("labtorch_python") is None else str(get("labtorch_python")),
            python_max=str(get("labtorch_python_max")),
            mirror=str(get("labtorch_mirror")),
            pytorch_index_url=get("labtorch_pytorch_index_url"),
            pypi_index_url=get("labtorch_pypi_index_url"),
            driver_floor=_choice(data, "labtorch_driver_floor", ("minor", "toolkit"), host),  # type: ignore[arg-type]
            allow_cpu=bool(get("labtorch_allow_cpu")),
            include_torchaudio=bool(get("labtorch_include_torchaudio")),
            include_torchvision=bool(get("labtorch_include_torchvision")),
        )
        kernel_name = str(get("labtorch_kernel_name") or env_name)
        return cls(
            policy=policy,
            env_name=env_name,
            conda_flavor=flavor,
            conda_version=str(version),
            install_scope=scope,
            conda_prefix=prefix,
            installer_mirror=get("labtorch_installer_mirror"),
            installer_sha256=get("labtorch_installer_sha256"),
            adopt_conda=bool(get("labtorch_adopt_conda")),
            accept_defaults_tos=bool(get("labtorch_accept_defaults_tos")),
            conda_channels=tuple(get("labtorch_conda_channels")),
            conda_channel_url=get("labtorch_conda_channel_url"),
            condarc_mode=condarc_mode,
            kernel_scope=kernel_scope,
            kernel_name=kernel_name,
            kernel_display_name=str(get("labtorch_kernel_display_name") or f"Python ({env_name})"),
            ipykernel_spec=str(get("labtorch_ipykernel_spec")),
            pip_extra_args=tuple(get("labtorch_pip_extra_args")),
            min_free_mib=int(get("labtorch_min_free_mib")),
            home=home,
            host=host,
            os=os,
        )
