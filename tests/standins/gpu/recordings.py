"""Build GPU recordings (schema "labtorch-gpu-recording/1") for the lab's GPU stand-in.

Two sources, one format:

- ``from_report``: a real verification report (``labtorch_verify.py`` run on a real NVIDIA
  machine, see bench/gpu_capture.sh) becomes a recording with ``"synthetic": false``.
- ``synthetic``: until a real machine is at hand, a lab profile's recorded nvidia-smi outputs
  (../shared/fixtures/nvidia-smi, parsed by labtorch's own facts) give the devices and driver,
  and data/releases.yaml the arch list of each build of the lab's torch release. Such a
  recording says ``"synthetic": true`` and names its sources.

Run ``python tests/standins/gpu/recordings.py`` to rewrite the synthetic recordings; real ones
(``"synthetic": false``) are never overwritten. ``--from-report VERIFY_JSON --profile NAME
--source TEXT`` writes a real one (bench/gpu_capture.sh calls it).

Shape::

    {"schema", "profile", "synthetic", "sources": [...],
     "cuda": {"devices": [{"index", "name", "capability": [major, minor]}]},
     "nvml": {"driver_version", "cuda_driver_version", "devices": [...], "error"},
     "builds": {"2.13.0+cu126": {"cuda": "12.6", "arch_list": ["sm_50", ...],
                                 "cudnn_version": 90100 | null}}}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECORDINGS = HERE / "recordings"
SCHEMA = "labtorch-gpu-recording/1"
LAB_TORCH = "2.13.0"  # the torch release the lab mirror serves (labtorch/lab/mirror.py)
# The cuDNN a 2.13 wheel bundles is not in ../shared; setup.md records torch 2.5.1 cu124 pinning
# nvidia-cudnn-cu12 9.1.0.70. A synthetic recording answers cuDNN 9.1.0 (UNCONFIRMED for 2.13).
SYNTHETIC_CUDNN = 90100


def recording_path(profile: str) -> Path:
    return RECORDINGS / f"{profile}.json"


def arch_list(archs: str) -> list[str]:
    """data/releases.yaml's "7.5;8.0;12.0+PTX" -> torch.cuda.get_arch_list()'s form.

    >>> arch_list("7.5;12.0+PTX")
    ['sm_75', 'sm_120', 'compute_120']
    """
    cubins, ptx = [], []
    for entry in archs.split(";"):
        number = entry.removesuffix("+PTX").replace(".", "")
        cubins.append(f"sm_{number}")
        if entry.endswith("+PTX"):
            ptx.append(f"compute_{number}")
    return cubins + ptx


def from_report(report: dict[str, Any], *, profile: str, source: str) -> dict[str, Any]:
    """A real verification report (with a real GPU) as a recording; ValueError when the report
    shows no GPU that torch could use (nothing worth replaying)."""
    torch = report.get("torch") or {}
    cuda = report.get("cuda") or {}
    if not torch.get("cuda") or not cuda.get("available") or not cuda.get("devices"):
        why = (torch.get("error") or "torch is a CPU build" if not torch.get("cuda")
               else "; ".join(cuda.get("warnings") or []) or cuda.get("error") or "no device")
        raise ValueError(f"the env's torch sees no GPU ({why}): nothing recorded")
    nvml = report.get("nvml") or {}
    version = str(torch.get("version"))
    return {
        "schema": SCHEMA, "profile": profile, "synthetic": False, "sources": [source],
        "cuda": {"devices": list(cuda.get("devices") or [])},
        "nvml": {key: nvml.get(key) for key in
                 ("driver_version", "cuda_driver_version", "devices", "error")},
        "builds": {version: {"cuda": torch.get("cuda"), "arch_list": cuda.get("arch_list"),
                             "cudnn_version": (report.get("cudnn") or {}).get("version")}},
    }


def synthetic(profile_name: str) -> dict[str, Any] | None:
    """A recording built from the profile's nvidia-smi outputs and data/releases.yaml, or None
    for a profile without a working GPU."""
    from labtorch import compat
    from labtorch.facts import nvidia_smi
    from labtorch.lab.gpu import fixtures_dir, replay_bundle
    from labtorch.lab.room import load_profiles

    profile = load_profiles()[profile_name]
    if profile.no_gpu or profile.error:
        return None
    fixtures = fixtures_dir()
    bundle = replay_bundle(profile, fixtures)
    texts = list(bundle["forms"].values())
    if profile.query:
        texts.append((fixtures / profile.query).read_text() if not profile.synthetic else "")
    facts = nvidia_smi.enrich(nvidia_smi.merge(*(nvidia_smi.parse(t) for t in texts if t)))
    devices = []
    for index, gpu in enumerate(facts.gpus):
        cap = gpu.compute_capability or bundle["gpus"][index].get("compute_cap", [None, None])[1]
        major, minor = str(cap).split(".")
        name = gpu.name if gpu.name and not gpu.name_truncated else \
            bundle["gpus"][index].get("name", [None, gpu.name])[1]
        devices.append({"index": index, "name": name, "capability": [int(major), int(minor)]})
    cuda_major, _, cuda_minor = (facts.cuda_version or "0.0").partition(".")
    release = compat.load().release(LAB_TORCH.rsplit(".", 1)[0])
    builds = {}
    for build in release.builds.get("linux", ()):
        builds[f"{LAB_TORCH}+{build.variant}"] = {
            "cuda": str(build.cuda), "arch_list": arch_list(str(build.archs)),
            "cudnn_version": SYNTHETIC_CUDNN}
    sources = [f"nvidia-smi {form}: {name}" for form, name in profile.forms.items()]
    if profile.query:
        sources.append(f"nvidia-smi --query-gpu: {profile.query}")
    sources += [f"arch lists: data/releases.yaml torch {LAB_TORCH} (linux)",
                "cuDNN 9.1.0: UNCONFIRMED for 2.13 (see SYNTHETIC_CUDNN)"]
    return {
        "schema": SCHEMA, "profile": profile_name, "synthetic": True, "sources": sources,
        "cuda": {"devices": devices},
        "nvml": {"driver_version": facts.driver_version,
                 "cuda_driver_version": int(cuda_major) * 1000 + int(cuda_minor or 0) * 10,
                 "devices": devices, "error": None},
        "builds": builds,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-report", help="a verify.json made on a real GPU")
    parser.add_argument("--profile", help="the recording's name (a lab profile's)")
    parser.add_argument("--source", default="bench/gpu_capture.sh")
    args = parser.parse_args(argv)
    RECORDINGS.mkdir(exist_ok=True)
    if args.from_report:
        if not args.profile:
            parser.error("--from-report needs --profile")
        report = json.loads(Path(args.from_report).read_text(encoding="utf-8"))
        try:
            recording = from_report(report, profile=args.profile, source=args.source)
        except ValueError as err:
            print(f"gpu_capture: {err}", file=sys.stderr)
            return 1
        path = recording_path(args.profile)
        path.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")
        return 0
    from labtorch.lab.room import load_profiles

    for name in load_profiles():
        path = recording_path(name)
        if path.exists() and not json.loads(path.read_text()).get("synthetic"):
            continue  # a real capture is never replaced
        recording = synthetic(name)
        if recording is not None:
            path.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
