"""The conda role's one decision (labtorch.conda_decision), every state on Linux and on Windows.

Both operations (``roles/conda.py`` ``conda_installed`` and ``labtorch/windows/operations.py``
``conda_installed_windows``) only translate the step into commands, so this table is the
behaviour of both; the operation specs (test_roles_provision.py, specs/windows/*.json) check the
translation.
"""

from __future__ import annotations

from typing import Any

import pytest

from labtorch.conda_decision import decide_conda
from labtorch.facts.conda import CondaInstall

PREFIX = {"linux": "/opt/miniforge3", "windows": "C:\\labtorch\\miniforge3"}
FILES = {"linux": ("bin/conda", "conda-meta/history"),
         "windows": ("Scripts\\conda.exe", "conda-meta\\history")}
OURS = {"tool": "labtorch", "state": "complete", "flavor": "miniforge", "version": "25.3.0-3"}
ADOPTED = {"tool": "labtorch", "state": "adopted", "flavor": "miniforge", "version": "25.3.0"}
STARTED = {**OURS, "state": "started"}
COMPLETE = {"has_conda": True, "has_history": True}
NO_CONDA = {"has_conda": False, "has_history": True}
SETTINGS = {"half_finished": False, "adopt": False, "accept_defaults_tos": False,
            "free_mib": 20000, "min_free_mib": 5000}

# id: (install at the prefix or None, settings that differ from SETTINGS, expected step)
# expected: action, words the message/fix must contain ({prefix}, {conda}, {history} filled in),
# the receipt to write, repair.
CASES: dict[str, tuple[dict[str, Any] | None, dict[str, Any], dict[str, Any]]] = {
    "bare-pc-installs": (None, {}, {"action": "install", "repair": False}),
    "bare-pc-unknown-free-space-installs": (
        None, {"free_mib": None}, {"action": "install", "repair": False}),
    "bare-pc-disk-nearly-full-refused": (
        None, {"free_mib": 2000},
        {"action": "refuse",
         "message": ["only 2000 MiB free for {prefix}", "labtorch_min_free_mib is 5000"],
         "fix": ["free disk space", "labtorch_conda_prefix"]}),
    "ours-complete-kept": (
        {**COMPLETE, "receipt": OURS}, {},
        {"action": "keep", "message": ["conda is already installed at {prefix}"]}),
    "ours-complete-kept-even-on-a-full-disk": (
        {**COMPLETE, "receipt": OURS}, {"free_mib": 10}, {"action": "keep"}),
    "ours-complete-tos-opted-in-later-accepted-once": (
        {**COMPLETE, "receipt": OURS}, {"accept_defaults_tos": True},
        {"action": "accept-tos", "receipt": {**OURS, "defaults_tos_accepted": True}}),
    "ours-complete-tos-already-accepted-kept": (
        {**COMPLETE, "receipt": {**OURS, "defaults_tos_accepted": True}},
        {"accept_defaults_tos": True}, {"action": "keep"}),
    "adopted-complete-kept": (
        {**COMPLETE, "receipt": ADOPTED}, {"adopt": False}, {"action": "keep"}),
    "ours-lost-conda-refused-never-installed-over": (
        {**NO_CONDA, "receipt": OURS}, {"adopt": True},
        {"action": "refuse",
         "message": ["{prefix} has labtorch's receipt (state 'complete')", "{conda} or {history}"],
         "fix": ["move {prefix} aside", "re-run", "labtorch_conda_prefix"]}),
    "adopted-lost-conda-refused-naming-it-adopted": (
        {**NO_CONDA, "receipt": ADOPTED}, {"adopt": True},
        {"action": "refuse",
         "message": ["(state 'adopted')", "{conda} or {history}",
                     "an adopted install labtorch did not make"],
         "fix": ["move {prefix} aside", "labtorch_conda_prefix"]}),
    "ours-half-finished-repaired": (
        {"has_conda": False, "has_history": False, "receipt": STARTED},
        {"half_finished": True}, {"action": "install", "repair": True}),
    "ours-half-finished-disk-nearly-full-refused": (
        {"has_conda": False, "has_history": False, "receipt": STARTED},
        {"half_finished": True, "free_mib": 2000},
        {"action": "refuse", "message": ["only 2000 MiB free for {prefix}"]}),
    "foreign-complete-adopted": (
        {**COMPLETE, "flavor": "miniforge", "version": "25.3.0"}, {"adopt": True},
        {"action": "adopt", "receipt": {"tool": "labtorch", "state": "adopted",
                                        "flavor": "miniforge", "version": "25.3.0"}}),
    "foreign-complete-refused-without-adopt": (
        COMPLETE, {},
        {"action": "refuse", "message": ["{prefix} holds a conda install labtorch did not make"],
         "fix": ["labtorch_adopt_conda = True", "labtorch_conda_prefix"]}),
    "foreign-unfinished-refused-even-with-adopt": (
        NO_CONDA, {"adopt": True},
        {"action": "refuse", "message": ["labtorch did not make and it looks unfinished"],
         "fix": ["labtorch_adopt_conda"]}),
    "foreign-never-counts-as-half-finished": (
        NO_CONDA, {"half_finished": True},
        {"action": "refuse", "message": ["labtorch did not make"]}),
}


@pytest.mark.parametrize("os", ["linux", "windows"])
@pytest.mark.parametrize(("found", "settings", "expected"), CASES.values(), ids=CASES.keys())
def test_every_conda_state_gets_one_step_on_both_oses(os, found, settings, expected):
    prefix = PREFIX[os]
    conda_file, history_file = FILES[os]
    install = CondaInstall(prefix=prefix, **found) if found is not None else None
    step = decide_conda(install, prefix, **{**SETTINGS, **settings}, os=os)
    assert step.action == expected["action"]
    for key in ("message", "fix"):
        for words in expected.get(key, []):
            words = words.format(prefix=prefix, conda=conda_file, history=history_file)
            assert words in getattr(step, key), f"{key} {getattr(step, key)!r} lacks {words!r}"
    if step.action == "refuse":
        assert step.message and step.fix
    if step.action == "keep":
        assert step.message and not step.fix
    assert step.receipt == expected.get("receipt", {})
    assert step.repair == expected.get("repair", False)


@pytest.mark.parametrize("os", ["linux", "windows"])
def test_a_broken_install_is_described_with_the_file_names_of_its_own_os(os):
    other = FILES["windows" if os == "linux" else "linux"]
    install = CondaInstall(prefix=PREFIX[os], **NO_CONDA, receipt=OURS)
    step = decide_conda(install, PREFIX[os], **SETTINGS, os=os)
    assert step.action == "refuse"
    assert all(name in step.message for name in FILES[os])
    assert not any(name in step.message for name in other)


def test_linux_and_windows_say_the_same_words_for_the_same_state():
    for found, settings, _ in CASES.values():
        words = []
        for os in ("linux", "windows"):
            install = CondaInstall(prefix=PREFIX[os], **found) if found is not None else None
            step = decide_conda(install, PREFIX[os], **{**SETTINGS, **settings}, os=os)
            text = f"{step.action}|{step.message}|{step.fix}".replace(PREFIX[os], "<prefix>")
            for name in FILES[os]:
                text = text.replace(name, "<file>")
            words.append(text)
        assert words[0] == words[1]


def test_an_unknown_os_is_a_programming_error():
    with pytest.raises(ValueError, match="os must be one of"):
        decide_conda(None, "/opt/miniforge3", **SETTINGS, os="darwin")  # type: ignore[arg-type]
