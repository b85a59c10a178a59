"""Lab fixture: the torch CPU wheel relabelled under CUDA variant names.

CUDA wheels of several GB cannot be had on the lab's machines, so the lab mirror serves the local
torch CPU wheel as ``torch-2.13.0+cu126`` (and +cu130, +cu132, ...) for the PyTorch-index layout,
so that the deploy's real install path (pip from ``/whl/<variant>/``) is exercised. What a real
wheel of that variant says about itself is changed: the file name, the ``.dist-info``
directory, METADATA's ``Version``, ``torch/version.py``'s ``__version__`` and ``cuda`` (``'12.6'``
for +cu126, as the real CUDA wheel; None for +cpu) and RECORD (paths and hashes). The binary
stays the CPU build (it has no CUDA code: on a lab host the verification's device answers come
from the GPU stand-in, tests/standins/gpu) and a ``LABTORCH_LAB_FIXTURE`` file inside the
dist-info says it is a relabelled lab fixture. Every other member is copied as compressed bytes
(no re-compression), so relabelling a 190 MB wheel takes seconds; results are cached.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import zipfile
from pathlib import Path

from labtorch.errors import LabtorchError

FIXTURE_NOTE = (
    "labtorch lab fixture: this is the torch {old} CPU wheel relabelled as {new} by\n"
    "labtorch.lab.wheels so that the simulated lab's PyTorch-index layout can be exercised.\n"
    "torch.version.cuda says what the real {new} wheel says, but it contains no CUDA code.\n"
    "Never install it on a real machine.\n"
)
# Bumped whenever what relabel() writes changes: the cache keeps each format apart.
FORMAT = 2


def cuda_of(local: str) -> str | None:
    """The CUDA version a real wheel of this local label was built for.

    >>> cuda_of("cu126"), cuda_of("cu130"), cuda_of("cpu"), cuda_of("")
    ('12.6', '13.0', None, None)
    """
    digits = local.removeprefix("cu")
    if not local.startswith("cu") or len(digits) < 3 or not digits.isdigit():
        return None
    return f"{int(digits[:-1])}.{digits[-1]}"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def relabel(source: Path, local: str, dest_dir: Path, public: str | None = None) -> Path:
    """Write ``source`` (a ``name-ver+old-...whl``) relabelled as ``+local`` into ``dest_dir``.

    An empty ``local`` gives the plain public version (``torch-2.13.0``), as PyPI names it.
    ``public`` also changes the public version (the lab's stand-in for a newer release, e.g.
    ``2.16.0``, whose index entry and metadata ``labtorch data refresh`` reads).

    Returns the new wheel's path; an existing one is reused (cache). Example:
    ``relabel(Path("torch-2.13.0+cpu-cp311-...whl"), "cu126", d)``
    → ``d/torch-2.13.0+cu126-cp311-...whl``.
    """
    name, version, rest = source.name.split("-", 2)
    old_public, _, old_local = version.partition("+")
    public = public or old_public
    new_version = f"{public}+{local}" if local else public
    target = dest_dir / f"{name}-{new_version}-{rest}"
    if local == old_local and public == old_public:
        if not target.exists():
            shutil.copyfile(source, target)
        return target
    if target.exists():
        return target
    old_info, new_info = f"{name}-{version}.dist-info/", f"{name}-{new_version}.dist-info/"
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(partial, "w") as zout, \
            open(source, "rb") as raw:
        changed: dict[str, bytes] = {}
        metadata = zin.read(old_info + "METADATA").decode()
        if f"\nVersion: {version}\n" not in metadata:
            raise LabtorchError(f"{source.name}: METADATA does not say Version: {version}")
        changed[new_info + "METADATA"] = metadata.replace(
            f"\nVersion: {version}\n", f"\nVersion: {new_version}\n", 1).encode()
        version_py = f"{name}/version.py"
        if version_py in zin.NameToInfo:
            text = zin.read(version_py).decode().replace(f"'{version}'", f"'{new_version}'")
            cuda = cuda_of(local)
            text = re.sub(r"^cuda(: Optional\[str\])? = .*$",
                          lambda m: f"cuda{m.group(1) or ''} = {cuda!r}", text, count=1,
                          flags=re.M)
            changed[version_py] = text.encode()
        changed[new_info + "LABTORCH_LAB_FIXTURE"] = FIXTURE_NOTE.format(
            old=version, new=new_version).encode()
        record_lines: list[str] = []
        for line in zin.read(old_info + "RECORD").decode().splitlines():
            path, _, tail = line.partition(",")
            path = path.replace(old_info, new_info, 1) if path.startswith(old_info) else path
            if path in changed:
                data = changed[path]
                tail = f"{_record_hash(data)},{len(data)}"
            record_lines.append(f"{path},{tail}")
        note = new_info + "LABTORCH_LAB_FIXTURE"
        note_data = changed[note]
        record_lines.insert(-1, f"{note},{_record_hash(note_data)},{len(note_data)}")
        changed[new_info + "RECORD"] = ("\n".join(record_lines) + "\n").encode()

        for info in zin.infolist():
            new_name = info.filename.replace(old_info, new_info, 1)
            if new_name in changed:
                zout.writestr(_like(info, new_name), changed.pop(new_name),
                              compress_type=zipfile.ZIP_DEFLATED)
                continue
            _copy_raw(raw, info, new_name, zout)
        for new_name, data in changed.items():
            zout.writestr(new_name, data, compress_type=zipfile.ZIP_DEFLATED)
    partial.replace(target)
    return target


def _like(info: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    new = zipfile.ZipInfo(name, date_time=info.date_time)
    new.external_attr = info.external_attr
    return new


def _copy_raw(raw, info: zipfile.ZipInfo, name: str, zout: zipfile.ZipFile) -> None:  # type: ignore[no-untyped-def]
    """Append ``info``'s compressed bytes to ``zout`` under ``name`` without re-compressing."""
    raw.seek(info.header_offset)
    header = raw.read(zipfile.sizeFileHeader)
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    raw.seek(info.header_offset + zipfile.sizeFileHeader + name_len + extra_len)
    new = zipfile.ZipInfo(name, date_time=info.date_time)
    new.compress_type = info.compress_type
    new.external_attr = info.external_attr
    new.create_system = info.create_system
    new.CRC = info.CRC
    new.compress_size = info.compress_size
    new.file_size = info.file_size
    new.flag_bits = info.flag_bits & ~0x08  # sizes go in the local header, no data descriptor
    fp = zout.fp
    assert fp is not None
    new.header_offset = fp.tell()
    fp.write(new.FileHeader())
    remaining = info.compress_size
    while remaining:
        chunk = raw.read(min(remaining, 1 << 20))
        fp.write(chunk)
        remaining -= len(chunk)
    zout.filelist.append(new)
    zout.NameToInfo[name] = new
    zout.start_dir = fp.tell()  # type: ignore[attr-defined]
