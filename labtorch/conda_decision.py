"""What the conda role does at one prefix: the one decision Linux and Windows share.

:func:`decide_conda` looks at the install found at the prefix (or none) and the site's settings
and returns a :class:`CondaStep`; each OS's operation only turns that step into its own commands
(sh on Linux, PowerShell on Windows). It imports nothing from pyinfra, so it is tested on its own
for every state on both OSes (``tests/unit/test_conda_decision.py``).

States, in the order they are decided:

======================================================  =======================================
install at the prefix                                   step
======================================================  =======================================
labtorch's, not half-finished, files missing            ``refuse`` (never installed over)
labtorch's (or adopted), complete                       ``keep``; ``accept-tos`` once when the
                                                        site opted in after the install
someone else's, complete, ``adopt``                     ``adopt`` (write only a receipt)
someone else's, otherwise                               ``refuse``
none, or labtorch's half-finished one, disk nearly full ``refuse``
none                                                    ``install``
labtorch's half-finished one                            ``install`` with ``repair``
======================================================  =======================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Action = Literal["keep", "accept-tos", "adopt", "refuse", "install"]
OS = Literal["linux", "windows"]

#: What makes an install complete, as each OS's admin sees it (``CondaInstall.complete``).
CONDA_FILES: dict[str, tuple[str, str]] = {
    "linux": ("bin/conda", "conda-meta/history"),
    "windows": ("Scripts\\conda.exe", "conda-meta\\history"),
}


class FoundInstall(Protocol):
    """What the decision reads of the install found at the prefix.

    :class:`labtorch.facts.conda.CondaInstall` (from ``CondaInstallAt`` on Linux and
    ``WindowsCondaInstallAt`` on Windows) is one.
    """

    @property
    def owned(self) -> bool: ...

    @property
    def complete(self) -> bool: ...

    @property
    def receipt(self) -> Mapping[str, Any] | None: ...

    @property
    def flavor(self) -> str: ...

    @property
    def version(self) -> str | None: ...


@dataclass(frozen=True)
class CondaStep:
    """The one thing to do at the prefix.

    + action: "keep" | "accept-tos" | "adopt" | "refuse" | "install"
    + message: what the admin reads: the no-change text ("keep") or what was wrong ("refuse")
    + fix: what to do about a refusal ("refuse" only)
    + receipt: the receipt to write ("accept-tos" and "adopt"; empty otherwise)
    + repair: "install" goes over labtorch's own half-finished install (Linux installs over it
      with ``-u``, Windows removes it first)

    >>> decide_conda(None, "/opt/miniforge3", half_finished=False, adopt=False,
    ...              accept_defaults_tos=False, free_mib=None, min_free_mib=0, os="linux")
    CondaStep(action='install', message='', fix='', receipt={}, repair=False)
    """

    action: Action
    message: str = ""
    fix: str = ""
    receipt: dict[str, Any] = field(default_factory=dict)
    repair: bool = False


def decide_conda(
    found: FoundInstall | None,
    prefix: str,
    *,
    half_finished: bool,
    adopt: bool,
    accept_defaults_tos: bool,
    free_mib: int | None,
    min_free_mib: int,
    os: OS,
) -> CondaStep:
    """Decide what the conda role does at ``prefix``; see the module's table of states.

    + found: the install at ``prefix``, or None when there is none
    + prefix: the install path, as the OS writes it (used in messages only)
    + half_finished: labtorch started this install and it did not finish (Linux: the receipt says
      "started"; Windows: the pending receipt proves labtorch started the installer for exactly
      this prefix and conda is not complete); counts only for an install labtorch owns
    + adopt: take over a complete install labtorch did not make (``labtorch_adopt_conda``)
    + accept_defaults_tos: the site accepts Anaconda's terms of service (Miniconda, opted in)
    + free_mib / min_free_mib: free space for the prefix (None when unknown) and the floor
    + os: "linux" or "windows", for the file names in messages

    >>> step = decide_conda(None, "C:\\\\labtorch\\\\miniforge3", half_finished=False,
    ...                     adopt=False, accept_defaults_tos=False, free_mib=2000,
    ...                     min_free_mib=5000, os="windows")
    >>> step.action, step.fix
    ('refuse', 'free disk space or choose another labtorch_conda_prefix')
    """
    if os not in CONDA_FILES:
        raise ValueError(f"os must be one of {sorted(CONDA_FILES)}, not {os!r}")
    conda_file, history_file = CONDA_FILES[os]
    repair = found is not None and found.owned and half_finished
    if found is not None and found.owned and not repair:
        receipt = dict(found.receipt or {})
        if not found.complete:
            state = receipt.get("state")
            return CondaStep(
                "refuse",
                message=f"{prefix} has labtorch's receipt (state {state!r}) but {conda_file} or "
                f"{history_file} is missing"
                + (", and it is an adopted install labtorch did not make"
                   if state == "adopted" else ""),
                fix=f"move {prefix} aside or repair it yourself, then re-run (labtorch never "
                "deletes or installs over an install it did not just start), or point "
                "labtorch_conda_prefix somewhere else",
            )
        if accept_defaults_tos and not receipt.get("defaults_tos_accepted"):
            return CondaStep("accept-tos", receipt={**receipt, "defaults_tos_accepted": True})
        return CondaStep("keep", message=f"conda is already installed at {prefix}")
    if found is not None and not found.owned:
        if found.complete and adopt:
            return CondaStep("adopt", receipt={
                "tool": "labtorch", "state": "adopted", "flavor": found.flavor,
                "version": found.version,
            })
        return CondaStep(
            "refuse",
            message=f"{prefix} holds a conda install labtorch did not make"
            + ("" if found.complete else " and it looks unfinished"),
            fix="set labtorch_adopt_conda = True to use it (complete installs only), "
            "or point labtorch_conda_prefix somewhere else",
        )
    if free_mib is not None and free_mib < min_free_mib:
        return CondaStep(
            "refuse",
            message=f"only {free_mib} MiB free for {prefix} "
            f"(labtorch_min_free_mib is {min_free_mib})",
            fix="free disk space or choose another labtorch_conda_prefix",
        )
    return CondaStep("install", repair=repair)
