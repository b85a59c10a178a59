"""JSON specs for the Windows side: facts in → commands out (tests/unit/specs/windows/*.json).

As pyinfra's own ``tests/operations/<op>/*.json``: each spec gives what a Windows PC answers to
labtorch's fact scripts and what must happen. Two kinds:

- ``"fact"``: a fact class, its arguments, the PowerShell it must send (``command_contains``),
  the JSON the PC prints (``output``) and the parsed value (``expected``, a subset);
- ``"role"``: a role run on one ``@fake`` Windows host (``labtorch_os = "windows"``) through the
  real roles and pyinfra; ``responses`` answer fact scripts (``"conda"``, ``"env-packages"``,
  ``"file <path>"``, ``"system"``; defaults: ``SAMPLE_SYSTEM``, nothing installed, no files);
  ``changes`` lists, in order, each changing script (``script`` name, ``contains`` substrings)
  or upload (``upload`` path); ``failed`` says whether the host must fail, ``refusal`` what
  it must print.

Every script a spec sends is also parsed with tree-sitter-powershell (zero error nodes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops
from pyinfra.connectors.fake import FakeConnector
from windows_grammar import problems

from labtorch.errors import LabtorchError
from labtorch.model import HostPlan
from labtorch.roles import channels, conda, env, jupyter, refused, torch, verify
from labtorch.windows import facts as windows_facts
from labtorch.windows.facts import SAMPLE_SYSTEM
from labtorch.windows.powershell import quote

SPECS = Path(__file__).parent / "specs" / "windows"
FACT_SCRIPTS = {"system", "gpus", "conda", "env-packages", "file", "verify"}


def as_in_deploy_py(role):
    """Run a role as deploy.py does: a ``LabtorchError`` refuses this host only."""

    def run(plan: HostPlan) -> None:
        try:
            role(plan)
        except LabtorchError as err:
            refused(name="labtorch refuses this host", line=str(err))

    return run


ROLES = {
    "conda": lambda plan: conda.conda(),
    "channels": lambda plan: channels.conda_channels(),
    "pip_index": lambda plan: channels.pip_index(plan.index_url),
    "env": lambda plan: env.env(plan),
    "torch": lambda plan: torch.torch(plan),
    "jupyter": lambda plan: jupyter.jupyter(),
    "verify": lambda plan: verify.verify(plan),
}
DEFAULT_PLAN = {
    "torch": "2.7.1", "torchvision": "0.22.1", "torchaudio": "2.7.1", "variant": "cu118",
    "python": "3.11", "index_url": "https://download.pytorch.org/whl/cu118",
    "install": [["torch==2.7.1+cu118", "torchvision==0.22.1+cu118", "torchaudio==2.7.1+cu118",
                 "--index-url", "https://download.pytorch.org/whl/cu118"]],
    "os": "windows",
}


def load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for path in sorted(SPECS.glob("*.json")):
        spec = json.loads(path.read_text("utf-8"))
        if kind in spec:
            specs.append((path.stem, spec))
    return specs


def script_name(command: str) -> str | None:
    match = re.match(r"^\$LabtorchScript = '([a-z-]+)'", command)
    return match.group(1) if match else None


def subset(actual: Any, expected: Any, where: str = "value") -> None:
    """Assert ``expected`` is contained in ``actual`` (dicts by key, lists item by item)."""
    if dataclasses.is_dataclass(actual):
        actual = dataclasses.asdict(actual)  # type: ignore[arg-type]
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not a mapping"
        for key, value in expected.items():
            assert key in actual, f"{where}: no {key!r} in {actual!r}"
            subset(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        actual = list(actual)
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            subset(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.parametrize(("name", "spec"), load("fact"), ids=[n for n, _ in load("fact")])
def test_fact_spec(name, spec):
    fact = getattr(windows_facts, spec["fact"])()
    command = fact.command(**spec.get("args", {}))
    assert problems(command) == []
    for text in spec.get("command_contains", []):
        assert text in command, f"{name}: {text!r} not in the script"
    output = spec["output"]
    lines = [output] if isinstance(output, str) else [json.dumps(output)]
    value = fact.process(lines)
    if spec["expected"] is None:
        assert value is None
    else:
        subset(value, spec["expected"])


@pytest.fixture
def uploads(monkeypatch):
    """Record @fake uploads as ``upload <path>`` commands (the fake connector keeps none)."""

    def put_file(self, filename_or_io, remote_filename, *args, **kwargs):
        content = filename_or_io.read()
        self.executed_commands.append(f"upload {remote_filename}\n" + content.decode("utf-8"))
        return True

    monkeypatch.setattr(FakeConnector, "put_file", put_file)


def run_role(spec: dict[str, Any]) -> tuple[list[str], bool]:
    responses: dict[str, Any] = {"$LabtorchScript = 'refuse'": {"success": False}}
    for key, value in spec.get("responses", {}).items():
        if key.startswith("file "):
            match = f"$LabtorchScript = 'file'\n$Path = {quote(key[5:])}"
        else:
            match = f"$LabtorchScript = '{key}'"
        responses[match] = [json.dumps(value)]
    responses.setdefault("$LabtorchScript = 'system'", [SAMPLE_SYSTEM])
    responses.setdefault("$LabtorchScript = 'conda'", ["[]"])
    responses.setdefault("$LabtorchScript = 'file'", ['{"exists": false}'])
    responses.setdefault("$LabtorchScript = 'env-packages'", ["null"])
    data = {"fake_delay": 0, "fake_delay_jitter": 0, "labtorch_os": "windows",
            "fake_responses": responses, **spec.get("data", {})}
    inventory = Inventory(([("@fake/pc-w01", data)], {}))
    host = inventory.get_host("@fake/pc-w01")
    state = State(inventory, Config(FAIL_PERCENT=None), check_for_changes=False)
    connect_all(state)
    plan = HostPlan(**{**DEFAULT_PLAN, **spec.get("plan", {})})
    plan = dataclasses.replace(plan, install=tuple(tuple(a) for a in plan.install))
    names = spec["role"] if isinstance(spec["role"], list) else [spec["role"]]
    for role in names:
        add_deploy(state, as_in_deploy_py(ROLES[role]), plan)
    with contextlib.suppress(PyinfraError):  # "No hosts remaining!" when the only host fails
        run_ops(state)
    return host.connector.executed_commands, host in state.failed_hosts


@pytest.mark.parametrize(("name", "spec"), load("role"), ids=[n for n, _ in load("role")])
def test_role_spec(name, spec, uploads):
    commands, failed = run_role(spec)
    for command in commands:
        if not command.startswith("upload "):
            assert script_name(command), f"{name}: a non-labtorch command was sent: {command!r}"
            assert problems(command) == [], f"{name}: {script_name(command)} does not parse"
    changes = [c for c in commands if script_name(c) not in FACT_SCRIPTS]
    expected = spec["changes"]
    got = [script_name(c) or c.split("\n", 1)[0] for c in changes]
    want = [e.get("script") or f"upload {e['upload']}" for e in expected]
    assert got == want, f"{name}: changes {got} != {want}"
    for command, step in zip(changes, expected, strict=True):
        for text in step.get("contains", []):
            assert text in command, f"{name}: {text!r} not in {got[changes.index(command)]}"
        for text in step.get("absent", []):
            assert text not in command, f"{name}: {text!r} in {got[changes.index(command)]}"
    assert failed == spec.get("failed", False)
    if spec.get("refusal"):
        refusals = [c for c in changes if script_name(c) == "refuse"]
        assert refusals and spec["refusal"] in refusals[-1]


def test_every_windows_role_and_fact_has_a_spec():
    roles = {spec["role"] for _, spec in load("role")}
    fact_classes = {spec["fact"] for _, spec in load("fact")}
    assert roles == set(ROLES)
    assert fact_classes == {
        "WindowsSystem", "WindowsGpus", "WindowsCondaInstalls", "WindowsCondaInstallAt",
        "WindowsEnvPackages", "WindowsFileState", "WindowsVerificationRun",
    }


def test_second_run_over_what_the_first_run_left_changes_nothing(uploads):
    provision = ["conda", "channels", "env", "pip_index", "torch", "jupyter"]
    first, failed = run_role({"role": provision})
    assert not failed
    written = {}
    for command in first:
        if command.startswith("upload "):
            path, content = command[len("upload "):].split("\n", 1)
            written[path] = content
    assert len(written) == 3  # .condarc, pip.ini, kernel.json
    pins = [{"name": n, "version": v} for n, v in (
        ("torch", "2.7.1+cu118"), ("torchvision", "0.22.1+cu118"), ("torchaudio", "2.7.1+cu118"),
        ("ipykernel", "6.29.5"))]
    ours = json.dumps({"tool": "labtorch", "state": "complete", "flavor": "miniforge"})
    env_receipt = json.dumps({"tool": "labtorch", "env": "pytorch", "python": "3.11"})
    responses: dict[str, Any] = {
        "conda": [{"prefix": "C:\\labtorch\\miniforge3", "exists": True, "conda": True,
                   "history": True, "meta": [], "receipt": ours,
                   "envs": [{"name": "pytorch", "python": True, "receipt": env_receipt}]}],
        "env-packages": {"version": "Python 3.11.9", "pip": json.dumps(pins)},
    }
    for path, content in written.items():
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        responses[f"file {path}"] = {"exists": True, "sha256": digest, "marked": True}
    second, failed = run_role({"role": provision, "responses": responses})
    assert not failed
    assert [script_name(c) for c in second if script_name(c) not in FACT_SCRIPTS] == []


# --- labtorch_os = "windows" without @winssh ------------------------------------------------


def test_windows_by_data_on_a_plain_ssh_host_is_refused_naming_the_host_and_winssh(monkeypatch):
    from pyinfra.connectors.ssh import SSHConnector

    from labtorch.windows.roles import windows_host

    monkeypatch.setattr(SSHConnector, "run_shell_command",
                        lambda *a, **k: pytest.fail("no PowerShell may go to a POSIX shell"))
    inventory = Inventory((["pc-w02.lab.example"], {}))
    State(inventory, Config())
    host = inventory.get_host("pc-w02.lab.example")
    with pytest.raises(LabtorchError) as err:
        windows_host(host, {"labtorch_os": "windows"})
    assert err.value.host == "pc-w02.lab.example"
    assert "@winssh/<address>" in str(err.value)


def test_layout_with_linux_system_facts_is_a_labtorch_error_not_an_assertion(monkeypatch):
    from pyinfra.context import ctx_host

    from labtorch.facts.system import SystemInfo
    from labtorch.windows import roles as windows_roles

    inventory = Inventory((["pc-w03.lab.example"], {}))
    State(inventory, Config())
    host = inventory.get_host("pc-w03.lab.example")
    monkeypatch.setattr(windows_roles, "host_system", lambda: SystemInfo(os="linux"))
    with ctx_host.use(host), pytest.raises(LabtorchError) as err:
        windows_roles.layout()
    assert err.value.host == "pc-w03.lab.example" and "@winssh" in str(err.value)
