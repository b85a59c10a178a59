"""An example room: 6 Linux PCs in room B204, reached over SSH with a key.

    pyinfra inventory/room-example.py deploy.py --dry    # plan table and pending changes
    pyinfra inventory/room-example.py deploy.py          # provision

Groups are lists; per-host data is a dict. Site policy lives in group_data/all.py (every
setting, with its default); override a setting for one group in group_data/<group>.py or for one
host here.
"""

_ssh = {"ssh_user": "labadmin", "ssh_key": "~/.ssh/labtorch_ed25519", "_sudo": True}

b204 = [
    ("b204-pc01.lab.example.edu", dict(_ssh)),
    ("b204-pc02.lab.example.edu", dict(_ssh)),
    ("b204-pc03.lab.example.edu", dict(_ssh)),
    ("b204-pc04.lab.example.edu", dict(_ssh)),
    # this PC's GTX 1080 needs an older release than the room's default
    ("b204-pc05.lab.example.edu", {**_ssh, "labtorch_torch_spec": "2.7"}),
    ("b204-pc06.lab.example.edu", dict(_ssh)),
]
