"""A host that closes its SSH connection mid-run fails alone; pyinfra finishes the room.

Replays the failure CI recorded: the provisioning test stopped pc02 while an operation of its
conda install gathered a fact, paramiko's ``open_session`` raised a bare ``EOFError`` and pyinfra
ended the whole run with "An internal exception occurred" (pyinfra-dev/pyinfra#1220). The test
runs pyinfra's real ``run_ops`` over two hosts: ``@local`` and an SSH host whose paramiko client
runs commands locally while operations are prepared and then raises ``EOFError`` as a host that
went away does (a stand-in for the one paramiko call, since the race cannot be timed on purpose).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from paramiko import SSHException
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.operations import files

from labtorch import pyinfra_fixes


class _Output(list):
    """What pyinfra reads from paramiko: the lines, and ``channel.recv_exit_status()``."""

    def __init__(self, text: str, code: int) -> None:
        super().__init__(text.splitlines(keepends=True))
        self.channel = self
        self._code = code

    def recv_exit_status(self) -> int:
        return self._code


class HostThatGoesAway:
    """A paramiko client stand-in: runs commands here until ``gone``, then raises ``EOFError``."""

    gone = False

    def exec_command(self, command: str, get_pty: bool = False):
        if self.gone:
            raise EOFError()
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
        return io.StringIO(), _Output(done.stdout, done.returncode), _Output(done.stderr, 0)

    def close(self) -> None:
        pass


def room_with_a_host_that_goes_away(tmp_path: Path) -> tuple[State, HostThatGoesAway, Path]:
    inventory = Inventory((["@local", "pc02"], {}))
    state = State(inventory, Config())
    pc02 = inventory.get_host("pc02")
    client = HostThatGoesAway()
    pc02.connect = lambda *args, **kwargs: None  # no sshd here: the client above is its link
    connect_all(state)
    pc02.connector.client = client
    pc02.connected = True
    state.activate_host(pc02)
    made = tmp_path / "made"
    add_op(state, files.directory, path=str(made))  # gathers a fact again when it runs
    client.gone = True
    return state, client, made


def test_without_the_fix_pyinfra_loses_the_whole_room(tmp_path, monkeypatch):
    for name in ("run_shell_command", "put_file", "get_file"):
        method = getattr(SSHConnector, name)
        monkeypatch.setattr(SSHConnector, name, getattr(method, "__wrapped__", method))
    state, _, _ = room_with_a_host_that_goes_away(tmp_path)
    with pytest.raises(EOFError):
        run_ops(state)


def test_with_the_fix_the_host_fails_alone_and_the_room_finishes(tmp_path):
    pyinfra_fixes.install()
    state, _, made = room_with_a_host_that_goes_away(tmp_path)
    run_ops(state)
    assert {h.name for h in state.failed_hosts} == {"pc02"}
    assert made.is_dir()  # @local ran its operation


def test_install_is_idempotent_and_keeps_other_errors():
    pyinfra_fixes.install()
    first = SSHConnector.run_shell_command
    pyinfra_fixes.install()
    assert SSHConnector.run_shell_command is first

    class Boom:
        host = type("H", (), {"name": "pc09"})()

    @pyinfra_fixes.eof_as_ssh_error
    def closes(self):
        raise EOFError()

    @pyinfra_fixes.eof_as_ssh_error
    def fails(self):
        raise ValueError("not a transport error")

    with pytest.raises(SSHException, match="pc09: the SSH connection was closed"):
        closes(Boom())
    with pytest.raises(ValueError):
        fails(Boom())
