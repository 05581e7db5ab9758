"""How an hwbench process ends: the exit code contract, signals, and stdout that cannot be written.

    0    success (a check: every check passed)
    1    a check failed (the verdict; Slurm prologs drain the node on it)
    2    bad input or the tool cannot run (one `error:` line and a `hint:` on stderr)
    130  interrupted by SIGINT (Ctrl-C); what was measured is printed, marked interrupted
    143  stopped by SIGTERM (a preemption, `kill`); the same

`start()` is the CLI's first call: signals become interrupts (hwbench.interrupt) and stdout is
guarded so that a write failure cannot hide a verdict or end the run with a traceback:
- a closed pipe (`hwbench detect | head -1`): the rest of the output is dropped quietly and the exit
  code is the command's own;
- any other write error (`>/dev/full`): the output is dropped, one `error:` line says so at the
  end, and the exit code is the command's when it is non-zero (a failed check stays 1), else 2;
- stdout closed at start (`>&-`): it is pointed at /dev/null (so that no file the run opens later
  takes descriptor 1), the output is dropped and the exit code is the command's own.
`end(code)` applies the signal's code and ends the process (a torchrun rank without finalizing).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import NoReturn

from hwbench import interrupt


class _GuardedStdout(io.FileIO):
    """Descriptor 1 that records, instead of raising, a failed write (the TextIOWrapper over it stays
    a real text stream for everything that prints)."""

    pipe_closed = False
    error: OSError | None = None

    def write(self, b: object) -> int:
        size = len(memoryview(b))  # type: ignore[arg-type]
        if self.pipe_closed or self.error is not None:
            return size
        try:
            return int(super().write(b) or 0)  # type: ignore[arg-type]
        except BrokenPipeError:
            self.pipe_closed = True
        except OSError as e:
            self.error = e
        _to_devnull()
        return size


_GUARD: _GuardedStdout | None = None


def _to_devnull() -> None:
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)


def start() -> None:
    """Install the signal handlers and the stdout guard (only over the process's real stdout)."""
    global _GUARD
    interrupt.install()
    try:
        os.fstat(1)
    except OSError:  # started with stdout closed
        _to_devnull()
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        return
    real = sys.__stdout__
    if real is None or sys.stdout is not real:  # an embedding application's or a test's stream
        return
    with contextlib.suppress(OSError, ValueError):
        real.flush()
    _GUARD = _GuardedStdout(1, "w", closefd=False)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_GUARD),
        encoding=real.encoding,
        errors=real.errors,
        line_buffering=real.line_buffering,
        write_through=real.write_through,  # python -u / PYTHONUNBUFFERED keep their meaning
    )


def final_code(code: int) -> int:
    """The exit code after signals and stdout failures (see the module docstring); says why on stderr."""
    from hwbench.console import error_line

    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    sig = interrupt.exit_code()
    if sig is not None:
        error_line(f"interrupted by {interrupt.name()}: a report above holds only what ran before it")
        return sig
    if _GUARD is not None and _GUARD.error is not None:
        error_line(
            f"could not write the output to stdout ({_GUARD.error.strerror or _GUARD.error})",
            "check the disk or the file stdout goes to; the exit code is still the command's verdict",
        )
        return code or 2
    return code


def end(code: int) -> NoReturn:
    """Exit with `final_code(code)`; a process that joined a torchrun group leaves without finalizing."""
    code = final_code(code)
    if "hwbench.fleet" in sys.modules:
        from hwbench.fleet import joined
        from hwbench.fleet.dist import leave

        if joined():
            leave(code)
    sys.exit(code)
