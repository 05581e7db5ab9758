"""Measured suggestions: short A/B runs of the same training step, interleaved with the baseline.

Method. Each candidate change (a `Variant`) is run as a short chunk of training steps through
`hwbench.bench.step.measure_step`, in rounds: baseline chunk, then one chunk of every variant still
open, then the next round. A chunk's rate is FLOP/s from its fastest step (interference only slows
steps, so the fastest of a few is the stable estimate on a shared machine; FLOP/s so that a larger
batch is compared fairly). A variant's speedup in a round is its rate over the baseline's, the baseline
bracketing it (geometric mean of the chunk before it and the next round's); its figure is the median
of those per-round ratios. Slow drift of a shared or virtualised machine therefore cancels.

Noise. The baseline's run-to-run spread is the half-range of its chunk rates over the rounds (as a
percentage of their median); a change counts as a gain only when its speedup exceeds 1 + the noise
band (the larger of that spread, the half-range of the variant's own per-round ratios, and a 3% floor)
and as a loss only below 1 - band. Anything in between is reported as "no measurable change".

Budget. Rounds stop when the next would not fit `budget_s`; a variant that is clearly decided after
one round (more than 3x slower) is not repeated; gains always are. `torch.compile` is measured only when
asked (its compile time alone is ~25 s on a 2-core CPU); otherwise it is listed as not measured.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hwbench.report.facts import RunFacts

Verdict = Literal["gain", "no change", "slower", "inconclusive", "failed", "not measured"]
# a baseline chunk whose fastest step is this many times the measured run's median step cannot be this
# configuration's own speed: other processes or the hypervisor took the CPUs during the whole chunk
CONTAMINATED_FACTOR = 2.5
NOISE_FLOOR_PCT = 3.0
# after one round, a variant more than 3x SLOWER is not repeated (bf16 on this VM: ~0.1x, and costly);
# a gain is always repeated, because one lucky or unlucky chunk must not decide a claim
DECIDED_RATIO = 3.0
# torch.compile's one-off cost on CPU for the seed model, measured while writing this module on the
# 2-vCPU Zen 3 VM (26 s; issue 5 quotes 25-26 s); used only to say why compile was not measured.
COMPILE_ESTIMATE_S = {"cpu": 26.0, "cuda": 40.0}


@dataclass(frozen=True)
class Variant:
    """One candidate change to the baseline run."""

    key: str  # "threads=1", "batch=48", "dtype=bf16", "compile", "tf32", "fused_adamw", "best"
    kind: str  # threads | pinning | batch | dtype | compile | fused_adamw | combination
    change: str  # for people: "1 thread instead of 2"
    config: dict[str, Any] = field(default_factory=dict)  # GPTConfig overrides (batch_size)
    options: dict[str, Any] = field(default_factory=dict)  # StepOptions overrides (threads, dtype...)
    cpus: tuple[int, ...] = ()  # pin every thread of the process to these logical CPUs
    parts: tuple[str, ...] = ()  # for a combination: the keys it combines


@dataclass(frozen=True)
class ArmSample:
    """What one chunk of training steps gave."""

    step_times_s: tuple[float, ...]
    flops_per_step: float
    wall_s: float
    peak_memory_bytes: int | None = None
    compile_time_s: float | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.step_times_s)

    @property
    def best_s(self) -> float:
        return min(self.step_times_s)

    @property
    def tflops(self) -> float:
        """The chunk's rate from its FASTEST step: interference (other processes, a VM's steal) only
        ever slows a step down, so on a shared machine the fastest of a few steps is the most stable
        estimate of what the configuration itself does; both arms of a ratio use the same estimator."""
        return self.flops_per_step / self.best_s / 1e12


@dataclass(frozen=True)
class ExperimentResult:
    variant: Variant
    verdict: Verdict
    speedup: float | None  # throughput vs the interleaved baseline: median of per-round ratios
    ratios: tuple[float, ...] = ()  # per round
    noise_pct: float = NOISE_FLOOR_PCT  # the band inside which no change is claimed
    step_time_s: float | None = None  # the variant's median step time
    baseline_step_time_s: float | None = None  # the baseline's median over the same rounds
    steps_timed: int = 0
    compile_time_s: float | None = None
    payback_steps: float | None = None  # compile time / time saved per step
    peak_memory_bytes: int | None = None
    note: str = ""


@dataclass(frozen=True)
class ExperimentsReport:
    results: tuple[ExperimentResult, ...]
    baseline_chunk_s: tuple[float, ...]  # the baseline chunk's fastest step, per chunk in time order
    run_to_run_spread_pct: float | None  # half-range of those over their median (None: one round)
    rounds: int
    wall_s: float
    budget_s: float
    skipped: tuple[str, ...] = ()  # sentences: what was not measured and why
    steal_pct: float | None = None  # VM steal over the experiments (/proc/stat)


Runner = Callable[[Any, Any, Variant | None], ArmSample]


# -- pure parts ----------------------------------------------------------------------------------------


def half_range_pct(values: Sequence[float]) -> float | None:
    """(max - min) / 2 over the median, in percent; None for fewer than two values."""
    if len(values) < 2:
        return None
    med = statistics.median(values)
    return (max(values) - min(values)) / 2.0 / med * 100.0 if med > 0 else None


def verdict(speedup: float | None, noise_pct: float) -> Verdict:
    if speedup is None or not math.isfinite(speedup):
        return "failed"
    band = noise_pct / 100.0
    if speedup > 1.0 + band:
        return "gain"
    if speedup < 1.0 - band:
        return "slower"
    return "no change"


def noise_band(baseline_spread_pct: float | None, ratios: Sequence[float]) -> float:
    own = half_range_pct(ratios)
    return max(NOISE_FLOOR_PCT, baseline_spread_pct or 0.0, own or 0.0)


def _cpu_list(cpus: Sequence[int]) -> str:
    from hwbench.report.explain import cpu_list

    return cpu_list(cpus)


def plan_variants(
    facts: RunFacts, *, include_compile: bool = False, budget_s: float = 30.0
) -> tuple[list[Variant], list[str]]:
    """The candidate changes that apply to this device and config, and sentences for those skipped."""
    variants: list[Variant] = []
    skipped: list[str] = []
    cfg = facts.config
    batch = int(cfg.get("batch_size", 1))
    cpu = facts.cpu
    if facts.is_cpu:
        t = facts.threads or (len(cpu.usable_cpus) if cpu and cpu.usable_cpus else os.cpu_count() or 1)
        thread_variants: list[Variant] = []
        if cpu is not None:
            usable = tuple(cpu.usable_cpus) or tuple(range(cpu.logical_cpus or t))
            one_per_core = cpu.one_cpu_per_core(usable)
            has_smt = any(len(g) > 1 for g in cpu.smt_siblings)
            if cpu.hybrid:
                p_cpus = tuple(c for c in cpu.p_core_cpus if c in usable) or tuple(cpu.p_core_cpus)
                p_one = cpu.one_cpu_per_core(p_cpus)
                if p_one and t > len(p_one):
                    thread_variants.append(
                        Variant(
                            key=f"pin=P-cores:{_cpu_list(p_one)}",
                            kind="pinning",
                            change=f"{len(p_one)} threads pinned to the P-cores only "
                            f"(CPUs {_cpu_list(p_one)}), "
                            f"instead of {t} threads across P- and E-cores",
                            options={"threads": len(p_one)},
                            cpus=p_one,
                        )
                    )
            if has_smt and t > len(one_per_core):
                thread_variants.append(
                    Variant(
                        key=f"pin=physical:{_cpu_list(one_per_core)}",
                        kind="pinning",
                        change=f"{len(one_per_core)} threads, one per physical core (CPUs "
                        f"{_cpu_list(one_per_core)}), instead of {t} on SMT siblings",
                        options={"threads": len(one_per_core)},
                        cpus=one_per_core,
                    )
                )
            if t > len(usable):
                thread_variants.append(
                    Variant(
                        key=f"threads={len(one_per_core)}",
                        kind="threads",
                        change=f"{len(one_per_core)} threads (one per usable core) instead of {t}",
                        options={"threads": len(one_per_core)},
                    )
                )
            elif t < len(one_per_core):
                thread_variants.append(
                    Variant(
                        key=f"threads={len(one_per_core)}",
                        kind="threads",
                        change=f"{len(one_per_core)} threads (every usable physical core) instead of {t}",
                        options={"threads": len(one_per_core)},
                        cpus=one_per_core if has_smt else (),
                    )
                )
            if not thread_variants and not has_smt and not cpu.hybrid:
                skipped.append(
                    f"pinning: not tried: the {len(usable)} usable CPUs are {len(one_per_core)} physical "
                    f"cores with no SMT siblings and no E-cores, so taskset would pin to the same set"
                )
        if not thread_variants and t >= 2:
            # all cores already used: check the other direction (a busy or throttled VM can prefer fewer)
            half = max(1, t // 2)
            thread_variants.append(
                Variant(
                    key=f"threads={half}",
                    kind="threads",
                    change=f"{half} thread{'s' if half != 1 else ''} instead of {t}",
                    options={"threads": half},
                )
            )
        variants.extend(thread_variants)
        if facts.dtype == "fp32":
            variants.append(
                Variant(
                    key="dtype=bf16",
                    kind="dtype",
                    change="bf16 autocast instead of fp32",
                    options={"dtype": "bf16"},
                )
            )
            isa = set(cpu.isa) if cpu else set()
            if {"amx_fp16", "avx512_fp16"} & isa:
                variants.append(
                    Variant(
                        key="dtype=fp16",
                        kind="dtype",
                        change="fp16 autocast instead of fp32",
                        options={"dtype": "fp16"},
                    )
                )
    elif facts.is_cuda:
        if facts.dtype == "fp32":
            variants.append(
                Variant(
                    key="dtype=tf32",
                    kind="dtype",
                    change="TF32 matmuls instead of fp32",
                    options={"dtype": "tf32"},
                )
            )
            if facts.peaks_tflops.get("bf16"):
                variants.append(
                    Variant(
                        key="dtype=bf16",
                        kind="dtype",
                        change="bf16 autocast instead of fp32",
                        options={"dtype": "bf16"},
                    )
                )
        elif facts.dtype == "fp16" and facts.peaks_tflops.get("bf16"):
            variants.append(
                Variant(
                    key="dtype=bf16",
                    kind="dtype",
                    change="bf16 autocast instead of fp16",
                    options={"dtype": "bf16"},
                )
            )
        if not facts.fused_adamw:
            variants.append(
                Variant(
                    key="fused_adamw", kind="fused_adamw", change="fused AdamW", options={"fused_adamw": True}
                )
            )
    for factor in (2, 4):
        variants.append(batch_variant(batch, batch * factor))
    if not facts.compile:
        kind = "cuda" if facts.is_cuda else "cpu"
        est = COMPILE_ESTIMATE_S.get(kind, 30.0)
        if include_compile:
            variants.append(
                Variant(key="compile", kind="compile", change="torch.compile", options={"compile": True})
            )
        else:
            why = (
                f"more than this {budget_s:.0f} s experiment budget"
                if est > budget_s
                else f"left out by default to keep hwbench mfu within its time goal (budget {budget_s:.0f} s)"
            )
            skipped.append(
                f"torch.compile: not measured: compiling alone takes ~{est:.0f} s here ({why}); "
                f"run with --advise-compile to measure it"
            )
    return variants, skipped


def batch_variant(base: int, new: int) -> Variant:
    return Variant(
        key=f"batch={new}",
        kind="batch",
        change=f"batch size {new} instead of {base} ({new / base:g}x the tokens per step)",
        config={"batch_size": new},
    )


def combine(results: Sequence[ExperimentResult]) -> Variant | None:
    """The best measured gain of each kind, together; None unless two or more kinds gained."""
    best: dict[str, ExperimentResult] = {}
    for r in results:
        if r.verdict != "gain" or r.speedup is None or r.variant.kind == "combination":
            continue
        group = "threads" if r.variant.kind in ("threads", "pinning") else r.variant.kind
        if group not in best or r.speedup > (best[group].speedup or 0):
            best[group] = r
    if len(best) < 2:
        return None
    picked = [best[g].variant for g in sorted(best)]
    config: dict[str, Any] = {}
    options: dict[str, Any] = {}
    cpus: tuple[int, ...] = ()
    for v in picked:
        config.update(v.config)
        options.update(v.options)
        cpus = v.cpus or cpus
    return Variant(
        key="best",
        kind="combination",
        change="together: " + "; ".join(v.change for v in picked),
        config=config,
        options=options,
        cpus=cpus,
        parts=tuple(v.key for v in picked),
    )


# -- running -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def pinned(cpus: Sequence[int]) -> Iterator[None]:
    """Pin every thread of this process to `cpus` for the block (like taskset -c), then restore."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved: dict[int, set[int]] = {}
    try:
        for tid in (int(x) for x in os.listdir("/proc/self/task")):
            with contextlib.suppress(OSError):
                saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, set(cpus))
        yield
    finally:
        for tid, mask in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


def measure_step_runner(cfg: Any, opts: Any, variant: Variant | None) -> ArmSample:
    """The default runner: one chunk through bench.step.measure_step (optionally pinned)."""
    from hwbench.bench.step import measure_step

    t0 = time.perf_counter()
    with pinned(variant.cpus if variant else ()):
        res = measure_step(cfg, opts)
    return ArmSample(
        step_times_s=tuple(res.timing.samples_s),
        flops_per_step=float(res.flops_per_step),
        wall_s=time.perf_counter() - t0,
        peak_memory_bytes=res.peak_memory_bytes,
        compile_time_s=res.compile_time_s,
    )


@dataclass
class _Arm:
    variant: Variant
    chunks: dict[int, ArmSample] = field(default_factory=dict)  # round -> chunk
    bad: set[int] = field(default_factory=set)  # rounds whose (baseline) chunk was contaminated
    error: str | None = None
    decided: bool = False
    last_wall_s: float | None = None


def _apply(base_cfg: Any, base_opts: Any, v: Variant, steps: int, max_s: float) -> tuple[Any, Any]:
    cfg = replace(base_cfg, **v.config) if v.config else base_cfg
    opts = replace(base_opts, **v.options) if v.options else base_opts
    # compile: the first warm-up step compiles; autocast: the first steps build its weight-cast caches
    warmup = 2 if v.options.get("compile") or v.options.get("dtype") not in (None, "fp32") else 1
    opts = replace(opts, warmup=warmup, steps=steps, max_seconds=max_s, min_steps=min(3, steps))
    return cfg, opts


def _steps_for(est_step_s: float, chunk_s: float, lo: int = 3, hi: int = 10) -> int:
    return max(lo, min(hi, round(chunk_s / max(est_step_s, 1e-4))))


def run_experiments(
    base_cfg: Any,
    base_opts: Any,
    variants: Sequence[Variant],
    *,
    baseline_step_s: float,
    runner: Runner | None = None,
    budget_s: float = 30.0,
    max_rounds: int = 4,
    chunk_s: float = 0.35,
    skipped: Sequence[str] = (),
    min_noise_pct: float = NOISE_FLOOR_PCT,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] | None = None,
    max_batch_factor: int = 16,
) -> ExperimentsReport:
    """Run the variants interleaved with the baseline within `budget_s`; see the module docstring.

    `min_noise_pct` is the smallest noise band any verdict uses (e.g. the measured run's own spread).
    A variant that does not fit the budget is reported as "not measured", never guessed.
    """
    run = runner or measure_step_runner
    t_start = clock()
    notes = list(skipped)
    base = Variant(key="baseline", kind="baseline", change="the run as measured")
    base_arm = _Arm(base)
    compile_arms = [_Arm(v) for v in variants if v.kind == "compile"]
    arms = [_Arm(v) for v in variants if v.kind != "compile"]
    base_batch = int(getattr(base_cfg, "batch_size", 1))
    # how much slower than the measured run chunks really are here and now (a busy machine)
    slowdown = [1.0]

    def left() -> float:
        return budget_s - (clock() - t_start)

    def factor_of(arm: _Arm) -> float:
        return float(max(1.0, arm.variant.config.get("batch_size", base_batch) / base_batch))

    def predicted_wall(arm: _Arm) -> float:
        f = factor_of(arm)
        steps = _steps_for(baseline_step_s * f, chunk_s * f**0.5)
        return (steps + 2) * baseline_step_s * f

    def est_wall(arm: _Arm) -> float:
        if arm.last_wall_s is not None:
            return arm.last_wall_s
        return predicted_wall(arm) * slowdown[0]

    def chunk(arm: _Arm, rnd: int) -> bool:
        f = factor_of(arm)
        steps = _steps_for(baseline_step_s * f, chunk_s * f**0.5)
        cfg, opts = _apply(base_cfg, base_opts, arm.variant, steps, chunk_s * f)
        if arm is not base_arm:
            opts = replace(opts, min_steps=2)
        if progress:
            progress(f"experiment {arm.variant.key} (round {rnd + 1})")
        t0 = clock()
        try:
            sample = run(cfg, opts, None if arm is base_arm else arm.variant)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # OOM, an unsupported dtype: the variant failed, the others go on
            arm.error = f"{type(e).__name__}: {str(e)[:160]}"
            arm.decided = True
            return False
        arm.chunks[rnd] = sample
        arm.last_wall_s = clock() - t0
        if arm is base_arm and sample.best_s > CONTAMINATED_FACTOR * baseline_step_s:
            arm.bad.add(rnd)
            arm.last_wall_s = predicted_wall(arm)  # a burst of interference does not predict the next chunk
        elif arm is base_arm and rnd == 0:
            slowdown[0] = max(1.0, arm.last_wall_s / max(predicted_wall(arm), 1e-6))
        return True

    rounds = 0
    combo_reserve = 0.15 * budget_s
    for rnd in range(max_rounds):
        open_arms = [a for a in arms if not a.decided and a.error is None]
        if rnd > 0:
            need = est_wall(base_arm) + sum(est_wall(a) for a in open_arms)
            if not open_arms or need > left() - combo_reserve:
                # still take a second baseline chunk when one fits: the spread needs two
                if rnd == 1 and est_wall(base_arm) < left():
                    chunk(base_arm, rnd)
                    rounds = rnd + 1
                break
        if not chunk(base_arm, rnd):
            notes.append(f"experiments stopped: the baseline failed ({base_arm.error})")
            break
        for a in open_arms:
            reserve = combo_reserve if rnd > 0 else 0.0
            if est_wall(a) > left() - reserve:
                continue
            chunk(a, rnd)
        if rnd == 1:
            # a variant decided after one round (far slower) gets a second chunk if time is left over:
            # one chunk must not set its figure alone
            for a in arms:
                if (
                    a.decided
                    and a.error is None
                    and len(a.chunks) == 1
                    and est_wall(a) < left() - combo_reserve
                ):
                    chunk(a, rnd)
        rounds = rnd + 1
        _decide_and_extend(arms, base_arm, rnd, base_batch, max_batch_factor, baseline_step_s, chunk_s)

    results = [_result(a, base_arm) for a in arms]
    if base_arm.last_wall_s is not None and any(r.verdict == "not measured" for r in results):
        busy = f"one baseline chunk took {base_arm.last_wall_s:.1f} s"
        results = [
            replace(r, note=f"not measured: the {budget_s:.0f} s experiment budget ran out ({busy})")
            if r.verdict == "not measured"
            else r
            for r in results
        ]
    clean = [c.best_s for r, c in base_arm.chunks.items() if r not in base_arm.bad]
    spread = half_range_pct(clean)
    floor = max(min_noise_pct, spread or 0.0)
    results = [_with_noise(r, floor) for r in results]
    if base_arm.bad:
        notes.append(
            f"{len(base_arm.bad)} baseline chunk(s) ran over {CONTAMINATED_FACTOR:g}x slower than the "
            f"measured run (other processes or the hypervisor had the CPUs): the rounds they anchor were "
            f"left out"
        )
    if len(clean) < 2:
        results = [
            replace(
                r,
                verdict="inconclusive",
                note=(r.note + "; " if r.note else "")
                + "fewer than two clean baseline chunks: no run-to-run spread, so no verdict",
            )
            if r.speedup is not None
            else r
            for r in results
        ]

    combo = combine(results)
    if combo is not None:
        arm = _Arm(combo)
        for extra in range(2):
            need = est_wall(base_arm) + est_wall(arm)
            if need > left():
                if extra == 0:
                    notes.append("best combination: not measured (over the time budget)")
                break
            chunk(base_arm, rounds + extra)
            chunk(arm, rounds + extra)
        if arm.chunks:
            results.append(_with_noise(_result(arm, base_arm), floor))

    for a in compile_arms:  # asked for explicitly: measured whatever the budget
        slot = rounds + 10
        chunk(base_arm, slot)
        cfg, opts = _apply(base_cfg, base_opts, a.variant, 8, max(2.0, chunk_s * 4))
        t0 = clock()
        try:
            if progress:
                progress("experiment torch.compile (compiling)")
            a.chunks[slot] = run(cfg, opts, a.variant)
            a.last_wall_s = clock() - t0
        except KeyboardInterrupt:
            raise
        except Exception as e:
            a.error = f"{type(e).__name__}: {str(e)[:160]}"
        results.append(_with_noise(_result(a, base_arm), floor))

    base_meds = tuple(c.best_s for _, c in sorted(base_arm.chunks.items()))  # contaminated ones included
    return ExperimentsReport(
        results=tuple(results),
        baseline_chunk_s=base_meds,
        run_to_run_spread_pct=spread,
        rounds=rounds,
        wall_s=clock() - t_start,
        budget_s=budget_s,
        skipped=tuple(notes),
    )


def _ratios(arm: _Arm, base_arm: _Arm) -> list[float]:
    """Per round: the variant's rate over the baseline's, the baseline taken as the geometric mean of
    the chunk before it (same round) and the next round's chunk when there is one (bracketing)."""
    out = []
    for rnd, c in sorted(arm.chunks.items()):
        b = base_arm.chunks.get(rnd)
        if b is None or rnd in base_arm.bad or c.best_s <= 0 or b.best_s <= 0:
            continue
        rate = b.tflops
        after = base_arm.chunks.get(rnd + 1)
        if after is not None and rnd + 1 not in base_arm.bad and after.best_s > 0 and arm is not base_arm:
            rate = math.sqrt(b.tflops * after.tflops)
        out.append(c.tflops / rate)
    return out


def _decide_and_extend(
    arms: list[_Arm],
    base_arm: _Arm,
    rnd: int,
    base_batch: int,
    max_factor: int,
    baseline_step_s: float,
    chunk_s: float,
) -> None:
    for a in arms:
        r = _ratios(a, base_arm)
        if rnd == 0 and r and r[-1] < 1.0 / DECIDED_RATIO:
            a.decided = True
    # batch sweep: extend while the largest batch still beats the one before it
    batch_arms = sorted(
        (a for a in arms if a.variant.kind == "batch" and a.error is None and a.chunks),
        key=lambda a: a.variant.config["batch_size"],
    )
    if len(batch_arms) >= 2:
        prev, last = batch_arms[-2], batch_arms[-1]
        rp, rl = _ratios(prev, base_arm), _ratios(last, base_arm)
        if rp and rl and statistics.median(rl) > statistics.median(rp) * (1 + NOISE_FLOOR_PCT / 100):
            nxt = last.variant.config["batch_size"] * 2
            new = all(a.variant.config.get("batch_size") != nxt for a in arms)
            # the predicted step time must still fit a chunk
            fits = baseline_step_s * nxt / base_batch <= max(2.0, 4 * chunk_s)
            if nxt <= base_batch * max_factor and new and fits:
                arms.append(_Arm(batch_variant(base_batch, nxt)))


def _result(arm: _Arm, base_arm: _Arm) -> ExperimentResult:
    v = arm.variant
    if arm.error is not None and not arm.chunks:
        low = arm.error.lower()
        # CUDA: OutOfMemoryError; CPU: "DefaultCPUAllocator: not enough memory" / "can't allocate memory"
        oom = any(k in low for k in ("out of memory", "outofmemory", "not enough memory", "can't allocate"))
        return ExperimentResult(
            variant=v,
            verdict="failed",
            speedup=None,
            note=("out of memory" if oom else "failed") + f": {arm.error}",
        )
    ratios = _ratios(arm, base_arm)
    if not ratios:
        return ExperimentResult(
            variant=v, verdict="not measured", speedup=None, note="not measured: over the time budget"
        )
    speedup = statistics.median(ratios)
    steps = [t for c in arm.chunks.values() for t in c.step_times_s]
    # shown beside the speedup, with the same estimator: each chunk's fastest step, median over chunks
    base_steps = [base_arm.chunks[r].best_s for r in arm.chunks if r in base_arm.chunks]
    comp = [c.compile_time_s for c in arm.chunks.values() if c.compile_time_s is not None]
    step_s = statistics.median(c.best_s for c in arm.chunks.values())
    base_s = statistics.median(base_steps) if base_steps else None
    payback = None
    compile_time = comp[0] if comp else None
    if compile_time is not None and base_s is not None and step_s < base_s:
        payback = compile_time / (base_s - step_s)
    mem = [c.peak_memory_bytes for c in arm.chunks.values() if c.peak_memory_bytes is not None]
    return ExperimentResult(
        variant=v,
        verdict="no change",  # set by _with_noise once the baseline spread is known
        speedup=speedup,
        ratios=tuple(ratios),
        step_time_s=step_s,
        baseline_step_time_s=base_s,
        steps_timed=len(steps),
        compile_time_s=compile_time,
        payback_steps=payback,
        peak_memory_bytes=max(mem) if mem else None,
        note=f"{len(ratios)} round{'s' if len(ratios) != 1 else ''}, {len(steps)} steps",
    )


def _with_noise(r: ExperimentResult, floor_pct: float) -> ExperimentResult:
    if r.speedup is None:
        return r
    band = noise_band(floor_pct, r.ratios)
    return replace(r, noise_pct=band, verdict=verdict(r.speedup, band))
