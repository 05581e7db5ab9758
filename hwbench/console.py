"""Terminal output: rich consoles created on demand (rich is not imported on the --json path), and
progress phases on stderr.

rich already follows NO_COLOR, FORCE_COLOR and whether the stream is a TTY.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:
    from rich.console import Console

PhaseFn = Callable[[str, float | None], None]  # (what is running, fraction done or None)

# spaces before a line's end, and before the colour resets that close it
_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$")


class _PipedStdout(io.TextIOBase):
    """sys.stdout (looked up at each write, as pytest and redirections swap it) with the spaces rich
    pads table cells to the console width with removed from the end of each line when it is not a
    terminal: piped output stays diff- and grep-friendly. On a terminal, writes pass through."""

    def __init__(self) -> None:
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(sys.stdout, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def write(self, s: str) -> int:
        if sys.stdout.isatty():
            return sys.stdout.write(s)
        text = self._pending + s
        lines = text.split("\n")
        self._pending = lines.pop()
        if lines:
            sys.stdout.write("\n".join(_TRAILING.sub(r"\1", ln) for ln in lines) + "\n")
        return len(s)

    def flush(self) -> None:
        if self._pending:
            sys.stdout.write(self._pending)
            self._pending = ""
        sys.stdout.flush()


@lru_cache(maxsize=1)
def stdout() -> Console:
    from rich.console import Console

    # no emoji codes: PCI slots like "0000:ab:00.0" hold ":ab:", which rich would draw as a emoji
    return Console(file=cast("IO[str]", _PipedStdout()), emoji=False)


@lru_cache(maxsize=1)
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, emoji=False)


def log(message: str) -> None:
    """A progress or diagnostic line: always stderr, so `--json` stdout stays one document."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error_line(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def phases(quiet: bool = False, heartbeat_s: float = 10.0, grace_s: float = 1.0) -> Iterator[PhaseFn]:
    """Progress on stderr while a command measures: on a terminal a live line (spinner, phase, bar,
    elapsed time); elsewhere (CI logs) one plain line per phase with the elapsed time, and a "still"
    line whenever a phase runs `heartbeat_s` without another, so a log never sits silent longer
    (nothing in the first `grace_s`, so that a bad input's `error:` line comes first); nothing with
    quiet. Yields `phase(what, fraction or None)`."""
    if quiet:
        yield lambda what, frac: None
        return
    con = stderr()
    if con.is_terminal:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=con,
            transient=True,
        ) as prog:
            task = prog.add_task("starting", total=None)

            def live(what: str, frac: float | None) -> None:
                prog.update(
                    task, description=what, total=1.0 if frac is not None else None, completed=frac or 0
                )

            yield live
        return
    t0 = time.monotonic()
    lock = threading.Lock()
    current = [""]  # the phase now running
    last = [t0]  # when the last line was written
    pending: list[str] = []  # phases begun in the first second: a run that fails fast prints only its error
    done = threading.Event()

    def line(text: str) -> None:
        now = time.monotonic()
        with lock:
            last[0] = now
            sys.stderr.write(f"[{now - t0:5.1f} s] {text}\n")
            sys.stderr.flush()

    printed = [""]  # the text of the last line written

    def stem(what: str) -> str:
        return re.sub(r"\d+", "#", what)  # "training step 5/300" and ".. 6/300" are one phase

    def write(what: str) -> None:
        line(what if what != printed[0] else f"{what} (still running)")
        printed[0] = what

    def plain(what: str, frac: float | None) -> None:
        if what == current[0]:
            return
        new_phase = stem(what) != stem(current[0])
        current[0] = what
        if time.monotonic() - t0 < grace_s:
            pending[:] = [what]
        elif new_phase:
            pending.clear()
            write(what)

    def beat() -> None:
        while not done.wait(0.25):
            now = time.monotonic()
            if pending and now - t0 >= grace_s:
                write(pending.pop())
            elif current[0] and now - last[0] >= heartbeat_s:
                write(current[0])

    ticker = threading.Thread(target=beat, name="hwbench-progress", daemon=True)
    ticker.start()
    try:
        yield plain
    finally:
        done.set()
        ticker.join(timeout=2.0)
