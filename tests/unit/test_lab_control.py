"""`labtorch lab down` ends only this lab's processes, and nothing without a lab.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtorch.lab import control


def _cmdline(*argv: str) -> bytes:
    """A command line as /proc/<pid>/cmdline holds it (NUL-separated, NUL-terminated)."""
    return b"".join(arg.encode() + b"\0" for arg in argv)


def test_names_lab_matches_the_host_init_script_and_the_mirror_config(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    host = _cmdline("unshare", "--mount", "--pid", "/bin/sh", f"{state}/hosts/pc01/init.sh")
    mirror = _cmdline("/usr/bin/python3", "-m", "labtorch.lab.mirror_app",
                      f"{state}/mirror/config.json")
    assert control.names_lab(host, state)
    assert control.names_lab(mirror, state)


def test_names_lab_matches_a_path_given_as_an_option_value(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    assert control.names_lab(_cmdline("sshd", f"-oHostKey={state}/hosts/pc01/key"), state)
    assert control.names_lab(_cmdline("sh", "-c", f"exec {state}/hosts/pc01/run"), state)


def test_names_lab_ignores_a_sibling_directory_with_the_same_prefix(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    assert not control.names_lab(_cmdline("sleep", f"{tmp_path}/lab2/hosts/pc01"), state)
    assert not control.names_lab(_cmdline("sleep", f"{state}/hostsfile"), state)
    assert not control.names_lab(_cmdline("sleep", f"{state}/hosts"), state)


def test_names_lab_ignores_a_path_that_merely_contains_the_lab_path(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    other = _cmdline("rsync", f"/backup{state}/hosts/pc01/", "/dest")
    assert not control.names_lab(other, state)


def test_names_lab_for_the_root_directory_does_not_match_every_hosts_path() -> None:
    unrelated = _cmdline("/usr/bin/vim", "/etc/hosts")
    nested = _cmdline("python3", "/srv/inventory/hosts/room1.py")
    assert not control.names_lab(unrelated, Path("/"))
    assert not control.names_lab(nested, Path("/"))


def test_names_lab_resolves_a_relative_state_dir(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cmdline = _cmdline("unshare", "/bin/sh", f"{tmp_path.resolve()}/.lab/hosts/pc01/init.sh")
    assert control.names_lab(cmdline, Path(".lab"))
    assert not control.names_lab(_cmdline("unshare", ".lab/hosts/pc01/init.sh"), Path("/x"))


def test_down_without_lab_json_ends_no_process(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(control.os, "kill", lambda pid, sig: killed.append(pid))
    monkeypatch.setattr(control, "leftover_pids", lambda state_dir: [4242])
    assert control.down(tmp_path) is None
    assert killed == []
