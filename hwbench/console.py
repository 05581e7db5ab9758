"""Terminal output: rich consoles created on demand (rich is not imported on the --json path).

rich already follows NO_COLOR, FORCE_COLOR and whether the stream is a TTY.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@lru_cache(maxsize=1)
def stdout() -> Console:
    from rich.console import Console

    return Console()


@lru_cache(maxsize=1)
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def log(message: str) -> None:
    """A progress or diagnostic line: always stderr, so `--json` stdout stays one document."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error_line(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()
