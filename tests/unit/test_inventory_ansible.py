"""Existing Ansible inventories work as is: real ``ansible-inventory`` reads INI and YAML rooms
with group_vars/host_vars; hosts, connection settings and groups land in pyinfra, passwords never.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from labtorch.cli import main
from labtorch.errors import LabtorchError
from labtorch.inventory_ansible import (
    ENV_SOURCE,
    map_inventory,
    read_ansible_inventory,
    render_inventory,
)

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("s3cret-login", "s3cret-sudo", "s3cret-winrm")

INI = """\
[gpu_pascal]
pc01 ansible_host=10.20.4.11 ansible_port=2222
pc02 ansible_host=10.20.4.12 ansible_password=s3cret-login

[gpu-ada]
pc03 ansible_host=10.20.4.13

[win]
pc04 ansible_host=10.20.4.14 ansible_connection=winrm ansible_winrm_password=s3cret-winrm

[b204:children]
gpu_pascal
gpu-ada

[b204:vars]
ansible_user=labadmin
"""

GROUP_VARS = """\
ansible_ssh_private_key_file: ~/.ssh/lab_ed25519
ansible_become: true
ansible_become_password: s3cret-sudo
labtorch_env_name: dl
"""

YAML = """\
all:
  children:
    b205:
      vars:
        ansible_user: teacher
      children:
        linux_pcs:
          hosts:
            ws01:
              ansible_host: 10.20.5.1
            ws02:
              ansible_host: 10.20.5.2
              ansible_ssh_pass: s3cret-login
    control:
      hosts:
        localhost:
          ansible_connection: local
"""


@pytest.fixture
def ini_room(tmp_path: Path) -> Path:
    (tmp_path / "hosts.ini").write_text(INI)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "gpu_pascal.yml").write_text(GROUP_VARS)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "pc01.yml").write_text(
        'labtorch_torch_spec: "2.7"\nansible_port: 2200\n')
    return tmp_path / "hosts.ini"


@pytest.fixture
def yaml_room(tmp_path: Path) -> Path:
    (tmp_path / "rooms.yml").write_text(YAML)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "linux_pcs.yml").write_text(
        "ansible_ssh_private_key_file: /etc/labtorch/id_ed25519\nlabtorch_mirror: tuna\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "ws02.yml").write_text("ansible_port: 2022\n")
    return tmp_path / "rooms.yml"


def test_ini_room_maps_connection_settings_with_group_and_host_vars(ini_room: Path):
    room = read_ansible_inventory(ini_room)
    assert room.hosts["pc01"] == {
        "ssh_hostname": "10.20.4.11",
        "ssh_port": 2200,                      # host_vars beat the inline INI value
        "ssh_user": "labadmin",                # from [b204:vars]
        "ssh_key": "~/.ssh/lab_ed25519",       # from group_vars/gpu_pascal.yml
        "_sudo": True,
        "labtorch_env_name": "dl",
        "labtorch_torch_spec": "2.7",
    }
    assert room.hosts["pc03"] == {"ssh_hostname": "10.20.4.13", "ssh_user": "labadmin"}


def test_ini_room_groups_flatten_children_and_become_python_identifiers(ini_room: Path):
    room = read_ansible_inventory(ini_room)
    assert room.groups["b204"] == ["pc01", "pc02", "pc03"]
    assert room.groups["gpu_ada"] == ["pc03"]
    assert any("'gpu-ada' is called 'gpu_ada'" in w for w in room.warnings)


def test_winrm_hosts_go_to_the_windows_group_over_openssh(ini_room: Path):
    room = read_ansible_inventory(ini_room)
    assert room.hosts["@winssh/pc04"] == {"ssh_hostname": "10.20.4.14",
                                          "labtorch_os": "windows"}
    assert room.groups["windows"] == ["@winssh/pc04"]


def test_passwords_are_never_copied_and_each_is_named_in_a_warning(
        ini_room: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    room = read_ansible_inventory(ini_room)
    text = repr(room.hosts) + render_inventory(room, str(ini_room)) + caplog.text
    for secret in SECRETS:
        assert secret not in text
        assert not any(secret in w for w in room.warnings)
    assert "pc02: ansible_password is set in the Ansible inventory and was not copied" in (
        "\n".join(room.warnings))
    assert any(w.startswith("pc01, pc02: ansible_become_password") and "passwordless sudo" in w
               for w in room.warnings)
    assert any(w.startswith("pc04: ansible_winrm_password") for w in room.warnings)


def test_yaml_room_with_group_vars_and_local_connection(yaml_room: Path):
    room = read_ansible_inventory(yaml_room)
    assert room.hosts["ws02"] == {"ssh_hostname": "10.20.5.2", "ssh_port": 2022,
                                  "ssh_user": "teacher", "ssh_key": "/etc/labtorch/id_ed25519",
                                  "labtorch_mirror": "tuna"}
    assert "@local" in room.hosts and room.groups["control"] == ["@local"]
    assert room.groups["b205"] == ["ws01", "ws02"]
    assert any(w.startswith("ws02: ansible_ssh_pass is set") for w in room.warnings)


def test_unsupported_connections_and_templates_are_left_out_with_a_reason(tmp_path: Path):
    (tmp_path / "hosts.ini").write_text(
        "[lab]\npc01 ansible_connection=docker\n"
        "pc02 ansible_host='{{ lookup(\"env\", \"IP\") }}'\n")
    room = read_ansible_inventory(tmp_path / "hosts.ini")
    assert "pc01" not in room.hosts
    assert room.skipped["pc01"].endswith("ansible_connection=docker is not supported by "
                                         "labtorch (ssh, local, winrm are); host left out")
    assert room.hosts["pc02"] == {}
    assert any(w.startswith("pc02: ansible_host is an Ansible template") for w in room.warnings)


def test_a_missing_or_unreadable_inventory_is_a_clear_error(tmp_path: Path):
    with pytest.raises(LabtorchError, match="does not exist"):
        read_ansible_inventory(tmp_path / "nope.ini")
    broken = tmp_path / "broken.yml"
    broken.write_text("all:\n  hosts: [unclosed\n")
    with pytest.raises(LabtorchError, match="ansible-inventory could not read"):
        read_ansible_inventory(broken)


def test_a_folder_that_is_no_inventory_is_refused_before_ansible_reads_it(tmp_path: Path,
                                                                        monkeypatch):
    # `..` of a busy folder: Ansible would try every file with every plugin for minutes
    monkeypatch.setattr("labtorch.inventory_ansible.MAX_FOLDER_FILES", 20)
    for n in range(25):
        (tmp_path / f"notes-{n}.txt").write_text("nothing\n")
    with pytest.raises(LabtorchError, match="not an Ansible inventory folder") as err:
        read_ansible_inventory(tmp_path)
    assert "point at the inventory file" in err.value.fix


def test_an_executable_in_an_inventory_folder_is_never_run(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ANSIBLE_INVENTORY_ENABLED", raising=False)
    folder = tmp_path / "room"
    folder.mkdir()
    (folder / "hosts.ini").write_text("[lab]\npc01 ansible_host=10.0.0.11\n")
    marker = tmp_path / "ran"
    script = folder / "dynamic.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho '{{}}'\n")
    script.chmod(0o755)
    try:
        room = read_ansible_inventory(folder)
    except LabtorchError as err:  # the script is then an unparsable file: said, not run
        assert "dynamic.sh" in str(err)
    else:
        assert "pc01" in room.hosts
    assert not marker.exists(), "ansible-inventory executed a file of the inventory folder"


def test_an_inventory_that_ansible_cannot_finish_reading_is_a_clear_error(tmp_path: Path,
                                                                           monkeypatch):
    def never_finishes(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr("labtorch.inventory_ansible.subprocess.run", never_finishes)
    source = tmp_path / "hosts.ini"
    source.write_text("[lab]\npc01\n")
    with pytest.raises(LabtorchError, match="did not finish reading"):
        read_ansible_inventory(source)


def _pyinfra_hosts(inventory: Path, env: dict[str, str] | None = None) -> dict[str, dict]:
    """What the real pyinfra CLI makes of an inventory file: {host: {"groups", "data"}}."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("pyinfra")), "--json", str(inventory),
         "debug-inventory"], capture_output=True, text=True, cwd=REPO, check=False,
        env={**os.environ, **(env or {})}, timeout=120)
    assert result.returncode == 0, result.stderr
    return {h["name"]: h for h in json.loads(result.stdout)}


def test_pyinfra_loads_the_ansible_inventory_file_as_is(ini_room: Path):
    hosts = _pyinfra_hosts(REPO / "inventory" / "ansible.py", {ENV_SOURCE: str(ini_room)})
    pc01 = hosts["pc01"]["data"]
    assert (pc01["ssh_hostname"], pc01["ssh_port"], pc01["ssh_user"]) == (
        "10.20.4.11", 2200, "labadmin")
    assert pc01["labtorch_torch_spec"] == "2.7"
    assert {"b204", "gpu_pascal", "ansible"} <= set(hosts["pc01"]["groups"])
    assert "windows" in hosts["@winssh/pc04"]["groups"]
    assert not any(secret in json.dumps(hosts) for secret in SECRETS)


def test_cli_writes_a_pyinfra_inventory_that_pyinfra_reads(ini_room: Path, tmp_path: Path):
    out = tmp_path / "room.py"
    result = CliRunner().invoke(main, ["inventory", "from-ansible", str(ini_room), "-o",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "4 hosts" in result.output
    assert not any(secret in out.read_text() for secret in SECRETS)
    hosts = _pyinfra_hosts(out)
    assert hosts["@winssh/pc04"]["data"]["labtorch_os"] == "windows"
    assert hosts["pc02"]["data"]["ssh_hostname"] == "10.20.4.12"
    assert "gpu_pascal" in hosts["pc02"]["groups"]


CAMPUS = """
[b204]
b204-pc[01:40].lab.example.edu

[b204:vars]
ansible_user=labadmin
ansible_ssh_common_args='-o ProxyJump=admin@bastion.example.edu:2222 -o ServerAliveInterval=15'
labtorch_mirror=tuna
"""


def test_campus_inventory_keeps_the_bastion_warns_once_and_stays_readable(tmp_path: Path):
    source = tmp_path / "campus.ini"
    source.write_text(CAMPUS)
    output = tmp_path / "b204.py"
    result = CliRunner().invoke(main, ["inventory", "from-ansible", str(source), "-o",
                                       str(output)])
    assert result.exit_code == 0, result.output
    ssh_config = (tmp_path / "b204.ssh_config").read_text()
    assert "b204-pc17.lab.example.edu b204-pc18" in ssh_config
    assert "\n    ProxyJump admin@bastion.example.edu:2222\n" in ssh_config
    text = output.read_text()
    assert text.count("ssh_config_file") == 1  # shared by the group: in its group data
    assert "b204 = (\n    ['b204-pc01.lab.example.edu'," in text
    assert "'labtorch_mirror': 'tuna'," in text and "'ssh_user': 'labadmin'," in text
    assert result.output.count("warning:") <= 1
    listed = subprocess.run([sys.executable, "-m", "pyinfra", "--json", str(output),
                             "debug-inventory"], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path, check=True)
    hosts = {h["name"]: h["data"] for h in json.loads(listed.stdout)}
    pc17 = hosts["b204-pc17.lab.example.edu"]
    assert (pc17["ssh_user"], pc17["labtorch_mirror"]) == ("labadmin", "tuna")
    assert pc17["ssh_config_file"] == str(tmp_path / "b204.ssh_config")


def test_a_warning_shared_by_a_group_is_said_once_naming_the_count():
    listed = {"_meta": {"hostvars": {f"pc{i:02d}": {"ansible_ssh_executable": "/opt/ssh"}
                                     for i in range(1, 41)}},
              "all": {"children": ["room"]}, "room": {"hosts": [f"pc{i:02d}" for i in
                                                               range(1, 41)]}}
    room = map_inventory(listed)
    assert len(room.warnings) == 1
    assert room.warnings[0].startswith("pc01, pc02, pc03 and 37 more (40 hosts): "
                                       "ansible_ssh_executable has no pyinfra equivalent")


def test_the_live_ansible_inventory_reaches_hosts_through_the_bastion(tmp_path: Path):
    source = tmp_path / "campus.ini"
    source.write_text(CAMPUS)
    hosts = _pyinfra_hosts(REPO / "inventory" / "ansible.py", {ENV_SOURCE: str(source)})
    pc05 = hosts["b204-pc05.lab.example.edu"]["data"]
    assert (pc05["ssh_user"], pc05["labtorch_mirror"]) == ("labadmin", "tuna")
    config = Path(pc05["ssh_config_file"]).read_text()
    assert "\n    ProxyJump admin@bastion.example.edu:2222\n" in config
    assert "b204-pc05.lab.example.edu" in config.split("ProxyJump")[0]
