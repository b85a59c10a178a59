"""The simulated lab as a room: ``pyinfra inventory/lab.py deploy.py``.

Reads what ``labtorch lab up`` wrote in its state dir (``$LABTORCH_LAB_DIR``, default ``.lab``):
``inventory.py`` (hosts and groups) and ``lab.json`` (the mirror). The site settings a real room
keeps in group_data are derived here from the lab's mirror, for each host, unless the host's
data already sets them:

- PyPI, PyTorch wheel index and installer directory: the lab mirror's URLs;
- the installer: the lab's conda STAND-IN (tests/standins/conda), pinned by the sha256 of the
  bytes the lab publishes (computed here, on the controller, from the mirror's own files);
- torch 2.13 (the only release the lab mirror carries) without torchvision/torchaudio, Python
  3.11 (the stand-in's envs are venvs of the hosts' /usr/bin/python3), per-user installs (each
  simulated host has its own home; /opt is shared by all of them), ``pip --no-compile``.
"""

import hashlib
import json
import os
import pathlib
import runpy

_STATE_DIR = pathlib.Path(os.environ.get("LABTORCH_LAB_DIR") or ".lab")
if not (_STATE_DIR / "inventory.py").exists():
    raise SystemExit(
        f"labtorch: no lab inventory in {_STATE_DIR}; run `labtorch lab up --state-dir "
        f"{_STATE_DIR}` first, or set LABTORCH_LAB_DIR"
    )
_LAB = json.loads((_STATE_DIR / "lab.json").read_text())
_INSTALLERS = sorted(pathlib.Path(_LAB["mirror"]["installers_dir"]).glob("Miniforge3-*-Linux-*.sh"))


def _installer_settings() -> dict:
    if not _INSTALLERS:
        return {}
    path = _INSTALLERS[0]
    version = path.name[len("Miniforge3-") :].rsplit("-Linux-", 1)[0]
    return {
        "labtorch_conda_version": version,
        "labtorch_installer_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


_DERIVED = {
    "labtorch_torch_spec": "2.13",
    "labtorch_python": "3.11",
    "labtorch_include_torchvision": False,
    "labtorch_include_torchaudio": False,
    "labtorch_install_scope": "user",
    "labtorch_kernel_scope": "user",
    "labtorch_pip_extra_args": ("--no-compile",),
    **_installer_settings(),
}


def _with_site_settings(data: dict) -> dict:
    urls = data.get("labtorch_lab_mirror") or {}
    derived = dict(_DERIVED)
    if urls:
        derived.update(
            labtorch_pytorch_index_url=urls["pytorch"],
            labtorch_pypi_index_url=urls["pypi"],
            labtorch_installer_mirror=urls["installers"],
        )
    return {**derived, **data}


for _name, _value in runpy.run_path(str(_STATE_DIR / "inventory.py")).items():
    if _name.startswith("_") or not isinstance(_value, list):
        continue
    globals()[_name] = [
        (entry[0], _with_site_settings(entry[1])) if isinstance(entry, tuple) else entry
        for entry in _value
    ]
