"""The testinfra final-state suite: which hosts, and what each must look like.

The suite ships in the package (``labtorch/check/suite``, what ``labtorch check --testinfra``
runs); ``tests/infra`` in the repository imports it. Run it against provisioned hosts, either as
testinfra does::

    pytest tests/infra --hosts=ssh://pc01,ssh://pc02 --ssh-config=lab/ssh_config
    pytest tests/infra --hosts='ansible://all' --ansible-inventory=hosts.ini

or from a pyinfra inventory (a room file, ``inventory/lab.py``, ``inventory/ansible.py``)::

    pytest tests/infra --inventory inventory/room-b204.py [-n 4]
    pytest "$(python -c 'import labtorch.check.suite as s; print(s.__path__[0])')" --inventory ...

``--inventory`` asks the real pyinfra CLI for each host's connection data
(``pyinfra --json INV debug-inventory``), writes an ssh_config for them (known hosts and keys as
the inventory says; strict host key checking stays on) and tests every host over OpenSSH.

What a host should hold is read from the host itself: the deploy's verify role leaves
``<conda prefix>/.labtorch/plan.json`` (shape in ``labtorch.roles.verify``). The prefix is the
host's ``labtorch_conda_prefix`` (``--inventory``), else ``--labtorch-prefix``, else the first of
the usual places that holds a plan.json.

Without ``--hosts`` or ``--inventory`` the suite is skipped (it never tests the machine running
pytest by accident).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from labtorch.facts.conda import USUAL_PREFIXES

SUITE_MODULE = "labtorch.check.suite.test_final_state"
PLAN_FILE = ".labtorch/plan.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labtorch")
    group.addoption("--inventory", dest="labtorch_inventory", default=None,
                    help="pyinfra inventory file whose hosts tests/infra checks")
    group.addoption("--labtorch-prefix", dest="labtorch_prefix", default=None,
                    help="conda prefix holding .labtorch/plan.json (default: each host's "
                         "labtorch_conda_prefix, else the usual places)")


def _inventory_hosts(inventory: str) -> list[dict[str, Any]]:
    pyinfra = Path(sys.executable).with_name("pyinfra")
    result = subprocess.run([str(pyinfra), "--json", inventory, "debug-inventory"],
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise pytest.UsageError(f"pyinfra could not read the inventory {inventory}: "
                                f"{result.stderr.strip()[-800:]}")
    return [h for h in json.loads(result.stdout) if not h["name"].startswith("@")]


def ssh_config_for(hosts: list[dict[str, Any]]) -> str:
    """An OpenSSH config with one ``Host`` block per pyinfra host (its ssh_* data)."""
    lines: list[str] = []
    for entry in hosts:
        data = entry["data"]
        lines.append(f"Host {entry['name']}")
        lines.append(f"  HostName {data.get('ssh_hostname') or entry['name']}")
        for key, option in (("ssh_port", "Port"), ("ssh_user", "User"),
                            ("ssh_key", "IdentityFile"),
                            ("ssh_known_hosts_file", "UserKnownHostsFile")):
            if data.get(key):
                lines.append(f"  {option} {os.path.expanduser(str(data[key]))}")
        if data.get("ssh_key"):
            lines.append("  IdentitiesOnly yes")
        lines.append("  BatchMode yes")
        lines.append("  StrictHostKeyChecking yes")
    return "\n".join(lines) + "\n"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: testinfra final-state suite, run against "
                            "provisioned hosts")
    config.labtorch_prefixes = {}  # type: ignore[attr-defined]
    inventory = config.getoption("labtorch_inventory", default=None)
    if not inventory or config.option.hosts:
        return
    hosts = _inventory_hosts(inventory)
    if not hosts:
        raise pytest.UsageError(f"the inventory {inventory} has no SSH hosts")
    ssh_config = Path(tempfile.mkdtemp(prefix="labtorch-infra-")) / "ssh_config"
    ssh_config.write_text(ssh_config_for(hosts))
    config.option.hosts = ",".join(f"ssh://{h['name']}" for h in hosts)
    config.option.ssh_config = config.option.ssh_config or str(ssh_config)
    config.labtorch_prefixes = {  # type: ignore[attr-defined]
        h["name"]: h["data"]["labtorch_conda_prefix"] for h in hosts
        if h["data"].get("labtorch_conda_prefix")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    targeted = getattr(config.option, "hosts", None) or config.getoption(
        "labtorch_inventory", default=None)
    for item in items:  # the suite's tests, wherever they are collected from (tests/infra too)
        if getattr(getattr(item, "function", None), "__module__", None) == SUITE_MODULE:
            item.add_marker(pytest.mark.infra)
            if not targeted:
                item.add_marker(pytest.mark.skip(
                    reason="tests/infra checks provisioned hosts: pass --hosts=... or "
                           "--inventory INV"))


def find_plan(host: Any, prefixes: list[str]) -> str | None:
    """The first ``<prefix>/.labtorch/plan.json`` that exists on ``host`` (``~`` expanded)."""
    home = host.check_output("printf %s \"$HOME\"")
    for prefix in prefixes:
        path = f"{prefix}/{PLAN_FILE}".replace("~", home, 1)
        if host.file(path).exists:
            return path
    return None


@pytest.fixture(scope="module")
def expected(host: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """This host's plan.json: the state the deploy promised (see labtorch.roles.verify)."""
    name = host.backend.get_hostname()
    given = getattr(request.config, "labtorch_prefixes", {}).get(name) or (
        request.config.getoption("labtorch_prefix", default=None))
    prefixes = [given] if given else list(USUAL_PREFIXES)
    path = find_plan(host, prefixes)
    if path is None:
        pytest.fail(f"{name}: no {PLAN_FILE} under {', '.join(prefixes)}: this host was not "
                    "provisioned by labtorch (run the deploy), or pass --labtorch-prefix")
    document = json.loads(host.file(path).content_string)
    document["_path"] = path
    document["_sha256"] = host.file(path).sha256sum
    return document
