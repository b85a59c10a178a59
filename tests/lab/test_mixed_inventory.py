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

from labtorch.facts.gpu import QUERY_FIELDS

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "fixtures" / "nvidia-smi"
STANDIN = REPO / "tests" / "standins" / "windows" / "standin_pc.py"
sys.path.insert(0, str(REPO / "tests" / "unit"))
from windows_grammar import problems  # noqa: E402

FACT_SCRIPTS = {"system", "gpus", "conda", "env-packages", "file", "verify"}
LINUX_HOSTS = ("pc02", "pc07")  # a Turing GPU and a PC without GPU

#: Synthetic: the shape scripts/system.ps1 prints, values of a Windows 11 lab PC.
SYSTEM = {
    "caption": "Microsoft Windows 11 Education", "version": "10.0.22631", "build": "22631",
    "arch": "AMD64", "user": "labadmin", "profile": "C:\\Users\\labadmin",
    "appdata": "C:\\Users\\labadmin\\AppData\\Roaming",
    "localappdata": "C:\\Users\\labadmin\\AppData\\Local", "programdata": "C:\\ProgramData",
    "system_drive": "C:", "admin": True, "powershell": "5.1.22621.4249",
    "drives": [{"root": "C:\\", "free_mib": 250000}],
}


def gpu_reply_from_capture() -> dict:
    """The GPU fact's JSON around the real RTX 2080 SUPER Windows capture (591.86)."""
    name = "gpuexp-rtx-2080-super-windows-591.86"
    header, values = (line for line in (SHARED / f"{name}-query-gpu.csv").read_text().splitlines()
                      if line.strip())
    row = dict(zip((h.strip().split(" [")[0] for h in header.split(",")),
                   (v.strip() for v in values.split(",")), strict=True))
    query = ", ".join(row[f].split(" ")[0] for f in QUERY_FIELDS.split(","))
    return {"smi": "C:\\Windows\\System32\\nvidia-smi.exe", "fields": QUERY_FIELDS,
            "query": query, "query_rc": 0,
            "table": (SHARED / f"{name}-table.txt").read_text(), "table_rc": 0,
            "video": [{"name": "NVIDIA GeForce RTX 2080 SUPER", "driver": "32.0.15.9186",
                       "vendor": "NVIDIA", "pnp": "PCI\\VEN_10DE&DEV_1E81"}]}


REPLIES = {
    "pc-w01": {"system": SYSTEM, "gpus": gpu_reply_from_capture(), "conda": [],
               "file": {"exists": False}, "env-packages": None},
    "pc-w02": {"system": SYSTEM, "conda": [], "file": {"exists": False}, "env-packages": None,
               "gpus": {"smi": None, "video": [
                   {"name": "Microsoft Basic Display Adapter", "driver": "10.0.22621.1",
                    "vendor": "(Standard display types)", "pnp": "PCI\\VEN_10DE&DEV_1B80"}]}},
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
def windows_pcs(tmp_path_factory) -> Iterator[dict[str, dict]]:
    """Two stand-in Windows PCs: a real sshd each, ForceCommand = the stand-in script."""
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists():
        pytest.skip("the stand-in Windows PCs need root and /usr/sbin/sshd")
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
def mixed_dry_run(lab, windows_pcs, tmp_path_factory):
    """``pyinfra <mixed room> deploy.py --dry`` with the real CLI; returns (result, JSON)."""
    from labtorch.lab.inventory import host_data

    linux = host_data(lab)
    room = tmp_path_factory.mktemp("room")
    shutil.copytree(REPO / "inventory" / "group_data", room / "group_data")  # all.py, windows.py
    inventory = room / "room_mixed.py"
    inventory.write_text(
        "linux = [\n"
        + "".join(f"    ({name!r}, {linux[name]!r}),\n" for name in LINUX_HOSTS)
        + "]\nwindows = [\n"
        + "".join(f"    ('@winssh/{name}', {pc['data']!r}),\n" for name, pc in windows_pcs.items())
        + "]\n"
    )
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
        assert "/opt/miniforge3" in per_host[name] and "C:\\\\labtorch" not in per_host[name]
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
