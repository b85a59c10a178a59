"""The room cache's server: Debian's nginx with ``proxy_cache``, configured by labtorch.

Why nginx (docs/room-cache.md): one maintained server, packaged by Debian, caches every kind of
download a room makes (PEP 503 pages and wheels, conda channels, installers) in one place with
one access log that says HIT or MISS per request; ``proxy_cache_lock`` makes 60 PCs asking for
the same 2.5 GB wheel at once cost one upstream download; writes go to a temporary file that is
renamed into the cache only when complete, so a full disk never leaves a half file to serve.

Every upstream keeps its own path under ``/h/<host>/`` (:mod:`labtorch.cache.urls`); index pages
are rewritten so that their absolute links (``href="/whl/..."``, files.pythonhosted.org) come
back to the cache too. TLS toward upstream is verified against the system's CA bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from labtorch.cache.urls import FILE_HOSTS, Upstream, upstreams

#: File names cached for good (their bytes never change); everything else is an index page or
#: repodata that is refreshed after INDEX_TTL (and served stale when upstream is unreachable).
FILE_SUFFIXES = ("whl", "conda", "tar.bz2", "tar.gz", "zip", "sh", "exe", "sha256")
INDEX_TTL = "10m"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class CacheConfig:
    """What one cache serves: listen address, state directory, upstream URLs, size limit."""

    address: str
    port: int
    state: Path
    upstream_urls: tuple[str, ...]
    max_size: str = "200g"
    daemon: bool = True
    resolvers: tuple[str, ...] = field(default=())
    wheel_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def conf_file(self) -> Path:
        """nginx.conf for ``serve`` (daemon), nginx-systemd.conf for the systemd unit."""
        return self.state / ("nginx.conf" if self.daemon else "nginx-systemd.conf")

    @property
    def origins(self) -> list[Upstream]:
        return upstreams(list(self.upstream_urls))


def system_resolvers(resolv_conf: str = "/etc/resolv.conf") -> tuple[str, ...]:
    """The name servers of the controller (nginx resolves upstream names at request time)."""
    try:
        text = Path(resolv_conf).read_text()
    except OSError:
        return ()
    found = re.findall(r"^\s*nameserver\s+([0-9.]+)\s*$", text, flags=re.MULTILINE)
    return tuple(found)


def render(config: CacheConfig) -> str:
    """The nginx.conf text for ``config``."""
    state = config.state
    origins = "\n".join(
        f'        "{u.host}" "{u.origin}";' for u in config.origins
    )
    files = "|".join(re.escape(s) for s in FILE_SUFFIXES)
    rewrites = "\n".join(
        f"            sub_filter '{host}/' '/h/{Upstream.of(host).host}/';" for host in FILE_HOSTS
    )
    resolver = (
        f"    resolver {' '.join(config.resolvers)} valid=300s;\n    resolver_timeout 10s;\n"
        if config.resolvers
        else ""
    )
    local = (
        f"        location /local/ {{ alias {config.wheel_dir}/; autoindex on; }}\n"
        if config.wheel_dir
        else ""
    )
    return f"""# written by `labtorch cache serve`: the room cache (docs/room-cache.md)
daemon {"on" if config.daemon else "off"};
worker_processes 2;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format labtorch '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent '
                        '$upstream_cache_status "$upstream_addr" $request_time';
    access_log {state}/access.log labtorch;
    sendfile on;
    client_body_temp_path {state}/tmp/body;
    proxy_temp_path {state}/tmp/proxy;
    proxy_cache_path {state}/data levels=1:2 keys_zone=labtorch:16m max_size={config.max_size}
                     inactive=3650d use_temp_path=off;
{resolver}    map $uhost $origin {{
        default "";
{origins}
    }}
    server {{
        listen {config.address}:{config.port};
        proxy_cache labtorch;
        proxy_cache_key $uri$is_args$args;
        # one upstream fetch per file, however many hosts ask for it at once
        proxy_cache_lock on;
        proxy_cache_lock_timeout 1h;
        proxy_cache_lock_age 1h;
        proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
        proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
        proxy_connect_timeout 15s;
        proxy_read_timeout 120s;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ssl_server_name on;
        proxy_ssl_verify on;
        proxy_ssl_verify_depth 4;
        proxy_ssl_trusted_certificate {CA_BUNDLE};
        add_header X-Labtorch-Cache $upstream_cache_status always;
        location = /labtorch-cache-ok {{ return 200 "labtorch room cache\\n"; }}
{local}        location ~ ^/h/(?<uhost>[^/]+)(?<upath>/.*\\.({files}))$ {{
            if ($origin = "") {{ return 403 "not an upstream of this cache\\n"; }}
            proxy_cache_valid 200 3650d;
            proxy_pass $origin$upath$is_args$args;
        }}
        location ~ ^/h/(?<uhost>[^/]+)(?<upath>/.*)$ {{
            if ($origin = "") {{ return 403 "not an upstream of this cache\\n"; }}
            proxy_cache_valid 200 {INDEX_TTL};
            proxy_set_header Accept-Encoding "";
            proxy_set_header Accept "text/html";
            sub_filter_once off;
            sub_filter_types text/html;
            sub_filter 'href="/' 'href="/h/$uhost/';
{rewrites}
            proxy_pass $origin$upath$is_args$args;
        }}
    }}
}}
"""


def systemd_unit(config: CacheConfig, nginx: str = "/usr/sbin/nginx") -> str:
    """A systemd service running the cache in the foreground (``daemon off`` config)."""
    conf = config.conf_file
    return f"""# written by `labtorch cache unit`: the room cache (docs/room-cache.md)
[Unit]
Description=labtorch room cache (nginx proxy_cache) on {config.url}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStartPre={nginx} -t -q -c {conf}
ExecStart={nginx} -c {conf}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
ReadWritePaths={config.state}
ProtectSystem=full
PrivateTmp=true
NoNewPrivileges=true

[Install]
WantedBy=multi-user.target
"""
