"""Shared pytest fixtures. The one most tests want: ``lab``, the project's simulated lab.

``lab`` (session scope) brings up the default room (labtorch/lab/rooms/default.yaml: pc01
Pascal, pc02 Turing, pc03 Ampere, pc04 Ada, pc05 Blackwell (synthetic output), pc06 broken
driver, pc07 no GPU) once per pytest worker in a fresh state directory, yields a
``labtorch.lab.control.Lab`` and takes it down (``down(wipe=True)``) at the end. Use it as::

    @pytest.mark.lab
    @pytest.mark.xdist_group("lab")
    def test_something(lab):
        lab.hosts                    # [Host(name, address, port, profile, family, home, pid)]
        lab.host("pc02").address     # "127.77.<block>.2"
        lab.inventory                # Path of the pyinfra inventory.py (all hosts, groups)
        lab.ssh_config               # Path for `ssh -F <it> pc02 ...`
        lab.known_hosts, lab.ssh_key
        lab.mirror_urls              # {"base", "pypi": ".../simple",
                                     #  "pytorch": ".../whl/{variant}/simple", "installers"}
        lab.ssh("pc02", "nvidia-smi -L")   # CompletedProcess over real SSH
        lab.state_dir                # lab.json, hosts/<name>/ (each host's own disk)

Fault switches: ``labtorch.lab.faults`` (stop_host/start_host, mirror_mode, corrupt,
disk_full/disk_ok). A test that trips one must clear it (``try/finally``), since the lab is
shared by the session.

Set ``LABTORCH_TEST_LAB_DIR=DIR`` to reuse (and keep) a lab you brought up yourself with
``labtorch lab up --state-dir DIR``: the fixture then runs ``up`` there (idempotent, quick) and
does not take it down. Without root or sshd the fixture skips lab tests with the reason, except
where the lab is required: with ``CI=true`` (CI services set it) or ``LABTORCH_REQUIRE_LAB=1``
a lab that cannot start fails them. Any other failure to bring the lab up fails them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtorch.errors import LabtorchError
from labtorch.lab.control import Lab

# No test reads or writes the release-data overlay of the user running it
# (labtorch.overlay: $LABTORCH_OVERLAY, else ~/.local/share/labtorch/overlay.yaml); tests that
# want an overlay point LABTORCH_OVERLAY (or --overlay) at their own file.
os.environ["LABTORCH_OVERLAY"] = str(Path(tempfile.mkdtemp(prefix="labtorch-test-overlay-"))
                                     / "overlay.yaml")


def lab_required(environ: dict[str, str] | None = None) -> bool:
    """True when lab tests must not skip: ``CI`` is true or ``LABTORCH_REQUIRE_LAB`` is 1."""
    env = os.environ if environ is None else environ
    return (env.get("CI", "").lower() in ("true", "1", "yes")
            or env.get("LABTORCH_REQUIRE_LAB", "") == "1")


@pytest.fixture(scope="session")
def lab_is_required() -> bool:
    """:func:`lab_required` for fixtures of their own (the stand-in Windows PCs)."""
    return lab_required()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The simulated lab (default room), brought up once per session; see the module docstring."""
    from labtorch.lab import control, hosts

    try:
        hosts.check_prerequisites()  # not root, no sshd: skip; any later failure fails the tests
    except LabtorchError as err:
        if lab_required():
            pytest.fail(f"simulated lab required (CI or LABTORCH_REQUIRE_LAB) but unavailable: "
                        f"{err.line()}", pytrace=False)
        pytest.skip(f"simulated lab unavailable: {err.line()}")
    reuse = os.environ.get("LABTORCH_TEST_LAB_DIR")
    state_dir = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="labtorch-test-lab-"))
    try:
        yield control.up(state_dir)
    finally:
        if not reuse:
            control.down(state_dir, wipe=True)


# --- tests that load inventories with pyinfra's CLI loader run in one process ----------------
#
# ``labtorch check`` loads a room with ``pyinfra_cli.inventory``; importing ``pyinfra_cli`` runs
# ``gevent.monkey.patch_all()`` (as pyinfra's own CLI does). In a pytest-xdist worker that
# patches ``threading`` under execnet's running threads, and the worker can later die with
# gevent's "LoopExit: This operation would block forever" while it waits for its next test (CI
# saw it). Such tests carry ``@pytest.mark.one_process`` and run with the lab tests
# (``pytest -m "lab or one_process"``), never in a worker.


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    skip = pytest.mark.skip(reason="loads pyinfra_cli (gevent-patches the process): runs in one "
                                   'process, pytest -m "lab or one_process"')
    for item in items:
        if "one_process" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _pyinfra_cli_stays_out_of_xdist_workers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that imported pyinfra_cli in an xdist worker without the marker."""
    yield
    if (os.environ.get("PYTEST_XDIST_WORKER") and "pyinfra_cli" in sys.modules
            and "one_process" not in request.keywords):
        pytest.fail("this test imported pyinfra_cli, which gevent-patches the whole process and "
                    "can hang a pytest-xdist worker: mark its module "
                    "`pytestmark = pytest.mark.one_process` (see tests/conftest.py)")
