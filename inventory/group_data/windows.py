"""Settings for the Windows PCs of a room (the ``windows`` group; every ``@winssh/...`` host is in
it automatically). Values here override group_data/all.py for those PCs only. Full
descriptions: README.md ("Windows lab PCs").

Never put passwords here: the PCs accept the admin's SSH key (scripts/bootstrap-windows.ps1).
"""

# How to reach the PCs: a local administrator account and the key the bootstrap installed in
# C:\ProgramData\ssh\administrators_authorized_keys. Never `_sudo` on Windows.
ssh_user = "labadmin"
ssh_key = "~/.ssh/labtorch_ed25519"

# Which OS: "windows" (already implied by @winssh, the only connector that can reach a Windows
# PC: it sends every script encoded for PowerShell).
labtorch_os = "windows"

# Where: None gives C:\labtorch\miniforge3 (scope "all") or %USERPROFILE%\miniforge3 (scope
# "user", refused on a non-ASCII profile). A Linux prefix set in all.py must not reach Windows.
labtorch_conda_prefix = None
labtorch_install_scope = "all"  # "all": /InstallationType=AllUsers; "user": JustMe
labtorch_kernel_scope = "all"  # "all": %ProgramData%\jupyter\kernels; "user": %APPDATA%\jupyter
