"""The lab mirror's server process: ``python -m labtorch.lab.mirror_app CONFIG.json``.

One process, one threaded stdlib WSGI server (wsgiref + ThreadingMixIn) on the lab's mirror
address, serving:

- ``/simple/``            PEP 503 index of the PyPI-like root (pypiserver app)
- ``/whl/<variant>/simple/``   one pypiserver app per PyTorch-index variant (cpu, cu126, ...)
- ``/installers/<file>``  static installer files and their ``.sha256``

Every index page and wheel download is answered by pypiserver; this module only routes by path
prefix, serves PEP 658 core metadata next to each wheel (``<wheel>.metadata``, advertised by
PEP 714's ``data-core-metadata`` attribute on the listing's links; pypiserver 2.x serves none),
and wraps
everything in the fault layer (``FaultLayer``) that the lab's fault switches
drive through ``faults.json`` next to the config: ``{"mode": "ok"|"500"|"stall",
"corrupt": [file names]}``.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import mimetypes
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import FileWrapper, shift_path_info

import pypiserver

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (pip opens several connections at once)."""

    daemon_threads = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    """Access log lines go to stderr (the mirror's log file) without DNS lookups."""

    def address_string(self) -> str:
        return str(self.client_address[0])


def static_files(root: Path) -> App:
    """Serve the files directly inside ``root`` (the installer area): GET/HEAD only."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        name = environ.get("PATH_INFO", "").lstrip("/")
        if not name:
            listing = "".join(f'<a href="{p.name}">{p.name}</a><br>\n'
                              for p in sorted(root.iterdir())
                              if p.is_file() and not p.name.startswith("."))
            body = f"<html><body>\n{listing}</body></html>\n".encode()
            start_response("200 OK", [("Content-Type", "text/html"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        path = root / name
        if "/" in name or name.startswith(".") or not path.is_file():
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", kind),
                                  ("Content-Length", str(path.stat().st_size))])
        return FileWrapper(path.open("rb"))

    return app


def prefix_router(routes: dict[str, App]) -> App:
    """Dispatch on the first path segments: ``{"whl/cu126": app, "": app}`` (longest first)."""
    ordered = sorted(routes.items(), key=lambda item: -len(item[0]))

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, target in ordered:
            if not prefix or path == f"/{prefix}" or path.startswith(f"/{prefix}/"):
                for _ in prefix.split("/") if prefix else ():
                    shift_path_info(environ)
                return target(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class FaultLayer:
    """WSGI middleware the fault switches control: 500s, stalls, corrupted downloads."""

    def __init__(self, app: App, control: Path) -> None:
        self.app = app
        self.control = control

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.control.read_text()))
        except (OSError, ValueError):
            return {"mode": "ok", "corrupt": []}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        state = self.state()
        while state.get("mode") == "stall":  # hold the request until the switch goes back
            time.sleep(0.2)
            state = self.state()
        if state.get("mode") == "500":
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"labtorch lab fault switch: mirror answers 500\n"]
        name = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
        if not name or name not in state.get("corrupt", []):
            return self.app(environ, start_response)
        length: list[int] = []

        def recording(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            length.extend(int(v) for k, v in headers if k.lower() == "content-length")
            return start_response(status, headers, *exc)

        body = self.app(environ, recording)
        return corrupted(body, length[0] if length else 0)


def corrupted(body: Iterable[bytes], length: int) -> Iterator[bytes]:
    """Flip 64 bytes (from offset 1024, or the middle of a shorter file): same size, wrong hash."""
    start = 1024 if length >= 1088 else max(0, length // 2 - 32)
    seen = 0
    for chunk in body:
        data = bytearray(chunk)
        for i in range(max(0, start - seen), min(len(data), start + 64 - seen)):
            data[i] ^= 0xFF
        seen += len(data)
        yield bytes(data)
    close = getattr(body, "close", None)
    if close:
        close()


_WHEEL_LINK = re.compile(r'<a href="([^"#]+\.whl)(#[^"]*)?">')


@functools.lru_cache(maxsize=512)
def _core_metadata(path: Path, mtime: float) -> bytes | None:
    """The METADATA of a wheel (read from its zip directory: the wheel itself is not sent)."""
    try:
        with zipfile.ZipFile(path) as wheel:
            names = [n for n in wheel.namelist()
                     if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            return wheel.read(names[0]) if names else None
    except (OSError, zipfile.BadZipFile):
        return None


def core_metadata(app: App, root: Path) -> App:
    """PEP 658 on top of a pypiserver app: ``.../<file>.whl.metadata`` and listing attributes.

    Only PEP 714's ``data-core-metadata`` is written, not the older ``data-dist-info-metadata``:
    with the older name advertised, the lab hosts' pip 23.0.1 (Debian 12) rejected
    typing_extensions 4.16.0 (Metadata-Version 2.4) as "no matching distribution"; pip reads
    the PEP 714 name from 23.2 on, older pips keep reading METADATA from the wheel.
    """

    def metadata_of(name: str) -> bytes | None:
        path = root / name
        if "/" in name or not path.is_file():
            return None
        return _core_metadata(path, path.stat().st_mtime)

    def with_attributes(page: bytes) -> bytes:
        def add(match: re.Match[str]) -> str:
            name = html.unescape(match.group(1)).rsplit("/", 1)[-1]
            data = metadata_of(name)
            if data is None:
                return match.group(0)
            digest = hashlib.sha256(data).hexdigest()
            return (f'<a href="{match.group(1)}{match.group(2) or ""}" '
                    f'data-core-metadata="sha256={digest}">')
        return _WHEEL_LINK.sub(add, page.decode("utf-8")).encode("utf-8")

    def wrapped(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.endswith(".whl.metadata"):
            data = metadata_of(path.rsplit("/", 1)[-1].removesuffix(".metadata"))
            if data is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found\n"]
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(len(data)))])
            return [data]
        if not path.startswith("/simple/") or path.count("/") < 3:
            return app(environ, start_response)
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            captured[:] = [status, headers]
            return lambda _data: None

        body = b"".join(app(environ, capture))
        status, headers = captured
        if status.startswith("200"):
            body = with_attributes(body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wrapped


def build_app(config: dict[str, Any]) -> App:
    """The mirror's whole WSGI app from its config (roots per route, installer dir, control)."""
    routes: dict[str, App] = {}
    for prefix, root in config["indexes"].items():
        routes[prefix] = core_metadata(
            pypiserver.app(roots=[Path(root)], disable_fallback=True), Path(root))
    routes["installers"] = static_files(Path(config["installers"]))
    return FaultLayer(prefix_router(routes), Path(config["control"]))


def main(argv: list[str]) -> None:
    config = json.loads(Path(argv[0]).read_text())
    server = make_server(config["address"], config["port"], build_app(config),
                         server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    print(f"lab mirror serving on http://{config['address']}:{config['port']}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
