"""`labtorch facts`: read what nvidia-smi printed on a host and show the normalized facts.

    labtorch facts parse smi.txt --format json
    ssh pc07 nvidia-smi | labtorch facts parse - --os linux
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import click

from labtorch.cli.output import output_option, show, write
from labtorch.errors import LabtorchError
from labtorch.facts.nvidia_smi import enrich, parse
from labtorch.inputs import decode_saved, read_bounded
from labtorch.model import GpuFacts


@click.group()
def facts() -> None:
    """Read nvidia-smi output into the facts the planner uses."""


@facts.command("parse")
@click.argument("file", type=click.File("rb"))
@click.option("--os", "os_hint", type=click.Choice(["linux", "windows"]), default=None,
              help="The host's OS, used only when the output does not show it. Default: none.")
@click.option("--format", "output_format", type=click.Choice(["json", "table"]),
              default="json", show_default=True, help="How to print the facts.")
@click.option("--enrich/--no-enrich", "with_table", default=True, show_default=True,
              help="Fill compute capabilities the output did not print from the GPU table.")
@output_option
def parse_command(file: IO[bytes], os_hint: str | None, output_format: str,
                  with_table: bool, output: Path | None) -> None:
    """Parse FILE (any nvidia-smi output form, or its error; "-" for stdin).

    Accepts the default table, -q, -q -x, -L, --query-gpu csv, and failures such as
    "command not found" in any language. UTF-8, UTF-8 with BOM and UTF-16 (PowerShell's
    `>` redirect) files are read as they are.
    """
    name = getattr(file, "name", "-")
    text = decode_saved(read_bounded(file, name), name)
    try:
        result = parse(text, os_hint=os_hint)
    except LabtorchError as err:
        raise LabtorchError(f"{name}: {err.what}", fix=err.fix) from err
    if with_table:
        result = enrich(result)
    if output_format == "json":
        write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", output)
    else:
        _print_table(result, output)


def _print_table(result: GpuFacts, output: Path | None = None) -> None:
    from rich.table import Table

    shown: list[object] = []
    count = "?" if result.gpu_count is None else str(result.gpu_count)
    if result.gpu_count_is_lower_bound:
        count = f"at least {count}"
    shown.append(
        f"format {result.format}, os {result.os}, driver {result.driver_version or '-'}, "
        f"CUDA {result.cuda_version or '-'}, GPUs {count}"
    )
    if result.error:
        shown.append(f"error: {result.error}: {result.error_detail}")
    if result.gpus:
        table = Table("#", "name", "memory MiB", "compute capability", "source", "MIG")
        for index, gpu in enumerate(result.gpus):
            table.add_row(
                str(index),
                gpu.name or "-",
                "-" if gpu.memory_mib is None else str(gpu.memory_mib),
                gpu.compute_capability or "-",
                gpu.compute_capability_source,
                {True: "on", False: "off", None: "-"}[gpu.mig_enabled],
            )
        shown.append(table)
    show(*shown, output=output)
