"""A mixed room: Linux lab hosts and Windows PCs in one inventory, one ``deploy.py``.

Real: pyinfra's CLI, ``deploy.py``, the ``@winssh`` connector (found through its entry point),
paramiko over real SSH, a real OpenSSH sshd per Windows PC, and the simulated lab's Linux hosts.
STAND-IN (named so): behind each Windows sshd, ``tests/standins/windows/standin_pc.py`` plays the
PC: it records every command it receives and answers labtorch's fact scripts with replies built
from real Windows nvidia-smi captures (../shared/fixtures); it executes no operation, so the
deploy runs with ``--dry``.

Asserted: every command a Windows PC received was an encoded PowerShell script (so cmd.exe or any
default shell passes it untouched) that parses with a real PowerShell grammar and is one of
labtorch's Windows scripts; the Linux hosts planned Linux paths and the Windows PCs Windows paths
(C:\\labtorch\\miniforge3, CUDA wheels from the PyTorch index for the GPU PC, CPU for the PC
whose NVIDIA card has no driver); the plan table shows both OSes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "standins" / "windows" / "standin_pc.py"
sys.path.insert(0, str(REPO / "tests" / "unit"))
from windows_grammar import problems  # noqa: E402
from windows_replies import (  # noqa: E402
    NO_DRIVER_GPUS,
    SYSTEM,
    check_reply,
    conda_reply,
    gpu_reply_from_capture,
)

FACT_SCRIPTS = {"system", "gpus", "conda", "env-packages", "file", "verify"}
CHECK_SCRIPTS = ["system", "gpus", "conda", "check"]
LINUX_HOSTS = ("pc02", "pc07")  # a Turing GPU and a PC without GPU

REPLIES = {
    "pc-w01": {"system": SYSTEM, "gpus": gpu_reply_from_capture(), "conda": [],
               "file": {"exists": False}, "env-packages": None, "check": check_reply()},
    "pc-w02": {"system": SYSTEM, "conda": [], "file": {"exists": False}, "env-packages": None,
               "gpus": NO_DRIVER_GPUS, "check": check_reply()},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"stand-in sshd on port {port} did not start")


@pytest.fixture(scope="module")
def windows_pcs(tmp_path_factory, lab_is_required) -> Iterator[dict[str, dict]]:
    """Two stand-in Windows PCs: a real sshd each, ForceCommand = the stand-in script."""
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        why = "the stand-in Windows PCs need root and /usr/sbin/sshd"
        if lab_is_required:
            pytest.fail(f"lab required (CI or LABTORCH_REQUIRE_LAB): {why}", pytrace=False)
        pytest.skip(why)
    root = tmp_path_factory.mktemp("windows-pcs")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client")],
                   check=True)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    pcs: dict[str, dict] = {}
    processes = []
    try:
        for name, replies in REPLIES.items():
            state = root / name
            state.mkdir()
            (state / "replies.json").write_text(json.dumps(replies))
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(state / "host_key")], check=True)
            shutil.copy(root / "client.pub", state / "authorized_keys")
            port = free_port()
            (state / "sshd_config").write_text(
                f"ListenAddress 127.0.0.1:{port}\nHostKey {state}/host_key\nPidFile none\n"
                f"AuthorizedKeysFile {state}/authorized_keys\nStrictModes no\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nUseDNS no\nLogLevel ERROR\n"
                f"ForceCommand {sys.executable} {STANDIN} {state}\n"
            )
            processes.append(subprocess.Popen(
                ["/usr/sbin/sshd", "-D", "-e", "-f", str(state / "sshd_config")],
                stderr=open(state / "sshd.log", "w")))  # noqa: SIM115
            wait_port(port)
            key = (state / "host_key.pub").read_text().split()
            (state / "known_hosts").write_text(f"[127.0.0.1]:{port} {key[0]} {key[1]}\n")
            pcs[name] = {"state": state, "data": {
                "ssh_hostname": "127.0.0.1", "ssh_port": port, "ssh_user": "root",
                "ssh_key": str(root / "client"),
                "ssh_known_hosts_file": str(state / "known_hosts"),
                "ssh_strict_host_key_checking": "yes"}}
        yield pcs
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def received(pc: dict) -> list[dict]:
    path = pc["state"] / "commands.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def mixed_room(lab, windows_pcs, tmp_path_factory) -> Path:
    """A room inventory: two lab Linux hosts and the two stand-in Windows PCs, with the
    repository's group_data (all.py, windows.py)."""
    from labtorch.lab.inventory import host_data

    linux = host_data(lab)
    room = tmp_path_factory.mktemp("room")
    shutil.copytree(REPO / "inventory" / "group_data", room / "group_data")
    inventory = room / "room_mixed.py"
    inventory.write_text(
        "linux = [\n"
        + "".join(f"    ({name!r}, {linux[name]!r}),\n" for name in LINUX_HOSTS)
        + "]\nwindows = [\n"
        + "".join(f"    ('@winssh/{name}', {pc['data']!r}),\n" for name, pc in windows_pcs.items())
        + "]\n"
    )
    return inventory


@pytest.fixture(scope="module")
def mixed_dry_run(mixed_room):
    """``pyinfra <mixed room> deploy.py --dry`` with the real CLI; returns (result, JSON)."""
    inventory = mixed_room
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pyinfra"), str(inventory), "deploy.py", "--dry",
         "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    try:
        output = json.loads(result.stdout)
    except json.JSONDecodeError:
        output = None
    return result, output


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_windows_pcs_receive_only_encoded_powershell_that_parses(mixed_dry_run, windows_pcs):
    result, _ = mixed_dry_run
    for name, pc in windows_pcs.items():
        commands = received(pc)
        assert commands, f"{name} received nothing:\n{result.stderr[-3000:]}"
        for command in commands:
            assert command["script"] is not None, f"{name} got a non-PowerShell command: {command}"
            assert problems(command["script"]) == []
        names = [c["script"].split("'")[1] for c in commands]
        assert set(names) <= FACT_SCRIPTS, f"{name} was sent an operation during --dry: {names}"
        assert {"system", "gpus", "conda"} <= set(names), result.stderr[-4000:]


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_each_host_gets_the_operations_of_its_own_os(mixed_dry_run):
    result, output = mixed_dry_run
    assert output is not None, f"pyinfra printed no JSON:\n{result.stderr[-3000:]}"
    text = json.dumps(output)[:3000]
    per_host = {host: json.dumps(ops) for host, ops in by_host(output).items()}
    assert set(per_host) >= {*LINUX_HOSTS, "@winssh/pc-w01", "@winssh/pc-w02"}, text[:3000]
    for name in LINUX_HOSTS:
        # the lab's data installs per user (each simulated host has its own home)
        assert "/root/miniforge3" in per_host[name] and "C:\\\\labtorch" not in per_host[name]
    for name in ("@winssh/pc-w01", "@winssh/pc-w02"):
        ops = per_host[name]
        assert "C:\\\\labtorch\\\\miniforge3" in ops and "/opt/miniforge3" not in ops
        assert "conda channels and folders in C:\\\\labtorch\\\\miniforge3\\\\.condarc" in ops
    for name in LINUX_HOSTS:
        assert "channels and folders" not in per_host[name]


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_plan_table_plans_cuda_for_the_windows_gpu_pc_and_cpu_without_driver(mixed_dry_run):
    result, _ = mixed_dry_run
    table = result.stderr
    rows = {line.split("│")[1].strip(): line for line in table.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert "cu1" in rows["@winssh/pc-w01"] and "591.86" in rows["@winssh/pc-w01"]
    assert "cpu" in rows["@winssh/pc-w02"]
    assert "pc02" in rows and "pc07" in rows


def by_host(output: dict) -> dict[str, list[str]]:
    """pyinfra's ``--dry --json`` document as ``{host: names of the operations that would
    change it}``."""
    hosts: dict[str, list[str]] = {}
    for op in output["plan"]:
        for host in [*op["hosts_with_change"], *op["hosts_with_conditional_change"]]:
            hosts.setdefault(host, []).append(op["name"])
    return hosts


def provision_in_the_standin(inventory: Path, pc: dict, name: str) -> None:
    """Make the stand-in PC answer as labtorch's deploy leaves a PC: a complete install, the
    ``plan.json``, ``.condarc`` and ``pip.ini`` the deploy renders for this PC's facts and
    settings (product code), and a SYNTHETIC healthy verification report (no recorded Windows
    verification exists here: tests/unit/windows_replies.py)."""
    from pyinfra.api import Config, State
    from windows_replies import gpu_report

    from labtorch.check.run import load_inventory, windows_host_settings
    from labtorch.planner import plan_host
    from labtorch.roles.channels import render_pip_conf
    from labtorch.windows.facts import parse_gpus, parse_system
    from labtorch.windows.layout import Layout
    from labtorch.windows.roles import plan_json, render_condarc

    state = State(check_for_changes=False)
    hosts = load_inventory(inventory, state, Config())
    state.init(hosts, Config())
    replies = json.loads((pc["state"] / "replies.json").read_text())
    system = parse_system(json.dumps(replies["system"]))
    settings = windows_host_settings(hosts.get_host(f"@winssh/{name}"), system)
    where = Layout.of(settings, system)
    plan = plan_host(parse_gpus(json.dumps(replies["gpus"])), settings.policy, os="windows",
                     host=name)
    report = gpu_report(plan, where.env_python, device="NVIDIA GeForce RTX 2080 SUPER",
                        capability=(7, 5), driver="591.86")
    replies["conda"] = conda_reply(where.prefix, provisioned=True)
    replies["check"] = check_reply(
        plan_json(plan, settings, condarc_written=True, where=where),
        condarc=render_condarc(settings), pip_ini=render_pip_conf(settings, plan.index_url),
        report=report)
    (pc["state"] / "replies.json").write_text(json.dumps(replies))


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_labtorch_check_judges_windows_pcs_from_their_own_scripts(mixed_room, windows_pcs,
                                                                  mixed_dry_run):
    """After the dry run: pc-w01 answers as a provisioned PC, pc-w02 as one never provisioned;
    ``labtorch check`` over the mixed room judges each Windows PC from four encoded PowerShell
    scripts and each Linux host from its one sh command."""
    provision_in_the_standin(mixed_room, windows_pcs["pc-w01"], "pc-w01")
    sent_before = {name: len(received(pc)) for name, pc in windows_pcs.items()}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "labtorch"), "check", str(mixed_room), "--json", "-",
         "--no-history"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    start = done.stdout.find("{")
    assert start >= 0, f"no JSON from labtorch check:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    hosts = {h["host"]: h for h in json.loads(done.stdout[start:])["hosts"]}
    results = {name: {r["check"]: r for r in h["results"]} for name, h in hosts.items()}

    w01, w02 = results["@winssh/pc-w01"], results["@winssh/pc-w02"]
    assert hosts["@winssh/pc-w01"]["status"] == "pass", w01
    assert w01["reach"]["detail"].startswith("windows")
    assert w01["config"]["detail"] == ".condarc and pip.ini as deployed"
    assert w02["plan"]["status"] == "fail"
    assert w02["plan"]["cause"] == ("labtorch has not provisioned this host: no "
                                    "C:\\labtorch\\miniforge3\\.labtorch\\plan.json")
    assert "--limit @winssh/pc-w02" in w02["plan"]["fix"]
    for name in LINUX_HOSTS:
        assert results[name]["reach"]["status"] == "pass", results[name]
        assert results[name]["reach"]["detail"].startswith("linux")
    assert done.returncode == 1  # pc-w02 (and any unprovisioned lab host) fails

    for name, pc in windows_pcs.items():
        commands = received(pc)[sent_before[name]:]
        assert [c["script"].split("'")[1] for c in commands] == CHECK_SCRIPTS, name
        for command in commands:
            assert problems(command["script"]) == []
