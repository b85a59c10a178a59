"""The README's quick start, run verbatim in a fresh copy of the repository (no ../shared).

The copy holds the tracked files only (what a clone gets) in a new temporary folder; each line
of the block between ``<!-- quickstart -->`` markers runs unchanged with bash, in order, and must
exit 0. ``lab down --wipe`` runs again at the end whatever happened.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]


def quickstart_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quickstart[^>]*-->\s*```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no quickstart block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_quick_start_runs_verbatim_from_a_fresh_copy(tmp_path: Path):
    clone = tmp_path / "labtorch"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    assert not (clone.parent / "shared").exists()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "LABTORCH_STATE_DIR": str(tmp_path / "state")}
    env.pop("LABTORCH_LAB_DIR", None)
    try:
        for line in quickstart_lines():
            done = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True,
                                  text=True, timeout=1800, check=False)
            assert done.returncode == 0, (f"`{line}` exited {done.returncode}:\n"
                                          f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        assert (clone / "report.html").is_file()
    finally:
        subprocess.run(["bash", "-c", "labtorch lab down --wipe"], cwd=clone, env=env,
                       capture_output=True, timeout=3600, check=False)
