"""Robust timing summaries: medians, quartiles and VM-stall counting.

Why the median: on shared or virtualised machines single samples stall for 0.1-2 s (the hypervisor
deschedules the vCPU). A mean would absorb them; the median does not move. We still *count* stalls
(samples above `stall_factor` x median) so a run can say it saw them instead of hiding them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

STALL_FACTOR = 3.0


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    if not sorted_xs:
        raise ValueError("no samples")
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class Timing:
    """A summary of repeated timings, in seconds."""

    median_s: float
    min_s: float
    max_s: float
    p25_s: float
    p75_s: float
    samples_s: tuple[float, ...]
    stalls: int  # samples > stall_factor x median: reported, never dropped (the median ignores them)
    stall_factor: float = STALL_FACTOR

    @property
    def n(self) -> int:
        return len(self.samples_s)

    @property
    def spread_pct(self) -> float:
        """Inter-quartile range as a percentage of the median."""
        if self.median_s <= 0:
            return 0.0
        return (self.p75_s - self.p25_s) / self.median_s * 100.0

    @property
    def mean_s(self) -> float:
        return sum(self.samples_s) / len(self.samples_s)

    def stall_note(self) -> str | None:
        """A sentence for the user when stalls were seen, else None."""
        if not self.stalls:
            return None
        worst = self.max_s
        return (
            f"saw {self.stalls} stalled step{'s' if self.stalls != 1 else ''} "
            f"(> {self.stall_factor:g}x median, worst {worst * 1e3:.0f} ms vs median "
            f"{self.median_s * 1e3:.1f} ms); the median is unaffected"
        )


def summarize(samples_s: Sequence[float], stall_factor: float = STALL_FACTOR) -> Timing:
    """Summarise samples (seconds). Raises ValueError on an empty sequence."""
    xs = sorted(float(s) for s in samples_s)
    if not xs:
        raise ValueError("no samples to summarise")
    med = _quantile(xs, 0.5)
    stalls = sum(1 for s in xs if med > 0 and s > stall_factor * med)
    return Timing(
        median_s=med,
        min_s=xs[0],
        max_s=xs[-1],
        p25_s=_quantile(xs, 0.25),
        p75_s=_quantile(xs, 0.75),
        samples_s=tuple(float(s) for s in samples_s),
        stalls=stalls,
        stall_factor=stall_factor,
    )


def repeat(
    fn: Callable[[], object],
    *,
    repeats: int,
    warmup: int = 1,
    max_seconds: float | None = None,
    min_repeats: int = 3,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Call `fn` `warmup` times untimed, then time up to `repeats` calls, each on its own.

    `sync` (e.g. torch.cuda.synchronize) runs before each clock read so asynchronous devices are timed
    to completion. Stops early once `max_seconds` of timed work has passed and `min_repeats` are done.
    """
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    samples: list[float] = []
    start = clock()
    for i in range(repeats):
        t0 = clock()
        fn()
        if sync:
            sync()
        samples.append(clock() - t0)
        if max_seconds is not None and i + 1 >= min_repeats and clock() - start > max_seconds:
            break
    return summarize(samples)
