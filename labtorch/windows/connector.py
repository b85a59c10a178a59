"""The ``@winssh`` connector: pyinfra's SSH connector for Windows PCs running OpenSSH Server.

pyinfra 3 core speaks POSIX sh only. This connector keeps everything of ``@ssh`` (paramiko,
keys, ``ssh_*`` data, SFTP uploads) and changes one thing: every command is a PowerShell script,
sent as ``powershell -NoProfile -NonInteractive -EncodedCommand <base64 UTF-16LE>`` with no shell
wrapping (``_shell_executable=None``), so it runs the same whether the PC's OpenSSH default shell
is cmd.exe or PowerShell. Inventory names are ``@winssh/<address>``::

    hosts = ["@winssh/10.1.2.31", ("@winssh/10.1.2.32", {"ssh_user": "labadmin"})]

Registered in pyproject.toml under ``[project.entry-points."pyinfra.connectors"]``.

Refused (the host fails with a message): ``_sudo``/``_su_user``/``_doas``/``_dzdo`` (connect as
an administrator instead; their pyinfra code paths run ``cp``/``setfacl``/``rm``), ``_env`` and
``_chdir`` (both would need sh). File uploads are plain SFTP; a Windows path ``C:\\x\\y`` is sent
as ``/C:/x/y``, the form Windows OpenSSH's SFTP server uses itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyinfra import logger
from pyinfra.api.command import StringCommand
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.util import CommandOutput, OutputLine

from labtorch.windows.powershell import ScriptTooLong, encode, sftp_path

#: Connector arguments that only make sense with a POSIX shell on the other side.
UNSUPPORTED = ("_sudo", "_su_user", "_doas", "_dzdo", "_env", "_chdir")


def _failure(message: str) -> tuple[bool, CommandOutput]:
    logger.error(message)
    return False, CommandOutput([OutputLine("stderr", message)])


class WinSSHConnector(SSHConnector):
    """Connect to a Windows PC over OpenSSH and run each command as encoded PowerShell."""

    #: Read by labtorch's OS decision (``labtorch.windows.is_windows_host``).
    is_windows = True

    @staticmethod
    def make_names_data(name: str) -> Iterator[tuple[str, dict[str, str], list[str]]]:
        """``@winssh/<address>``: connect to ``<address>``, put the host in group ``windows``."""
        yield f"@winssh/{name}", {"ssh_hostname": name}, ["windows"]

    def run_shell_command(
        self,
        command: StringCommand | str,
        print_output: bool = False,
        print_input: bool = False,
        **arguments: Any,
    ) -> tuple[bool, CommandOutput]:
        """Run ``command`` (PowerShell text) on the PC; returns pyinfra's (ok, output)."""
        used = [name for name in UNSUPPORTED if arguments.get(name)]
        if used:
            return _failure(
                f"{self.host.name}: {', '.join(used)} cannot be used on a Windows PC over "
                "@winssh; connect as an administrator (ssh_user) and remove them from the "
                "host's data"
            )
        for name in UNSUPPORTED:
            arguments.pop(name, None)
        script = command.get_raw_value() if isinstance(command, StringCommand) else str(command)
        try:
            wrapped = encode(script)
        except ScriptTooLong as err:
            return _failure(f"{self.host.name}: {err}")
        arguments["_shell_executable"] = None
        return super().run_shell_command(
            StringCommand(wrapped), print_output=print_output, print_input=print_input,
            **arguments,
        )

    def put_file(self, filename_or_io: Any, remote_filename: str,
                 remote_temp_filename: str | None = None, print_output: bool = False,
                 print_input: bool = False, **arguments: Any) -> bool:
        """Upload over SFTP to the Windows path ``remote_filename`` (no sudo, no temp copy)."""
        for name in UNSUPPORTED:
            arguments.pop(name, None)
        return super().put_file(
            filename_or_io, sftp_path(remote_filename), None, print_output, print_input,
            **arguments,
        )

    def get_file(self, remote_filename: str, filename_or_io: Any,
                 remote_temp_filename: str | None = None, print_output: bool = False,
                 print_input: bool = False, **arguments: Any) -> bool:
        """Download over SFTP from the Windows path ``remote_filename``."""
        for name in UNSUPPORTED:
            arguments.pop(name, None)
        return super().get_file(
            sftp_path(remote_filename), filename_or_io, None, print_output, print_input,
            **arguments,
        )
