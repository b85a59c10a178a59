"""PowerShell for Windows lab PCs: literal quoting, script building, and the encoded command line.

Every script labtorch sends to a Windows PC is built the same way (:func:`script`): a header
that assigns each value as a single-quoted PowerShell literal, a fixed prelude, then a fixed
body from ``labtorch/windows/scripts/<name>.ps1``. Bodies are dumb templates: they never get
text pasted into them, only variables, so no value can change what a script does. The
``winssh`` connector then sends the script as::

    powershell -NoProfile -NonInteractive -EncodedCommand <base64 of the UTF-16LE script>

which no shell on the way (cmd.exe, the default shell of Windows OpenSSH) can re-quote.

>>> quote("C:\\\\Users\\\\O'Brien")
"'C:\\\\Users\\\\O''Brien'"
>>> decode(encode("Write-Output 'hi'"))
"Write-Output 'hi'"
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources

#: What every command line starts with (``-EncodedCommand`` takes base64 of UTF-16LE text).
POWERSHELL = "powershell -NoProfile -NonInteractive -EncodedCommand"

#: cmd.exe's command-line limit: Windows OpenSSH runs commands through the default shell
#: (cmd.exe unless the site changed it), so a longer command would be cut off there.
MAX_COMMAND_CHARS = 8191

#: The single quotes PowerShell accepts: ASCII plus the typographic ones (each doubled to escape).
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"

#: Runs before every body: UTF-8 console, no progress bars (they end up on stderr as CLIXML and
#: slow Invoke-WebRequest down), TLS 1.2 allowed on old Windows 10 builds (verification stays
#: on), and ``Out-LabtorchJson``, which prints pure-ASCII JSON (``\\uXXXX`` escapes), so a
#: non-ASCII user name survives any console code page.
PRELUDE = """\
$ProgressPreference = 'SilentlyContinue'
try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch { $null = $_ }
$tls = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
[Net.ServicePointManager]::SecurityProtocol = $tls
function Out-LabtorchJson($Value) {
$j = ConvertTo-Json -InputObject $Value -Compress -Depth 8
[regex]::Replace($j, '[^\\x00-\\x7F]', { param($m) '\\u{0:x4}' -f [int][char]$m.Value })
}
"""

Value = str | int | bool | None | Sequence[str]


class ScriptTooLong(ValueError):
    """The encoded command would exceed cmd.exe's limit (:data:`MAX_COMMAND_CHARS`)."""


def quote(value: str) -> str:
    """``value`` as a single-quoted PowerShell literal (nothing inside is expanded).

    >>> quote("50% of $HOME")
    "'50% of $HOME'"
    """
    return "'" + "".join(c * 2 if c in _SINGLE_QUOTES else c for c in value) + "'"


def literal(value: Value) -> str:
    """A Python value as a PowerShell expression: str, int, bool, None or a list of str.

    >>> literal(["-c", "conda-forge"]), literal(True), literal(None), literal(3)
    ("@('-c', 'conda-forge')", '$true', '$null', '3')
    """
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    return "@(" + ", ".join(quote(str(item)) for item in value) + ")"


@cache
def body(name: str) -> str:
    """The fixed body ``scripts/<name>.ps1``, comment lines and indentation removed (shorter
    command lines; the bodies contain no here-strings, so lines are independent)."""
    folder = resources.files("labtorch.windows").joinpath("scripts")
    text = folder.joinpath(f"{name}.ps1").read_text("utf-8")
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"


_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def script(name: str, values: Mapping[str, Value] | None = None, *, strict: bool = True) -> str:
    """The whole script: one ``$Name = <literal>`` line per value, the prelude, the body.

    + name: the body file (``scripts/<name>.ps1``)
    + values: variables the body reads, by name (``{"Prefix": "C:\\\\labtorch\\\\miniforge3"}``)
    + strict: ``$ErrorActionPreference = 'Stop'`` (operations) or ``'Continue'`` (facts, which
      report failures as data instead of failing)

    >>> print(script("refuse", {"Message": "pc01: no"}).splitlines()[0])
    $LabtorchScript = 'refuse'
    """
    header = [f"$LabtorchScript = {quote(name)}"]
    for key, value in (values or {}).items():
        if not _NAME.match(key):
            raise ValueError(f"PowerShell variable name {key!r} must be CamelCase ASCII")
        header.append(f"${key} = {literal(value)}")
    preference = "Stop" if strict else "Continue"
    header.append(f"$ErrorActionPreference = '{preference}'")
    return "\n".join(header) + "\n" + PRELUDE + body(name)


def encode(text: str) -> str:
    """The command line that runs ``text`` in Windows PowerShell, whatever the remote shell.

    Raises :class:`ScriptTooLong` when cmd.exe would cut the line (:data:`MAX_COMMAND_CHARS`).
    """
    payload = base64.b64encode(text.encode("utf-16-le")).decode("ascii")
    command = f"{POWERSHELL} {payload}"
    if len(command) > MAX_COMMAND_CHARS:
        first = text.splitlines()[0] if text else ""
        raise ScriptTooLong(
            f"the PowerShell script ({first}) encodes to {len(command)} characters, more than "
            f"cmd.exe's {MAX_COMMAND_CHARS}; upload it as a file instead"
        )
    return command


def decode(command: str) -> str:
    """The script inside an :func:`encode` command line (for tests and the lab's stand-in)."""
    if not command.startswith(POWERSHELL + " "):
        raise ValueError(f"not a labtorch PowerShell command: {command[:60]!r}")
    return base64.b64decode(command[len(POWERSHELL) + 1 :]).decode("utf-16-le")


def sftp_path(path: str) -> str:
    """A Windows path as Windows OpenSSH's SFTP server names it: ``/C:/labtorch/x``.

    >>> sftp_path("C:\\\\labtorch\\\\miniforge3\\\\.condarc")
    '/C:/labtorch/miniforge3/.condarc'
    """
    path = path.replace("\\", "/")
    return path if path.startswith("/") else "/" + path
