"""The lab mirror serves PEP 658 metadata next to pypiserver's wheels; the refresh reads it.

pypiserver 2.x serves no ``.metadata`` files, so the mirror app adds them
(``labtorch.lab.mirror_app.core_metadata``). Requests go straight into the real WSGI app.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pypiserver
from test_conda_standin import make_wheel

from labtorch.lab.mirror_app import core_metadata
from labtorch.release_index import IndexSource


def wsgi_get(app: Any, path: str) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET",
                               "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
        answer.update(status=status, headers=dict(headers))
        return lambda _data: None

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_listing_advertises_and_serves_the_wheels_core_metadata(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "torchlike", "2.16.0")
    app = core_metadata(pypiserver.app(roots=[tmp_path], disable_fallback=True), tmp_path)
    status, _, page = wsgi_get(app, "/simple/torchlike/")
    assert status.startswith("200")
    assert b'data-core-metadata="sha256=' in page
    status, _, metadata = wsgi_get(app, f"/packages/{wheel.name}.metadata")
    assert status.startswith("200")
    assert metadata.startswith(b"Metadata-Version: 2.1\nName: torchlike\nVersion: 2.16.0")
    assert wsgi_get(app, "/packages/missing-1.0-py3-none-any.whl.metadata")[0].startswith("404")


def test_the_refresh_reads_listing_and_metadata_never_the_wheel(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "torchlike", "2.16.0")
    app = core_metadata(pypiserver.app(roots=[tmp_path], disable_fallback=True), tmp_path)
    asked: list[str] = []

    def fetch(url: str) -> tuple[str, bytes] | None:
        path = url.split("//", 1)[1].split("/", 1)[1]
        asked.append(path)
        status, headers, body = wsgi_get(app, "/" + path.removeprefix("cu130/"))
        return (headers.get("Content-Type", ""), body) if status.startswith("200") else None

    source = IndexSource("http://mirror.test/{variant}/simple", fetch=fetch)
    files = source.listing("cu130", "torchlike") or []
    assert [f.filename for f in files] == [wheel.name]
    metadata = source.metadata("cu130", "torchlike", files[0])
    assert metadata is not None and metadata.requires_python is None
    assert not any(p.endswith(".whl") for p in asked)
