"""Simulated GPUs: what a lab host's ``nvidia-smi`` replays.

``replay_bundle(profile, fixtures)`` gathers a profile's recorded outputs (per query form) and
the values ``--query-gpu`` answers from, into a plain dict that the host's replaying
``nvidia-smi`` (``labtorch/lab/files/nvidia-smi``, stdlib only) reads from
``/etc/labtorch-lab/nvidia-smi.json``. Nothing here invents output: every form is a recorded file;
``--query-gpu`` answers from a recorded csv, xml or -q output, or a profile value with its source.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from labtorch.errors import LabtorchError
from labtorch.lab.room import LAB_DIR, Profile

SYNTHETIC_DIR = LAB_DIR / "files"
RECORDED_DIR = LAB_DIR / "recorded"
# The verification script's GPU stand-in and its recordings (one per profile) live with the other
# stand-ins under tests/standins/gpu; the wheel carries them as labtorch/lab/gpu_standin/
# (pyproject package-dir). The lab copies them onto each GPU host (see hosts.prepare).
_SOURCE_GPU_STANDIN = LAB_DIR.parents[1] / "tests" / "standins" / "gpu" / "standin_device.py"
_PACKAGED_GPU_STANDIN = LAB_DIR / "gpu_standin" / "standin_device.py"
GPU_STANDIN = (_SOURCE_GPU_STANDIN if (LAB_DIR.parents[1] / "pyproject.toml").is_file()
               and _SOURCE_GPU_STANDIN.is_file() else _PACKAGED_GPU_STANDIN)
GPU_RECORDINGS = GPU_STANDIN.parent / "recordings"
HOST_STANDIN = "/etc/labtorch-lab/gpu_standin.py"
HOST_RECORDING = "/etc/labtorch-lab/gpu-recording.json"
REPLAY_SCRIPT = LAB_DIR / "files" / "nvidia-smi"
HELP_QUERY_FILE = "netdata-help-query-gpu.txt"
COULDNT_COMMUNICATE_FILE = "err-linux-couldnt-communicate.txt"
INVALID_FIELD_FILE = "err-query-compute_cap-invalid-field.txt"


def gpu_recording(profile: Profile) -> Path | None:
    """The recorded GPU the host's verification replays, or None (no GPU, or no recording: the
    script then gets torch's own answers, as on a PC without a working GPU)."""
    path = GPU_RECORDINGS / f"{profile.name}.json"
    return path if GPU_STANDIN.is_file() and path.is_file() else None


def fixtures_dir() -> Path:
    """Where the recorded nvidia-smi outputs are: $LABTORCH_NVIDIA_SMI_FIXTURES, else the copies
    that ship in the package (``labtorch/lab/recorded/``, sources in its SOURCES.md)."""
    env = os.environ.get("LABTORCH_NVIDIA_SMI_FIXTURES")
    path = Path(env) if env else RECORDED_DIR
    if not path.is_dir():
        raise LabtorchError(
            f"recorded nvidia-smi outputs not found at {path}",
            fix="unset LABTORCH_NVIDIA_SMI_FIXTURES (the package ships its own copies) or "
                "point it at a folder of recorded outputs",
        )
    return path


def _read(profile: Profile, name: str, fixtures: Path) -> str:
    path = (SYNTHETIC_DIR if profile.synthetic else fixtures) / name
    if not path.is_file():
        raise LabtorchError(f"profile {profile.name}: recorded output {path} is missing",
                            fix="restore the file or fix labtorch/lab/profiles.yaml")
    return path.read_text()


def valid_fields(fixtures: Path) -> dict[str, str]:
    """Every ``--query-gpu`` field name (and alias) nvidia-smi accepts → its canonical name.

    Read from the recorded ``nvidia-smi --help-query-gpu`` output, e.g. ``"gpu_name" -> "name"``.
    """
    fields: dict[str, str] = {}
    for line in (fixtures / HELP_QUERY_FILE).read_text().splitlines():
        if line.startswith('"'):
            names = re.findall(r'"([^"]+)"', line)
            for name in names:
                fields[name] = names[0]
    return fields


def _csv_values(text: str) -> list[dict[str, list[str]]]:
    """A recorded ``--query-gpu`` csv → per GPU, field → [header token, value]."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].split(", ")
    gpus = []
    for row in lines[1:]:
        cells = row.split(", ")
        if len(cells) != len(header):
            raise LabtorchError(f"recorded csv row has {len(cells)} cells for {len(header)} fields")
        gpus.append({h.split(" [")[0]: [h, c] for h, c in zip(header, cells, strict=False)})
    return gpus


_XML_FIELDS = {  # query field -> (path under <gpu>, header token)
    "name": ("product_name", "name"),
    "serial": ("serial", "serial"),
    "uuid": ("uuid", "uuid"),
    "pci.bus_id": ("pci/pci_bus_id", "pci.bus_id"),
    "vbios_version": ("vbios_version", "vbios_version"),
    "pstate": ("performance_state", "pstate"),
    "memory.total": ("fb_memory_usage/total", "memory.total [MiB]"),
    "memory.used": ("fb_memory_usage/used", "memory.used [MiB]"),
    "memory.free": ("fb_memory_usage/free", "memory.free [MiB]"),
    "memory.reserved": ("fb_memory_usage/reserved", "memory.reserved [MiB]"),
}


def _xml_values(text: str) -> list[dict[str, list[str]]]:
    """A recorded ``-q -x`` output → per GPU, field → [header token, value]."""
    root = ET.fromstring(text)
    driver = root.findtext("driver_version") or "[N/A]"
    count = root.findtext("attached_gpus") or "1"
    gpus = []
    for gpu in root.findall("gpu"):
        values = {"driver_version": ["driver_version", driver], "count": ["count", count]}
        for field, (path, header) in _XML_FIELDS.items():
            text_value = gpu.findtext(path)
            if text_value is not None:
                value = text_value.strip()
                values[field] = [header, "[N/A]" if value == "N/A" else value]
        temp = gpu.findtext("temperature/gpu_temp")
        if temp:
            values["temperature.gpu"] = ["temperature.gpu", temp.replace(" C", "").strip()]
        gpus.append(values)
    return gpus


_Q_FIELDS = {  # "-q" label -> query field (labels of the GPU's own section)
    "Product Name": "name", "Serial Number": "serial", "GPU UUID": "uuid",
    "Bus Id": "pci.bus_id", "VBIOS Version": "vbios_version", "Performance State": "pstate",
}
_UNIT = re.compile(r"^[\d.]+ (MiB|W|MHz|%)$")


def _q_values(text: str) -> list[dict[str, list[str]]]:
    """A recorded ``-q`` output → per GPU, field → [header token, value]."""
    driver, gpus, section = "[N/A]", [], ""
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        label, value = label.strip(), value.strip()
        if re.match(r"GPU [0-9A-Fa-f]+:[0-9A-Fa-f:.]+$", line):
            gpus.append({"index": ["index", str(len(gpus))]})
        elif label == "Driver Version" and not gpus:
            driver = value
        elif not line.startswith(" " * 8) and not sep and label:
            section = label
        elif gpus and label in _Q_FIELDS and _Q_FIELDS[label] not in gpus[-1]:
            gpus[-1][_Q_FIELDS[label]] = [_Q_FIELDS[label], value]
        elif gpus and section == "FB Memory Usage" and label in ("Total", "Used", "Free"):
            gpus[-1][f"memory.{label.lower()}"] = [f"memory.{label.lower()} [MiB]", value]
    for gpu in gpus:
        for pair in gpu.values():
            pair[1] = "[N/A]" if pair[1] == "N/A" else pair[1]  # how --query-gpu prints it
        gpu["driver_version"] = ["driver_version", driver]
        gpu["count"] = ["count", str(len(gpus))]
    return gpus


def _header(field: str, value: str) -> list[str]:
    unit = _UNIT.match(value)
    return [f"{field} [{unit.group(1)}]" if unit else field, value]


def replay_bundle(profile: Profile, fixtures: Path) -> dict[str, Any]:
    """Everything the host's nvidia-smi replays, as a JSON-ready dict.

    Shape: ``{"profile", "synthetic", "driver", "error", "error_text", "forms": {form: text},
    "gpus": [{field: [header, value]}], "valid_fields": {alias: field},
    "invalid_field_text", "compute_cap_valid"}``.
    """
    bundle: dict[str, Any] = {
        "profile": profile.name,
        "synthetic": profile.synthetic,
        "driver": profile.driver,
        "error": profile.error,
        "forms": {form: _read(profile, name, fixtures) for form, name in profile.forms.items()},
        "gpus": [],
        "valid_fields": valid_fields(fixtures),
        "invalid_field_text": (fixtures / INVALID_FIELD_FILE).read_text().splitlines()[0],
    }
    if profile.error == "couldnt_communicate":
        bundle["error_text"] = (fixtures / COULDNT_COMMUNICATE_FILE).read_text()
        return bundle
    if profile.error:
        raise LabtorchError(f"profile {profile.name}: unknown error kind {profile.error!r}",
                            fix="use 'couldnt_communicate'")
    if profile.query:
        gpus = _csv_values(_read(profile, profile.query, fixtures))
    elif "xml" in bundle["forms"]:
        gpus = _xml_values(bundle["forms"]["xml"])
    elif "q" in bundle["forms"]:
        gpus = _q_values(bundle["forms"]["q"])
    else:
        gpus = [{} for _ in profile.gpus] or [{}]
    for index, gpu in enumerate(gpus):
        gpu.setdefault("index", ["index", str(index)])
        gpu.setdefault("count", ["count", str(len(gpus))])
        if profile.driver:
            gpu.setdefault("driver_version", ["driver_version", profile.driver])
        own = profile.gpus[index] if index < len(profile.gpus) else {}
        for field, value in {**profile.values, **own}.items():
            gpu.setdefault(field, _header(field, value))
    bundle["gpus"] = gpus
    major = int(profile.driver.split(".")[0]) if profile.driver else 999
    # compute_cap was added to --query-gpu after R470 (recorded/err-query-compute_cap-…)
    bundle["compute_cap_valid"] = major > 470
    return bundle
