"""Output files named on the command line, checked before anything is measured.

A `--junit`, `--save-report`, `--save-baseline` or `--dump` target that cannot be written should
fail in a fraction of a second (exit 2), not after minutes of measuring; and a write that still
fails at the end (a full disk) is reported after the verdict, never instead of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from hwbench.errors import InputError


def check_writable(path: Path | None, flag: str, *, folder: bool = False) -> None:
    """Raise InputError (exit 2) when `path` cannot be written: a missing or read-only parent folder,
    a folder where a file is wanted (or a file where a folder is), or an existing read-only file.
    Creates nothing."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir() and not folder:
        raise InputError(f"{flag} {target}: is a folder", hint=f"give {flag} a file name")
    if target.exists() and folder and not target.is_dir():
        raise InputError(f"{flag} {target}: is a file, not a folder", hint=f"give {flag} a folder name")
    if target.exists():
        if not os.access(target, os.W_OK):
            raise InputError(
                f"{flag} {target}: not writable", hint="choose another path, or fix its permissions"
            )
        return
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            f"{flag} {target}: the folder {parent} does not exist",
            hint=f"create it first (mkdir -p {parent}) or choose another path",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"{flag} {target}: the folder {parent} is not writable",
            hint="choose another path, or fix the folder's permissions",
        )
