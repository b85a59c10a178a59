# labtorch conda stand-in: NOT real conda. See tests/standins/conda/README.md.
"""The `conda` command of the labtorch conda stand-in.

Installed by the stand-in installer as PREFIX/lib/labtorch-conda-standin/conda_cli.py and run by
PREFIX/bin/conda and PREFIX/condabin/conda with the base interpreter (PREFIX/bin/python, a venv of
the host's /usr/bin/python3). It replays the subset of conda 25.x that labtorch's deploy uses:
`--version`, `info`, `env list`, `create`, `run`, `config`, `tos`, `env remove`, `remove --all`
and `list`, with conda's texts, JSON shapes and exit codes (sources in README.md). Environments
are real venvs with real pip; no conda channel is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

from conda_config import (
    ANACONDA_TOS_CHANNELS,
    CONDA_VERSION,
    FLAVOR,
    ROOT,
    SUBDIR,
    Context,
    cmd_config,
    sys_rc_path,
    user_rc_path,
)
from conda_envs import (
    append_history,
    assert_environment,
    base_pip_version,
    build_env,
    confirm,
    env_name,
    envs_json,
    is_environment,
    known_prefixes,
    list_records,
    pick_python,
    print_envs,
    register_env,
    split_spec,
    target_prefix,
    unregister_env,
)
from conda_errors import (
    ArgumentError,
    CondaEnvironmentError,
    CondaError,
    CondaHTTPError,
    CondaToSNonInteractiveError,
    CondaValueError,
    PackagesNotFoundError,
    print_json,
    report_error,
)

# -------------------------------------------------------------------------------- commands


def check_tos(ctx: Context) -> None:
    """conda-anaconda-tos (Miniconda only): refuse repo.anaconda.com channels not accepted."""
    if FLAVOR != "Miniconda3" or ctx.plugins["auto_accept_tos"]:
        return
    tos_dir = ROOT / "conda-meta" / "tos"
    missing = [url for url in ctx.channel_base_urls()
               if url in ANACONDA_TOS_CHANNELS and not (tos_dir / _tos_key(url)).is_file()]
    if missing:
        raise CondaToSNonInteractiveError(missing)


def _tos_key(url: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", url) + ".json"


def cmd_create(args: argparse.Namespace, argv: list[str]) -> int:
    if not args.name and not args.prefix:
        raise ArgumentError("one of the arguments -n/--name -p/--prefix is required")
    ctx = Context(args.channel, args.override_channels)
    prefix = target_prefix(args, ctx, creating=True)
    if prefix == ROOT:
        raise CondaValueError("The target prefix is the base prefix. Aborting.")
    check_tos(ctx)
    specs = list(args.packages) + [p for p in ctx["create_default_packages"]
                                   if split_spec(p)[0] not in {split_spec(s)[0]
                                                               for s in args.packages}]
    parsed = [split_spec(s) for s in specs]
    channel_base = ctx.channel_base_urls()
    if not channel_base:
        raise CondaError("No channels configured.")
    for url in channel_base:  # the one channel the stand-in knows cannot exist (conda 23.x)
        if url.endswith("/nodefaults"):
            raise CondaHTTPError(f"{url}/{SUBDIR}/repodata.json")
    chatty = not args.json and not args.quiet
    if chatty:
        print("Channels:")
        for channel in ctx["channels"]:
            print(f" - {channel}")
        print(f"Platform: {SUBDIR}\nCollecting package metadata (repodata.json): done")
    python_version = next((v for n, v in parsed if n == "python"), None)
    python_choice = pick_python(python_version or "") if python_version is not None else None
    if python_version is not None and python_choice is None:
        if chatty:
            print("Solving environment: failed")
        wanted = next(s for s in specs if split_spec(s)[0] == "python")
        raise PackagesNotFoundError([wanted], ctx.channel_urls())
    others = [(n, v) for n, v in parsed if n != "python"]
    if others and python_choice is None:
        python_choice = pick_python("")
    if chatty:
        print("Solving environment: done")

    if is_environment(prefix):
        confirm(args, f"WARNING: A conda environment already exists at '{prefix}'\n\n"
                "Remove existing environment?\nThis will remove ALL directories contained "
                "within this specified prefix directory, including any other conda "
                "environments.\n\n")
        shutil.rmtree(prefix)
    elif prefix.exists():
        confirm(args, f"WARNING: A directory already exists at the target location '{prefix}'\n"
                "but it is not a conda environment.\nContinue creating environment")

    planned = []
    if python_choice is not None:
        planned.append(("python", python_choice[0]))
    if python_choice is not None and (any(n == "pip" for n, _ in others)
                                      or ctx["add_pip_as_python_dependency"]):
        planned.append(("pip", base_pip_version()))
    if chatty:
        print(f"\n## Package Plan ##\n\n  environment location: {prefix}\n")
        if specs:
            print("  added / updated specs:")
            for spec in sorted(specs):
                print(f"    - {spec}")
            print("\n")
        print("The following NEW packages will be INSTALLED:\n")
        for name, version in planned:
            print(f"  {name:<18} {channel_base[0].rsplit('/', 1)[-1]}/{SUBDIR}::"
                  f"{name}-{version}-labtorch_standin_0")
        print("\nPreparing transaction: done\nVerifying transaction: done\n"
              "Executing transaction: done")

    history_lines = build_env(prefix, python_choice, others, channel_base[0], ctx)
    append_history(prefix, argv, history_lines)
    register_env(prefix)
    if args.json:
        print_json({
            "actions": {"LINK": [{"name": n, "version": v, "channel": channel_base[0]}
                                 for n, v in planned], "PREFIX": str(prefix)},
            "prefix": str(prefix),
            "success": True,
        })
    elif not args.quiet:
        target = args.name or str(prefix)
        print(f"#\n# To activate this environment, use\n#\n#     $ conda activate {target}\n#\n"
              "# To deactivate an active environment, use\n#\n#     $ conda deactivate\n")
    return 0


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    ctx = Context()
    prefix = target_prefix(args, ctx)
    assert_environment(prefix)
    call = list(args.executable_call)
    if call and call[0] == "--":
        call = call[1:]
    if not call:
        raise ArgumentError("No command given to run.")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(prefix / "bin"), str(ROOT / "condabin"),
                                   env.get("PATH", "")])
    env.update({
        "CONDA_PREFIX": str(prefix),
        "CONDA_DEFAULT_ENV": env_name(prefix, ctx) or str(prefix),
        "CONDA_SHLVL": "1",
        "CONDA_EXE": str(ROOT / "bin" / "conda"),
        "CONDA_PYTHON_EXE": str(ROOT / "bin" / "python"),
    })
    env.pop("PYTHONHOME", None)
    command = ["/bin/sh", "-c", 'exec "$@"', "sh", *call]
    if args.no_capture_output:
        rc = subprocess.run(command, env=env, cwd=args.cwd).returncode
    else:
        done = subprocess.run(command, env=env, cwd=args.cwd, capture_output=True, text=True)
        if done.stdout:
            print(done.stdout)
        if done.stderr:
            print(done.stderr, file=sys.stderr)
        rc = done.returncode
    if rc != 0:
        print(f"ERROR conda.cli.main_run:execute(127): `conda run {' '.join(call)}` failed. "
              "(See above for error)", file=sys.stderr)
    return rc


def cmd_info(args: argparse.Namespace, argv: list[str]) -> int:
    ctx = Context()
    if args.base:
        if args.json:
            print_json({"root_prefix": str(ROOT)})
        else:
            print(ROOT)
        return 0
    if args.envs and not args.json:
        print_envs(ctx)
        return 0
    active = os.environ.get("CONDA_PREFIX")
    info = {
        "active_prefix": active,
        "active_prefix_name": env_name(Path(active), ctx) if active else None,
        "channels": ctx.channel_urls(),
        "conda_build_version": "not installed",
        "conda_env_version": CONDA_VERSION,
        "conda_location": str(Path(__file__).parent),
        "conda_prefix": str(ROOT),
        "conda_shlvl": int(os.environ.get("CONDA_SHLVL", "-1")),
        "conda_version": CONDA_VERSION,
        "config_files": [s for s, _ in ctx.sources if s != "envvars"],
        "default_prefix": str(ROOT),
        "envs": [str(p) for p in known_prefixes(ctx)],
        "envs_dirs": ctx["envs_dirs"],
        "labtorch_conda_standin": True,
        "offline": ctx["offline"],
        "pkgs_dirs": ctx["pkgs_dirs"],
        "platform": SUBDIR,
        "python_version": ".".join(map(str, sys.version_info[:3])) + ".final.0",
        "rc_path": str(user_rc_path()),
        "root_prefix": str(ROOT),
        "root_writable": os.access(ROOT, os.W_OK),
        "sys_rc_path": str(sys_rc_path()),
        "user_rc_path": str(user_rc_path()),
        "sys.executable": sys.executable,
        "sys.prefix": sys.prefix,
        "sys.version": sys.version,
        "UID": os.geteuid(),
        "GID": os.getegid(),
        "user_agent": f"conda/{CONDA_VERSION} labtorch-conda-standin",
        "virtual_pkgs": [["__linux", os.uname().release.split("-")[0], "0"],
                         ["__unix", "0", "0"]],
    }
    if args.json:
        print_json(info)
        return 0

    def row(label: str, value: Any) -> str:
        return f"{label:>23} : {value}"

    pad = "\n" + " " * 26
    writable = "writable" if info["root_writable"] else "read only"
    print("\n".join([
        "",
        row("active environment", info["active_prefix_name"] or None),
        row("user config file", info["user_rc_path"]),
        row("populated config files", pad.join(info["config_files"])),
        row("conda version", CONDA_VERSION),
        row("conda-build version", "not installed"),
        row("python version", info["python_version"]),
        row("base environment", f"{ROOT}  ({writable})"),
        row("channel URLs", pad.join(info["channels"])),
        row("package cache", pad.join(info["pkgs_dirs"])),
        row("envs directories", pad.join(info["envs_dirs"])),
        row("platform", SUBDIR),
        row("user-agent", info["user_agent"]),
        row("UID:GID", f"{info['UID']}:{info['GID']}"),
        row("offline mode", info["offline"]),
        "",
    ]))
    if args.envs:
        print_envs(ctx)
    return 0


def cmd_env_list(args: argparse.Namespace, argv: list[str]) -> int:
    ctx = Context()
    if args.json:
        print_json(envs_json(ctx))
    else:
        print_envs(ctx)
    return 0


def cmd_remove_env(args: argparse.Namespace, argv: list[str]) -> int:
    ctx = Context()
    if not args.name and not args.prefix:
        raise ArgumentError("one of the arguments -n/--name -p/--prefix is required")
    prefix = target_prefix(args, ctx)
    if prefix == ROOT:
        raise CondaEnvironmentError("cannot remove root environment")
    assert_environment(prefix)
    if not args.json:
        print(f"\nRemove all packages in environment {prefix}:\n")
    confirm(args, "Everything found within the environment "
            f"({prefix}), including any conda environment, will be deleted. Do you wish to "
            "continue?\n")
    shutil.rmtree(prefix)
    unregister_env(prefix)
    if args.json:
        print_json({"success": True, "actions": {"PREFIX": str(prefix)}})
    return 0


def cmd_list(args: argparse.Namespace, argv: list[str]) -> int:
    ctx = Context()
    prefix = target_prefix(args, ctx)
    assert_environment(prefix)
    rows = list_records(prefix, ctx)
    if args.json:
        print_json(rows)
        return 0
    print(f"# packages in environment at {prefix}:\n#")
    print(f"# {'Name':<23}{'Version':<16}{'Build':<19}Channel")
    for r in rows:
        channel = "" if r["channel"] == "conda-forge" else r["channel"]
        print(f"{r['name']:<25}{r['version']:<16}{r['build_string']:<19}{channel}")
    return 0


def cmd_tos(args: argparse.Namespace, argv: list[str]) -> int:
    if FLAVOR != "Miniconda3":
        raise ArgumentError("argument COMMAND: invalid choice: 'tos'")
    ctx = Context(args.channel, args.override_channels)
    tos_dir = ROOT / "conda-meta" / "tos"
    for url in ctx.channel_base_urls():
        if url not in ANACONDA_TOS_CHANNELS:
            print(f"Terms of Service not found for {url}")
            continue
        if args.action == "accept":
            tos_dir.mkdir(parents=True, exist_ok=True)
            (tos_dir / _tos_key(url)).write_text(json.dumps(
                {"channel": url, "tos_accepted": True,
                 "labtorch_conda_standin": "acceptance record of the stand-in"}) + "\n")
            print(f"accepted Terms of Service for {url}")
        elif args.action == "reject":
            (tos_dir / _tos_key(url)).unlink(missing_ok=True)
            print(f"rejected Terms of Service for {url}")
        else:
            state = "accepted" if (tos_dir / _tos_key(url)).is_file() else "pending"
            print(f"{url}: {state}")
    return 0


# ---------------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise ArgumentError(message)


def _add_prefix(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-n", "--name")
    group.add_argument("-p", "--prefix")


def _add_channels(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--channel", action="append", default=[])
    p.add_argument("--override-channels", action="store_true")


def build_parser() -> _Parser:
    parser = _Parser(prog="conda", description="conda (labtorch stand-in)")
    parser.add_argument("-V", "--version", action="store_true")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    create = sub.add_parser("create")
    _add_prefix(create)
    _add_channels(create)
    create.add_argument("-y", "--yes", action="store_true")
    create.add_argument("-q", "--quiet", action="store_true")
    create.add_argument("--json", action="store_true")
    create.add_argument("--offline", action="store_true")
    create.add_argument("packages", nargs="*")
    create.set_defaults(func=cmd_create)

    run = sub.add_parser("run")
    _add_prefix(run)
    run.add_argument("--cwd", default=os.getcwd())
    run.add_argument("-s", "--no-capture-output", "--live-stream", action="store_true")
    run.add_argument("-v", "--verbose", action="count", default=0)
    run.add_argument("executable_call", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)

    info = sub.add_parser("info")
    info.add_argument("--json", action="store_true")
    info.add_argument("-e", "--envs", action="store_true")
    info.add_argument("--base", action="store_true")
    info.add_argument("-a", "--all", action="store_true")
    info.set_defaults(func=cmd_info)

    listing = sub.add_parser("list")
    _add_prefix(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    remove = sub.add_parser("remove", aliases=["uninstall"])
    _add_prefix(remove)
    remove.add_argument("--all", action="store_true", required=True)
    remove.add_argument("-y", "--yes", action="store_true")
    remove.add_argument("--json", action="store_true")
    remove.set_defaults(func=cmd_remove_env)

    config = sub.add_parser("config")
    config.add_argument("--json", action="store_true")
    config.add_argument("--show", nargs="*", default=None)
    config.add_argument("--show-sources", action="store_true")
    config.add_argument("--get", nargs="*", default=None)
    config.add_argument("--set", nargs=2, action="append", default=[])
    config.add_argument("--add", "--prepend", dest="prepend", nargs=2, action="append",
                        default=[])
    config.add_argument("--append", nargs=2, action="append", default=[])
    config.add_argument("--remove", nargs=2, action="append", default=[])
    config.add_argument("--remove-key", action="append", default=[])
    where = config.add_mutually_exclusive_group()
    where.add_argument("--system", action="store_true")
    where.add_argument("--env", action="store_true")
    where.add_argument("--file")
    config.set_defaults(func=cmd_config)

    if FLAVOR == "Miniconda3":
        tos = sub.add_parser("tos")
        tos.add_argument("action", nargs="?", default="view",
                         choices=["accept", "reject", "view", "info"])
        _add_channels(tos)
        tos.set_defaults(func=cmd_tos)

    env = sub.add_parser("env")
    env_sub = env.add_subparsers(dest="env_command", parser_class=_Parser)
    env_list = env_sub.add_parser("list")
    env_list.add_argument("--json", action="store_true")
    env_list.set_defaults(func=cmd_env_list)
    env_remove = env_sub.add_parser("remove")
    _add_prefix(env_remove)
    env_remove.add_argument("-y", "--yes", action="store_true")
    env_remove.add_argument("--json", action="store_true")
    env_remove.set_defaults(func=cmd_remove_env)
    return parser


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv[1:])
        if args.version:
            print(f"conda {CONDA_VERSION}")
            return 0
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return int(args.func(args, argv))
    except CondaError as error:
        return report_error(error, as_json)


if __name__ == "__main__":
    sys.exit(main([os.environ.get("LABTORCH_CONDA_STANDIN_ARGV0", "conda"), *sys.argv[1:]]))
