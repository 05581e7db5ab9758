"""Output files named on the command line, checked before anything is measured.

A `--save-report` or `--dump` target that cannot be written fails in a fraction of a second (exit 2),
not after minutes of measuring. `check` is told at once too, but still runs: its verdict decides
whether a node is drained, so a bad `--junit` or `--save-baseline` target is said at the start and
again after the verdict, and the exit code is the check's (1 when one failed; 2 only when none did).
A write that fails only at the end (a full disk) is likewise reported after the verdict.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hwbench.errors import InputError


def check_writable(path: Path | None, flag: str, *, folder: bool = False, replaced: bool = False) -> None:
    """Raise InputError (exit 2) when `path` cannot be written: a missing or read-only parent folder,
    a folder where a file is wanted (or a file where a folder is), or an existing read-only file.
    `replaced`: the output is written by renaming a new file over the target (a baseline), so an
    existing device, FIFO or socket there is refused: it would be swapped for a plain file. Creates
    nothing."""
    if path is None:
        return
    target = Path(path)
    if replaced:
        refuse_special(target, flag)
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


def refuse_special(target: Path, flag: str) -> None:
    """InputError when `target` exists and is not a regular file (after links): a device such as
    /dev/full, a FIFO or a socket must never be replaced by a file written over it."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return  # absent (or a dangling link): nothing to replace
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise InputError(
            f"{flag} {target}: is not a regular file (a device, FIFO or socket); the file written "
            "there replaces whatever the path holds",
            hint=f"give {flag} the path of a regular file",
        )
