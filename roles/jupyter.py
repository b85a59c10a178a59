"""The ``jupyter`` role: ipykernel in the env and a kernel spec Jupyter finds.

The kernel spec is written from ``templates/kernel.json.j2`` (the env's Python by absolute path,
no activation needed) into ``/usr/local/share/jupyter/kernels/<name>`` (``labtorch_kernel_scope``
"all", the default) or the SSH user's ``~/.local/share/jupyter/kernels/<name>`` ("user"). A
kernel spec of that name that labtorch did not write is left alone and the host fails with a
message.

Settings: ``labtorch_kernel_scope`` ("all"), ``labtorch_kernel_name`` (the env name),
``labtorch_kernel_display_name`` ("Python (<env>)"), ``labtorch_ipykernel_spec`` ("ipykernel").
"""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement
from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation

from labtorch.facts.conda import CondaEnvPackages
from labtorch.roles import MANAGED_MARK, host_os, host_settings, managed_file, refuse
from labtorch.roles.channels import templates
from labtorch.roles.net import DEFAULT_NET, NetPolicy, op_timeout, pip_command
from labtorch.roles.settings import DEFAULTS, Settings
from labtorch.roles.torch import pypi_indexes


def render_kernel_json(settings: Settings) -> str:
    return (
        templates()
        .get_template("kernel.json.j2")
        .render(
            python=settings.env_python,
            display_name=settings.kernel_display_name,
            mark=MANAGED_MARK,
            env_prefix=settings.env_prefix,
        )
    )


@deploy("labtorch: jupyter", data_defaults=DEFAULTS)
def jupyter() -> None:
    """Install ipykernel into the env and register its kernel spec."""
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.jupyter(host_settings())
        return
    settings = host_settings()
    ipykernel(
        name=f"ipykernel in {settings.env_name}",
        env_prefix=settings.env_prefix,
        requirement=settings.ipykernel_spec,
        extra_args=settings.pip_extra_args,
        net=settings.net,
        pypi_indexes=pypi_indexes(settings),
        _timeout=op_timeout(settings.net),
    )
    managed_file(
        name=f"kernel spec {settings.kernel_name}",
        path=f"{settings.kernel_dir}/kernel.json",
        content=render_kernel_json(settings),
    )


@operation()
def ipykernel(
    env_prefix: str,
    requirement: str = "ipykernel",
    extra_args: tuple[str, ...] = (),
    net: NetPolicy = DEFAULT_NET,
    pypi_indexes: tuple[str, ...] = (),
):
    """pip-install ``requirement`` into the env unless an installed version satisfies it.

    + env_prefix: the env
    + requirement: a PEP 508 requirement ("ipykernel", "ipykernel>=6.29")
    + extra_args: added to the pip command
    + net / pypi_indexes: timeouts, retries, ordered PyPI indexes (:mod:`labtorch.roles.net`)
    """
    try:
        wanted = Requirement(requirement)
    except InvalidRequirement:
        yield refuse(
            f"labtorch_ipykernel_spec={requirement!r} is not a valid requirement",
            fix="set labtorch_ipykernel_spec to e.g. 'ipykernel' or 'ipykernel>=6.29'",
        )
        return
    packages = host.get_fact(CondaEnvPackages, env_prefix=env_prefix)
    have = packages.version_of(wanted.name) if packages else None
    if have is not None and wanted.specifier.contains(have, prereleases=True):
        host.noop(f"{wanted.name} {have} is already installed")
        return
    yield StringCommand(pip_command(f"{env_prefix}/bin/python", (requirement, *extra_args), net,
                                    pypi_indexes=pypi_indexes))
