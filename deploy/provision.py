"""The room deploy: take every host from a bare PC to a verified PyTorch environment.

Per host: plan (GPU facts → HostPlan, printed for the whole room first, see
:mod:`labtorch.deploys.plan`), then the roles in order: conda → conda channels → env → pip
index → torch → jupyter → verify. A host whose site settings or plan are impossible fails alone
with a message; the others go on. A second run changes nothing.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy

from labtorch.deploys.plan import plan_for
from labtorch.errors import LabtorchError
from labtorch.roles import channels, conda, env, jupyter, refused, torch
from labtorch.roles import verify as verify_role


@deploy("labtorch room")
def room() -> None:
    """Plan and provision the current host (pyinfra calls this once per host of the room)."""
    try:
        plan = plan_for(host)
        conda.conda()
        channels.conda_channels()
        env.env(plan)
        channels.pip_index(plan.index_url)
        torch.torch(plan)
        jupyter.jupyter()
        verify_role.verify(plan)
    except LabtorchError as err:
        refused(name="labtorch refuses this host", line=str(err))
    except Exception as err:  # a bug must fail this host only, never the whole room
        logger.exception(f"{host.print_prefix}unexpected error while preparing this host")
        problem = LabtorchError(
            f"unexpected {type(err).__name__} while preparing this host: {err}",
            host=host.name,
            fix="this is a labtorch bug: report it with the traceback above; the other hosts go on",
        )
        refused(name="labtorch refuses this host", line=str(problem))
