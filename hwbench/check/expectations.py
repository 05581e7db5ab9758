"""What the user expects of the machine: from command-line flags and from a TOML file with the same keys.

A TOML file uses the flag names without the dashes in front (`min-gpus = 8`; `min_gpus` works too),
either at the top level or in a `[check]` table. Values given on the command line win over the file.
`min-tflops` and `min-fraction-of-peak` take a table (`min-tflops = { bf16 = 600 }`) or the same
`DTYPE=VALUE` strings as the flags. Anything unknown or malformed is an `InputError` (exit 2).
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hwbench.errors import InputError

Level = Literal["quick", "medium", "long"]
LEVELS: tuple[Level, ...] = ("quick", "medium", "long")
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8")
_DEVICE_RE = re.compile(r"^(cpu|cuda|cuda:\d+|mps|xpu|xpu:\d+)$")
DEFAULT_MAX_REGRESSION_PCT = 10.0


@dataclass(frozen=True)
class Expectations:
    """Every expectation `hwbench check` knows; None / empty means "not asked for"."""

    min_gpus: int | None = None
    gpu_model: str | None = None  # glob, case-insensitive ("*H100*"); without wildcards: the whole name
    min_gpu_memory_gb: float | None = None  # decimal GB (1e9 bytes), as GPUs are sold ("80GB")
    min_driver: str | None = None  # "535.104.05"
    require_isa: tuple[str, ...] = ()
    torch_can_use: tuple[str, ...] = ()
    device: str | None = None  # what to measure on; None: every GPU torch can use, else the CPU
    min_tflops: dict[str, float] = field(default_factory=dict)  # dtype -> measured matmul ceiling floor
    min_fraction_of_peak: dict[str, float] = field(default_factory=dict)
    min_mfu: float | None = None
    preset: str | None = None
    pcie_full: bool = False
    no_throttle: bool = False
    max_ecc_errors: int | None = None
    max_spread_pct: float | None = None
    min_busbw_gbps: float | None = None
    level: Level = "quick"
    strict: bool = False
    max_regression_pct: float = DEFAULT_MAX_REGRESSION_PCT

    def is_empty(self) -> bool:
        """True when no check at all was asked for (level, strict and device alone check nothing)."""
        return not (
            self.min_gpus is not None
            or self.gpu_model
            or self.min_gpu_memory_gb is not None
            or self.min_driver
            or self.require_isa
            or self.torch_can_use
            or self.min_tflops
            or self.min_fraction_of_peak
            or self.min_mfu is not None
            or self.pcie_full
            or self.no_throttle
            or self.max_ecc_errors is not None
            or self.max_spread_pct is not None
            or self.min_busbw_gbps is not None
        )

    def needs_matmul(self) -> bool:
        return bool(self.min_tflops or self.min_fraction_of_peak or self.max_spread_pct is not None)

    def to_json(self) -> dict[str, Any]:
        return {k.replace("_", "-"): v for k, v in dataclasses.asdict(self).items()}


# --- value parsers: each names the key in its error, so a bad TOML line is found at once ---------


def _number(key: str, value: Any, *, minimum: float | None = 0.0, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{key}: expected a number, got {value!r}")
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{key}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise InputError(f"{key}: {value!r} is not a finite number")
    if integer and x != int(x):
        raise InputError(f"{key}: expected a whole number, got {value!r}")
    if minimum is not None and x < minimum:
        raise InputError(f"{key}: {value!r} is below {minimum:g}")
    return x


def parse_dtype_values(key: str, items: Any, *, fraction: bool = False) -> dict[str, float]:
    """`["fp32=0.05", "bf16=600"]`, `"fp32=0.05"` or `{fp32 = 0.05}` -> {"fp32": 0.05}."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), v) for k, v in items.items()]
    else:
        seq = [items] if isinstance(items, str) else items
        if not isinstance(seq, Sequence):
            raise InputError(f"{key}: expected DTYPE=VALUE, got {items!r}")
        for item in seq:
            if not isinstance(item, str) or "=" not in item:
                example = "fp32=0.6" if fraction else "fp32=0.05"
                # key is the flag ("--min-tflops") or "FILE: min-tflops" for a config file
                hint = (
                    f"e.g. {key} {example}"
                    if key.startswith("--")
                    else (f'e.g. {key.rsplit(": ", 1)[-1]} = ["{example}"]')
                )
                raise InputError(f"{key}: expected DTYPE=VALUE, got {item!r}", hint=hint)
            d, v = item.split("=", 1)
            pairs.append((d, v))
    out: dict[str, float] = {}
    for d, v in pairs:
        dtype = d.strip().lower()
        if dtype not in DTYPES:
            raise InputError(f"{key}: unknown dtype {d.strip()!r}", hint=f"one of {', '.join(DTYPES)}")
        x = _number(f"{key} {dtype}", v.strip() if isinstance(v, str) else v)
        if fraction and not 0.0 < x <= 1.0:
            raise InputError(f"{key} {dtype}: {x:g} is not a fraction in (0, 1]", hint="0.4 means 40%")
        out[dtype] = x
    return out


def parse_device(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _DEVICE_RE.match(value.strip().lower()):
        raise InputError(f"{key}: unknown device {value!r}", hint="cpu, cuda, cuda:N, mps or xpu")
    return value.strip().lower()


def _strings(key: str, value: Any) -> tuple[str, ...]:
    seq = [value] if isinstance(value, str) else value
    if not isinstance(seq, Sequence) or not all(isinstance(s, str) and s.strip() for s in seq):
        raise InputError(f"{key}: expected a string or a list of strings, got {value!r}")
    return tuple(s.strip() for s in seq)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{key}: expected true or false, got {value!r}")
    return value


def _level(key: str, value: Any) -> Level:
    if value not in LEVELS:
        raise InputError(f"{key}: {value!r} is not one of {', '.join(LEVELS)}")
    lv: Level = value
    return lv


def _driver(key: str, value: Any) -> str:
    v = str(value).strip()
    if parse_version(v) is None:
        raise InputError(f"{key}: {value!r} is not a driver version", hint="e.g. 535.104.05")
    return v


def parse_version(text: str) -> tuple[int, ...] | None:
    """'535.104.05' -> (535, 104, 5); None when it is not dotted numbers."""
    parts = text.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _pct(key: str, value: Any) -> float:
    x = _number(key, value)
    if x >= 100.0:
        raise InputError(f"{key}: {x:g}% must be below 100")
    return x


_KEYS: dict[str, Any] = {
    "min_gpus": lambda k, v: int(_number(k, v, integer=True)),
    "gpu_model": lambda k, v: _strings(k, v)[0] if isinstance(v, str) else _fail_type(k, v, "a string"),
    "min_gpu_memory_gb": lambda k, v: _number(k, v),
    "min_driver": _driver,
    "require_isa": lambda k, v: tuple(s.lower() for s in _strings(k, v)),
    "torch_can_use": lambda k, v: tuple(parse_device(k, s) for s in _strings(k, v)),
    "device": parse_device,
    "min_tflops": lambda k, v: parse_dtype_values(k, v),
    "min_fraction_of_peak": lambda k, v: parse_dtype_values(k, v, fraction=True),
    "min_mfu": lambda k, v: _fraction(k, v),
    "preset": lambda k, v: _strings(k, v)[0] if isinstance(v, str) else _fail_type(k, v, "a string"),
    "pcie_full": _bool,
    "no_throttle": _bool,
    "max_ecc_errors": lambda k, v: int(_number(k, v, integer=True)),
    "max_spread_pct": _pct,
    "min_busbw_gbps": lambda k, v: _number(k, v),
    "level": _level,
    "strict": _bool,
    "max_regression_pct": _pct,
}
# Flags whose name leaves the unit out: the TOML key is the flag's name, as everywhere.
_FLAG_NAMES = {
    "max_spread": "max_spread_pct",
    "min_busbw": "min_busbw_gbps",
    "max_regression": "max_regression_pct",
}
_FLAG_OF = {v: k for k, v in _FLAG_NAMES.items()}
KEYS = tuple(_FLAG_OF.get(k, k).replace("_", "-") for k in _KEYS)


def _fail_type(key: str, value: Any, what: str) -> Any:
    raise InputError(f"{key}: expected {what}, got {value!r}")


def _fraction(key: str, value: Any) -> float:
    x = _number(key, value)
    if not 0.0 < x <= 1.0:
        raise InputError(f"{key}: {x:g} is not a fraction in (0, 1]", hint="0.4 means 40%")
    return x


def from_mapping(values: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """Validate raw key/values (TOML or flags) into Expectations fields; unknown keys are errors."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in values.items():
        key = raw_key.strip().replace("-", "_")
        key = _FLAG_NAMES.get(key, key)
        if key not in _KEYS:
            raise InputError(f"{where}: unknown key {raw_key!r}", hint=f"known keys: {', '.join(KEYS)}")
        if key in spelled:  # require_isa and require-isa: one would silently win over the other
            raise InputError(
                f"{where}: {spelled[key]!r} and {raw_key!r} are the same key, given twice",
                hint="keep one of them",
            )
        spelled[key] = raw_key
        flag = _FLAG_OF.get(key, key).replace("_", "-")
        out[key] = _KEYS[key](f"--{flag}" if where == "flags" else f"{where}: {raw_key}", value)
    return out


_CONFIG_MAX_BYTES = 1 << 20  # an expectations file is a few hundred bytes


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
        raise InputError(f"config {path} is not valid TOML: {e}") from None
    except RecursionError:
        raise InputError(f"config {path} is nested too deeply to be an hwbench config") from None
    if "check" in data:
        table = data.pop("check")
        if not isinstance(table, dict):
            raise InputError(f"config {path}: [check] must be a table")
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
        if k in ("min_tflops", "min_fraction_of_peak") and k in fields:
            fields[k] = {**fields[k], **v}
        else:
            fields[k] = v
    return Expectations(**fields)
