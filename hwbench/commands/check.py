"""`hwbench check` (stub: to be written)."""

from __future__ import annotations

from hwbench.errors import HwbenchError


def command() -> None:
    """Not implemented yet."""
    raise HwbenchError("hwbench check is not implemented yet")
