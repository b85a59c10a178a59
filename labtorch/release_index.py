"""Read a wheel index (PEP 503 HTML or PEP 691 JSON) the way ``labtorch data refresh`` needs it.

Only listings and PEP 658 ``.metadata`` files are read, never whole wheels. An index is either
a URL template with ``{variant}`` (the official ``https://download.pytorch.org/whl/{variant}``,
a site mirror, the room cache) or a snapshot directory saved by ``--save-snapshot``:

    <snapshot>/<variant>/<project>/index.html            the listing as served
    <snapshot>/<variant>/<project>/<wheel file>.metadata  the metadata files read

Every request has a connect/stall timeout and retries; a missing listing (404) means "this
variant does not carry that project".

>>> files = parse_listing('<a href="../f/torch-2.15.0%2Bcu130-cp312-cp312-win_amd64.whl'
...     '#sha256=ab" data-requires-python="&gt;=3.11" data-core-metadata="sha256=cd">x</a>',
...     "text/html", "https://i/whl/cu130/torch/")
>>> files[0].filename, files[0].requires_python, files[0].metadata_url
('torch-2.15.0+cu130-cp312-cp312-win_amd64.whl', '>=3.11', \
'https://i/whl/cu130/f/torch-2.15.0%2Bcu130-cp312-cp312-win_amd64.whl.metadata')
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import Parser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from labtorch.errors import LabtorchError

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, " \
         "text/html;q=0.1"
CONNECT_TIMEOUT_S = 20.0
RETRIES = 3


@dataclass(frozen=True)
class IndexFile:
    """One file of a project listing."""

    filename: str
    url: str
    sha256: str | None
    requires_python: str | None
    metadata_url: str | None
    """Where its PEP 658 metadata is, when the listing says it serves it."""


@dataclass(frozen=True)
class Metadata:
    """What a wheel's core metadata says that the refresh uses."""

    requires_python: str | None
    requires_dist: tuple[str, ...]


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def parse_listing(body: str, content_type: str, url: str) -> list[IndexFile]:
    """The files of one project page (PEP 691 JSON or PEP 503 HTML, PEP 658 attributes)."""
    if "json" in content_type:
        return _parse_json(body, url)
    parser = _Anchors()
    parser.feed(body)
    files = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        target = urljoin(url, href)
        link, _, fragment = target.partition("#")
        name = unquote(urlsplit(link).path.rsplit("/", 1)[-1])
        sha = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        served = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
        files.append(IndexFile(name, link, sha, attrs.get("data-requires-python"),
                               f"{link}.metadata" if served and served != "false" else None))
    return files


def _parse_json(body: str, url: str) -> list[IndexFile]:
    try:
        doc = json.loads(body)
    except ValueError as err:
        raise LabtorchError(f"{url} is not a PEP 691 JSON page",
                            fix="check the index URL (it must be a simple index)") from err
    files = []
    for item in doc.get("files") or []:
        link = urljoin(url, str(item.get("url", "")))
        served = item.get("core-metadata", item.get("dist-info-metadata"))
        files.append(IndexFile(str(item.get("filename")), link,
                               (item.get("hashes") or {}).get("sha256"),
                               item.get("requires-python"),
                               f"{link}.metadata" if served else None))
    return files


def parse_metadata(text: str) -> Metadata:
    """The Requires-Python and Requires-Dist of a METADATA text.

    >>> found = parse_metadata("Name: torch\\nRequires-Python: >=3.11\\n"
    ...                        "Requires-Dist: cuda-toolkit==13.2.2; platform_system == 'Linux'\\n")
    >>> found.requires_python, found.requires_dist[0].split(";")[0]
    ('>=3.11', 'cuda-toolkit==13.2.2')
    """
    message = Parser().parsestr(text, headersonly=True)
    return Metadata(message.get("Requires-Python"), tuple(message.get_all("Requires-Dist") or ()))


# --------------------------------------------------------------------------- sources


Fetch = Callable[[str], "tuple[str, bytes] | None"]


class IndexSource:
    """Where listings come from: an index URL template or a snapshot directory."""

    def __init__(self, location: str, *, save_to: Path | None = None,
                 fetch: Fetch | None = None) -> None:
        self.location = location
        self.snapshot = None if "://" in location else Path(location)
        if self.snapshot is not None and not self.snapshot.is_dir():
            raise LabtorchError(f"index snapshot {location} is not a directory",
                                fix="pass --index URL, or --snapshot DIR saved by "
                                    "`labtorch data refresh --save-snapshot DIR`")
        if self.snapshot is None and "{variant}" not in location:
            location = location.rstrip("/") + "/{variant}"
        self.template = location
        self.save_to = save_to
        self._fetch = fetch or http_get

    def described(self) -> str:
        return f"snapshot {self.snapshot}" if self.snapshot else self.template

    def listing(self, variant: str, project: str) -> list[IndexFile] | None:
        """The project's files under ``variant``, or None when the index has no such page."""
        if self.snapshot is not None:
            return self._snapshot_listing(variant, project)
        url = self.template.format(variant=variant).rstrip("/") + f"/{project}/"
        got = self._fetch(url)
        if got is None:
            return None
        content_type, body = got
        text = body.decode("utf-8", errors="replace")
        if self.save_to is not None:
            kind = "index.json" if "json" in content_type else "index.html"
            _save(self.save_to / variant / project / kind, body)
        return parse_listing(text, content_type, url)

    def metadata(self, variant: str, project: str, file: IndexFile) -> Metadata | None:
        """The file's PEP 658 metadata, or None when the index does not serve it."""
        if self.snapshot is not None:
            path = self.snapshot / variant / project / f"{file.filename}.metadata"
            return parse_metadata(path.read_text("utf-8")) if path.is_file() else None
        if file.metadata_url is None:
            return None
        got = self._fetch(file.metadata_url)
        if got is None:
            return None
        if self.save_to is not None:
            _save(self.save_to / variant / project / f"{file.filename}.metadata", got[1])
        return parse_metadata(got[1].decode("utf-8", errors="replace"))

    def _snapshot_listing(self, variant: str, project: str) -> list[IndexFile] | None:
        assert self.snapshot is not None
        folder = self.snapshot / variant / project
        for name, kind in (("index.json", "application/vnd.pypi.simple.v1+json"),
                           ("index.html", "text/html")):
            if (folder / name).is_file():
                files = parse_listing((folder / name).read_text("utf-8"), kind,
                                      f"snapshot:///{variant}/{project}/")
                return [IndexFile(f.filename, f.url, f.sha256, f.requires_python,
                                  f"{f.filename}.metadata") for f in files]
        return None


def _save(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def http_get(url: str, *, timeout: float = CONNECT_TIMEOUT_S,
             retries: int = RETRIES) -> tuple[str, bytes] | None:
    """GET with a connect/stall timeout and retries (TLS verified); None on 404."""
    last: Exception | None = None
    for attempt in range(retries):
        request = urllib.request.Request(url, headers={"Accept": ACCEPT,
                                                       "User-Agent": "labtorch-data-refresh"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.headers.get("Content-Type", "text/html"), response.read()
        except urllib.error.HTTPError as err:
            if err.code in (403, 404, 410):
                return None
            last = err
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            last = err
        time.sleep(min(2 ** attempt, 5))
    reason: Any = getattr(last, "reason", last)
    raise LabtorchError(f"cannot read {url}: {reason}",
                        fix="check the --index URL and the network, or refresh from a saved "
                            "--snapshot DIR")
