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
