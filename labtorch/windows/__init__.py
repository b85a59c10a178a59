"""Windows lab PCs over OpenSSH and PowerShell: connector, facts, and the Windows side of roles.

Layers, mirroring the Linux side:

- :mod:`labtorch.windows.powershell`: quoting, dumb script templates (``scripts/*.ps1``) and the
  ``-EncodedCommand`` line;
- :mod:`labtorch.windows.connector`: ``@winssh``, pyinfra's SSH connector sending every command
  as encoded PowerShell;
- :mod:`labtorch.windows.facts`: ``FactBase`` classes whose PowerShell prints JSON, parsed by
  pure functions;
- :mod:`labtorch.windows.layout`: where things live on a Windows PC (paths from the settings);
- :mod:`labtorch.windows.roles`: the Windows helper each role dispatches to, and
  :mod:`labtorch.windows.operations` the operations they call.

A host is Windows when its connector is ``@winssh`` or its data says ``labtorch_os = "windows"``
(:func:`is_windows_host`); that is decided before any command runs, because Linux fact commands
mean nothing to PowerShell.
"""

from __future__ import annotations

from typing import Any


def is_windows_host(current: Any) -> bool:
    """True for a host reached with ``@winssh`` or whose data sets ``labtorch_os = "windows"``."""
    if getattr(current.connector, "is_windows", False):
        return True
    return bool(current.data.get("labtorch_os") == "windows")
