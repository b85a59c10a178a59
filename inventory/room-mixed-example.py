"""An example room that mixes Windows and Linux PCs: room C310, 4 Windows 11 PCs, 2 Linux PCs.

    pyinfra inventory/room-mixed-example.py deploy.py --dry    # plan table, pending changes
    pyinfra inventory/room-mixed-example.py deploy.py          # provision
    pyinfra inventory/room-mixed-example.py deploy.py --limit windows    # Windows PCs only

Windows PCs are reached with ``@winssh/<address>`` (pyinfra's SSH connector sending each command
as encoded PowerShell; see README.md, "Windows lab PCs") after scripts/bootstrap-windows.ps1
ran once on each.
They join the ``windows`` group by themselves, whose settings are group_data/windows.py; Linux
PCs are plain SSH hosts with ``_sudo``. Site policy for all is group_data/all.py.
"""

_linux = {"ssh_user": "labadmin", "ssh_key": "~/.ssh/labtorch_ed25519", "_sudo": True}

c310_windows = [
    "@winssh/c310-pc01.lab.example.edu",
    "@winssh/c310-pc02.lab.example.edu",
    "@winssh/c310-pc03.lab.example.edu",
    # a PC whose admin account differs from the room's
    ("@winssh/c310-pc04.lab.example.edu", {"ssh_user": "c310admin"}),
]

c310_linux = [
    ("c310-pc05.lab.example.edu", dict(_linux)),
    ("c310-pc06.lab.example.edu", dict(_linux)),
]
