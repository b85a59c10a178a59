"""`labtorch lab`: the simulated lab (up, status, down, fault switches).

Every command takes ``--state-dir DIR`` (default ``$LABTORCH_LAB_DIR`` or ``.lab``); several labs
with different state directories coexist.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from labtorch.cli.output import deprecated, format_option, output_option, write
from labtorch.errors import LabtorchError

STATE_DIR = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Lab state directory [default: $LABTORCH_LAB_DIR or .lab]")


@click.group()
@STATE_DIR
@click.pass_context
def lab(ctx: click.Context, state_dir: Path | None) -> None:
    """The simulated lab: Linux hosts with real sshd, recorded GPUs, a package mirror."""
    ctx.obj = {"state_dir": state_dir}


def _state(state_dir: Path | None) -> Path | None:
    """The sub-command's --state-dir, else the group's (``labtorch lab --state-dir D up``)."""
    if state_dir is not None:
        return state_dir
    ctx = click.get_current_context()
    return (ctx.find_object(dict) or {}).get("state_dir")


@lab.command()
@STATE_DIR
@click.option("--hosts", "count", type=int, default=None,
              help="Number of hosts (1-60), cycling through the room's profiles.")
@click.option("--room", "room_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Room YAML file [default: labtorch/lab/rooms/default.yaml].")
def up(state_dir: Path | None, count: int | None, room_file: Path | None) -> None:
    """Bring the lab up (idempotent) and write its inventory.py, ssh_config and lab.json."""
    from labtorch.lab import control

    result = control.up(_state(state_dir), room_file=room_file, hosts=count)
    base = result.mirror_urls["base"]
    click.echo(f"lab {result.name}: {len(result.hosts)} hosts up, mirror {base}")
    if result.mirror.get("installer_note"):
        click.echo(f"note: {result.mirror['installer_note']}")
    click.echo(f"inventory:  {result.inventory}")
    first = result.hosts[0].name
    click.echo(f"ssh config: {result.ssh_config}   (ssh -F {result.ssh_config} {first})")
    click.echo(f"deploy:     pyinfra -y {result.inventory} labtorch.deploys.room")
    click.echo(f"check:      labtorch check {result.inventory}")


@lab.command()
@STATE_DIR
@format_option
@output_option
@click.option("--json", "as_json", is_flag=True,
              help="Deprecated spelling of --format json.")
def status(state_dir: Path | None, output_format: str, output: Path | None,
           as_json: bool) -> None:
    """Show each host (address, profile, sshd answering?) and the mirror."""
    from labtorch.lab import control

    if as_json:
        deprecated("labtorch lab status --json", "--format json")
        output_format = "json"
    report = control.status(_state(state_dir))
    current = report["lab"]
    if output_format == "json":
        write(json.dumps({**current.as_json(), "live": report["hosts"],
                          "mirror_running": report["mirror_running"]}, indent=2) + "\n", output)
        return
    lines = [f"lab {current.name} ({current.state_dir}), block 127.77.{current.block}.0/24"]
    for row in report["hosts"]:
        state = "up" if row["ssh"] else ("starting" if row["running"] else "down")
        lines.append(f"  {row['name']:<8} {row['address']:<16} {row['profile']:<22} {state}")
    mirror = "up" if report["mirror_running"] else "down"
    lines.append(f"  mirror   {current.mirror_urls['base']:<16} {mirror}")
    mirror_fault = current.faults.get("mirror", {})
    active = {k: v for k, v in current.faults.items() if v and k != "mirror"}
    if mirror_fault.get("mode", "ok") != "ok" or mirror_fault.get("corrupt"):
        active["mirror"] = mirror_fault
    if active:
        lines.append(f"  faults: {json.dumps(active)}")
    write("\n".join(lines) + "\n", output)


@lab.command()
@STATE_DIR
@click.option("--wipe", is_flag=True, help="Also delete the hosts' disks and the state files.")
def down(state_dir: Path | None, wipe: bool) -> None:
    """End every process of the lab; its mounts vanish with the hosts' namespaces."""
    from labtorch.lab import control

    result = control.down(_state(state_dir), wipe=wipe)
    click.echo("no lab there; nothing to do" if result is None else f"lab {result.name}: down")


@lab.command()
@STATE_DIR
@click.argument("target")
@click.argument("action")
@click.argument("argument", required=False)
def fault(state_dir: Path | None, target: str, action: str, argument: str | None) -> None:
    """Trip or clear a fault switch.

    \b
    labtorch lab fault HOST stop|start
    labtorch lab fault HOST disk-full [PATH]   (default /opt)  |  disk-ok
    labtorch lab fault mirror 500|stall|ok
    labtorch lab fault mirror corrupt FILE     (clear with: mirror ok)
    """
    from labtorch.lab import control, faults

    current = control.require(_state(state_dir))
    if target == "mirror":
        if action == "corrupt":
            if not argument:
                raise LabtorchError("corrupt needs a file name",
                                    fix="e.g. labtorch lab fault mirror corrupt X.whl")
            faults.corrupt(current, argument)
        else:
            faults.mirror_mode(current, action)
    elif action == "stop":
        faults.stop_host(current, target)
    elif action == "start":
        faults.start_host(current, target)
    elif action == "disk-full":
        faults.disk_full(current, target, argument or "/opt")
    elif action == "disk-ok":
        faults.disk_ok(current, target)
    else:
        raise LabtorchError(f"unknown fault action {action!r}",
                            fix="use stop, start, disk-full, disk-ok (hosts) or 500, stall, ok, "
                                "corrupt (mirror)")
    click.echo(f"{target}: {action}{' ' + argument if argument else ''}")
