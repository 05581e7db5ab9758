"""This process's membership of a torchrun job: joined once, remembered until `finish` leaves it.

A module of its own so that the fleet's submodules (comm, selftest) and the package's hooks read the
same state without importing the package from inside it.
"""

from __future__ import annotations

from hwbench.fleet.dist import FleetContext, env_world_size

_CTX: FleetContext | None = None
_JOINED = False


def joined() -> bool:
    """Whether this process joined a torchrun process group (it must then end with `dist.leave`)."""
    return _JOINED


def init_from_env() -> FleetContext | None:
    """Join torchrun's process group, pin this rank to its CPU share; None when not under torchrun.

    Cheap outside torchrun: reads one environment variable and imports nothing. Calling it again in
    the same process returns the same context.
    """
    global _CTX, _JOINED
    if env_world_size() <= 1:
        return None
    if _CTX is None:
        from hwbench.fleet.dist import init

        _JOINED = True  # set before init: a failed join may have started gloo threads too
        _CTX = init()
    return _CTX


def forget() -> None:
    """The process group was destroyed: a later `init_from_env` joins afresh."""
    global _CTX
    _CTX = None
