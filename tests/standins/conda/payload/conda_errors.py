# labtorch conda stand-in: NOT real conda. See tests/standins/conda/README.md.
"""conda's exceptions as the stand-in prints them (conda/exceptions.py, exception_handler.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------------- errors


class CondaError(Exception):
    """A conda error: printed as '\\nName: message\\n' on stderr, or as JSON with --json."""

    return_code = 1

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    @property
    def name(self) -> str:
        return type(self).__name__


class ArgumentError(CondaError):
    return_code = 2


class CondaValueError(CondaError):
    pass


class CondaKeyError(CondaError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key!r}: {message}", key=key)


class CondaEnvironmentError(CondaError):
    pass


class CondaHTTPError(CondaError):
    """What conda prints when a channel's repodata is not there (404 through a mirror)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"HTTP 404 NOT FOUND for url <{url}>\nElapsed: 00:00.050000\n\n"
            "The remote server could not find the noarch directory for the\n"
            "requested channel with url: " + url.rsplit("/", 2)[0] + "\n\n"
            "As of conda 4.3, a valid channel must contain a `noarch/repodata.json` and\n"
            "associated `noarch/repodata.json.bz2` file, even if `noarch/repodata.json` is\n"
            "empty. please request that the channel administrator create\n"
            "`noarch/repodata.json` and associated `noarch/repodata.json.bz2` files.\n",
            url=url, status_code=404)


class PackagesNotFoundError(CondaError):
    def __init__(self, packages: list[str], channel_urls: list[str]) -> None:
        dash = "\n".join(f"  - {p}" for p in packages)
        chans = "\n".join(f"  - {c}" for c in channel_urls)
        super().__init__(
            "The following packages are not available from current channels:\n\n"
            f"{dash}\n\nCurrent channels:\n\n{chans}\n\n"
            "To search for alternate channels that may provide the conda package you're\n"
            "looking for, navigate to\n\n    https://anaconda.org\n\n"
            "and use the search bar at the top of the page.\n",
            packages=packages,
            channel_urls=channel_urls,
        )


class EnvironmentLocationNotFound(CondaError):
    def __init__(self, location: Path) -> None:
        super().__init__(f"Not a conda environment: {location}", location=str(location))


class EnvironmentNameNotFound(CondaError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Could not find conda environment: {name}\n"
            "You can list all discoverable environments with `conda info --envs`.\n",
            environment_name=name,
        )


class DirectoryNotACondaEnvironmentError(CondaError):
    def __init__(self, target: Path) -> None:
        super().__init__(
            "The target directory exists, but it is not a conda environment.\n"
            "Use 'conda create' to convert the directory to a conda environment.\n"
            f"  target directory: {target}\n",
            target_directory=str(target),
        )


class CondaToSNonInteractiveError(CondaError):
    def __init__(self, channels: list[str]) -> None:
        listed = "\n".join(f"    - {c}" for c in channels)
        commands = "\n".join(
            f"    conda tos accept --override-channels --channel {c}" for c in channels
        )
        super().__init__(
            "Terms of Service have not been accepted for the following channels. "
            f"Please accept or remove them before proceeding:\n{listed}\n\n"
            "To accept these channels' Terms of Service, run the following commands:\n"
            f"{commands}\n",
            channels=channels,
        )


class ConfigurationLoadError(CondaError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"Unable to load configuration file.\n  path: {path}\n  reason: {reason}\n",
            path=str(path),
        )


class CondaSystemExit(CondaError):
    """conda's CondaSystemExit is a CondaExitZero: declining a prompt exits 0."""

    return_code = 0


def report_error(error: CondaError, as_json: bool) -> int:
    """Print an error the way conda's exception handler does and return its exit code."""
    if as_json:
        body = {
            "caused_by": "None",
            "error": f"{error.name}: {error.message}",
            "exception_name": error.name,
            "exception_type": f"<class 'conda.exceptions.{error.name}'>",
            "message": error.message,
            **error.fields,
        }
        print(json.dumps(body, indent=2, sort_keys=True))
    elif isinstance(error, CondaSystemExit):
        print(error.message)
    else:
        print(f"\n{error.name}: {error.message}\n", file=sys.stderr)
    return error.return_code


def print_json(data: Any) -> None:
    """Print JSON the way conda's stdout_json does (indent 2, sorted keys)."""
    print(json.dumps(data, indent=2, sort_keys=True))
