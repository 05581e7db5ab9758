"""`hwbench detect` (stub: to be written)."""

from __future__ import annotations

from hwbench.errors import HwbenchError


def command() -> None:
    """Not implemented yet."""
    raise HwbenchError("hwbench detect is not implemented yet")


def fast_main(argv: list[str]) -> int | None:
    """Serve `hwbench detect` without importing typer; None means 'let typer handle these args'."""
    return None
