"""Baselines: the figures a good run measured, with the machine they were measured on.

File format (JSON, `"kind": "hwbench-check-baseline"`): `figures` is a list of
{`device`, `name` (unit in the name: `fp32_tflops`, `busbw_gbps`, `mfu_fraction`), `value`, `source`}
and `fingerprint` holds CPU model, GPU names and UUIDs, driver, torch and hwbench versions. Written
atomically (a temp file in the same directory, then os.replace), so a crash or a full disk never
leaves half a baseline behind; a truncated or hand-broken file is a one-line InputError (exit 2).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwbench import __version__
from hwbench.check.checks import Figure
from hwbench.errors import InputError
from hwbench.model import System

KIND = "hwbench-check-baseline"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Baseline:
    figures: tuple[Figure, ...]
    fingerprint: dict[str, Any]
    level: str | None
    created: str | None
    path: Path


def fingerprint(system: System | None, torch_version: str | None = None) -> dict[str, Any]:
    """What identifies the machine a figure belongs to (compared field by field on load)."""
    gpus = []
    drivers: set[str] = set()
    if system is not None:
        for g in system.gpus:
            if g.kind not in ("discrete", "integrated"):
                continue
            uuid = g.nvml.uuid if g.nvml is not None else None
            gpus.append(
                {"name": g.name, "uuid": uuid if isinstance(uuid, str) else None, "pci_slot": g.pci_slot}
            )
            drv = g.nvml.driver_version if g.nvml is not None else None
            if isinstance(drv, str):
                drivers.add(drv)
    tv = torch_version or (system.torch.version if system is not None else None)
    return {
        "cpu_model": system.cpu.model if system is not None and system.cpu is not None else None,
        "gpus": gpus,
        "driver_version": ", ".join(sorted(drivers)) or None,
        "torch_version": tv,
        "hwbench_version": __version__,
        "host": socket.gethostname(),  # shown, not compared: a baseline may be shared by identical nodes
    }


COMPARED = ("cpu_model", "gpus", "driver_version", "torch_version", "hwbench_version")


def fingerprint_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One line per compared field that differs: 'driver_version: 535.104.05 -> 550.54.15'."""
    out = []
    for k in COMPARED:
        a, b = old.get(k), new.get(k)
        if k == "gpus":
            a = [f"{g.get('name')} {g.get('uuid') or ''}".strip() for g in a or [] if isinstance(g, dict)]
            b = [f"{g.get('name')} {g.get('uuid') or ''}".strip() for g in b or [] if isinstance(g, dict)]
        if a != b:
            out.append(f"{k}: {_short(a)} -> {_short(b)}")
    return out


def _short(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]" if v else "none"
    return "none" if v is None else str(v)


def save_baseline(path: Path, figures: Sequence[Figure], fp: dict[str, Any], level: str) -> dict[str, Any]:
    """Write the measured figures (those with a value) atomically; returns the document written."""
    doc = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "level": level,
        "fingerprint": fp,
        "figures": [
            {"device": f.device, "name": f.name, "value": f.value, "source": f.source}
            for f in figures
            if f.value is not None
        ],
    }
    from hwbench.outputs import refuse_special

    refuse_special(Path(path), "--save-baseline")
    # through a link, the file it points to is replaced, not the link
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise InputError(
            f"cannot write baseline {path}: {e.strerror or e}",
            hint="check the folder exists and is writable, and that its file system has space",
        ) from None
    try:
        # mkstemp creates the file 0600; a baseline is shared (a fleet's reference), so give it the
        # mode an ordinary `open` would: 0666 less the umask
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(
            f"cannot write baseline {path}: {e.strerror or e}",
            hint="check the folder exists and is writable, and that its file system has space",
        ) from None
    return doc


_RESAVE = "save a new one with: hwbench check --save-baseline FILE"


def _json_int(text: str) -> int | float:
    return int(text) if len(text) <= 18 else float(text)


def load_baseline(path: Path) -> Baseline:
    """Read and validate a baseline; anything wrong is one InputError naming the file and the fault."""
    from hwbench.userfile import read_regular_text

    path = Path(path)
    text = read_regular_text(path, "baseline")
    try:
        # an integer too long for a float (401 digits) becomes inf, which the value check refuses
        doc = json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise InputError(
            f"baseline {path} is nested too deeply to be a baseline (corrupt?)", hint=_RESAVE
        ) from None
    except json.JSONDecodeError as e:
        what = "truncated" if not text.rstrip().endswith("}") else "corrupt"
        raise InputError(
            f"baseline {path} is {what}: invalid JSON at line {e.lineno}, column {e.colno} ({e.msg})",
            hint=_RESAVE,
        ) from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise InputError(
            f'{path} is not an hwbench check baseline (no "kind": "{KIND}")',
            hint="pass a file written by: hwbench check --save-baseline FILE",
        )
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InputError(
            f"baseline {path}: format_version {version!r} is not supported by hwbench {__version__}",
            hint="upgrade hwbench, or save a new one with: hwbench check --save-baseline FILE",
        )
    raw = doc.get("figures")
    if not isinstance(raw, list) or not raw:
        raise InputError(f"baseline {path} holds no figures", hint=_RESAVE)
    figures = []
    for i, f in enumerate(raw):
        if not isinstance(f, dict):
            raise InputError(f"baseline {path}: figures[{i}] is not an object", hint=_RESAVE)
        dev, name, value = f.get("device"), f.get("name"), f.get("value")
        if not isinstance(dev, str) or not isinstance(name, str):
            raise InputError(f'baseline {path}: figures[{i}] needs a "device" and a "name"', hint=_RESAVE)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise InputError(
                f"baseline {path}: figures[{i}] ({name} on {dev}) has no positive number as value",
                hint=_RESAVE,
            )
        figures.append(Figure(dev, name, float(value), str(f.get("source") or "baseline")))
    fp = doc.get("fingerprint")
    return Baseline(
        figures=tuple(figures),
        fingerprint=fp if isinstance(fp, dict) else {},
        level=doc.get("level") if isinstance(doc.get("level"), str) else None,
        created=doc.get("created") if isinstance(doc.get("created"), str) else None,
        path=path,
    )
