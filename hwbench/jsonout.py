"""JSON documents: every command's `--json` output goes through `document()` and `emit()`."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from pathlib import Path
from typing import Any

from hwbench import SCHEMA_VERSION, __version__


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples, enums, paths and NA values to plain JSON types, the one serialiser of every
    `--json` document. An NA field becomes null and its reason goes into the holding object's
    `na_reasons` ({field: reason}), so no reason is lost on the way to JSON."""
    from hwbench.model import NA  # local: model imports nothing heavy, but keep this module standalone

    if isinstance(obj, NA):
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        out = {str(k): to_jsonable(v) for k, v in obj.items()}
        reasons = {str(k): v.reason for k, v in obj.items() if isinstance(v, NA)}
        if reasons:
            out["na_reasons"] = reasons
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def document(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The envelope every `--json` output shares: schema and tool version first, then the payload."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "hwbench_version": __version__,
        "command": command,
    }
    doc.update(to_jsonable(payload))
    return doc


def emit(doc: dict[str, Any]) -> None:
    """Write one JSON document to stdout (logs and progress go to stderr, never here)."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
