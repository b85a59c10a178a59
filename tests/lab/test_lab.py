"""The simulated lab itself: real sshd per host, recorded GPUs, the mirror, fault switches.

Most tests share the session's ``lab`` fixture (tests/conftest.py); the teardown test brings up
a second, small lab of its own, which also shows that two labs coexist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from labtorch.errors import LabtorchError
from labtorch.lab import control, faults, hosts, wheels
from labtorch.lab.gpu import REPLAY_SCRIPT, fixtures_dir, replay_bundle
from labtorch.lab.room import Profile, load_profiles, load_room

# host -> (GPU names as recorded, driver, compute capability; None: the driver rejects the field)
EXPECTED_GPUS = {
    "pc01": (["GeForce GTX 1080 Ti", "GeForce GTX 1080 Ti"], "440.82", None),
    "pc02": (["NVIDIA GeForce RTX 2080 SUPER"], "595.71.05", "7.5"),
    "pc03": (["NVIDIA A10"], "550.90.12", "8.6"),
    "pc04": (["NVIDIA GeForce RTX 4080 SUPER"], "595.71.05", "8.9"),
    "pc05": (["NVIDIA GeForce RTX 5080"], "595.71.05", "12.0"),
}


# --- room, replay and relabel: no lab needed ---------------------------------------------


def test_hosts_option_cycles_through_the_room_profiles() -> None:
    room = load_room(hosts=30)
    assert [h.name for h in room.hosts][:3] == ["pc01", "pc02", "pc03"]
    assert len(room.hosts) == 30
    families = [h.profile.family for h in room.hosts]
    assert families[:7] == families[7:14]
    assert {"pascal", "turing", "ampere", "ada", "blackwell", "broken", "none"} <= set(families)


def test_room_with_unknown_profile_names_the_file_and_the_choices(tmp_path: Path) -> None:
    room = tmp_path / "room.yaml"
    room.write_text("hosts:\n  - {name: a1, profile: volta-v100}\n")
    with pytest.raises(LabtorchError, match=r"room.yaml: host #1 names unknown profile 'volta"):
        load_room(room)


def _run_replay(bundle: dict, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "bundle.json"
    data.write_text(json.dumps(bundle))
    script = tmp_path / "nvidia-smi"
    script.write_text(REPLAY_SCRIPT.read_text().replace("/etc/labtorch-lab/nvidia-smi.json",
                                                        str(data)))
    return subprocess.run(["/usr/bin/python3", str(script), *args], capture_output=True, text=True)


def test_old_driver_rejects_compute_cap_field_like_the_real_one(tmp_path: Path) -> None:
    old = Profile("pascal-440", "pascal", driver="440.82",
                  forms={"table": "nvhtop-2x-gtx108x-linux-440.82-table.txt"},
                  values={"name": "GeForce GTX 1080 Ti"})
    bundle = replay_bundle(old, fixtures_dir())
    result = _run_replay(bundle, tmp_path, "--query-gpu=name,compute_cap", "--format=csv")
    assert result.returncode == 2
    assert result.stdout.strip() == 'Field "compute_cap" is not a valid field to query.'
    named = _run_replay(bundle, tmp_path, "--query-gpu=name", "--format=csv,noheader")
    assert named.stdout.strip() == "GeForce GTX 1080 Ti"


def test_xml_recording_is_replayed_and_answers_queries(tmp_path: Path) -> None:
    bundle = replay_bundle(load_profiles()["pascal-p100"], fixtures_dir())
    xml = _run_replay(bundle, tmp_path, "-q", "-x")
    assert xml.stdout == (fixtures_dir() / "netdata-tesla-p100-linux-510.47.03.xml").read_text()
    query = _run_replay(bundle, tmp_path, "--query-gpu=name,memory.total,uuid,fan.speed",
                        "--format=csv,noheader,nounits")
    assert query.stdout.strip() == (
        "Tesla P100-PCIE-16GB, 16384, GPU-d3da8716-eaab-75db-efc1-60e88e1cd55e, [N/A]")


def test_unrecorded_form_fails_and_says_which_forms_exist(tmp_path: Path) -> None:
    profile = load_profiles()["pascal-p100"]  # recorded as xml only
    result = _run_replay(replay_bundle(profile, fixtures_dir()), tmp_path, "-L")
    assert result.returncode == 2
    assert "no recorded output" in result.stderr and "xml" in result.stderr


def _tiny_wheel(folder: Path) -> Path:
    path = folder / "demo-1.0+cpu-py3-none-any.whl"
    files = {"demo/__init__.py": b"x = 1\n", "demo/version.py": b"__version__ = '1.0+cpu'\n",
             "demo-1.0+cpu.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\n"
                                                b"Version: 1.0+cpu\n\nbody\n",
             "demo-1.0+cpu.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                             b"Tag: py3-none-any\n"}
    record = "".join(f"{n},{wheels._record_hash(d)},{len(d)}\n" for n, d in files.items())
    record += "demo-1.0+cpu.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("demo-1.0+cpu.dist-info/RECORD", record)
    return path


def test_relabelled_wheel_has_new_version_and_a_valid_record(tmp_path: Path) -> None:
    out = wheels.relabel(_tiny_wheel(tmp_path), "cu126", tmp_path)
    assert out.name == "demo-1.0+cu126-py3-none-any.whl"
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        info = "demo-1.0+cu126.dist-info/"
        assert "\nVersion: 1.0+cu126\n" in zf.read(info + "METADATA").decode()
        assert b"'1.0+cu126'" in zf.read("demo/version.py")
        assert b"lab fixture" in zf.read(info + "LABTORCH_LAB_FIXTURE")
        for line in zf.read(info + "RECORD").decode().splitlines():
            name, digest, size = line.split(",")
            if name != info + "RECORD":
                data = zf.read(name)
                assert (digest, size) == (wheels._record_hash(data), str(len(data))), name
        assert not [n for n in zf.namelist() if "+cpu" in n]


@pytest.mark.parametrize("size", [100, 5000])
def test_corruption_keeps_the_size_and_changes_the_hash(size: int) -> None:
    from labtorch.lab.mirror_app import corrupted

    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    served = b"".join(corrupted([data[: size // 3], data[size // 3:]], size))
    assert len(served) == size
    assert hashlib.sha256(served).digest() != hashlib.sha256(data).digest()


def test_not_root_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabtorchError, match="labtorch lab needs root"):
        hosts.check_prerequisites()


def test_missing_sshd_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(hosts, "SSHD", "/nonexistent/sshd")
    with pytest.raises(LabtorchError, match="run: apt-get install -y openssh-server"):
        hosts.check_prerequisites()


# --- the shared lab ------------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_every_host_answers_over_ssh_as_itself(lab: control.Lab) -> None:
    for host in lab.hosts:
        result = lab.ssh(host.name, "hostname; cat /etc/labtorch-lab.json")
        assert result.returncode == 0, result.stderr
        name, marker = result.stdout.split("\n", 1)
        assert name == host.name
        assert json.loads(marker)["simulated"] is True
        assert json.loads(marker)["host"] == host.name


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
@pytest.mark.parametrize("host", sorted(EXPECTED_GPUS))
def test_each_host_sees_its_own_gpu(lab: control.Lab, host: str) -> None:
    names, driver, cc = EXPECTED_GPUS[host]
    result = lab.ssh(host, "nvidia-smi --query-gpu=index,name,driver_version "
                           "--format=csv,noheader")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split(", ") for line in result.stdout.splitlines()]
    assert rows == [[str(i), name, driver] for i, name in enumerate(names)]
    capability = lab.ssh(host, "nvidia-smi --query-gpu=compute_cap --format=csv,noheader")
    if cc is None:
        assert capability.returncode == 2
        assert capability.stdout.strip() == 'Field "compute_cap" is not a valid field to query.'
    else:
        assert capability.stdout.split() == [cc] * len(names)


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_recorded_forms_are_replayed_byte_for_byte(lab: control.Lab) -> None:
    fixtures = fixtures_dir()
    stem = "gpuexp-rtx-2080-super-linux-595.71.05-"
    for args, form in (("", "table.txt"), ("-q", "q.txt"), ("-L", "L.txt")):
        result = lab.ssh("pc02", f"nvidia-smi {args}")
        assert result.returncode == 0
        assert result.stdout == (fixtures / (stem + form)).read_text()
    table = lab.ssh("pc01", "nvidia-smi")
    assert table.stdout == (fixtures / "nvhtop-2x-gtx108x-linux-440.82-table.txt").read_text()
    q = lab.ssh("pc03", "nvidia-smi -q")
    assert q.stdout == (fixtures / "thamada-gls-a10-linux-550.90.12-q.txt").read_text()


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_query_gpu_keeps_field_order_and_strips_units(lab: control.Lab) -> None:
    result = lab.ssh("pc04", "nvidia-smi --query-gpu=memory.total,gpu_name --format=csv,nounits")
    assert result.stdout.splitlines() == ["memory.total [MiB], gpu_name",
                                          "16376, NVIDIA GeForce RTX 4080 SUPER"]


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_broken_driver_and_gpu_less_hosts_fail_like_real_machines(lab: control.Lab) -> None:
    broken = lab.ssh("pc06", "nvidia-smi")
    assert broken.returncode == 9
    assert broken.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate")
    missing = lab.ssh("pc07", "nvidia-smi")
    assert missing.returncode == 127
    assert "nvidia-smi: command not found" in missing.stderr


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_files_written_on_one_host_do_not_show_on_another(lab: control.Lab) -> None:
    paths = ["/etc/pip.conf", "/opt/x/mark", "/root/mark", "/usr/local/share/mark",
             "/home/mark", "/tmp/mark", "/var/lib/labtorch-lab-mark", "/usr/share/lab-mark"]
    write = "; ".join(f"mkdir -p $(dirname {p}) && echo pc01 > {p}" for p in paths)
    assert lab.ssh("pc01", write).returncode == 0
    listing = " ".join(paths)
    try:
        assert lab.ssh("pc01", f"cat {listing}").stdout == "pc01\n" * len(paths)
        seen = lab.ssh("pc02", f"for p in {listing}; do test -e $p && echo $p; done; true")
        assert seen.stdout == ""
        for p in paths:  # nor on the machine itself
            assert not Path(p).exists() or Path(p).read_text() != "pc01\n", p
    finally:
        lab.ssh("pc01", "rm -rf " + " ".join(paths))


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_hosts_start_without_the_machines_pip_configuration(lab: control.Lab) -> None:
    result = lab.ssh("pc02", "ls /etc/pip.conf /etc/xdg/pip/pip.conf; python3 -m pip --version")
    assert "No such file" in result.stderr
    assert lab.ssh("pc02", "test -d /opt/wheels").returncode == 1


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_pyinfra_reaches_every_host_through_the_inventory(lab: control.Lab) -> None:
    result = subprocess.run([sys.executable, "-m", "pyinfra", "-y", str(lab.inventory), "fact",
                             "server.Hostname"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    facts = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert facts == {h.name: h.name for h in lab.hosts}


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_up_again_keeps_the_same_hosts_and_mirror(lab: control.Lab) -> None:
    again = control.up(lab.state_dir)
    assert [(h.name, h.pid) for h in again.hosts] == [(h.name, h.pid) for h in lab.hosts]
    assert again.mirror["pid"] == lab.mirror["pid"]
    unshares = [p for p in control.leftover_pids(lab.state_dir)
                if b"unshare" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(unshares) == len(lab.hosts)


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
@pytest.mark.slow
def test_torch_installs_from_the_mirror_on_one_host_only(lab: control.Lab) -> None:
    index = lab.mirror_urls["pytorch"].format(variant="cu126")
    script = (f"python3 -m venv /opt/lab-test-env && /opt/lab-test-env/bin/pip install -q "
              f"--index-url {index} torch && /opt/lab-test-env/bin/python -c "
              "'import torch; print(torch.__version__)'")
    result = lab.ssh("pc04", script, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("2.13.0+cu126")
    assert lab.ssh("pc05", "test -e /opt/lab-test-env").returncode == 1
    other = lab.ssh("pc05", "python3 -c 'import torch'")
    assert "No module named 'torch'" in other.stderr


# --- fault switches --------------------------------------------------------------------------


def _status(url: str, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_mirror_answers_500_then_recovers(lab: control.Lab) -> None:
    url = lab.mirror_urls["pypi"] + "/"
    try:
        faults.mirror_mode(lab, "500")
        assert _status(url) == 500
        pip = lab.ssh("pc02", f"python3 -m pip download -q --no-deps --retries 0 -d /tmp/dl "
                              f"--index-url {lab.mirror_urls['pypi']} mpmath")
        assert pip.returncode != 0
    finally:
        faults.mirror_mode(lab, "ok")
    assert _status(url) == 200


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_stalled_mirror_holds_requests_until_released(lab: control.Lab) -> None:
    url = lab.mirror_urls["pypi"] + "/"
    try:
        faults.mirror_mode(lab, "stall")
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _status(url, timeout=1)
    finally:
        faults.mirror_mode(lab, "ok")
    assert _status(url) == 200


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_corrupted_download_fails_pips_hash_check(lab: control.Lab) -> None:
    roots = json.loads(Path(lab.mirror["config"]).read_text())["indexes"]
    wheel = next(Path(roots[""]).glob("mpmath-*.whl")).name
    fetch = (f"rm -rf /tmp/dl && python3 -m pip download -q --no-deps -d /tmp/dl "
             f"--index-url {lab.mirror_urls['pypi']} mpmath")
    try:
        faults.corrupt(lab, wheel)
        bad = lab.ssh("pc02", fetch)
        assert bad.returncode != 0
        assert "HASH" in bad.stderr.upper()
    finally:
        faults.mirror_mode(lab, "ok")
    good = lab.ssh("pc02", fetch + f" && sha256sum /tmp/dl/{wheel}")
    assert good.returncode == 0, good.stderr
    expected = hashlib.sha256((Path(roots[""]) / wheel).read_bytes()).hexdigest()
    assert good.stdout.split()[0] == expected


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_full_disk_refuses_writes_but_keeps_contents(lab: control.Lab) -> None:
    assert lab.ssh("pc03", "mkdir -p /opt/keep && echo kept > /opt/keep/f").returncode == 0
    try:
        faults.disk_full(lab, "pc03", "/opt")
        full = lab.ssh("pc03", "cat /opt/keep/f; echo data > /opt/new")
        assert full.stdout == "kept\n"
        assert "No space left on device" in full.stderr
        assert lab.ssh("pc04", "echo data > /opt/new && rm /opt/new").returncode == 0
    finally:
        faults.disk_ok(lab, "pc03")
    assert lab.ssh("pc03", "echo data > /opt/new && rm -r /opt/new /opt/keep").returncode == 0


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_stopped_host_refuses_ssh_and_comes_back_with_its_files(lab: control.Lab) -> None:
    assert lab.ssh("pc05", "echo before > /root/survives").returncode == 0
    # a process the stop must end
    running = lab.ssh("pc05", "nohup sleep 300 >/dev/null 2>&1 & echo started")
    assert running.returncode == 0
    try:
        faults.stop_host(lab, "pc05")
        assert lab.ssh("pc05", "true", timeout=30).returncode == 255
        assert not hosts.answers_ssh(lab.host("pc05").address, 22)
    finally:
        faults.start_host(lab, "pc05")
    result = lab.ssh("pc05", "cat /root/survives; pgrep -x sleep || echo no-sleep")
    assert result.stdout == "before\nno-sleep\n"


# --- a second lab: coexists, then goes down without leaving anything -----------------------


NAMESPACE_KINDS = ("mnt", "uts", "pid")


def _namespaces(host: hosts.Host) -> set[str]:
    """The host's own namespaces, as ``mnt:[inode]``-style names."""
    return {os.readlink(f"/proc/{hosts.init_pid(host)}/ns/{kind}") for kind in NAMESPACE_KINDS}


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_down_leaves_no_process_mount_or_namespace(lab: control.Lab) -> None:
    state = Path(tempfile.mkdtemp(prefix="labtorch-test-lab2-"))
    try:
        control.up(state, hosts=2)
        room = state / "room.yaml"  # a new room reuses the addresses of the old one
        room.write_text("hosts:\n  - {name: lab-a, profile: turing-rtx2080super}\n"
                        "  - {name: lab-b, profile: no-gpu}\n")
        second = control.up(state, room_file=room)
        assert second.block != lab.block
        assert [h.name for h in second.hosts] == ["lab-a", "lab-b"]
        listed = second.ssh("lab-a", "hostname; nvidia-smi -L").stdout
        assert listed.startswith("lab-a\nGPU 0: NVIDIA GeForce RTX 2080")
        namespaces = set().union(*(_namespaces(h) for h in second.hosts))
        assert namespaces.isdisjoint(_ns_of(Path("/proc/self")))
        faults.disk_full(second, "lab-b")  # a mount inside a host must go too
        control.down(state)
        assert control.leftover_pids(state) == []
        still = [p for p in Path("/proc").iterdir()
                 if p.name.isdigit() and not namespaces.isdisjoint(_ns_of(p))]
        assert still == []
        assert str(state) not in Path("/proc/mounts").read_text()
        assert not hosts.answers_ssh(second.hosts[0].address, 22)
        assert all(h.pid for h in lab.hosts)  # the shared lab is untouched
        assert lab.ssh("pc01", "true").returncode == 0
    finally:
        control.down(state, wipe=True)
        shutil.rmtree(state, ignore_errors=True)


def _ns_of(proc: Path) -> set[str]:
    """The namespaces of a live process (none for a zombie or a process gone meanwhile)."""
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return set()
        return {os.readlink(proc / "ns" / kind) for kind in NAMESPACE_KINDS}
    except OSError:
        return set()


def test_down_of_a_missing_lab_does_nothing(tmp_path: Path) -> None:
    assert control.down(tmp_path / "nothing") is None
    assert not (tmp_path / "nothing").exists()


def test_cli_names_the_missing_lab_and_what_to_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from labtorch.cli import main

    result = CliRunner().invoke(main, ["lab", "--state-dir", str(tmp_path), "status"])
    assert result.exit_code == 2
    assert f"no lab at {tmp_path}; run: labtorch lab up" in result.output


@pytest.mark.lab
@pytest.mark.xdist_group("lab")
def test_cli_rejects_an_unknown_fault_action(lab: control.Lab) -> None:
    from click.testing import CliRunner

    from labtorch.cli import main

    result = CliRunner().invoke(main, ["lab", "fault", "pc01", "explode",
                                       "--state-dir", str(lab.state_dir)])
    assert result.exit_code == 2
    assert "unknown fault action 'explode'" in result.output
