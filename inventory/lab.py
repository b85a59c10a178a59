"""The simulated lab as a room: ``pyinfra inventory/lab.py labtorch.deploys.room``.

Reads the inventory ``labtorch lab up`` wrote in its state dir (``$LABTORCH_LAB_DIR``, default
``.lab``): hosts, groups and the site settings derived from the lab's mirror
(:func:`labtorch.lab.inventory.site_settings`). Deploying with ``.lab/inventory.py`` directly is
the same room.
"""

import os
import pathlib
import runpy

_STATE_DIR = pathlib.Path(os.environ.get("LABTORCH_LAB_DIR") or ".lab")
if not (_STATE_DIR / "inventory.py").exists():
    raise SystemExit(
        f"labtorch: no lab inventory in {_STATE_DIR}; run `labtorch lab up --state-dir "
        f"{_STATE_DIR}` first, or set LABTORCH_LAB_DIR"
    )

for _name, _value in runpy.run_path(str(_STATE_DIR / "inventory.py")).items():
    if not _name.startswith("_") and isinstance(_value, list):
        globals()[_name] = _value
