"""The ``torch`` role: torch, torchvision and torchaudio exactly as planned, from the planned index.

Runs ``<env>/bin/python -m pip install <plan.install...>`` (the planner's pins, e.g.
``torch==2.7.1+cu118 --index-url .../cu118``) and nothing when every pinned package is already
at its pinned version. The conda route (conda-forge ``pytorch``) is not used: the planner always
plans wheels, which exist for every release on every mirror it knows.

Settings: ``labtorch_pip_extra_args`` (() — e.g. ``("--no-compile",)`` in the lab to save time).
"""

from __future__ import annotations

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version
from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation

from labtorch.facts.conda import CondaEnvPackages
from labtorch.model import HostPlan
from labtorch.roles import host_os, host_settings
from labtorch.roles.net import DEFAULT_NET, NetPolicy, op_timeout, pip_command
from labtorch.roles.settings import DEFAULTS, Settings


def pinned_packages(install: tuple[tuple[str, ...], ...]) -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` argument of a plan's pip commands.

    >>> pinned_packages((("torch==2.7.1+cpu", "--index-url", "https://x/whl/cpu"),))
    {'torch': '2.7.1+cpu'}
    """
    pins: dict[str, str] = {}
    for command in install:
        for arg in command:
            if "==" in arg and not arg.startswith("-"):
                name, _, version = arg.partition("==")
                pins[canonicalize_name(name)] = version
            elif " @ " in arg and arg.endswith(".whl"):  # a local wheel file (room cache)
                wheel = parse_wheel_filename(arg.rsplit("/", 1)[-1])
                pins[canonicalize_name(wheel[0])] = str(wheel[1])
    return pins


def missing_pins(pins: dict[str, str], installed: dict[str, str]) -> list[str]:
    """The pins not met by ``installed``; a pin without a local label ("2.7.1") accepts any
    build of that version, one with a label ("2.7.1+cu118") only that build.

    >>> missing_pins({"torch": "2.7.1+cpu"}, {"torch": "2.7.1+cpu"})
    []
    >>> missing_pins({"torch": "2.7.1+cu118"}, {"torch": "2.7.1+cpu"})
    ['torch==2.7.1+cu118 (installed 2.7.1+cpu)']
    """
    missing = []
    for name, wanted in pins.items():
        have = installed.get(name)
        ok = False
        if have is not None:
            try:
                want_v, have_v = Version(wanted), Version(have)
                ok = want_v == have_v if want_v.local else want_v.public == have_v.public
            except InvalidVersion:
                ok = have == wanted
        if not ok:
            missing.append(f"{name}=={wanted} (installed {have or 'nothing'})")
    return missing


@deploy("labtorch: torch", data_defaults=DEFAULTS)
def torch(plan: HostPlan) -> None:
    """Install the planned PyTorch build into the env."""
    if host_os() == "windows":
        from labtorch.windows import roles as windows

        windows.torch(host_settings(), plan)
        return
    settings = host_settings()
    pip_packages(
        name=f"torch, the planned build, in {settings.env_name}",
        env_prefix=settings.env_prefix,
        install=plan.install,
        extra_args=settings.pip_extra_args,
        net=settings.net,
        pypi_indexes=pypi_indexes(settings),
        _timeout=op_timeout(settings.net),
    )


def pypi_indexes(settings: Settings) -> tuple[str, ...]:
    """The env's PyPI index, then the site's ordered fallbacks (what pip tries, in order)."""
    from labtorch.roles.channels import pypi_index_url

    return (pypi_index_url(settings), *settings.pypi_fallbacks())


@operation()
def pip_packages(
    env_prefix: str,
    install: tuple[tuple[str, ...], ...],
    extra_args: tuple[str, ...] = (),
    net: NetPolicy = DEFAULT_NET,
    pypi_indexes: tuple[str, ...] = (),
):
    """Run ``python -m pip install`` for each argument tuple unless every pin is already met.

    + env_prefix: the env whose ``bin/python`` runs pip
    + install: pip argument tuples (``HostPlan.install``); their ``name==version`` pins decide
    + extra_args: added to every pip command (e.g. ``--no-compile``)
    + net / pypi_indexes: timeouts, retries and the ordered PyPI indexes
      (:func:`labtorch.roles.net.pip_command`: a mirror failure is reported as one)
    """
    packages = host.get_fact(CondaEnvPackages, env_prefix=env_prefix)
    pins = pinned_packages(install)
    missing = missing_pins(pins, packages.packages if packages else {})
    if not missing:
        host.noop(f"{', '.join(f'{n}=={v}' for n, v in pins.items())} already installed")
        return
    python = f"{env_prefix}/bin/python"
    for args in install:
        yield StringCommand(
            pip_command(python, (*args, *extra_args), net, pypi_indexes=pypi_indexes)
        )
