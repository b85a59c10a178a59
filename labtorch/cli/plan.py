"""`labtorch plan`: which PyTorch build a PC gets, from a GPU name or a saved nvidia-smi output.

    labtorch plan --gpu "GeForce GTX 1080 Ti" --driver 570.124.06 --os linux
    labtorch plan --from nvidia-smi.txt --format json

Bad input (an output that is not nvidia-smi's, an unknown GPU, a malformed version, an
impossible policy) exits 2 with one line naming what was wrong and what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from labtorch.cli.output import write
from labtorch.compat import ComputeCapability, DriverVersion
from labtorch.errors import LabtorchError
from labtorch.gpu_plans import plan_by_candidates
from labtorch.inputs import mask_credentials, template_problem
from labtorch.model import Gpu, GpuFacts, HostPlan, OsName, SitePolicy
from labtorch.planner import plan_host

_OSES = ("linux", "windows")
_FORMATS = ("table", "json")
_FLOORS = ("minor", "toolkit")


@click.command()
@click.option("--gpu", "gpu_names", multiple=True, metavar="NAME",
              help="GPU name as nvidia-smi prints it; repeat for each GPU of the host.")
@click.option("--compute-capability", "ccs", multiple=True, metavar="X.Y",
              help="Compute capability of the matching --gpu (in order); needed for names the "
                   "GPU table does not know or cannot tell apart.")
@click.option("--driver", metavar="VERSION", help="NVIDIA driver version, e.g. 550.54.14.")
@click.option("--cuda", "cuda", metavar="X.Y",
              help="The 'CUDA Version' nvidia-smi prints (optional; derived from the driver).")
@click.option("--os", "os_name", metavar="linux|windows", help="The host's OS.")
@click.option("--from", "from_file", metavar="FILE",
              help="A saved nvidia-smi output (any form: table, -q, -q -x, -L, --query-gpu csv).")
@click.option("--torch", "torch_spec", default="latest", show_default=True,
              help="'latest', a release (2.7, 2.7.1) or a specifier ('>=2.5,<2.8').")
@click.option("--python", "python", metavar="X.Y",
              help="Python of the env; default: the newest the release supports ≤ --python-max.")
@click.option("--python-max", default=SitePolicy.python_max, show_default=True, metavar="X.Y")
@click.option("--mirror", default=SitePolicy.mirror, show_default=True,
              help="A row of data/mirrors.yaml (official, tuna, bfsu, aliyun, ustc, sjtu, nju).")
@click.option("--pytorch-index-url", metavar="URL",
              help="The site's own PyTorch index, a template with {variant}.")
@click.option("--pypi-index-url", metavar="URL", help="The site's PyPI index for dependencies.")
@click.option("--driver-floor", default=SitePolicy.driver_floor, show_default=True,
              metavar="minor|toolkit", help="How a driver's CUDA floor is read.")
@click.option("--no-cpu", is_flag=True, help="Fail instead of planning a CPU build.")
@click.option("--without-torchvision", is_flag=True, help="Leave torchvision out.")
@click.option("--without-torchaudio", is_flag=True, help="Leave torchaudio out.")
@click.option("--format", "output", default="table", show_default=True, metavar="table|json",
              help="table (for people) or json (for programs).")
@click.option("--output", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the result to FILE instead of stdout ('-': stdout).")
def plan(gpu_names: tuple[str, ...], ccs: tuple[str, ...], driver: str | None,
         cuda: str | None, os_name: str | None, from_file: str | None, torch_spec: str,
         python: str | None, python_max: str, mirror: str, pytorch_index_url: str | None,
         pypi_index_url: str | None, driver_floor: str, no_cpu: bool,
         without_torchvision: bool, without_torchaudio: bool, output: str,
         output_file: Path | None) -> None:
    """Plan the torch build (version, variant, Python, index, pip commands) for one PC."""
    _choice("--os", os_name, _OSES, required=False)
    _choice("--format", output, _FORMATS)
    _choice("--driver-floor", driver_floor, _FLOORS)
    for option, given in (("--torch", torch_spec), ("--python", python),
                          ("--python-max", python_max), ("--mirror", mirror), ("--driver", driver),
                          ("--cuda", cuda), ("--from", from_file)):
        if given is not None and not given.strip():
            raise LabtorchError(f"{option} is empty", fix=f"pass a value after {option} or leave "
                                "it out")
    for option, url in (("--pytorch-index-url", pytorch_index_url),
                        ("--pypi-index-url", pypi_index_url)):
        _index_url(option, url)
    policy = SitePolicy(
        torch=torch_spec, python=python, python_max=python_max, mirror=mirror,
        pytorch_index_url=pytorch_index_url, pypi_index_url=pypi_index_url,
        driver_floor="toolkit" if driver_floor == "toolkit" else "minor",
        allow_cpu=not no_cpu, include_torchvision=not without_torchvision,
        include_torchaudio=not without_torchaudio,
    )
    if from_file is not None:
        if gpu_names:
            raise LabtorchError("--from and --gpu both given", fix="use one of them")
        facts = facts_from_file(Path(from_file), os_name, ccs, driver, cuda)
    else:
        facts = facts_from_options(gpu_names, ccs, driver, cuda, os_name)
    result = _plan(facts, policy, os_name)
    if output == "json":
        write(mask_credentials(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
              + "\n", output_file)
    else:
        write(mask_credentials(as_table(result)) + "\n", output_file)


def _plan(facts: GpuFacts, policy: SitePolicy, os_name: str | None) -> HostPlan:
    """Plan the host; a GPU name that fits several GPUs is answered when every candidate gets
    the same plan, and refused (listing the candidates and the flag to choose) otherwise."""
    if facts.error is None and any(g.compute_capability is None and g.name for g in facts.gpus):
        named = plan_by_candidates(facts, policy, os=os_name)
        if named.refusal is not None:
            raise named.refusal
        assert named.plan is not None
        return named.plan
    return plan_host(facts, policy, os=os_name)


def _index_url(option: str, url: str | None) -> None:
    """An index URL (template) the planner can fill in: http(s), only ``{variant}`` fields."""
    if url is None:
        return
    problem = template_problem(url)
    plain = url.replace("{variant}", "x")
    if problem is None and not re.fullmatch(r"https?://[^\s'\"<>\\]+", plain):
        problem = "is not an http(s):// URL without spaces or quotes"
    if problem:
        raise LabtorchError(f"{option} {mask_credentials(url)!r} {problem}",
                            fix=f"pass e.g. {option} https://download.pytorch.org/whl/{{variant}}"
                            if option == "--pytorch-index-url" else
                            f"pass e.g. {option} https://pypi.org/simple")


def _choice(option: str, value: str | None, allowed: tuple[str, ...], *,
            required: bool = True) -> None:
    if value is None and not required:
        return
    if value not in allowed:
        raise LabtorchError(f"{option} {value!r} is not one of {', '.join(allowed)}",
                            fix=f"pass {option} {allowed[0]}")


def _driver(text: str) -> str:
    try:
        return str(DriverVersion.parse(text))
    except ValueError as err:
        raise LabtorchError(f"--driver {text!r} is not a driver version",
                            fix="pass it as nvidia-smi prints it, e.g. --driver 550.54.14") from err


def _cc(text: str) -> str:
    try:
        return str(ComputeCapability.parse(text))
    except ValueError as err:
        raise LabtorchError(f"--compute-capability {text!r} is not a compute capability",
                            fix="pass it like --compute-capability 8.6") from err


def _cuda(text: str | None) -> str | None:
    if text is None:
        return None
    parts = text.strip().split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise LabtorchError(f"--cuda {text!r} is not a CUDA version",
                            fix="pass it as nvidia-smi prints it, e.g. --cuda 12.4")
    return text.strip()


def facts_from_options(gpu_names: tuple[str, ...], ccs: tuple[str, ...], driver: str | None,
                       cuda: str | None, os_name: str | None) -> GpuFacts:
    """Build the host's facts from --gpu / --compute-capability / --driver / --os."""
    if not gpu_names and not ccs:
        raise LabtorchError("no GPU given", fix="pass --gpu NAME (or --from FILE)")
    if driver is None:
        raise LabtorchError("no driver version given", fix="pass --driver, e.g. 550.54.14")
    if os_name is None:
        raise LabtorchError("no OS given", fix="pass --os linux or --os windows")
    if len(ccs) > max(len(gpu_names), 1):
        raise LabtorchError(f"{len(ccs)} --compute-capability values for {len(gpu_names)} --gpu",
                            fix="give at most one --compute-capability per --gpu, in order")
    names = gpu_names or (f"GPU (CC {_cc(ccs[0])})",)
    gpus = tuple(_gpu(name, ccs[i] if i < len(ccs) else None) for i, name in enumerate(names))
    os_value: OsName = "windows" if os_name == "windows" else "linux"
    return GpuFacts(os=os_value, driver_version=_driver(driver), cuda_version=_cuda(cuda),
                    gpus=gpus, format="cli", gpu_count=len(gpus))


def _gpu(name: str, cc: str | None) -> Gpu:
    from labtorch.gpus import lookup

    match = lookup(name)
    if cc is not None:
        given = _cc(cc)
        if match.status == "exact" and match.compute_capability not in (None, given):
            raise LabtorchError(
                f"--compute-capability {given} contradicts --gpu {name!r}, which has compute "
                f"capability {match.compute_capability}",
                fix="drop --compute-capability (the GPU table knows it) or name the right GPU")
        return Gpu(name, compute_capability=given, compute_capability_source="reported")
    if match.status == "unknown":
        raise LabtorchError(match.message.split("; ")[0],
                            fix=_fix_of(match.message) or "pass --compute-capability X.Y")
    if match.compute_capability is None:  # several GPUs: settled by their plans (_plan)
        return Gpu(name)
    return Gpu(name, compute_capability=match.compute_capability,
               compute_capability_source="table")


def _fix_of(message: str) -> str | None:
    _, _, fix = message.partition("; ")
    return fix or None


def facts_from_file(path: Path, os_name: str | None, ccs: tuple[str, ...], driver: str | None,
                    cuda: str | None) -> GpuFacts:
    """parse → enrich a saved nvidia-smi output; --compute-capability/--driver fill gaps."""
    from labtorch.facts.nvidia_smi import enrich, parse
    from labtorch.inputs import read_saved_output

    text = read_saved_output(path)
    try:
        facts = enrich(parse(text, os_hint=os_name))
    except LabtorchError as err:
        raise LabtorchError(f"{path}: {err.what}", fix=err.fix) from err
    gpus = list(facts.gpus)
    for index, gpu in enumerate(gpus):
        if gpu.compute_capability is not None:
            continue
        if index < len(ccs):
            gpus[index] = Gpu(gpu.name, gpu.memory_mib, _cc(ccs[index]), "reported",
                              gpu.mig_enabled, gpu.name_truncated)
            continue
        from labtorch.gpus import lookup

        match = lookup(gpu.name or "")
        if match.status == "ambiguous":
            continue  # several GPUs: settled by their plans (_plan)
        raise LabtorchError(f"{path}: GPU {index}: {match.message.split('; ')[0]}",
                            fix=_fix_of(match.message) or "pass --compute-capability X.Y")
    driver_version = facts.driver_version or (_driver(driver) if driver else None)
    if gpus and facts.error is None and driver_version is None:
        raise LabtorchError(f"{path} prints no driver version (an `nvidia-smi -L` output?)",
                            fix="pass --driver, or save the plain `nvidia-smi` output instead")
    return GpuFacts(
        os=facts.os, driver_version=driver_version,
        cuda_version=facts.cuda_version or _cuda(cuda), gpus=tuple(gpus), error=facts.error,
        error_detail=facts.error_detail, format=facts.format, gpu_count=facts.gpu_count,
        gpu_count_is_lower_bound=facts.gpu_count_is_lower_bound,
    )


def as_table(result: HostPlan) -> str:
    """The plan as aligned text for a terminal."""
    rows = [
        ("torch", result.torch),
        ("torchvision", result.torchvision or "-"),
        ("torchaudio", result.torchaudio or "-"),
        ("variant", result.variant),
        ("python", result.python),
        ("index_url", result.index_url),
        ("os", result.os),
        ("gpus", ", ".join(result.gpus) or "-"),
        ("driver", result.driver_version or "-"),
    ]
    lines = [f"{key:<12} {value}" for key, value in rows]
    lines += [f"{'install':<12} python -m pip install {' '.join(args)}" for args in result.install]
    lines += ["", "reasons:", *(f"  - {r}" for r in result.reasons)]
    if result.warnings:
        lines += ["warnings:", *(f"  ! {w}" for w in result.warnings)]
    return "\n".join(lines)
