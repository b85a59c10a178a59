"""STAND-IN for a Windows lab PC behind OpenSSH, for the mixed-inventory lab test.

No Windows machine exists here. A real OpenSSH sshd runs this script as its ``ForceCommand``, so
every command a client sends arrives here (``SSH_ORIGINAL_COMMAND``) exactly as it would reach a
Windows PC's sshd. The stand-in:

1. logs each command as one JSON line to ``<state>/commands.jsonl``: the raw command and, when
   it is ``powershell -NoProfile -NonInteractive -EncodedCommand <b64>``, the script decoded
   here independently of labtorch (base64 → UTF-16LE);
2. answers labtorch's *fact* scripts (named by their ``$LabtorchScript = '<name>'`` line) from
   ``<state>/replies.json``: GPU answers are built from real Windows nvidia-smi captures in
   ../shared/fixtures; the system answer is synthetic (the shape scripts/system.ps1 prints);
3. answers anything that is not an encoded PowerShell command the way cmd.exe, Windows
   OpenSSH's default shell, does: "'<word>' is not recognized as an internal or external
   command," (the wording of the recorded tests/fixtures/nvidia-smi/win-cmd-en-not-recognized.txt),
   exit code 9009;
4. executes nothing: an operation script fails with "stand-in: operations are not executed".

Usage (sshd_config): ``ForceCommand <python> standin_pc.py <state dir>``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path

PREFIX = "powershell -NoProfile -NonInteractive -EncodedCommand "


def main() -> int:
    state = Path(sys.argv[1])
    raw = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    script = None
    if raw.startswith(PREFIX):
        script = base64.b64decode(raw[len(PREFIX):]).decode("utf-16-le")
    with open(state / "commands.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"raw": raw, "script": script}) + "\n")
    if script is None:
        word = raw.split()[0] if raw.split() else raw
        sys.stderr.write(f"'{word}' is not recognized as an internal or external command,\n"
                         "operable program or batch file.\n")
        return 9009
    match = re.match(r"^\$LabtorchScript = '([a-z-]+)'", script)
    replies = json.loads((state / "replies.json").read_text("utf-8"))
    name = match.group(1) if match else None
    if name not in replies:
        sys.stderr.write(f"stand-in: operations are not executed ({name})\n")
        return 1
    sys.stdout.write(json.dumps(replies[name]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
