"""`labtorch init ROOM`: a room's inventory and group data with every setting; never overwrites."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from labtorch.cli import main
from labtorch.room_files import MEANINGS, all_settings


def _init(tmp_path: Path, *args: str):
    return CliRunner().invoke(main, ["init", *args, "--dir", str(tmp_path / "inventory")])


def _group_data(tmp_path: Path, room: str) -> dict:
    namespace: dict = {}
    exec((tmp_path / "inventory" / "group_data" / f"{room}.py").read_text(), namespace)
    return namespace


def test_init_writes_every_setting_with_its_default_and_meaning(tmp_path: Path):
    result = _init(tmp_path, "b204")
    assert result.exit_code == 0, result.output
    data = _group_data(tmp_path, "b204")
    text = (tmp_path / "inventory" / "group_data" / "b204.py").read_text()
    for key, default in all_settings().items():
        assert data[key] == default, key
        line = next(line for line in text.splitlines() if line.startswith(f"{key} = "))
        assert f"  # {MEANINGS[key]}" in line
    assert "b204 = [" in (tmp_path / "inventory" / "b204.py").read_text()


def test_init_never_overwrites_and_names_the_file(tmp_path: Path):
    assert _init(tmp_path, "b204").exit_code == 0
    inventory = tmp_path / "inventory" / "b204.py"
    inventory.write_text("b204 = ['pc01']\n")
    result = _init(tmp_path, "b204")
    assert result.exit_code == 2
    assert f"{inventory} already exists; labtorch init never overwrites a file" in result.output
    assert inventory.read_text() == "b204 = ['pc01']\n"


def test_init_refuses_a_room_name_pyinfra_cannot_use_as_a_group(tmp_path: Path):
    result = _init(tmp_path, "b-204")
    assert result.exit_code == 2
    assert "room name 'b-204' is not usable as a group name" in result.output
    assert not (tmp_path / "inventory").exists()


def test_init_windows_room_sets_the_windows_os_and_winssh_hosts(tmp_path: Path):
    assert _init(tmp_path, "w101", "--windows").exit_code == 0
    assert _group_data(tmp_path, "w101")["labtorch_os"] == "windows"
    assert '"@winssh/w101-pc01.example.edu"' in (tmp_path / "inventory" / "w101.py").read_text()


def test_init_from_ansible_keeps_groups_and_pyinfra_reads_the_room(tmp_path: Path):
    source = tmp_path / "hosts.ini"
    source.write_text("[b204]\npc01 ansible_host=10.0.0.1\npc02 ansible_host=10.0.0.2\n\n"
                      "[b204:vars]\nansible_user=labadmin\n")
    result = _init(tmp_path, "room1", "--from-ansible", str(source))
    assert result.exit_code == 0, result.output
    listed = subprocess.run([sys.executable, "-m", "pyinfra", "--json",
                             str(tmp_path / "inventory" / "room1.py"), "debug-inventory"],
                            capture_output=True, text=True, timeout=300, check=True,
                            cwd=tmp_path)
    hosts = {h["name"]: h for h in json.loads(listed.stdout)}
    assert set(hosts) == {"pc01", "pc02"}
    assert hosts["pc02"]["data"]["ssh_user"] == "labadmin"
    assert hosts["pc02"]["data"]["labtorch_torch_spec"] == "latest"  # group_data/room1.py
    assert {"b204", "room1"} <= set(hosts["pc02"]["groups"])
