"""How numbers read on a terminal: one place for every renderer (no imports beyond the standard library).

pct(0.2987) -> "30%"          pct(0.00018) -> "0.018%"
tf(0.0561) -> "0.0561"        tf(15800) -> "15800" (TFLOP/s, 2-3 significant digits)
si(3.97e9, "FLOP") -> "3.97 GFLOP"       flop_rate(15800) -> "15.8 PFLOP/s" (argument in TFLOP/s)
plural(1, "thread") -> "1 thread"         plural(2, "thread") -> "2 threads"
cpu_list((0, 1, 2, 3, 8)) -> "0-3,8"      ranges([0, 1, 2, 5]) -> "0-2, 5"
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def pct(x: float | None, digits: int | None = None) -> str:
    """A fraction as a percentage with enough digits to be non-zero (0.04%, 25%, 3.1%)."""
    if x is None:
        return "n/a"
    if x == 0:
        return "0%"
    v = x * 100.0
    if digits is None:
        a = abs(v)
        # two significant digits below 1%: 0.04%, 0.0036%, 0.000011%
        digits = 0 if a >= 10 else 1 if a >= 1 else max(2, 1 - math.floor(math.log10(a)))
    return f"{v:.{digits}f}%"


def tf(x: float | None) -> str:
    """A TFLOP/s figure with 2-3 significant digits, no unit (tables label the column)."""
    if x is None:
        return "n/a"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """`value` with a decimal SI prefix and `digits` significant digits: 3.97e9 FLOP -> "3.97 GFLOP"."""
    if value is None:
        return "n/a"
    a = abs(value)
    for scale, prefix in _PREFIXES:
        if a >= scale:
            return f"{_sig(value / scale, digits)} {prefix}{unit}"
    return f"{_sig(value, digits)} {unit}"


def _sig(v: float, digits: int) -> str:
    """`digits` significant digits without exponent notation: 3.97, 15.8, 185, 0.0561."""
    if v == 0:
        return "0"
    places = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    s = f"{v:.{places}f}"
    if places and float(s) >= 10 ** (digits - places):  # 9.996 -> "10.00": one digit too many
        s = f"{v:.{places - 1}f}"
    return s


def flop_rate(tflops: float | None) -> str:
    """A rate given in TFLOP/s, with the prefix that reads best: 0.0561 -> "56.1 GFLOP/s"."""
    return "n/a" if tflops is None else si(tflops * 1e12, "FLOP/s")


def count(n: float) -> str:
    """A count as parameter counts are written: 795904 -> "0.80 M", 1.28e9 -> "1.28 B", 1.28e12 ->
    "1.28 T"; 2304 -> "2,304"."""
    for scale, unit in ((1e12, "T"), (1e9, "B")):
        if n >= scale * 0.9995:  # 999.7e9 reads "1 T", not "1e+03 B"
            v = n / scale
            return f"{v:,.0f} {unit}" if v >= 999.5 else f"{v:.3g} {unit}"
    return f"{n / 1e6:.2f} M" if n >= 100_000 else f"{n:,.0f}"


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    """1 thread, 2 threads, 0 GPUs; irregular plurals as the third argument."""
    return f"{n} {word if n == 1 else (plural_word or word + 's')}"


def ms(seconds: float | None) -> str:
    """A duration in milliseconds with 3 significant digits: 0.0707 -> "70.7 ms"."""
    return "n/a" if seconds is None else f"{_sig(seconds * 1e3, 3)} ms"


def cpu_list(cpus: Sequence[int]) -> str:
    """(0, 1, 2, 3, 8) -> "0-3,8", the form taskset -c and /sys cpulists take."""
    return _runs(cpus, ",")


def ranges(ids: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5": ranks or GPU indices in prose."""
    return _runs(ids, ", ")


def _runs(xs_in: Sequence[int], sep: str) -> str:
    xs = sorted(set(xs_in))
    if not xs:
        return ""
    out: list[str] = []
    start = prev = xs[0]
    for x in [*xs[1:], None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        out.append(f"{start}-{prev}" if prev > start else f"{start}")
        if x is not None:
            start = prev = x
    return sep.join(out)
