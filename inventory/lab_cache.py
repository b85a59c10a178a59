"""The simulated lab as a room behind a room cache: ``pyinfra inventory/lab_cache.py deploy.py``.

``inventory/lab.py`` (same ``$LABTORCH_LAB_DIR``), with, from the environment:

- ``LABTORCH_LAB_UPSTREAM``: the upstream every download comes from instead of the lab's
  loopback mirror (the shaped upstream of ``labtorch.lab.shaped``, e.g. http://10.77.3.2);
- ``LABTORCH_LAB_CACHE_URL``: the room cache (sets ``labtorch_cache_url`` on every host);
- ``LABTORCH_LAB_HOSTS``: a comma-separated subset of the hosts (default: all).

Used by tests/lab/test_cache.py and bench/bench_cache.py.
"""

import os
import pathlib
import runpy

_lab = runpy.run_path(str(pathlib.Path(__file__).with_name("lab.py")))
_upstream = os.environ.get("LABTORCH_LAB_UPSTREAM", "").rstrip("/")
_cache = os.environ.get("LABTORCH_LAB_CACHE_URL")
_only = [n for n in os.environ.get("LABTORCH_LAB_HOSTS", "").split(",") if n]
_URL_SETTINGS = (
    "labtorch_pytorch_index_url",
    "labtorch_pypi_index_url",
    "labtorch_installer_mirror",
)


def _through(data):
    data = dict(data)
    base = data["labtorch_lab_mirror"]["base"]
    if _upstream:
        for key in _URL_SETTINGS:
            data[key] = data[key].replace(base, _upstream)
        if not _cache:  # hosts go to the plain-http upstream themselves (pip trusts only loopback)
            upstream_host = _upstream.split("//", 1)[1].split("/", 1)[0].split(":", 1)[0]
            extra = tuple(data.get("labtorch_pip_extra_args") or ())
            data["labtorch_pip_extra_args"] = (*extra, "--trusted-host", upstream_host)
    if _cache:
        data["labtorch_cache_url"] = _cache
    return data


room = [(name, _through(data)) for name, data in _lab["lab"] if not _only or name in _only]
