"""Measured suggestions: short A/B runs of the same training step, interleaved with the baseline.

The parts: `planner` decides what to try and how long a chunk is (pure), `runner` runs the chunks
(every chunk in a fresh process, interleaved with baseline chunks, within a time budget), `abstats`
turns step times into a speedup and its interval (pure). This module holds the records they share and
builds each variant's result from its chunks, so a recording replays into the same figures.

Method. Rounds: one baseline chunk, then one chunk of every variant still open. Every chunk, baseline
included, runs in its own fresh process forked from a server that has already imported torch: a dtype
or batch switch changes the allocator's state and a thread-count change the thread pool's, which an
in-process A/B carries from one chunk into the next; a user applying the change starts a fresh
process too. A chunk's rate is FLOP/s over its median timed step (warm-up excluded), the estimator
`hwbench mfu` uses for the whole run; see `abstats` for the ratio and its interval.

Verdicts: "gain" / "slower" when the 90% interval excludes 1 and spans at most 1.2x; "likely gain" /
"likely slower" when it excludes 1 but is wider; "no change" when it holds 1 and is that narrow; "no
measurable change" when it holds 1 and is wider; "inconclusive" with fewer than two rounds.

Budget. Rounds stop when the next would not fit `budget_s`; a variant whose interval is already
precise stops earlier, leaving the time to the others; one more than 3x slower after one round gets a
second chunk only from left-over time. `torch.compile` is measured only when asked (~26 s to compile
on a 2-core CPU); otherwise it is listed as not measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hwbench.bench.config import GPTConfig
from hwbench.bench.step import StepOptions
from hwbench.report.abstats import (
    RoundObs,
    Verdict,
    band_pct,
    classify,
    estimate,
    half_range_pct,
    interval,
)
from hwbench.report.planner import BASELINE, Variant, batch_variant, combine, plan_variants

__all__ = [
    "ArmSample",
    "ChunkRecord",
    "ExperimentResult",
    "ExperimentsReport",
    "Variant",
    "Verdict",
    "batch_variant",
    "combine",
    "half_range_pct",
    "plan_variants",
    "result_from_chunks",
    "results_from_chunks",
]

# a baseline chunk whose median step is this many times the measured run's median step cannot be this
# configuration's own speed: other processes or the hypervisor took the CPUs during the whole chunk
CONTAMINATED_FACTOR = 2.5
# after one round, a variant more than 3x SLOWER is not repeated (bf16 on a CPU without bf16
# arithmetic: ~0.1x, and costly); anything else is, because one chunk must not decide a claim
DECIDED_RATIO = 3.0
METHOD_FORKED = "fresh process per chunk, interleaved with baseline chunks in fresh processes"
METHOD_IN_PROCESS = "in-process chunks, interleaved with baseline chunks in the same process"
ESTIMATOR = (
    "a chunk's rate is FLOP/s over its median timed step (warm-up excluded); speedup = median over rounds "
    "of (variant rate / geometric mean of the baseline chunks before and after it); interval: 90% "
    "bootstrap over rounds and the steps within them, widened for few rounds"
)


@dataclass(frozen=True)
class ArmSample:
    """What one chunk of training steps gave."""

    step_times_s: tuple[float, ...]  # timed steps, warm-up excluded
    flops_per_step: float
    wall_s: float
    peak_memory_bytes: int | None = None
    compile_time_s: float | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.step_times_s)

    @property
    def tflops(self) -> float:
        """The chunk's sustained rate: FLOPs per step over its median step."""
        return self.flops_per_step / self.median_s / 1e12


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as recorded: which arm, which round, its work per step and timed steps."""

    key: str  # the variant's key, or "baseline"
    round: int
    flops_per_step: float
    step_times_s: tuple[float, ...]


@dataclass(frozen=True)
class ExperimentResult:
    variant: Variant
    verdict: Verdict
    speedup: float | None  # sustained throughput vs the interleaved baseline: median of per-round ratios
    ratios: tuple[float, ...] = ()  # per round
    noise_pct: float = 0.0  # the interval as one ± percentage about the speedup (its wider side)
    step_time_s: float | None = None  # the variant's median step time, median over its chunks
    baseline_step_time_s: float | None = None  # the same for the baseline over the same rounds
    steps_timed: int = 0
    compile_time_s: float | None = None
    payback_steps: float | None = None  # compile time / time saved per step
    peak_memory_bytes: int | None = None
    note: str = ""
    interval: tuple[float, float] | None = None  # 90% interval of the speedup (abstats)
    method: str = ""  # how it was measured (METHOD_FORKED / METHOD_IN_PROCESS)


@dataclass(frozen=True)
class ExperimentsReport:
    results: tuple[ExperimentResult, ...]
    baseline_chunk_s: tuple[float, ...]  # the baseline chunk's median step, per chunk in time order
    run_to_run_spread_pct: float | None  # half-range of those over their median (None: one round)
    rounds: int
    wall_s: float
    budget_s: float
    skipped: tuple[str, ...] = ()  # sentences: what was not measured and why
    steal_pct: float | None = None  # VM steal over the experiments (/proc/stat)
    method: str = ""
    compiled: bool = False  # whether the arms ran compiled (False: eager, whatever the run was)
    compile_not_measured: str | None = None  # why torch.compile was not measured (also in `skipped`)
    chunks: tuple[ChunkRecord, ...] = ()  # every chunk's timed steps, for replay


# (model config, step options, the variant or None for the baseline, seconds the chunk may take or None)
ChunkRunner = Callable[[GPTConfig, StepOptions, Variant | None, float | None], ArmSample]


class ChunkTimeout(Exception):
    """A chunk ran past the time it was given (what was left of the budget) and was stopped."""


# -- results from chunks (pure) ----------------------------------------------------------------------


def round_obs(
    chunks: Mapping[int, ArmSample], base: Mapping[int, ArmSample], bad: set[int]
) -> list[RoundObs]:
    """Per round: the variant's chunk and the baseline chunks bracketing it (clean ones only)."""
    out = []
    for rnd, c in sorted(chunks.items()):
        b = base.get(rnd)
        if b is None or rnd in bad or not c.step_times_s or not b.step_times_s:
            continue
        brackets = [b.step_times_s]
        after = base.get(rnd + 1)
        if after is not None and rnd + 1 not in bad and after.step_times_s:
            brackets.append(after.step_times_s)
        out.append(RoundObs(c.step_times_s, tuple(brackets), c.flops_per_step / b.flops_per_step))
    return out


def _failed(v: Variant, error: str, method: str, oom: bool = False) -> ExperimentResult:
    """`oom`: decided where the error was raised (bench.oom.is_oom), never from this text."""
    note = ("out of memory" if oom else "failed") + f": {error}"
    return ExperimentResult(variant=v, verdict="failed", speedup=None, note=note, method=method)


def result_from_chunks(
    v: Variant,
    chunks: Mapping[int, ArmSample],
    base: Mapping[int, ArmSample],
    bad: set[int],
    *,
    error: str | None = None,
    oom: bool = False,
    method: str = "",
) -> ExperimentResult:
    """A variant's result from its chunks and the baseline's (round -> chunk; `bad`: rounds left out)."""
    if error is not None and not chunks:
        return _failed(v, error, method, oom)
    obs = round_obs(chunks, base, bad)
    point = estimate(obs)
    if point is None:
        return ExperimentResult(
            variant=v,
            verdict="not measured",
            speedup=None,
            note="not measured: over the time budget",
            method=method,
        )
    iv = interval(obs)
    steps = sum(len(c.step_times_s) for c in chunks.values())
    base_med = [base[r].median_s for r in chunks if r in base and r not in bad]
    comp = [c.compile_time_s for c in chunks.values() if c.compile_time_s is not None]
    step_s = statistics.median(c.median_s for c in chunks.values())
    base_s = statistics.median(base_med) if base_med else None
    compile_time = comp[0] if comp else None
    payback = None
    if compile_time is not None and base_s is not None and step_s < base_s:
        payback = compile_time / (base_s - step_s)
    mem = [c.peak_memory_bytes for c in chunks.values() if c.peak_memory_bytes is not None]
    note = f"{len(obs)} round{'s' if len(obs) != 1 else ''}, {steps} steps"
    if iv is None:
        note += "; one round: no interval, so no verdict"
    return ExperimentResult(
        variant=v,
        verdict=classify(iv),
        speedup=point,
        ratios=tuple(o.ratio() for o in obs),
        noise_pct=band_pct(point, iv) if iv else 0.0,
        step_time_s=step_s,
        baseline_step_time_s=base_s,
        steps_timed=steps,
        compile_time_s=compile_time,
        payback_steps=payback,
        peak_memory_bytes=max(mem) if mem else None,
        note=note,
        interval=iv,
        method=method,
    )


def _by_round(chunks: Sequence[ChunkRecord], key: str) -> dict[int, ArmSample]:
    return {
        c.round: ArmSample(step_times_s=c.step_times_s, flops_per_step=c.flops_per_step, wall_s=0.0)
        for c in chunks
        if c.key == key
    }


def results_from_chunks(
    variants: Sequence[Variant], chunks: Sequence[ChunkRecord], run_median_s: float, method: str = ""
) -> list[ExperimentResult]:
    """Replay: every variant's result from recorded chunks (the baseline's rule for bad rounds applied)."""
    base = _by_round(chunks, BASELINE.key)
    bad = {r for r, c in base.items() if c.median_s > CONTAMINATED_FACTOR * run_median_s}
    return [result_from_chunks(v, _by_round(chunks, v.key), base, bad, method=method) for v in variants]
