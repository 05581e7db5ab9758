"""Errors the CLI turns into a one-line `error:` message and exit code 2."""

from __future__ import annotations


class HwbenchError(Exception):
    """Bad input, or the tool cannot run (unknown device, CUDA asked for but unusable, unreadable file).

    The CLI prints `error: <message>` and, when given, `hint: <hint>` on stderr and exits with code 2.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(HwbenchError):
    """A user-supplied file or value cannot be parsed (a non-lspci --lspci file, a corrupt baseline)."""


def one_line(e: BaseException, limit: int | None = 160) -> str:
    """An exception as one line, "TypeName: first line of its message", cut to `limit` characters with
    "..." (torch's CUDA errors and NVML's run to a dozen lines; a warning or a note keeps one)."""
    lines = str(e).strip().splitlines()
    text = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
