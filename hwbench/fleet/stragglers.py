"""Stragglers and spread across ranks: pure functions of per-rank figures, no I/O.

A synchronous data-parallel step waits for the slowest rank, so one slow GPU (a badly seated
heatsink, a throttled clock, a x8 link) costs the whole job its margin. A rank is a straggler when
its figure is more than `threshold` (a fraction, default 0.10) below the median of its *peers*
(every other rank): comparing against the peers' median, not the median including itself, keeps
the test meaningful for two ranks and is not pulled towards the rank under test.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.10


@dataclass(frozen=True)
class RankFigure:
    """One rank's figure (higher is better, e.g. achieved TFLOP/s) and where it ran."""

    rank: int
    host: str
    device: str
    value: float


@dataclass(frozen=True)
class Straggler:
    rank: int
    host: str
    device: str
    value: float
    peer_median: float
    below_median_fraction: float  # 0.2 means 20% below the peers' median


@dataclass(frozen=True)
class Spread:
    """min/median/max of the figure and (max - min) / median."""

    count: int
    min: float
    median: float
    max: float
    spread_fraction: float
    min_rank: int
    max_rank: int


def find_stragglers(figures: Sequence[RankFigure], threshold: float = DEFAULT_THRESHOLD) -> list[Straggler]:
    """Ranks more than `threshold` below the median of their peers, slowest first.

    Needs at least two figures (a rank with no peers is never a straggler). Figures that are not
    positive finite numbers are skipped: a rank that could not measure is reported elsewhere.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    valid = [f for f in figures if f.value == f.value and 0.0 < f.value < float("inf")]
    if len(valid) < 2:
        return []
    out: list[Straggler] = []
    for i, f in enumerate(valid):
        peers = [p.value for j, p in enumerate(valid) if j != i]
        peer_median = statistics.median(peers)
        below = 1.0 - f.value / peer_median
        if below > threshold:
            out.append(Straggler(f.rank, f.host, f.device, f.value, peer_median, below))
    out.sort(key=lambda s: (-s.below_median_fraction, s.rank))
    return out


def spread(figures: Sequence[RankFigure]) -> Spread | None:
    """The spread of the valid figures, or None when there are none."""
    valid = [f for f in figures if f.value == f.value and 0.0 < f.value < float("inf")]
    if not valid:
        return None
    lo = min(valid, key=lambda f: f.value)
    hi = max(valid, key=lambda f: f.value)
    med = statistics.median(f.value for f in valid)
    return Spread(len(valid), lo.value, med, hi.value, (hi.value - lo.value) / med, lo.rank, hi.rank)


def parse_threshold(text: str | None) -> float:
    """HWBENCH_STRAGGLER_THRESHOLD: a fraction ("0.1") or a percentage ("10%"); default 0.10."""
    from hwbench.errors import InputError

    if text is None or not text.strip():
        return DEFAULT_THRESHOLD
    t = text.strip()
    try:
        value = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError(
            f"straggler threshold {text!r} is not a number",
            hint="HWBENCH_STRAGGLER_THRESHOLD=0.1 (or 10%) flags ranks 10% below their peers' median",
        ) from None
    if not 0.0 <= value < 1.0:
        raise InputError(
            f"straggler threshold {text!r} must be between 0 and 1 (0% and 100%)",
            hint="e.g. 0.1 (or 10%) flags ranks 10% below their peers' median",
        )
    return value
