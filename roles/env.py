"""The ``env`` role: the conda env ``labtorch_env_name`` ("pytorch") with the planned Python.

labtorch records every env it creates in ``<prefix>/.labtorch/envs/<name>.json`` *before* creating
it, so an env half-created by a stopped run is recognised as its own and finished by the next
run. An env of that name that labtorch did not create is never removed or modified: the host
fails with a message naming a way out.
"""

from __future__ import annotations

import shlex

from packaging.version import Version
from pyinfra import host, logger
from pyinfra.api import StringCommand, deploy, operation

from labtorch.facts.conda import CondaEnvPackages, CondaInstallAt
from labtorch.model import HostPlan
from labtorch.roles import host_os, host_settings, refuse, write_json_command
from labtorch.roles.channels import channel_args, host_uses_condarc
from labtorch.roles.net import DEFAULT_NET, NetPolicy, bounded, conda_env_vars, op_timeout
from labtorch.roles.settings import DEFAULTS, Settings


def env_receipt_path(prefix: str, env_name: str) -> str:
    return f"{prefix}/.labtorch/envs/{env_name}.json"


@deploy("labtorch: env", data_defaults=DEFAULTS)
def env(plan: HostPlan) -> None:
    """Create (or finish) the env with ``plan.python``."""
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.env(host_settings(), plan)
    else:
        _linux(host_settings(), plan)


def _linux(settings: Settings, plan: HostPlan) -> None:
    conda_env(
        name=f"conda env {settings.env_name} with Python {plan.python}",
        prefix=settings.conda_prefix,
        env_name=settings.env_name,
        python=plan.python,
        channel_args=channel_args(settings, host_uses_condarc(settings)),
        net=settings.net,
        _timeout=op_timeout(settings.net),
    )


def python_matches(installed: str, wanted: str) -> bool:
    """True when ``installed`` ("3.11.2") satisfies the planned ``wanted`` ("3.11" or "3.11.2").

    >>> python_matches("3.11.2", "3.11"), python_matches("3.12.1", "3.11")
    (True, False)
    """
    have, want = Version(installed).release, Version(wanted).release
    return have[: len(want)] == want


def foreign_env(env_prefix: str) -> tuple[str, str]:
    """(what, fix) for an env of the wanted name that labtorch did not create (both OSes)."""
    return (f"env {env_prefix} exists and was not created by labtorch",
            "set labtorch_env_name to a new name (labtorch never changes envs it did not create)")


def keeps_env(env_name: str, installed_python: str | None, python: str) -> bool:
    """True when labtorch's existing env already has the planned Python (says so: a no-op).

    ``installed_python`` is None when there is no env yet. An env with another Python is
    labtorch's to recreate: warn and return False (both OSes decide here).
    """
    if installed_python is None:
        return False
    if python_matches(installed_python, python):
        host.noop(f"env {env_name} already has Python {installed_python}")
        return True
    logger.warning(f"{host.print_prefix}env {env_name} has Python {installed_python}, the plan "
                   f"says {python}: recreating it (labtorch created it)")
    return False


@operation()
def conda_env(
    prefix: str,
    env_name: str,
    python: str,
    channel_args: tuple[str, ...] = (),
    net: NetPolicy = DEFAULT_NET,
):
    """Make ``<prefix>/envs/<env_name>`` a labtorch env with Python ``python``.

    + prefix: the conda install (its ``bin/conda`` is called by absolute path)
    + env_name: the env's name
    + python: the planned Python ("3.11")
    + channel_args: ``--override-channels -c ...`` when channels are passed per command
    + net: conda's connect/read timeouts and retries, and the bound on the whole command
    """
    install = host.get_fact(CondaInstallAt, prefix=prefix)
    env_prefix = f"{prefix}/envs/{env_name}"
    conda = shlex.quote(f"{prefix}/bin/conda")
    found = install.env(env_name) if install is not None else None
    if found is not None and not found.owned:
        yield refuse(*foreign_env(env_prefix))
        return
    packages = host.get_fact(CondaEnvPackages, env_prefix=env_prefix) if found else None
    if keeps_env(env_name, packages.python_version if packages else None, python):
        return
    yield write_json_command(
        env_receipt_path(prefix, env_name),
        {"tool": "labtorch", "env": env_name, "python": python},
    )
    variables = " ".join(f"{k}={v}" for k, v in conda_env_vars(net).items())
    create = " ".join([conda, "create", "-y", "-q", "-p", shlex.quote(env_prefix),
                       shlex.quote(f"python={python}"), "pip", *map(shlex.quote, channel_args)])
    yield StringCommand(bounded(f"env {variables} {create}", net))
