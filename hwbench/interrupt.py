"""SIGINT and SIGTERM: stop the current measurement promptly, keep what was measured, exit 130 / 143.

The CLI calls `install()` first. Both signals then raise in the main thread as Ctrl-C does
(`KeyboardInterrupt`; SIGTERM as its subclass `Terminated`), so every `except KeyboardInterrupt`
that keeps partial results serves a preemption's SIGTERM as well. The first signal is remembered:
code that catches the interrupt to keep what it has must not go on measuring, so a timed loop
calls `check()` before each chunk (raising again at once), a gate reads `received()` and refuses to
pass, and the CLI ends with `exit_code()` (130 or 143) however the command itself returned.

Under torchrun the fleet layer replaces both handlers: a rank ends at once (see hwbench.fleet.dist).
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

_received: int | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that partial results are kept the same way."""


def install() -> None:
    """Route SIGINT and SIGTERM to `_handler` (main thread only; elsewhere a no-op)."""
    with contextlib.suppress(ValueError):  # not the main thread (an embedding application)
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)


def _handler(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is None:
        _received = signum
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def note(exc: KeyboardInterrupt) -> None:
    """Remember an interrupt that arrived without `install()` (Python's own Ctrl-C handler)."""
    global _received
    if _received is None:
        _received = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT


def received() -> int | None:
    """The first signal received (SIGINT or SIGTERM), or None."""
    return _received


def check() -> None:
    """Raise the interrupt again if one arrived: call before starting a chunk of measuring."""
    if _received == signal.SIGTERM:
        raise Terminated()
    if _received is not None:
        raise KeyboardInterrupt()


def exit_code() -> int | None:
    """128 + the signal number (130 for SIGINT, 143 for SIGTERM), or None when none arrived."""
    return None if _received is None else 128 + int(_received)


def name() -> str:
    """'SIGINT' or 'SIGTERM' for messages ('' when none arrived)."""
    return "" if _received is None else signal.Signals(_received).name


def reset() -> None:
    """Forget a received signal (tests, and an embedding application starting a new run)."""
    global _received
    _received = None
