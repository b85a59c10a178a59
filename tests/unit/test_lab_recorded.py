"""The recorded nvidia-smi outputs the lab replays ship in the package, with their sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtorch.lab.gpu import (
    COULDNT_COMMUNICATE_FILE,
    HELP_QUERY_FILE,
    INVALID_FIELD_FILE,
    RECORDED_DIR,
    fixtures_dir,
)
from labtorch.lab.room import load_profiles

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nvidia-smi"


def _needed() -> set[str]:
    names = {HELP_QUERY_FILE, COULDNT_COMMUNICATE_FILE, INVALID_FIELD_FILE}
    for profile in load_profiles().values():
        if not profile.synthetic:
            names |= set(profile.forms.values()) | ({profile.query} if profile.query else set())
    return names


def test_every_output_a_profile_replays_is_packaged_and_has_its_source_named(monkeypatch):
    monkeypatch.delenv("LABTORCH_NVIDIA_SMI_FIXTURES", raising=False)
    assert fixtures_dir() == RECORDED_DIR
    sources = (RECORDED_DIR / "SOURCES.md").read_text()
    for name in _needed():
        assert (RECORDED_DIR / name).is_file(), name
        assert f"| `{name}` |" in sources, name
    assert {p.name for p in RECORDED_DIR.iterdir()} == _needed() | {"SOURCES.md"}


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/fixtures is not checked out")
def test_packaged_outputs_are_byte_for_byte_the_recorded_ones():
    for name in _needed():
        assert (RECORDED_DIR / name).read_bytes() == (SHARED / name).read_bytes(), name
