"""The conda stand-in behaves like a Miniforge/Miniconda installer and conda for what labtorch uses.

Every test runs the real thing the deploy runs: the built `.sh` with bash into a temporary prefix,
then PREFIX/bin/conda by absolute path. Environments are real venvs of /usr/bin/python3 with real
pip. HOME points into tmp_path so no test reads or writes the user's ~/.condarc or ~/.conda.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "conda"
HOST_PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.skipif(
    not HOST_PYTHON.exists() or shutil.which("bash") is None,
    reason="the conda stand-in needs bash and the host's /usr/bin/python3 (with venv)",
)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


installer = _load("labtorch_conda_standin_installer", STANDIN / "installer.py")
condarc_yaml = _load("labtorch_conda_standin_yaml", STANDIN / "payload" / "condarc_yaml.py")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A process environment without conda/pip/python settings leaking in from this machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONDA", "PIP_", "PYTHON", "VIRTUAL_ENV")) and k != "CI"}
    env["HOME"] = str(home)
    env.pop("XDG_CONFIG_HOME", None)
    env.update(extra)
    return env


def run(cmd: list[str | Path], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], env=env, input=stdin, capture_output=True,
                          text=True, timeout=300)


class Lab:
    """One installed stand-in: its prefix, a private HOME, and a way to call its conda."""

    def __init__(self, prefix: Path, home: Path) -> None:
        self.prefix = prefix
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(self.home, **extra)

    def conda(self, *args: str | Path, stdin: str = "", **extra: str
              ) -> subprocess.CompletedProcess:
        return run([self.prefix / "bin" / "conda", *args], self.env(**extra), stdin)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installer.build_installer(tmp_path_factory.mktemp("mirror"))


@pytest.fixture(scope="module")
def lab(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Lab:
    root = tmp_path_factory.mktemp("host")
    home = root / "home"
    home.mkdir()
    done = run(["bash", built, "-b", "-p", root / "miniforge3"], clean_env(home))
    assert done.returncode == 0, done.stderr
    return Lab(root / "miniforge3", home)


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, built by hand so the test needs no index."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            wheel.writestr(member, text)
        wheel.writestr(f"{dist}/RECORD", record)
    return path


# ------------------------------------------------------------------------------- installer


def test_same_inputs_build_byte_identical_installers(tmp_path: Path) -> None:
    first = installer.build_installer(tmp_path / "a")
    second = installer.build_installer(tmp_path / "b")
    other = installer.build_installer(tmp_path / "c", version="25.3.1-0")
    assert first.name == second.name == "Miniforge3-25.3.0-3-Linux-x86_64.sh"
    assert installer.sha256_of(first) == installer.sha256_of(second)
    assert installer.sha256_of(other) != installer.sha256_of(first)
    assert (tmp_path / "a" / (first.name + ".sha256")).read_text() == \
        f"{installer.sha256_of(first)}  {first.name}\n"
    assert len(installer.source_digest()) == 64


def test_unknown_flavour_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Anaconda3"):
        installer.build_installer(tmp_path, flavor="Anaconda3")


def test_installer_says_it_is_a_stand_in(built: Path) -> None:
    head = built.read_bytes()[:2000].decode()
    assert head.startswith("#!/bin/sh\n")
    assert "labtorch conda stand-in" in head


def test_batch_install_creates_conda_layout_on_a_real_python(lab: Lab) -> None:
    prefix = lab.prefix
    for path in ("bin/conda", "condabin/conda", "conda-meta/history", "bin/python"):
        assert (prefix / path).exists(), path
    assert "labtorch conda stand-in" in (prefix / "bin" / "conda").read_text()
    assert json.loads((prefix / "conda-meta" / "labtorch-conda-standin.json").read_text())[
        "flavor"] == "Miniforge3"
    assert condarc_yaml.loads((prefix / ".condarc").read_text()) == {"channels": ["conda-forge"]}
    done = run([prefix / "bin" / "python", "-c", "import sys, pip; print(sys.prefix)"], lab.env())
    assert done.stdout.strip() == str(prefix)


def test_existing_prefix_without_u_fails_like_constructor(lab: Lab, built: Path) -> None:
    done = run(["bash", built, "-b", "-p", lab.prefix], lab.env())
    assert done.returncode == 1
    assert done.stderr == (f"ERROR: File or directory already exists: '{lab.prefix}'\n"
                           "If you want to update an existing installation, use the -u option.\n")


def test_prefix_with_spaces_is_refused(built: Path, tmp_path: Path) -> None:
    done = run(["bash", built, "-b", "-p", tmp_path / "with space"], clean_env(tmp_path))
    assert done.returncode == 1
    assert "ERROR: Cannot install into directories with spaces" in done.stderr
    assert not (tmp_path / "with space").exists()


def test_help_prints_usage_and_exits_2(built: Path, tmp_path: Path) -> None:
    done = run(["bash", built, "-h"], clean_env(tmp_path))
    assert done.returncode == 2
    assert "-p PREFIX    install prefix" in done.stdout
    assert "-u           update an existing installation" in done.stdout


def test_damaged_installer_is_refused(built: Path, tmp_path: Path) -> None:
    damaged = tmp_path / built.name
    damaged.write_bytes(built.read_bytes()[:-40] + b"A" * 39 + b"\n")
    done = run(["bash", damaged, "-b", "-p", tmp_path / "p"], clean_env(tmp_path))
    assert done.returncode == 1
    assert "sha256 mismatch" in done.stderr


# ------------------------------------------------------------------------------ conda basics


def test_version_is_the_installers_conda_version(lab: Lab) -> None:
    assert lab.conda("--version").stdout == "conda 25.3.0\n"


def test_info_json_has_the_fields_the_deploy_reads(lab: Lab) -> None:
    info = json.loads(lab.conda("info", "--json").stdout)
    assert info["root_prefix"] == str(lab.prefix)
    assert info["conda_version"] == "25.3.0"
    assert info["platform"] == "linux-64"
    assert info["envs_dirs"][0] == str(lab.prefix / "envs")
    assert info["channels"] == ["https://conda.anaconda.org/conda-forge/linux-64",
                                "https://conda.anaconda.org/conda-forge/noarch"]


def test_create_then_run_uses_the_env_python(lab: Lab) -> None:
    created = lab.conda("create", "-n", "runenv", "python=3.11", "-y")
    assert created.returncode == 0, created.stderr
    assert "environment location: " + str(lab.prefix / "envs" / "runenv") in created.stdout
    done = lab.conda("run", "-n", "runenv", "python", "-c", "import sys; print(sys.prefix)")
    assert done.returncode == 0
    assert done.stdout == f"{lab.prefix / 'envs' / 'runenv'}\n\n"  # conda run print()s output
    listed = json.loads(lab.conda("env", "list", "--json").stdout)
    assert str(lab.prefix / "envs" / "runenv") in listed["envs"]
    assert listed["envs_details"][str(lab.prefix)]["name"] == "base"


def test_python_brings_pip_unless_add_pip_as_python_dependency_is_off(lab: Lab) -> None:
    lab.conda("create", "-n", "withpip", "python=3.11", "-y", "-q")
    lab.conda("create", "-n", "nopip", "python=3.11", "-y", "-q",
              CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY="false")
    names = {n: {r["name"] for r in json.loads(lab.conda("list", "--json", "-n", n).stdout)}
             for n in ("withpip", "nopip")}
    assert names == {"withpip": {"python", "pip"}, "nopip": {"python"}}


def test_run_passes_the_exit_code_through(lab: Lab) -> None:
    lab.conda("create", "-n", "rcenv", "python=3.11", "-y", "-q")
    done = lab.conda("run", "-n", "rcenv", "python", "-c", "import sys; sys.exit(7)")
    assert done.returncode == 7
    assert "failed. (See above for error)" in done.stderr


def test_pip_in_env_installs_a_wheel_reported_as_pypi(lab: Lab, tmp_path: Path) -> None:
    lab.conda("create", "-n", "pipenv", "python=3.11", "pip", "-y", "-q")
    wheel = make_wheel(tmp_path, "labtiny", "1.0")
    env_python = lab.prefix / "envs" / "pipenv" / "bin" / "python"
    done = run([env_python, "-m", "pip", "install", "--no-index", wheel], lab.env())
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(lab.conda("list", "--json", "-n", "pipenv").stdout)}
    assert rows["labtiny"]["channel"] == "pypi"
    assert rows["labtiny"]["version"] == "1.0"
    assert rows["pip"]["channel"] == "conda-forge"
    assert rows["python"]["version"].startswith("3.11.")


def test_extra_specs_are_installed_into_the_new_env(lab: Lab, tmp_path: Path) -> None:
    make_wheel(tmp_path, "labextra", "2.0")
    done = lab.conda("create", "-n", "extraenv", "python=3.11", "labextra", "-y", "-q",
                     PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(lab.conda("list", "--json", "-n", "extraenv").stdout)}
    assert rows["labextra"]["channel"] == "conda-forge"


def test_the_deploys_install_and_env_commands_work(built: Path, tmp_path: Path) -> None:
    """roles/conda.py stages the installer inside the prefix and runs it with -b -u -p;
    roles/env.py then creates the env by path with python, pip and per-command channels."""
    home = tmp_path / "home"
    home.mkdir()
    prefix = tmp_path / "miniforge3"
    staged = prefix / ".labtorch" / built.name
    staged.parent.mkdir(parents=True)
    shutil.copy(built, staged)
    done = run(["bash", staged, "-b", "-u", "-p", prefix], clean_env(home))
    assert done.returncode == 0, done.stderr
    assert staged.exists()  # the installer never deletes what it did not create
    site = Lab(prefix, home)
    env = prefix / "envs" / "pytorch"
    created = site.conda("create", "-y", "-q", "-p", env, "python=3.11", "pip",
                         "--override-channels", "-c", "http://127.0.0.1:1/cloud/conda-forge")
    assert created.returncode == 0, created.stderr
    listed = json.loads(site.conda("env", "list", "--json").stdout)
    assert listed["envs_details"][str(env)]["name"] == "pytorch"
    pip = run([env / "bin" / "python", "-m", "pip", "--version"], site.env())
    assert pip.stdout.startswith("pip ") and str(env) in pip.stdout
    rows = {r["name"]: r for r in json.loads(site.conda("list", "--json", "-p", env).stdout)}
    assert rows["python"]["base_url"] == "http://127.0.0.1:1/cloud/conda-forge"


# ----------------------------------------------------------------------------- error paths


def test_unavailable_python_fails_with_packages_not_found(lab: Lab) -> None:
    done = lab.conda("create", "-n", "py399", "python=3.99", "-y")
    assert done.returncode == 1
    assert "PackagesNotFoundError: The following packages are not available from current " \
           "channels:\n\n  - python=3.99\n" in done.stderr
    assert not (lab.prefix / "envs" / "py399").exists()
    as_json = json.loads(lab.conda("create", "-n", "py399", "python=3.99", "-y", "--json").stdout)
    assert as_json["exception_name"] == "PackagesNotFoundError"
    assert as_json["packages"] == ["python=3.99"]


def test_failed_create_in_an_existing_directory_keeps_its_files(lab: Lab, tmp_path: Path
                                                               ) -> None:
    target = tmp_path / "had-files"
    target.mkdir()
    (target / "keep.txt").write_text("not conda's")
    done = lab.conda("create", "-p", target, "python=3.11", "labnosuchpkg", "-y", "-q",
                     PIP_NO_INDEX="1")
    assert done.returncode == 1
    assert "PackagesNotFoundError" in done.stderr and "  - labnosuchpkg\n" in done.stderr
    assert (target / "keep.txt").read_text() == "not conda's"
    assert not (target / "conda-meta").exists()


def test_create_over_an_env_with_yes_replaces_it_silently(lab: Lab) -> None:
    lab.conda("create", "-n", "again", "python=3.11", "-y", "-q")
    stray = lab.prefix / "envs" / "again" / "stray.txt"
    stray.write_text("made before the second create")
    done = lab.conda("create", "-n", "again", "python=3.11", "-y")
    assert done.returncode == 0
    assert "already exists" not in done.stdout + done.stderr  # confirm_yn is silent with -y
    assert not stray.exists()


def test_create_over_an_env_answered_no_keeps_it_and_exits_0(lab: Lab) -> None:
    lab.conda("create", "-n", "keep", "python=3.11", "-y", "-q")
    stray = lab.prefix / "envs" / "keep" / "stray.txt"
    stray.write_text("must survive")
    done = lab.conda("create", "-n", "keep", "python=3.11", stdin="n\n")
    assert done.returncode == 0  # CondaSystemExit is a CondaExitZero
    assert f"WARNING: A conda environment already exists at '{stray.parent}'" in done.stdout
    assert stray.exists()


def test_run_in_unknown_env_fails_with_conda_messages(lab: Lab, tmp_path: Path) -> None:
    by_name = lab.conda("run", "-n", "nosuchenv", "python", "-V")
    assert by_name.returncode == 1
    assert "EnvironmentNameNotFound: Could not find conda environment: nosuchenv" \
        in by_name.stderr
    by_path = lab.conda("run", "-p", tmp_path / "missing", "python", "-V")
    assert by_path.returncode == 1
    assert f"EnvironmentLocationNotFound: Not a conda environment: {tmp_path / 'missing'}" \
        in by_path.stderr


def test_create_without_name_or_prefix_is_an_argument_error(lab: Lab) -> None:
    done = lab.conda("create", "python=3.11", "-y")
    assert done.returncode == 2
    assert "ArgumentError: one of the arguments -n/--name -p/--prefix is required" in done.stderr


def test_override_channels_without_a_channel_is_an_argument_error(lab: Lab) -> None:
    done = lab.conda("create", "-n", "nochan", "python=3.11", "-y", "--override-channels")
    assert done.returncode == 2
    assert "At least one -c / --channel flag must be supplied when using --override-channels." \
        in done.stderr
    assert not (lab.prefix / "envs" / "nochan").exists()


def test_env_remove_deletes_env_and_second_remove_fails(lab: Lab) -> None:
    lab.conda("create", "-n", "gone", "python=3.11", "-y", "-q")
    assert lab.conda("env", "remove", "-n", "gone", "-y").returncode == 0
    assert not (lab.prefix / "envs" / "gone").exists()
    again = lab.conda("env", "remove", "-n", "gone", "-y")
    assert again.returncode == 1
    assert "EnvironmentNameNotFound" in again.stderr


def test_env_by_path_is_registered_and_listed(lab: Lab, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    assert lab.conda("create", "-p", target, "python=3.11", "-y", "-q").returncode == 0
    listed = json.loads(lab.conda("env", "list", "--json").stdout)
    assert str(target) in listed["envs"]
    assert listed["envs_details"][str(target)]["name"] == ""
    assert str(target) in (lab.home / ".conda" / "environments.txt").read_text()


# ---------------------------------------------------------------------------------- config


def test_condarc_precedence_system_user_condarc_envvar(lab: Lab, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    user = Lab(lab.prefix, home)

    def channels(**extra: str) -> list[str]:
        return json.loads(user.conda("config", "--show", "channels", "--json", **extra).stdout)[
            "channels"]

    assert channels() == ["conda-forge"]  # system: PREFIX/.condarc from Miniforge
    (home / ".condarc").write_text("channels:\n  - userchan\nshow_channel_urls: true\n")
    assert channels() == ["userchan", "conda-forge"]  # higher precedence first, merged
    extra_rc = tmp_path / "extra.condarc"
    extra_rc.write_text("channels: [envrc]\n")
    assert channels(CONDARC=str(extra_rc)) == ["envrc", "userchan", "conda-forge"]
    assert channels(CONDA_CHANNELS="fromenv") == ["fromenv", "userchan", "conda-forge"]
    shown = json.loads(user.conda("config", "--show", "show_channel_urls", "--json",
                                  CONDA_SHOW_CHANNEL_URLS="false").stdout)
    assert shown == {"show_channel_urls": False}


def test_config_set_add_get_remove_round_trip(lab: Lab, tmp_path: Path) -> None:
    rc = tmp_path / "site.condarc"
    assert lab.conda("config", "--file", rc, "--set", "show_channel_urls", "yes").returncode == 0
    assert lab.conda("config", "--file", rc, "--add", "channels", "http://127.0.0.1:1/cf"
                     ).returncode == 0
    assert lab.conda("config", "--file", rc, "--set", "custom_channels.conda-forge",
                     "http://127.0.0.1:1/cloud").returncode == 0
    assert "labtorch conda stand-in" in rc.read_text()
    assert condarc_yaml.loads(rc.read_text()) == {
        "show_channel_urls": True,
        "channels": ["http://127.0.0.1:1/cf", "conda-forge"],
        "custom_channels": {"conda-forge": "http://127.0.0.1:1/cloud"},
    }  # the missing --file fell back to the system rc's channels, as conda does
    got = lab.conda("config", "--file", rc, "--get", "channels").stdout
    assert got == ("--add channels 'conda-forge'   # lowest priority\n"
                   "--add channels 'http://127.0.0.1:1/cf'   # highest priority\n")
    missing = lab.conda("config", "--file", rc, "--remove", "channels", "absent")
    assert missing.returncode == 1
    assert "CondaKeyError: 'channels': value 'absent' not present in config" in missing.stderr
    unknown = lab.conda("config", "--file", rc, "--set", "no_such_key", "1")
    assert unknown.returncode == 1
    assert "Unknown key: 'no_such_key'" in unknown.stderr


def test_custom_channels_rewrite_channel_urls(lab: Lab, tmp_path: Path) -> None:
    rc = tmp_path / "mirror.condarc"
    rc.write_text("channels:\n  - conda-forge\ncustom_channels:\n"
                  "  conda-forge: http://127.0.0.1:1/cloud\n")
    info = json.loads(lab.conda("info", "--json", CONDARC=str(rc)).stdout)
    assert info["channels"][0] == "http://127.0.0.1:1/cloud/conda-forge/linux-64"


def test_set_system_writes_prefix_condarc(built: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = run(["bash", built, "-b", "-p", tmp_path / "mf"], clean_env(home))
    assert done.returncode == 0, done.stderr
    own = Lab(tmp_path / "mf", home)
    assert own.conda("config", "--system", "--set", "plugins.auto_accept_tos", "yes"
                     ).returncode == 0
    assert condarc_yaml.loads((tmp_path / "mf" / ".condarc").read_text()) == {
        "channels": ["conda-forge"], "plugins": {"auto_accept_tos": True}}
    assert not (home / ".condarc").exists()


# ------------------------------------------------------------------------- Miniconda flavour


def test_miniconda_defaults_need_tos_acceptance(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    built = installer.build_installer(tmp_path / "mirror", flavor="Miniconda3",
                                      version="py312_25.5.1-0")
    assert built.name == "Miniconda3-py312_25.5.1-0-Linux-x86_64.sh"
    assert run(["bash", built, "-b", "-p", tmp_path / "mc"], clean_env(home)).returncode == 0
    mc = Lab(tmp_path / "mc", home)
    assert mc.conda("--version").stdout == "conda 25.5.1\n"
    refused = mc.conda("create", "-n", "a", "python=3.11", "-y")
    assert refused.returncode == 1
    assert "CondaToSNonInteractiveError: Terms of Service have not been accepted for the " \
           "following channels." in refused.stderr
    assert "    - https://repo.anaconda.com/pkgs/main\n" in refused.stderr
    assert mc.conda("create", "-n", "a", "python=3.11", "-y", "-q",
                    CONDA_PLUGINS_AUTO_ACCEPT_TOS="yes").returncode == 0
    for url in ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"):
        accepted = mc.conda("tos", "accept", "--override-channels", "--channel", url)
        assert accepted.stdout == f"accepted Terms of Service for {url}\n"
    assert mc.conda("create", "-n", "b", "python=3.11", "-y", "-q").returncode == 0
    # -u on an existing install: the installer runs again and keeps the envs.
    updated = run(["bash", built, "-b", "-u", "-p", tmp_path / "mc"], clean_env(home))
    assert updated.returncode == 0, updated.stderr
    envs = json.loads(mc.conda("env", "list", "--json").stdout)["envs"]
    assert str(tmp_path / "mc" / "envs" / "b") in envs


# ----------------------------------------------------------------------------- YAML subset


def test_condarc_yaml_reads_a_mirror_template() -> None:
    text = (
        "# mirror\nchannels:\n  - defaults\nshow_channel_urls: true\n"
        "default_channels: [https://m/pkgs/main, https://m/pkgs/r]\n"
        "custom_channels:\n  conda-forge: https://m/cloud  # comment\n"
        "plugins:\n  auto_accept_tos: yes\n"
    )
    assert condarc_yaml.loads(text) == {
        "channels": ["defaults"],
        "show_channel_urls": True,
        "default_channels": ["https://m/pkgs/main", "https://m/pkgs/r"],
        "custom_channels": {"conda-forge": "https://m/cloud"},
        "plugins": {"auto_accept_tos": True},
    }


def test_condarc_yaml_round_trips_and_rejects_what_it_cannot_read() -> None:
    config = {"channels": ["a", "yes"], "ssl_verify": "/etc/ca.pem", "x": {"k": "v: w"}}
    assert condarc_yaml.loads(condarc_yaml.dumps(config)) == config
    with pytest.raises(condarc_yaml.YamlSubsetError, match="line 2"):
        condarc_yaml.loads("channels:\n!!weird\n")
