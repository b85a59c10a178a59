"""A workaround for one pyinfra behaviour that lets a single host stop a whole room.

pyinfra 3 counts ``TimeoutError``, ``OSError`` and paramiko's ``SSHException`` from a host's
command as that host's failure and goes on with the others. When a PC goes away while paramiko
opens a channel (switched off, network cable pulled, sshd killed), paramiko raises a bare
``EOFError`` instead (upstream: pyinfra-dev/pyinfra#1220, open in pyinfra 3.10). That error
escapes the host's greenlet and pyinfra ends the whole run with "An internal exception occurred"
and no ``--json`` results, although every other host finished. CI caught it: the provisioning
test stops a host in the middle of its conda install, and when the stop landed inside a fact
that an operation gathers, the room's run ended this way.

:func:`install` makes :class:`pyinfra.connectors.ssh.SSHConnector` (and so labtorch's
``@winssh`` connector, its subclass) raise ``SSHException`` for that ``EOFError``: pyinfra then
logs ``Command socket/SSH error: ConnectionClosed(...)`` for that host, marks it failed and
finishes the room. Nothing else
changes. Remove this module when the upstream issue is fixed in the pinned pyinfra.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from paramiko import SSHException
from pyinfra.connectors.ssh import SSHConnector

_PATCHED = ("run_shell_command", "put_file", "get_file")
_MARK = "_labtorch_eof_is_ssh_error"


class ConnectionClosed(SSHException):
    """The host closed the SSH connection (paramiko raised ``EOFError``)."""


def eof_as_ssh_error(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a connector method so that paramiko's ``EOFError`` becomes :class:`ConnectionClosed`."""

    @functools.wraps(method)
    def wrapper(self: SSHConnector, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except EOFError as err:
            raise ConnectionClosed(
                f"{self.host.name}: the SSH connection was closed by the host (is it still on?)"
            ) from err

    setattr(wrapper, _MARK, True)
    return wrapper


def install() -> None:
    """Apply the workaround to pyinfra's SSH connector; calling it again changes nothing."""
    for name in _PATCHED:
        method = getattr(SSHConnector, name)
        if not getattr(method, _MARK, False):
            setattr(SSHConnector, name, eof_as_ssh_error(method))
