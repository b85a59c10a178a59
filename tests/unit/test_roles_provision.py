"""Operation specs for the provisioning roles: facts in (pyinfra's @fake connector), commands out.

Each test scripts what the host answers to labtorch's fact commands, runs the real roles through
pyinfra's API, and asserts on the commands the host received and whether it failed.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops

from labtorch.errors import LabtorchError
from labtorch.model import HostPlan
from labtorch.roles import channels, conda, env, jupyter, torch, verify
from labtorch.roles.settings import Settings, check_prefix

PREFIX = "/opt/miniforge3"
SHA = "1b57f8cb991982063f79b56176881093abb1dc76d73fda32102afde60585b5a1"
SYSTEM = [
    "@@labtorch:uname@@",
    "Linux x86_64",
    "@@labtorch:home@@",
    "/home/lab",
    "@@labtorch:python@@",
    "@@labtorch:df@@",
    "Filesystem 1024-blocks Used Available Capacity Mounted on",
    "/dev/sda1 41152736 18000000 20971520 47% /",
]
PLAN = HostPlan(
    torch="2.7.1",
    torchvision="0.22.1",
    torchaudio="2.7.1",
    variant="cu118",
    python="3.11",
    index_url="https://download.pytorch.org/whl/cu118",
    install=(
        (
            "torch==2.7.1+cu118",
            "torchvision==0.22.1+cu118",
            "torchaudio==2.7.1+cu118",
            "--index-url",
            "https://download.pytorch.org/whl/cu118",
        ),
    ),
)


def install_listing(*, conda_bin=True, history=True, receipt=None, envs=()) -> list[str]:
    lines = [f"@@labtorch:prefix {PREFIX}@@"]
    if conda_bin:
        lines.append("@@labtorch:conda-bin@@")
    if history:
        lines.append("@@labtorch:history@@")
    lines += ["@@labtorch:meta@@", "conda-25.3.0-py312h7900ff3_0.json", "history"]
    lines += ["@@labtorch:receipt@@", json.dumps(receipt) if receipt else ""]
    for name, env_receipt in envs:
        lines += [
            f"@@labtorch:env {name}@@",
            "@@labtorch:env-python@@",
            "@@labtorch:env-receipt@@",
            json.dumps(env_receipt) if env_receipt else "",
        ]
    return lines


OURS = {"tool": "labtorch", "state": "complete", "flavor": "miniforge", "version": "25.3.0-3"}


STATES: list[State] = []


def run(deploy_func, responses: dict, data: dict | None = None, *args):
    """Run one role on one @fake host; return (commands the host got, whether it failed)."""
    host_data = {
        "fake_delay": 0,
        "fake_delay_jitter": 0,
        # a refusal exits 1 on a real host; the fake connector must say so too
        "fake_responses": {">&2; exit 1": {"success": False}, "uname -s -m": SYSTEM, **responses},
        **(data or {}),
    }
    inventory = Inventory(([("@fake/pc01", host_data)], {}))
    host = inventory.get_host("@fake/pc01")
    state = State(inventory, Config(FAIL_PERCENT=None), check_for_changes=False)
    STATES.append(state)  # keep each run inspectable after it ends
    connect_all(state)
    add_deploy(state, deploy_func, *args)
    with contextlib.suppress(PyinfraError):  # "No hosts remaining!" when the only host fails
        run_ops(state)
    return host.connector.executed_commands, host in state.failed_hosts


FACT_QUERIES = ("@@labtorch:", "pip list --format=json", "&& cat", "command -v")


def changes(commands: list[str]) -> list[str]:
    """The commands that change the host (everything but fact queries)."""
    return [c for c in commands if not any(query in c for query in FACT_QUERIES)]


def test_bare_host_downloads_pinned_miniforge_verifies_sha256_and_installs_silently():
    commands, failed = run(conda.conda, {})
    done = changes(commands)
    url = "https://github.com/conda-forge/miniforge/releases/download/25.3.0-3/Miniforge3-25.3.0-3-Linux-x86_64.sh"
    assert not failed
    assert any(url in c for c in done)
    assert any(SHA in c and "sha256sum" in c for c in done)
    assert any(c.startswith("timeout -k 10 3600 sh -c 'bash ") and f"-b -u -p {PREFIX}" in c
               for c in done)
    download = next(c for c in done if url in c)
    assert "--connect-timeout 10" in download and "--speed-time 60" in download
    assert "--retry 2" in download
    receipts = [c for c in done if "receipt.json" in c]
    assert '"started"' in receipts[0] and '"complete"' in receipts[-1]


def test_complete_install_made_by_labtorch_is_left_alone():
    commands, failed = run(conda.conda, {f"p={PREFIX};": install_listing(receipt=OURS)})
    assert not failed
    assert changes(commands) == []


def test_install_labtorch_did_not_make_fails_only_with_a_message_and_is_not_touched():
    commands, failed = run(conda.conda, {f"p={PREFIX};": install_listing(receipt=None)})
    assert failed
    done = changes(commands)
    assert (
        len(done) == 1 and "labtorch did not make" in done[0] and "labtorch_adopt_conda" in done[0]
    )


def test_adopting_a_foreign_install_writes_only_a_receipt():
    commands, failed = run(
        conda.conda, {f"p={PREFIX};": install_listing(receipt=None)}, {"labtorch_adopt_conda": True}
    )
    done = changes(commands)
    assert not failed
    assert (
        len(done) == 1 and '"adopted"' in done[0] and f"{PREFIX}/.labtorch/receipt.json" in done[0]
    )


def test_half_finished_install_labtorch_started_is_repaired_in_place():
    started = {**OURS, "state": "started"}
    listing = install_listing(conda_bin=False, history=False, receipt=started)
    commands, failed = run(conda.conda, {f"p={PREFIX};": listing})
    assert not failed
    assert any(f"sh -c 'bash {PREFIX}/.labtorch/" in c and f"-u -p {PREFIX}" in c
               for c in changes(commands))


def test_miniconda_defaults_tos_is_accepted_only_when_the_site_opted_in():
    data = {"labtorch_conda_flavor": "miniconda", "labtorch_installer_sha256": "a" * 64}
    opted_out, _ = run(conda.conda, {}, data)
    opted_in, _ = run(conda.conda, {}, {**data, "labtorch_accept_defaults_tos": True})
    assert not any(" tos accept " in c for c in opted_out)
    assert any("/opt/miniconda3/bin/conda tos accept --override-channels" in c for c in opted_in)


def test_miniconda_without_a_pinned_checksum_is_refused_with_where_to_find_one():
    with pytest.raises(LabtorchError, match=r"no pinned sha256.*labtorch_installer_sha256"):
        Settings.from_data({"labtorch_conda_flavor": "miniconda"}, host="pc01").installer("x86_64")


@pytest.mark.parametrize("prefix", ["/home/张伟/miniforge3", "/opt/my conda", "relative/conda"])
def test_prefixes_conda_cannot_live_in_are_refused_naming_the_setting(prefix):
    with pytest.raises(LabtorchError, match="labtorch_conda_prefix"):
        check_prefix(prefix, key="labtorch_conda_prefix", host="pc01")


def test_env_labtorch_did_not_create_is_never_modified():
    listing = install_listing(receipt=OURS, envs=[("pytorch", None)])
    commands, failed = run(env.env, {f"p={PREFIX};": listing}, None, PLAN)
    done = changes(commands)
    assert failed
    assert not any(" create " in c for c in done)
    assert "labtorch_env_name" in done[-1]


def test_env_is_created_with_the_planned_python_and_recorded_first():
    commands, failed = run(env.env, {f"p={PREFIX};": install_listing(receipt=OURS)}, None, PLAN)
    done = changes(commands)
    assert not failed
    assert "envs/pytorch.json" in done[0]
    assert f"{PREFIX}/bin/conda create -y -q -p {PREFIX}/envs/pytorch python=3.11 pip" in done[1]
    # conda's own connect/read timeouts and retries, and the whole command bounded on the host
    assert done[1].startswith("timeout -k 10 3600 sh -c")
    assert "CONDA_REMOTE_READ_TIMEOUT_SECS=60" in done[1]


def test_converged_env_is_a_no_op():
    listing = install_listing(receipt=OURS, envs=[("pytorch", {"tool": "labtorch"})])
    responses = {f"p={PREFIX};": listing, "envs/pytorch/bin/python -V": ["Python 3.11.2", "[]"]}
    commands, failed = run(env.env, responses, None, PLAN)
    assert not failed and changes(commands) == []


def test_per_command_channel_mode_passes_the_mirror_on_the_conda_command():
    data = {"labtorch_condarc_mode": "per-command", "labtorch_mirror": "tuna"}
    commands, _ = run(env.env, {f"p={PREFIX};": install_listing(receipt=OURS)}, data, PLAN)
    create = next(c for c in commands if " create " in c)
    assert create.rstrip("'").endswith(
        "--override-channels -c https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/conda-forge"
    )


def pip_list(**packages: str) -> list[str]:
    return ["Python 3.11.2", json.dumps([{"name": n, "version": v} for n, v in packages.items()])]


def test_torch_at_the_planned_build_is_left_alone():
    installed = pip_list(torch="2.7.1+cu118", torchvision="0.22.1+cu118", torchaudio="2.7.1+cu118")
    commands, failed = run(torch.torch, {"bin/python -V": installed}, None, PLAN)
    assert not failed and changes(commands) == []


def test_torch_of_another_build_is_replaced_by_the_planned_pins_from_the_planned_index():
    installed = pip_list(torch="2.7.1+cpu", torchvision="0.22.1+cpu", torchaudio="2.7.1+cpu")
    commands, _ = run(
        torch.torch,
        {"bin/python -V": installed},
        {"labtorch_pip_extra_args": ("--no-compile",)},
        PLAN,
    )
    (pip,) = changes(commands)
    assert f"{PREFIX}/envs/pytorch/bin/python -m pip install" in pip
    assert (
        "torch==2.7.1+cu118" in pip and "--index-url https://download.pytorch.org/whl/cu118" in pip
    )
    assert "--timeout 60 --retries 2" in pip and " -q " not in pip
    assert "https://download.pytorch.org/whl/cu118 --no-compile;" in pip


def test_kernel_spec_someone_else_wrote_is_not_overwritten():
    foreign = ['{"argv": ["python"], "display_name": "mine"}']
    responses = {
        "bin/python -V": pip_list(ipykernel="6.29.5"),
        "kernels/pytorch/kernel.json": foreign,
    }
    commands, failed = run(jupyter.jupyter, responses)
    assert failed
    assert "was not written by labtorch" in changes(commands)[-1]


def test_condarc_names_the_mirror_and_never_defaults_for_miniforge():
    text = channels.render_condarc(Settings.from_data({"labtorch_mirror": "tuna"}))
    assert "conda-forge: https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud" in text
    assert "- nodefaults" in text and "managed by labtorch" in text


def test_opting_into_defaults_later_accepts_the_tos_once_on_the_existing_install():
    data = {
        "labtorch_conda_flavor": "miniconda",
        "labtorch_installer_sha256": "a" * 64,
        "labtorch_accept_defaults_tos": True,
        "labtorch_conda_prefix": PREFIX,
    }
    before = {**OURS, "flavor": "miniconda"}
    commands, _ = run(conda.conda, {f"p={PREFIX};": install_listing(receipt=before)}, data)
    assert any(" tos accept " in c for c in changes(commands))
    assert not any("-b -u -p" in c for c in changes(commands))
    after = {**before, "defaults_tos_accepted": True}
    commands, _ = run(conda.conda, {f"p={PREFIX};": install_listing(receipt=after)}, data)
    assert changes(commands) == []


ADOPTED = {"tool": "labtorch", "state": "adopted", "flavor": "miniforge", "version": "25.3.0"}
USERS_CONDARC = ["channels:", "  - defaults", "ssl_verify: /etc/ssl/campus-ca.pem"]


def test_adopted_install_keeps_its_condarc_after_labtorch_adopt_conda_is_turned_off():
    responses = {f"p={PREFIX};": install_listing(receipt=ADOPTED), ".condarc": USERS_CONDARC}
    commands, failed = run(channels.conda_channels, responses, {"labtorch_adopt_conda": False})
    assert not failed
    assert changes(commands) == []


def test_installers_condarc_in_an_install_labtorch_made_is_replaced():
    responses = {f"p={PREFIX};": install_listing(receipt=OURS), ".condarc": USERS_CONDARC}
    commands, failed = run(channels.conda_channels, responses)
    assert not failed
    assert f"chmod 644 {PREFIX}/.condarc" in changes(commands)


def test_adopted_install_gets_channels_per_command_after_labtorch_adopt_conda_is_turned_off():
    listing = install_listing(receipt=ADOPTED)
    commands, failed = run(
        env.env, {f"p={PREFIX};": listing}, {"labtorch_adopt_conda": False}, PLAN
    )
    create = next(c for c in changes(commands) if " create " in c)
    assert not failed
    assert create.rstrip("'").endswith("pip --override-channels -c conda-forge")


@pytest.mark.parametrize("receipt", [ADOPTED, OURS], ids=["adopted", "complete"])
def test_owned_install_missing_files_is_refused_and_never_installed_over(receipt):
    listing = install_listing(conda_bin=False, receipt=receipt)
    commands, failed = run(conda.conda, {f"p={PREFIX};": listing}, {"labtorch_adopt_conda": True})
    done = changes(commands)
    assert failed
    assert not any("-b -u -p" in c or "receipt.json" in c for c in done)
    assert len(done) == 1 and "pc01" in done[0] and "bin/conda" in done[0]
    assert "labtorch_conda_prefix" in done[0]


INJECTED = "conda-forge\nssl_verify: false"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("labtorch_conda_channels", (INJECTED,)),
        ("labtorch_conda_channels", INJECTED),
        ("labtorch_conda_channel_url", "https://mirror.example/conda\nssl_verify: false"),
        ("labtorch_pypi_index_url", "https://pypi.example/simple\ntrusted-host = evil"),
        ("labtorch_pytorch_index_url", "https://whl.example/{variant} --trusted-host evil"),
        ("labtorch_installer_mirror", "https://x.example/'; rm -rf ~; '"),
        ("labtorch_env_name", "pytorch\n"),
        ("labtorch_kernel_name", "../../evil"),
        ("labtorch_kernel_display_name", "Python\n(evil)"),
        ("labtorch_pip_extra_args", ("--no-compile\n",)),
    ],
)
def test_values_that_could_inject_into_templates_or_shell_are_refused(key, value):
    with pytest.raises(LabtorchError, match=rf"^pc01: {key}=.*; (set {key} .* to|use) "):
        Settings.from_data({key: value}, host="pc01")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("labtorch_min_free_mib", "lots"),
        ("labtorch_min_free_mib", -1),
        ("labtorch_allow_cpu", "maybe"),
        ("labtorch_adopt_conda", "sometimes"),
        ("labtorch_python", 3.10),
        ("labtorch_python_max", "three"),
        ("labtorch_torch_spec", 2.7),
        ("labtorch_mirror", "tuna mirror"),
        ("labtorch_conda_version", "latest;"),
        ("labtorch_installer_sha256", "abc"),
        ("labtorch_ipykernel_spec", "ipykernel>>6"),
        ("labtorch_conda_channels", ()),
        ("labtorch_pip_extra_args", 5),
        ("labtorch_conda_prefix", 5),
    ],
)
def test_every_bad_setting_raises_labtorch_error_naming_host_setting_and_what_is_allowed(
    key, value
):
    with pytest.raises(LabtorchError, match=rf"^pc01: .*{key}.*(set|use|quote|to) "):
        Settings.from_data({key: value}, host="pc01")


def test_a_single_string_for_a_tuple_setting_is_a_one_element_tuple():
    settings = Settings.from_data(
        {"labtorch_pip_extra_args": "--no-compile", "labtorch_conda_channels": "conda-forge"}
    )
    assert settings.pip_extra_args == ("--no-compile",)
    assert settings.conda_channels == ("conda-forge",)


def test_settings_written_as_ini_strings_are_read_as_their_values():
    settings = Settings.from_data(
        {"labtorch_allow_cpu": "no", "labtorch_adopt_conda": "yes", "labtorch_min_free_mib": "100"}
    )
    assert (settings.policy.allow_cpu, settings.adopt_conda, settings.min_free_mib) == (
        False,
        True,
        100,
    )


def test_verify_timeout_that_is_not_a_number_is_a_labtorch_error_naming_the_setting():
    data = {"labtorch_verify_timeout": "5 min"}
    with pytest.raises(LabtorchError, match=r"labtorch_verify_timeout='5 min'.*whole number"):
        run(verify.verify, {}, data, PLAN)


@pytest.mark.parametrize(
    ("mirror", "flavor", "directory"),
    [
        (
            "tuna",
            "miniforge",
            "https://mirrors.tuna.tsinghua.edu.cn/github-release/conda-forge/miniforge/LatestRelease",
        ),
        ("tuna", "miniconda", "https://mirrors.tuna.tsinghua.edu.cn/anaconda/miniconda"),
        ("bfsu", "miniconda", "https://mirrors.bfsu.edu.cn/anaconda/miniconda"),
        (
            "ustc",
            "miniforge",
            "https://mirrors.ustc.edu.cn/github-release/conda-forge/miniforge/LatestRelease",
        ),
    ],
)
def test_choosing_a_mirror_moves_the_installer_download_there_with_the_same_checksum(
    mirror, flavor, directory
):
    pinned = {"labtorch_conda_flavor": flavor, "labtorch_installer_sha256": "b" * 64}
    if flavor == "miniforge":
        pinned.pop("labtorch_installer_sha256")
    official = Settings.from_data(pinned, host="pc01").installer("x86_64")
    mirrored = Settings.from_data({**pinned, "labtorch_mirror": mirror}, host="pc01")
    installer = mirrored.installer("x86_64")
    assert installer.url == f"{directory}/{official.file}"
    assert installer.sha256 == official.sha256 and installer.file == official.file
    assert not official.url.startswith(directory)


def test_a_mirror_without_the_installer_keeps_the_upstream_download():
    # BFSU carries Miniconda but no Miniforge (data/mirrors.yaml)
    installer = Settings.from_data({"labtorch_mirror": "bfsu"}, host="pc01").installer("x86_64")
    assert installer.url.startswith("https://github.com/conda-forge/miniforge/releases/download/")
    assert installer.sha256 == SHA


def test_the_sites_own_installer_mirror_wins_over_the_mirror_row():
    data = {"labtorch_mirror": "tuna", "labtorch_installer_mirror": "https://files.lab.example/"}
    installer = Settings.from_data(data, host="pc01").installer("x86_64")
    assert installer.url == "https://files.lab.example/Miniforge3-25.3.0-3-Linux-x86_64.sh"


def test_windows_pc_with_tuna_downloads_the_exe_from_tuna_with_its_pinned_checksum():
    settings = Settings.from_data({"labtorch_mirror": "tuna"}, host="pc31", os="windows")
    installer = settings.installer("x86_64")
    assert installer.url.startswith("https://mirrors.tuna.tsinghua.edu.cn/github-release/")
    assert installer.file == "Miniforge3-25.3.0-3-Windows-x86_64.exe"
    assert installer.sha256.startswith("b48cd984")


def test_deploy_with_tuna_downloads_the_installer_from_tuna_and_verifies_the_pinned_sha256():
    commands, failed = run(conda.conda, {}, {"labtorch_mirror": "tuna"})
    done = changes(commands)
    tuna = "https://mirrors.tuna.tsinghua.edu.cn/github-release/conda-forge/miniforge/LatestRelease"
    assert not failed
    assert any(f"{tuna}/Miniforge3-25.3.0-3-Linux-x86_64.sh" in c for c in done)
    assert not any("github.com" in c for c in done)
    assert any(SHA in c and "sha256sum" in c for c in done)


def test_pip_conf_with_mirror_credentials_is_readable_by_the_deploying_account_only():
    from labtorch.roles import channels

    listing = install_listing(receipt=OURS, envs=[("pytorch", {"tool": "labtorch"})])
    secret = {"labtorch_pypi_index_url": "https://lab:s3cret@mirror.example/simple"}
    commands, _ = run(channels.pip_index, {f"p={PREFIX};": listing}, secret)
    assert f"chmod 600 {PREFIX}/envs/pytorch/pip.conf" in commands
    commands, _ = run(channels.pip_index, {f"p={PREFIX};": listing}, {})
    assert f"chmod 644 {PREFIX}/envs/pytorch/pip.conf" in commands


def test_receipts_get_explicit_modes_whatever_the_session_umask():
    commands, _ = run(conda.conda, {})
    receipt = next(c for c in changes(commands) if "receipt.json" in c)
    assert receipt.startswith("(umask 022 && mkdir -p") and "chmod 644" in receipt
