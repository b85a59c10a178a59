"""Simulated lab hosts: one real sshd per host, each in its own mount/UTS/PID namespaces.

A host is a directory ``<state>/hosts/<name>/`` and one process tree::

    unshare --mount --uts --pid --fork --kill-child --mount-proc --propagation private \\
        /bin/sh <state>/hosts/<name>/init.sh

``init.sh`` gives the host its own filesystem view, then ``exec``s sshd (PID 1 of the host):

- ``/etc``, ``/usr``, ``/var``: overlays of the machine's with a per-host upper layer (the
  host's own ``/etc/pip.conf``, ``/etc/labtorch-lab.json``, sshd config and host key; anything
  apt or a system-wide pip would write); the machine's own pip configuration is hidden
  (whiteouts), as on a fresh lab PC.
- ``/root``, ``/home``, ``/opt``, ``/usr/local``, ``/tmp``: per-host directories, empty at first.
- ``/run``: a small private tmpfs. Hostname: the host's name.

(The host directory is first bind-mounted at ``/run/labtorch-lab-host``, so that a state
directory under /root or /tmp stays reachable while those are replaced; it is unmounted again.)

Everything mounted lives only in the host's private mount namespace, so killing the host
(``stop``) removes its mounts and processes at once; its directories keep what was installed,
like a disk across a reboot. Addresses are loopback (127.77.<block>.<n>), so pip treats the
lab mirror as a secure origin without any trusted-host setting.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError
from labtorch.lab.gpu import (
    GPU_STANDIN,
    HOST_RECORDING,
    HOST_STANDIN,
    REPLAY_SCRIPT,
    gpu_recording,
)
from labtorch.lab.room import HostSpec

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
OVERLAID = ("etc", "usr", "var")  # the machine's, with a per-host upper layer
HIDDEN_ETC = ("pip.conf", "xdg/pip")  # the machine's own pip config must not leak into hosts

SSHD_CONFIG = """\
# sshd of simulated lab host {name} (written by `labtorch lab up`)
ListenAddress {address}:{port}
HostKey /etc/labtorch-lab/ssh_host_ed25519_key
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 200:30:400
MaxSessions 64
LogLevel ERROR
Subsystem sftp internal-sftp
"""

INIT_SH = """\
#!/bin/sh
# PID 1 of simulated lab host {name}: build its filesystem view, then become its sshd.
set -eu
mount -t tmpfs -o mode=755,size=16m lab-{name}-run /run
mkdir -p /run/sshd /run/labtorch-lab-host
mount --bind '{home}' /run/labtorch-lab-host
H=/run/labtorch-lab-host
for d in etc usr var; do
  mount -t overlay "lab-{name}-$d" -o "lowerdir=/$d,upperdir=$H/upper/$d,workdir=$H/work/$d" "/$d"
done
for d in root home opt usr/local tmp; do mount --bind "$H/fs/$d" "/$d"; done
umount $H
rmdir $H
hostname '{name}'
exec {sshd} -D -e -f /etc/labtorch-lab/sshd_config
"""


@dataclass(frozen=True)
class Host:
    """A running (or stopped) simulated host, as recorded in lab.json."""

    name: str
    address: str
    port: int
    profile: str
    family: str
    home: Path
    pid: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "port": self.port,
                "profile": self.profile, "family": self.family, "home": str(self.home),
                "pid": self.pid}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Host:
        return cls(row["name"], row["address"], int(row["port"]), row["profile"], row["family"],
                   Path(row["home"]), row.get("pid"))

    @property
    def init_script(self) -> Path:
        return self.home / "init.sh"


def check_prerequisites() -> None:
    """Fail clearly when the lab cannot run here: not root, or no sshd/unshare."""
    if os.geteuid() != 0:
        raise LabtorchError("labtorch lab needs root (network/mount namespaces, sshd per host)",
                            fix="run it as root, e.g. sudo labtorch lab up")
    if not Path(SSHD).exists():
        raise LabtorchError("openssh-server is not installed",
                            fix="run: apt-get install -y openssh-server")
    for tool, package in (("unshare", "util-linux"), ("ssh-keygen", "openssh-client"),
                          ("ssh", "openssh-client")):
        if shutil.which(tool) is None:
            raise LabtorchError(f"{tool} is not installed",
                                fix=f"run: apt-get install -y {package}")
    if "overlay" not in Path("/proc/filesystems").read_text():
        subprocess.run(["modprobe", "overlay"], capture_output=True, check=False)
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise LabtorchError("the kernel has no overlayfs (each host's /etc, /usr, /var)",
                                fix="run: modprobe overlay")
    if not Path("/usr/bin/python3").exists():
        raise LabtorchError("/usr/bin/python3 is missing (hosts run nvidia-smi and conda on it)",
                            fix="run: apt-get install -y python3 python3-venv")


def _whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not path.is_symlink():
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def prepare(spec: HostSpec, home: Path, address: str, bundle: dict[str, Any],
            client_pubkey: str, mirror: dict[str, str]) -> Host:
    """Create or refresh the host's directories and files; returns its ``Host`` (not started).

    Files labtorch owns (sshd config, markers, nvidia-smi) are rewritten on every call; what a
    deploy wrote in the host stays.
    """
    if any(c in str(home) for c in ",:'\"\\ \n"):
        raise LabtorchError(f"lab state directory {home} contains a character mount options "
                            "cannot carry", fix="use a path of letters, digits, '-', '_', '.', '/'")
    fresh = not (home / "upper" / "etc").exists()
    etc = home / "upper" / "etc"
    for d in OVERLAID:
        (home / "upper" / d).mkdir(parents=True, exist_ok=True)
        (home / "work" / d).mkdir(parents=True, exist_ok=True)
    for d in ("root", "home", "opt", "usr/local", "tmp"):
        (home / "fs" / d).mkdir(parents=True, exist_ok=True)
    for d in ("bin", "sbin", "lib", "share", "include", "etc", "src"):
        (home / "fs" / "usr/local" / d).mkdir(exist_ok=True)
    os.chmod(home / "fs" / "root", 0o700)
    os.chmod(home / "fs" / "tmp", 0o1777)
    if fresh:
        for hidden in HIDDEN_ETC:
            _whiteout(etc / hidden)
    lab_etc = etc / "labtorch-lab"
    lab_etc.mkdir(parents=True, exist_ok=True)
    key = lab_etc / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name,
                        "-f", str(key)], check=True)
    (lab_etc / "sshd_config").write_text(
        SSHD_CONFIG.format(name=spec.name, address=address, port=SSH_PORT))
    (lab_etc / "nvidia-smi.json").write_text(json.dumps(bundle))
    marker = {"simulated": True, "host": spec.name, "profile": {
        "name": spec.profile.name, "family": spec.profile.family,
        "driver": spec.profile.driver, "synthetic_output": spec.profile.synthetic,
        "gpu": _gpu_summary(bundle)}, "mirror": mirror}
    recording = None if spec.profile.no_gpu else gpu_recording(spec.profile)
    standin, replayed = lab_etc / Path(HOST_STANDIN).name, lab_etc / Path(HOST_RECORDING).name
    if recording is None:
        standin.unlink(missing_ok=True)
        replayed.unlink(missing_ok=True)
    else:  # the verification's device answers: the GPU stand-in replaying this profile's GPU
        shutil.copyfile(GPU_STANDIN, standin)
        shutil.copyfile(recording, replayed)
        marker["device_standin"] = {"module": HOST_STANDIN, "recording": HOST_RECORDING}
    (etc / "labtorch-lab.json").write_text(json.dumps(marker, indent=2) + "\n")
    smi = home / "fs" / "usr/local/bin/nvidia-smi"
    if spec.profile.no_gpu:
        smi.unlink(missing_ok=True)
    else:
        shutil.copyfile(REPLAY_SCRIPT, smi)
        smi.chmod(0o755)
    ssh_dir = home / "fs" / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(client_pubkey)
    (ssh_dir / "authorized_keys").chmod(0o600)
    (home / "init.sh").write_text(INIT_SH.format(name=spec.name, home=home, sshd=SSHD))
    return Host(spec.name, address, SSH_PORT, spec.profile.name, spec.profile.family, home)


def _gpu_summary(bundle: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for gpu in bundle.get("gpus", []):
        out.append({k: gpu[k][1] for k in ("name", "compute_cap", "memory.total") if k in gpu})
    return out


def host_key_line(host: Host) -> str:
    """The known_hosts line for ``host`` (its name and its address)."""
    key = (host.home / "upper/etc/labtorch-lab/ssh_host_ed25519_key.pub").read_text().split()
    target = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    return f"{host.name},{target} {key[0]} {key[1]}\n"


def start(host: Host, timeout: float = 60.0) -> Host:
    """Start the host's namespaces and sshd; returns the host with its pid (not yet waited on)."""
    deadline = time.monotonic() + timeout
    while port_in_use(host.address, host.port):
        if time.monotonic() > deadline:
            raise LabtorchError(f"{host.address}:{host.port} is still in use", host=host.name,
                                fix=f"see what listens there: ss -ltnp | grep {host.address}")
        time.sleep(0.05)
    log = open(host.home / "host.log", "ab")  # noqa: SIM115 - handed to the child process
    with log:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
             "--propagation", "private", "/bin/sh", str(host.init_script)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)
    return Host(host.name, host.address, host.port, host.profile, host.family, host.home,
                proc.pid)


def wait_ready(hosts: list[Host], timeout: float = 20.0) -> None:
    """Wait until every host's sshd accepts connections; fail naming the host and its log."""
    pending = list(hosts)
    deadline = time.monotonic() + timeout
    while pending:
        for host in list(pending):
            if answers_ssh(host.address, host.port):
                pending.remove(host)
            elif host.pid is not None and _has_exited(host.pid):
                raise LabtorchError(f"sshd did not start: {_log_tail(host)}", host=host.name,
                                    fix=f"see {host.home / 'host.log'}")
        if pending and time.monotonic() > deadline:
            raise LabtorchError(f"sshd not answering on {pending[0].address}:{pending[0].port} "
                                f"after {timeout:.0f} s", host=pending[0].name,
                                fix=f"see {pending[0].home / 'host.log'}")
        if pending:
            time.sleep(0.02)


def answers_ssh(address: str, port: int) -> bool:
    """True when an SSH server greets on ``address:port``."""
    try:
        with socket.create_connection((address, port), timeout=0.2) as conn:
            conn.settimeout(1.0)
            greeting = conn.recv(4)
            conn.sendall(b"SSH-2.0-labtorch-lab-probe\r\n")  # a polite client: no error logged
            return greeting.startswith(b"SSH-")
    except OSError:
        return False


def _log_tail(host: Host) -> str:
    try:
        lines = (host.home / "host.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def is_running(host: Host) -> bool:
    """True while the host's ``unshare`` process (and so its namespaces) is alive."""
    if host.pid is None:
        return False
    _reap(host.pid)
    try:
        cmdline = Path(f"/proc/{host.pid}/cmdline").read_bytes()
        state = Path(f"/proc/{host.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return str(host.init_script).encode() in cmdline and state != "Z"


def init_pid(host: Host) -> int | None:
    """The pid (as seen from outside) of the host's PID 1 (its sshd), for nsenter."""
    if not is_running(host):
        return None
    try:
        children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def stop(host: Host, timeout: float = 60.0) -> None:
    """Kill the host: its unshare dies, which kills PID 1 and so every process of the host."""
    stop_all([host], timeout)


def stop_all(hosts: list[Host], timeout: float = 60.0) -> None:
    """Kill several hosts at once, then wait until each one's PID 1 has gone.

    Tearing down a host's mount namespace flushes its overlay to disk, which can take seconds
    on a busy disk; killing first and waiting after keeps ``down`` of 60 hosts short.
    """
    victims = []
    for host in hosts:
        if is_running(host):
            assert host.pid is not None
            victims.append((host, init_pid(host)))
            os.kill(host.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    for host, child in victims:
        while (is_running(host) or (child and _alive(child))) and time.monotonic() < deadline:
            time.sleep(0.02)
        if is_running(host) or (child and _alive(child)):
            raise LabtorchError(f"process {host.pid} did not end within {timeout:.0f} s",
                                host=host.name, fix=f"kill -9 {host.pid} {child or ''}".strip())


def port_in_use(address: str, port: int) -> bool:
    """True while something still holds ``address:port`` (e.g. a host still shutting down)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _has_exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie. Unlike :func:`is_running` this does not read the
    command line, which still shows the parent's until the child has exec'd ``unshare``."""
    _reap(pid)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
