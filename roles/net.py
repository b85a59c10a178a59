"""Network steps that never hang a room: bounded downloads and pip runs with mirror fallbacks.

Every command labtorch sends that talks to a mirror is built here, as plain ``sh``:

- :func:`download_command`: the installer, tried from each URL in order with ``curl`` (or
  ``wget``) under a connect timeout, a stall timeout (no byte for ``stall_s`` seconds ends the
  try) and bounded retries with growing pauses; every file is checked against the pinned sha256
  before it is kept. A failing URL prints one ``labtorch: mirror error: <url>: ...`` line (HTTP
  status, refused, stalled, wrong sha256) and the next URL is tried.
- :func:`pip_command`: ``python -m pip install`` with ``--timeout``/``--retries``, its output kept;
  when pip fails, the env's Python asks each index for the first package's page itself and prints
  what the mirror answered (``HTTP 500``, stalled, refused) instead of leaving pip's "Could not
  find a version that satisfies the requirement" to blame the plan; then the next PyPI index of
  the site's ordered fallbacks is tried.

Both run under coreutils ``timeout`` (``command_s``), so a command that outlives its bound is
killed on the host, not only abandoned by the controller; operations also pass pyinfra's
``_timeout`` (:func:`op_timeout`) so the controller never waits longer for one host.
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

#: What a failing remote command prints first, so logs and tests can find it.
MIRROR_ERROR = "labtorch: mirror error:"


@dataclass(frozen=True)
class NetPolicy:
    """Timeouts and retries of every network step of one host (site settings, in seconds)."""

    connect_s: int = 10
    stall_s: int = 60
    retries: int = 2
    command_s: int = 3600


#: The defaults of :data:`labtorch.roles.settings.DEFAULTS` (operations' default argument).
DEFAULT_NET = NetPolicy()


def op_timeout(net: NetPolicy) -> int:
    """pyinfra ``_timeout`` for an operation whose command runs under :func:`bounded`."""
    return net.command_s + 30


def bounded(command: str, net: NetPolicy) -> str:
    """``command`` killed on the host after ``net.command_s`` (TERM, then KILL 10 s later)."""
    return f"timeout -k 10 {net.command_s} sh -c {shlex.quote(command)}"


_DOWNLOAD = r"""
dest={dest}; want={sha256}; tmp="$dest.part"
mkdir -p "$(dirname "$dest")"
fetch() {{
  if curl --version >/dev/null 2>&1; then
    curl -fsSL --connect-timeout {connect} --speed-limit 1 --speed-time {stall} \
      --retry {retries} --retry-connrefused --retry-max-time {retry_max} -o "$tmp" "$1" 2>&1
  else
    wget -q -T {stall} -t {tries} --waitretry=5 --retry-connrefused -O "$tmp" "$1" 2>&1
  fi
}}
for url in {urls}; do
  rm -f "$tmp"
  if why=$(fetch "$url"); then
    got=$(sha256sum "$tmp" | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then mv "$tmp" "$dest"; exit 0; fi
    echo "{mark} $url: served a file with sha256 $got, the pin is $want (corrupt or swapped)" >&2
  else
    why=$(printf '%s\n' "$why" | tail -n 1)
    case "$why" in
      *"(28)"*|*"timed out"*|*"too slow"*) why="stalled: no data for {stall} s ($why)";;
      *"(7)"*|*"refused"*) why="connection refused or host unreachable ($why)";;
      *"(22)"*) why="HTTP $(printf %s "$why" | sed -n 's/.*error: \([0-9][0-9]*\).*/\1/p') ($why)";;
    esac
    echo "{mark} $url: $why" >&2
  fi
done
rm -f "$tmp"
echo "labtorch: no mirror delivered {file}; check the mirrors above or set \
labtorch_installer_mirror / labtorch_fallback_mirrors" >&2
exit 1
"""


def download_command(urls: Sequence[str], dest: str, sha256: str, net: NetPolicy) -> str:
    """sh that fetches ``dest`` from the first of ``urls`` that delivers the pinned file."""
    if not urls:
        raise ValueError("download_command needs at least one URL")
    script = _DOWNLOAD.format(
        dest=shlex.quote(dest),
        sha256=shlex.quote(sha256),
        urls=" ".join(shlex.quote(u) for u in urls),
        connect=net.connect_s,
        stall=net.stall_s,
        retries=net.retries,
        tries=net.retries + 1,
        retry_max=max(1, net.retries) * (net.connect_s + net.stall_s + 10),
        mark=MIRROR_ERROR,
        file=shlex.quote(dest.rsplit("/", 1)[-1]),
    )
    return bounded(script, net)


#: Run by the env's Python after pip failed: what did each index answer for the package page?
PROBE = r"""
import sys, urllib.error, urllib.request
timeout, name, urls = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
bad = 0
for base in dict.fromkeys(u for u in urls if u):
    url = base.rstrip("/") + "/" + name + "/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            answer.read(1)
        continue
    except urllib.error.HTTPError as err:
        why = "HTTP %d %s" % (err.code, err.reason)
    except TimeoutError:
        why = "stalled: no answer within %d s" % timeout
    except urllib.error.URLError as err:
        reason = err.reason
        why = ("stalled: no answer within %d s" % timeout if isinstance(reason, TimeoutError)
               else "unreachable (%s)" % reason)
    except OSError as err:
        why = "unreachable (%s)" % err
    bad += 1
    print("labtorch: mirror error: %s: %s" % (url, why), file=sys.stderr)
sys.exit(3 if bad else 0)
"""

_PIP = r"""
log=$(mktemp); status=1
try_pip() {{
  "$@" >"$log" 2>&1
  status=$?
  if [ "$status" -eq 0 ]; then return 0; fi
  tail -n 15 "$log" >&2
  if [ "$status" -ge 124 ]; then return 1; fi
  if {python} -c {probe} {connect} {package} $probe; then
    echo "labtorch: pip failed (exit $status) although every index answers: see pip's \
output above" >&2
    return 0
  fi
  return 1
}}
{attempts}
rm -f "$log"
exit $status
"""


def index_urls(args: Sequence[str]) -> list[str]:
    """The ``--index-url``/``--extra-index-url`` values of pip arguments, in order."""
    return [value for flag, value in itertools.pairwise(args)
            if flag in ("--index-url", "--extra-index-url", "-i")]


def first_package(args: Sequence[str]) -> str:
    """The project name of the first requirement argument (what the probe asks an index for).

    >>> first_package(("torch==2.7.1+cu118", "--index-url", "https://x/whl/cu118"))
    'torch'
    """
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = "=" not in arg and arg not in ("--no-compile", "--no-deps", "--pre", "-U")
            continue
        name = arg
        for sep in "=<>!~[; ":
            name = name.split(sep, 1)[0]
        return name.lower().replace("_", "-")
    return "pip"


def pip_command(
    python: str,
    args: Sequence[str],
    net: NetPolicy,
    *,
    pypi_indexes: Sequence[str] = (),
) -> str:
    """sh that runs ``python -m pip install *args`` bounded, explaining mirror failures.

    ``pypi_indexes``: the site's PyPI index first, then its ordered fallbacks. The first try
    uses what the env's pip.conf (or the plan's arguments) say; each later try sets
    ``PIP_INDEX_URL`` to the next fallback and replaces the primary PyPI index wherever the
    plan's arguments name it. The PyTorch wheel index of a plan stays as planned. A try stops
    the sequence when every index answers (pip failed for another reason: its output is shown).
    """
    base = [python, "-m", "pip", "install", "--disable-pip-version-check",
            "--progress-bar", "off", "--timeout", str(net.stall_s), "--retries", str(net.retries)]
    primary = pypi_indexes[0] if pypi_indexes else None
    lines = []
    for n, index in enumerate([None, *pypi_indexes[1:]]):
        tried = list(args) if index is None else [index if a == primary else a for a in args]
        env = [] if index is None else ["env", f"PIP_INDEX_URL={index}"]
        probe = [*index_urls(tried), *([index] if index else pypi_indexes[:1])]
        command = " ".join(shlex.quote(part) for part in [*env, *base, *tried])
        probe_text = shlex.quote(" ".join(dict.fromkeys(probe)))
        lines.append(f"{'' if n == 0 else '|| '}{{ probe={probe_text}; try_pip {command}; }}")
    script = _PIP.format(
        python=shlex.quote(python),
        probe=shlex.quote(PROBE),
        connect=max(net.connect_s, net.stall_s),
        package=shlex.quote(first_package(args)),
        attempts=" \\\n".join(lines),
    )
    return bounded(script, net)


def conda_env_vars(net: NetPolicy) -> dict[str, str]:
    """conda's own connect/read timeouts and retries (``remote_*`` settings) for one command."""
    return {
        "CONDA_REMOTE_CONNECT_TIMEOUT_SECS": str(net.connect_s),
        "CONDA_REMOTE_READ_TIMEOUT_SECS": str(net.stall_s),
        "CONDA_REMOTE_MAX_RETRIES": str(net.retries),
        "CONDA_REMOTE_BACKOFF_FACTOR": "2",
    }
