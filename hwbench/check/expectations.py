"""What the user expects of the machine: from command-line flags and from a TOML file with the same keys.

A TOML file uses the flag names without the dashes in front (`min-gpus = 8`; `min_gpus` works too),
either at the top level or in a `[check]` table. Values given on the command line win over the file.
`min-tflops` and `min-fraction-of-peak` take a table (`min-tflops = { bf16 = 600 }`) or the same
`DTYPE=VALUE` strings as the flags. Anything unknown or malformed is an `InputError` (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwbench.check.parse import DTYPES, LEVELS, Level, parse_device, parse_dtype_values, parse_version
from hwbench.check.registry import BY_KEY, DEFAULT_MAX_REGRESSION_PCT, SPECS, Expectations
from hwbench.errors import InputError

__all__ = [
    "DEFAULT_MAX_REGRESSION_PCT",
    "DTYPES",
    "KEYS",
    "LEVELS",
    "Expectations",
    "Level",
    "from_mapping",
    "load_config",
    "merge",
    "parse_device",
    "parse_dtype_values",
    "parse_version",
]

# Every key a flag or TOML file may use, as the flags spell it ("max-spread" for max_spread_pct).
KEYS = tuple(s.name for s in SPECS)
# The flag's name ("max_spread") and the field's ("max_spread_pct") both name a field.
_FIELD_OF = {**{s.key: s.key for s in SPECS}, **{s.name.replace("-", "_"): s.key for s in SPECS}}


def from_mapping(values: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """Validate raw key/values (TOML or flags) into Expectations fields; unknown keys are errors."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in values.items():
        key = _FIELD_OF.get(raw_key.strip().replace("-", "_"), "")
        if not key:
            raise InputError(f"{where}: unknown key {raw_key!r}", hint=f"known keys: {', '.join(KEYS)}")
        if key in spelled:  # require_isa and require-isa: one would silently win over the other
            raise InputError(
                f"{where}: {spelled[key]!r} and {raw_key!r} are the same key, given twice",
                hint="keep one of them",
            )
        spelled[key] = raw_key
        spec = BY_KEY[key]
        out[key] = spec.parse(spec.flag if where == "flags" else f"{where}: {raw_key}", value)
    return out


_CONFIG_MAX_BYTES = 1 << 20  # an expectations file is a few hundred bytes
_FLAT = "a config is key = value lines (min-gpus = 8), at the top or under one [check] table"


def load_config(path: Path) -> dict[str, Any]:
    """Read a TOML expectations file; unreadable or malformed files are InputError (exit 2)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            raise InputError(
                "reading a --config file on Python 3.10 needs the tomli package", hint="pip install tomli"
            ) from None
    from hwbench.userfile import read_regular_text

    text = read_regular_text(path, what="config", limit=_CONFIG_MAX_BYTES)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(
            f"config {path} is not valid TOML: {e}",
            hint="one key = value per line, as the flags without their dashes (min-gpus = 8)",
        ) from None
    except RecursionError:
        raise InputError(
            f"config {path} is nested too deeply to be an hwbench config",
            hint=_FLAT,
        ) from None
    if "check" in data:
        table = data.pop("check")
        if not isinstance(table, dict):
            raise InputError(f"config {path}: [check] must be a table", hint=_FLAT)
        if data:
            raise InputError(
                f"config {path}: keys outside [check]: {', '.join(sorted(data))}",
                hint="put every key in the [check] table, or none",
            )
        data = table
    return from_mapping(data, where=f"config {path.name}")


def merge(config: Mapping[str, Any], flags: Mapping[str, Any]) -> Expectations:
    """Config values first, then every flag the user gave (dtype tables merge per dtype)."""
    fields: dict[str, Any] = dict(config)
    for k, v in flags.items():
        if isinstance(v, dict) and isinstance(fields.get(k), dict):  # DTYPE=VALUE tables
            fields[k] = {**fields[k], **v}
        else:
            fields[k] = v
    return Expectations(**fields)
