"""How a host's download URLs go through the room cache (pure; no pyinfra, no I/O).

The cache keeps every upstream's own path under ``/h/<host[:port]>/``: the upstream URL
``https://download.pytorch.org/whl/cu126`` becomes ``<cache>/h/download.pytorch.org/whl/cu126``.
Keeping the whole path keeps relative links of index pages (``../../packages/x.whl``) correct,
and one rule covers PEP 503 indexes, conda channels and installer directories alike.

>>> through_cache("https://download.pytorch.org/whl/cu126", "http://10.0.0.5:3141")
'http://10.0.0.5:3141/h/download.pytorch.org/whl/cu126'
>>> through_cache("http://127.77.3.254/whl/{variant}/simple", "http://127.77.3.253:3141/")
'http://127.77.3.253:3141/h/127.77.3.254/whl/{variant}/simple'
>>> upstream_of("/h/pypi.org/simple/numpy/")
('pypi.org', '/simple/numpy/')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from labtorch.model import HostPlan

#: Hosts that PEP 503 pages link to with absolute URLs (the cache rewrites those links too).
FILE_HOSTS = ("https://files.pythonhosted.org",)

_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


@dataclass(frozen=True)
class Upstream:
    """One upstream origin the cache may fetch from: scheme and ``host[:port]``."""

    scheme: str
    host: str

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @classmethod
    def of(cls, url: str) -> Upstream:
        """The origin of ``url`` (``ValueError`` for anything but an http(s) URL with a host)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.netloc or ""):
            raise ValueError(f"{url!r} is not an http(s) URL with a plain host name")
        return cls(parts.scheme, parts.netloc.lower())


def through_cache(url: str, cache_url: str) -> str:
    """``url`` as fetched through the cache at ``cache_url`` (templates like {variant} kept)."""
    parts = urlsplit(url.replace("{variant}", "VARIANT"))
    upstream = Upstream.of(url.replace("{variant}", "VARIANT"))
    path = parts.path.replace("VARIANT", "{variant}")
    return f"{cache_url.rstrip('/')}/h/{upstream.host}{path}"


def upstream_of(path: str) -> tuple[str, str]:
    """``(host, path upstream)`` of a cache path ``/h/<host>/<path>``."""
    match = re.fullmatch(r"/h/([^/]+)(/.*)?", path)
    if not match:
        raise ValueError(f"{path!r} is not a cache path /h/<host>/...")
    return match.group(1), match.group(2) or "/"


def cache_trusted_host(cache_url: str | None) -> str | None:
    """The host pip must be told to trust for a plain-http room cache on the LAN (pip refuses
    http indexes other than localhost otherwise); None for https or no cache. TLS toward the
    upstreams is the cache's job and stays verified.

    >>> cache_trusted_host("http://10.0.0.5:3141")
    '10.0.0.5'
    >>> cache_trusted_host("https://cache.lab.example") is None
    True
    """
    if not cache_url or not cache_url.startswith("http://"):
        return None
    return urlsplit(cache_url).hostname


def plan_through_cache(plan: HostPlan, cache_url: str) -> HostPlan:
    """``plan`` with every index URL (and pip URL argument) fetched through the cache."""

    def swap(arg: str) -> str:
        return through_cache(arg, cache_url) if arg.startswith(("http://", "https://")) else arg

    trusted = cache_trusted_host(cache_url)
    extra = ("--trusted-host", trusted) if trusted else ()
    return replace(
        plan,
        index_url=swap(plan.index_url),
        extra_index_url=swap(plan.extra_index_url) if plan.extra_index_url else None,
        install=tuple(tuple(swap(arg) for arg in command) + extra for command in plan.install),
    )


def upstreams(urls: list[str]) -> list[Upstream]:
    """The distinct origins of ``urls`` plus the hosts index pages link to (sorted)."""
    found = {Upstream.of(url.replace("{variant}", "VARIANT")) for url in urls}
    found |= {Upstream.of(url) for url in FILE_HOSTS}
    return sorted(found, key=lambda u: (u.host, u.scheme))
