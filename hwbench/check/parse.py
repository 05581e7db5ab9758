"""Value parsers for `hwbench check` expectations, shared by the flags and a TOML file.

Each takes the name to quote in its error (`--min-tflops` or `config FILE: min-tflops`) and the raw
value, and returns the typed value or raises `InputError` (exit 2) naming the key, so a bad line is
found at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn

from hwbench.errors import InputError
from hwbench.peaks.types import DTYPE_ALIASES, DTYPES

Level = Literal["quick", "medium", "long"]
LEVELS: tuple[Level, ...] = ("quick", "medium", "long")
_DEVICE_RE = re.compile(r"^(cpu|cuda|cuda:\d+|mps|xpu|xpu:\d+)$")
_HELP = "see `hwbench check --help` for what each key takes"
# Bounds of the counts an expectation holds: far above any machine (the largest NVLink domains hold
# hundreds of GPUs), yet small enough that a typo is told, not judged as an impossible expectation.
MAX_GPUS = 4096
MAX_ECC_ERRORS = 10**9
MAX_COUNT = 10**9  # any other count
_HUGE = 10**30
_INTEGER = re.compile(r"[+-]?[0-9]+")


def number(key: str, value: Any, *, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{key}: expected a number, got {value!r}", hint=f"a number, e.g. 8 or 0.5; {_HELP}")
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise InputError(
            f"{key}: {value!r} is not a number", hint=f"a number, e.g. 8 or 0.5; {_HELP}"
        ) from None
    if not math.isfinite(x):
        raise InputError(f"{key}: {value!r} is not a finite number", hint="a number, not inf or nan")
    if minimum is not None and x < minimum:
        raise InputError(f"{key}: {value!r} is below {minimum:g}", hint=f"a number of at least {minimum:g}")
    return x


def whole(key: str, value: Any, *, maximum: int = MAX_COUNT, what: str = "") -> int:
    """A count, parsed exactly (never through a float, which would turn 10^23 into 99999999999999991611392)
    and held within 0..maximum; `what` names what is counted in the hint ("GPUs")."""
    bounds = f"a whole number{f' of {what}' if what else ''} from 0 to {maximum}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"{key}: expected a whole number, got {value!r}", hint=bounds)
    text = value.strip() if isinstance(value, str) else ""
    if isinstance(value, int):
        n = value
    elif _INTEGER.fullmatch(text):
        # past 30 digits it is out of bounds whatever it reads: int() of thousands of digits is refused
        n = int(text) if len(text) <= 30 else (-1 if text.startswith("-") else _HUGE)
    else:
        try:
            x = number(key, value, minimum=None)  # "8.0" and 8.0 are 8
        except InputError as e:  # "x", inf, nan: said as number() says it, with this count's bounds
            raise InputError(e.message, hint=bounds) from None
        if x != int(x):
            raise InputError(f"{key}: expected a whole number, got {value!r}", hint=bounds)
        n = int(x)
    shown = str(n) if abs(n) < _HUGE else "a number of more than 30 digits"
    if n < 0:
        raise InputError(f"{key}: {shown} is below 0", hint=bounds)
    if n > maximum:
        raise InputError(f"{key}: {shown} is above {maximum}", hint=bounds)
    return n


def gpu_count(key: str, value: Any) -> int:
    return whole(key, value, maximum=MAX_GPUS, what="GPUs")


def error_count(key: str, value: Any) -> int:
    return whole(key, value, maximum=MAX_ECC_ERRORS, what="errors")


def parse_dtype_values(key: str, items: Any, *, fraction: bool = False) -> dict[str, float]:
    """`["fp32=0.05", "bf16=600"]`, `"fp32=0.05"` or `{fp32 = 0.05}` -> {"fp32": 0.05}."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), v) for k, v in items.items()]
    else:
        seq = [items] if isinstance(items, str) else items
        if not isinstance(seq, Sequence):
            raise InputError(
                f"{key}: expected DTYPE=VALUE, got {items!r}",
                hint=f'e.g. ["fp32=0.05"] or {{ fp32 = 0.05 }}; dtypes: {", ".join(DTYPES)}',
            )
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
        dtype = DTYPE_ALIASES.get(d.strip().lower().removeprefix("torch."), d.strip().lower())
        if dtype not in DTYPES:
            raise InputError(f"{key}: unknown dtype {d.strip()!r}", hint=f"one of {', '.join(DTYPES)}")
        x = number(f"{key} {dtype}", v.strip() if isinstance(v, str) else v)
        if fraction and not 0.0 < x <= 1.0:
            raise InputError(f"{key} {dtype}: {x:g} is not a fraction in (0, 1]", hint="0.4 means 40%")
        out[dtype] = x
    return out


def parse_device(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _DEVICE_RE.match(value.strip().lower()):
        raise InputError(f"{key}: unknown device {value!r}", hint="cpu, cuda, cuda:N, mps or xpu")
    return value.strip().lower()


def strings(key: str, value: Any) -> tuple[str, ...]:
    seq = [value] if isinstance(value, str) else value
    if not isinstance(seq, Sequence) or not all(isinstance(s, str) and s.strip() for s in seq):
        raise InputError(
            f"{key}: expected a string or a list of strings, got {value!r}",
            hint='non-empty text, e.g. "avx2" or ["avx2", "fma"] in a config file',
        )
    return tuple(s.strip() for s in seq)


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(
            f"{key}: expected true or false, got {value!r}", hint="write true or false, without quotes"
        )
    return value


def level(key: str, value: Any) -> Level:
    if value not in LEVELS:
        raise InputError(
            f"{key}: {value!r} is not one of {', '.join(LEVELS)}",
            hint="quick (seconds), medium (about a minute) or long (minutes of soak)",
        )
    lv: Level = value
    return lv


def driver(key: str, value: Any) -> str:
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


def percent(key: str, value: Any) -> float:
    hint = "a percentage from 0 to below 100, e.g. 10"
    x = number(key, value, minimum=None)
    if x < 0.0:
        raise InputError(f"{key}: {x:g}% is below 0", hint=hint)
    if x >= 100.0:
        raise InputError(f"{key}: {x:g}% must be below 100", hint=hint)
    return x


def fail_type(key: str, value: Any, what: str) -> NoReturn:
    raise InputError(f"{key}: expected {what}, got {value!r}", hint=_HELP)


def fraction(key: str, value: Any) -> float:
    x = number(key, value)
    if not 0.0 < x <= 1.0:
        raise InputError(f"{key}: {x:g} is not a fraction in (0, 1]", hint="0.4 means 40%")
    return x


def amount(key: str, value: Any) -> float:
    """A number at least 0 (GB, GB/s)."""
    return number(key, value)


def one_string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        fail_type(key, value, "a string")
    return strings(key, value)[0]


def isa_flags(key: str, value: Any) -> tuple[str, ...]:
    return tuple(s.lower() for s in strings(key, value))


def devices(key: str, value: Any) -> tuple[str, ...]:
    return tuple(parse_device(key, s) for s in strings(key, value))


def dtype_floors(key: str, value: Any) -> dict[str, float]:
    return parse_dtype_values(key, value)


def dtype_fractions(key: str, value: Any) -> dict[str, float]:
    return parse_dtype_values(key, value, fraction=True)
