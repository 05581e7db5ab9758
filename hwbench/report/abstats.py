"""The A/B statistics: a variant's sustained-throughput ratio to the baseline, and an honest interval.

Pure functions of step times (no torch, no clock), so they are tested on recorded and synthetic rounds.

Estimator. What a user gets from a change is its sustained throughput: FLOP/s over the median step
(warm-up excluded), the figure `hwbench mfu` prints for a whole run. One chunk's rate is exactly that,
over its own timed steps. A round's ratio is the variant chunk's rate over the baseline's, the baseline
taken as the geometric mean of the chunk before it and the next round's when there is one (drift of a
shared or virtualised machine cancels). The claimed speedup is the median of the per-round ratios.

Interval. A hierarchical bootstrap: resample the rounds, and within each drawn round resample the
steps of its chunks, then take the median ratio again; the 5th-95th percentiles of that statistic. A
bootstrap over n rounds is too narrow for few rounds, so its log-width about the estimate is widened
by t(0.95, n-1) / z(0.95) * sqrt(n / (n-1)), what a Student-t interval does over a normal one. With
fewer than two rounds there is no interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Verdict = Literal[
    "gain",
    "likely gain",
    "no change",
    "no measurable change",
    "likely slower",
    "slower",
    "inconclusive",
    "failed",
    "not measured",
]

LEVEL = 0.90  # the interval's coverage
# a claim is "precise" when its interval spans at most this ratio (1.2: about ±10%, the tolerance to
# which the project checks a claim against separate runs); a wider one gets a hedged verdict
PRECISE_SPAN = 1.20
BOOTSTRAP_DRAWS = 400
_Z95 = 1.6449
# Student-t 0.95 quantiles for 1..9 degrees of freedom (any statistics table)
_T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833)


@dataclass(frozen=True)
class RoundObs:
    """One round of one variant: its chunk's timed steps and the bracketing baseline chunks'."""

    variant_s: tuple[float, ...]
    baseline_s: tuple[tuple[float, ...], ...]  # the chunk before it, and the next round's if any
    work_ratio: float = 1.0  # the variant's FLOPs per step over the baseline's (a larger batch)

    def ratio(self) -> float:
        return ratio_of(self.variant_s, self.baseline_s, self.work_ratio)


def ratio_of(variant_s: Sequence[float], baseline_s: Sequence[Sequence[float]], work_ratio: float) -> float:
    """Throughput ratio: (work / median variant step) over the geometric mean of 1 / median baseline step."""
    base = math.exp(statistics.fmean(math.log(statistics.median(b)) for b in baseline_s))
    return work_ratio * base / statistics.median(variant_s)


def half_range_pct(values: Sequence[float]) -> float | None:
    """(max - min) / 2 over the median, in percent; None for fewer than two values."""
    if len(values) < 2:
        return None
    med = statistics.median(values)
    return (max(values) - min(values)) / 2.0 / med * 100.0 if med > 0 else None


def estimate(rounds: Sequence[RoundObs]) -> float | None:
    """The claimed speedup: median over rounds of the per-round ratio."""
    return statistics.median(r.ratio() for r in rounds) if rounds else None


def _resample(xs: Sequence[float], rng: random.Random) -> list[float]:
    return rng.choices(xs, k=len(xs))


def widen_factor(n_rounds: int) -> float:
    """How much wider than the bootstrap's the interval is made for `n_rounds` rounds (>= 2)."""
    t = _T95[n_rounds - 2] if n_rounds - 2 < len(_T95) else _Z95
    return t / _Z95 * math.sqrt(n_rounds / (n_rounds - 1))


def interval(
    rounds: Sequence[RoundObs], draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> tuple[float, float] | None:
    """The LEVEL interval of `estimate` (see the module docstring); None with fewer than two rounds."""
    n = len(rounds)
    point = estimate(rounds)
    if n < 2 or point is None:
        return None
    rng = random.Random(seed)
    stats: list[float] = []
    for _ in range(draws):
        drawn = rng.choices(rounds, k=n)
        stats.append(
            statistics.median(
                ratio_of(_resample(r.variant_s, rng), [_resample(b, rng) for b in r.baseline_s], r.work_ratio)
                for r in drawn
            )
        )
    stats.sort()
    tail = (1.0 - LEVEL) / 2.0
    lo = stats[int(tail * (draws - 1))]
    hi = stats[math.ceil((1.0 - tail) * (draws - 1))]
    w = widen_factor(n)
    lo_w = point * math.exp(w * math.log(min(lo, point) / point))
    hi_w = point * math.exp(w * math.log(max(hi, point) / point))
    return lo_w, hi_w


def is_precise(iv: tuple[float, float]) -> bool:
    return iv[1] / iv[0] <= PRECISE_SPAN


def classify(iv: tuple[float, float] | None) -> Verdict:
    """gain / slower when the interval excludes 1 and is precise; "likely ..." when it excludes 1 but is
    wide; "no change" when it holds 1 and is precise; "no measurable change" when it holds 1 and is wide."""
    if iv is None:
        return "inconclusive"
    lo, hi = iv
    precise = is_precise(iv)
    if lo > 1.0:
        return "gain" if precise else "likely gain"
    if hi < 1.0:
        return "slower" if precise else "likely slower"
    return "no change" if precise else "no measurable change"


def claim_text(point: float | None, iv: tuple[float, float] | None, noise_pct: float | None = None) -> str:
    """A speedup as printed: "1.17x (1.12-1.22)" when its interval is precise, only the interval
    ("1.02-1.71x") when not, "~1.14x (one round)" without one ("1.30x ±9%" for a recording made before
    intervals, which carries only its band)."""
    if point is None:
        return "-"
    if iv is None:
        return f"{point:.2f}x ±{noise_pct:.0f}%" if noise_pct else f"~{point:.2f}x (one round)"
    if is_precise(iv):
        return f"{point:.2f}x ({iv[0]:.2f}-{iv[1]:.2f})"
    # a very wide interval (two rounds on a busy machine) says only that nothing is known
    lo = f"{iv[0]:.2f}" if iv[0] >= 0.01 else "<0.01"
    hi = f"{iv[1]:.2f}" if iv[1] <= 10 else ">10"
    return f"{lo}-{hi}x"


def band_pct(point: float, iv: tuple[float, float]) -> float:
    """The interval as one ± percentage about the estimate (its wider side)."""
    return max(iv[1] / point - 1.0, 1.0 - iv[0] / point) * 100.0


CHECK_TOLERANCE = 0.10  # a precise claim holds when a separate run's ratio is within 10% of it


def claim_holds(claimed: float, claimed_iv: tuple[float, float] | None, realized: float) -> bool:
    """Whether separate runs (their ratio `realized`) reproduce a printed claim: inside the claim's own
    interval, or, for a precise claim (one printed as a number), within CHECK_TOLERANCE of it."""
    inside = claimed_iv is not None and claimed_iv[0] <= realized <= claimed_iv[1]
    precise = claimed_iv is None or is_precise(claimed_iv)
    return inside or (precise and abs(claimed / realized - 1.0) <= CHECK_TOLERANCE)
