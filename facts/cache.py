"""Whether a host reaches the room cache (``labtorch_cache_url``): one short HTTP request.

The probe asks for ``<cache>/labtorch-cache-ok`` with a 10 s limit, with whichever of curl,
wget or python3 the host has, and prints ``labtorch-cache: yes`` or ``labtorch-cache: no``.

>>> parse_reachable("labtorch-cache: yes")
True
>>> parse_reachable("")
False
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

PROBE_PATH = "/labtorch-cache-ok"


def probe_command(cache_url: str) -> str:
    url = shlex.quote(cache_url.rstrip("/") + PROBE_PATH)
    python = (
        "import sys,urllib.request as u; u.urlopen(sys.argv[1], timeout=10).read()"
    )
    return (
        f"if (command -v curl >/dev/null && curl -fsS -m 10 -o /dev/null {url}) || "
        f"(command -v wget >/dev/null && wget -q -T 10 -t 1 -O /dev/null {url}) || "
        f"(command -v python3 >/dev/null && python3 -c {shlex.quote(python)} {url}); "
        "then echo 'labtorch-cache: yes'; else echo 'labtorch-cache: no'; fi 2>/dev/null"
    )


def parse_reachable(output: str) -> bool:
    return "labtorch-cache: yes" in output


class CacheReachable(FactBase):
    """True when the host gets an answer from the room cache at ``url``."""

    def command(self, url: str) -> str:
        return probe_command(url)

    def process(self, output: list[str]) -> bool:
        return parse_reachable("\n".join(output))
