"""Files a user names (a --config, a baseline, reports to merge, a recording to replay), read safely.

Every such file is a regular file of bounded size holding UTF-8 text; anything else is an
InputError (one `error:` line, exit 2) before a byte is parsed: a FIFO or a device would block the
read forever or never end, a binary file or a UTF-16 one would be a decoding traceback, and a
multi-gigabyte file would be a memory error.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from hwbench.errors import InputError

DEFAULT_LIMIT = 64 << 20  # far above any report, recording or config hwbench writes
_NOT_REGULAR = "give a saved file: reading a FIFO blocks, reading a device never ends"


def check_regular(path: Path, what: str, *, limit: int = DEFAULT_LIMIT) -> int:
    """The size of `path` if it is a readable regular file of at most `limit` bytes, else InputError.

    Uses stat (follows symlinks) and never opens the file: opening a FIFO blocks until a writer comes.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError(
            f"cannot read {what} {path}: {e.strerror or e}", hint="check the path and its permissions"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(
            f"{what} {path} is a folder, not a file",
            hint="give the path of a file, not of the folder holding it",
        )
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket or device"
        raise InputError(
            f"{what} {path} is {kind}, not a regular file",
            hint=_NOT_REGULAR,
        )
    if st.st_size > limit:
        raise InputError(
            f"{what} {path} is {st.st_size} bytes, more than any {what} ({limit} bytes at most)",
            hint="is it the right file?",
        )
    return int(st.st_size)


def read_regular_bytes(path: Path, what: str, *, limit: int = DEFAULT_LIMIT) -> bytes:
    check_regular(path, what, limit=limit)
    try:
        # O_NONBLOCK: had the path been swapped for a FIFO since the stat, open must not block
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise InputError(
            f"cannot read {what} {path}: {e.strerror or e}", hint="check the path and its permissions"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{what} {path} is not a regular file", hint=_NOT_REGULAR)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise InputError(
            f"cannot read {what} {path}: {e.strerror or e}", hint="check the path and its permissions"
        ) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{what} {path} is more than {limit} bytes", hint="is it the right file?")
    return data


def read_regular_text(path: Path, what: str, *, limit: int = DEFAULT_LIMIT) -> str:
    """UTF-8 text of a regular file (a UTF-8 BOM is dropped); anything else is an InputError."""
    data = read_regular_bytes(path, what, limit=limit)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{what} {path} is UTF-16 text; hwbench reads UTF-8",
            hint=f"convert it: iconv -f UTF-16 -t UTF-8 {path} > fixed",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {e.start} cannot be decoded)",
            hint="is it a binary file? give the text file hwbench or your editor wrote",
        ) from None
