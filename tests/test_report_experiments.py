"""The A/B scheduler, its statistics, planning and ranking, replaying recorded step times (no torch runs
except the fresh-process runner's own test).

The fake runner answers each chunk with the step time recorded for that variant on this VM
(tests/fixtures/report/this-kvm-epyc-seed.json), with a few percent of step-to-step jitter, and
advances a fake clock by what the chunk would have taken, so interleaving, the budget and the verdicts
are tested deterministically.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest
from helpers import on_machine, recorded

from hwbench.bench.config import preset
from hwbench.bench.step import StepOptions
from hwbench.report.abstats import (
    RoundObs,
    claim_holds,
    claim_text,
    classify,
    estimate,
    half_range_pct,
    interval,
    widen_factor,
)
from hwbench.report.experiments import (
    ArmSample,
    ChunkRecord,
    ChunkTimeout,
    ExperimentResult,
    Variant,
    combine,
    plan_variants,
    results_from_chunks,
)
from hwbench.report.runner import run_experiments
from hwbench.report.suggest import Suggestion, hwbench_command, nanogpt_command, rank, suggestions


class FakeMachine:
    """Step times per variant key, with step jitter; a drift factor per call to check that interleaving
    cancels it."""

    def __init__(
        self,
        step_s: dict[str, float],
        drift: float = 1.0,
        fail: set[str] | None = None,
        jitter: float = 0.03,
        seed: int = 1,
    ) -> None:
        self.step_s = step_s
        self.now = 0.0
        self.calls: list[str] = []
        self.drift = drift
        self.factor = 1.0
        self.fail = fail or set()
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.spikes: dict[int, float] = {}  # call index -> slowdown of that whole chunk (interference)

    def clock(self) -> float:
        return self.now

    def run(self, cfg: Any, opts: Any, variant: Variant | None, timeout_s: float | None = None) -> ArmSample:
        key = variant.key if variant else "baseline"
        self.calls.append(key)
        if key in self.fail:
            # torch's own CPU message (c10/core/impl/alloc_cpu.cpp)
            raise RuntimeError(
                "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                "you tried to allocate 1073741824 bytes."
            )
        t = self.step_s[key] * self.factor * self.spikes.get(len(self.calls) - 1, 1.0)
        self.factor *= self.drift  # the machine slows down call after call
        n = opts.steps
        # interference only slows a step: jitter is one-sided
        steps = tuple(t * (1.0 + self.jitter * abs(self.rng.gauss(0.0, 1.0))) for _ in range(n))
        took = opts.warmup * t + sum(steps)
        if timeout_s is not None and took > timeout_s:  # what the fresh-process runner does
            self.now += timeout_s
            raise ChunkTimeout(f"stopped after {timeout_s:.1f} s")
        self.now += took
        from hwbench.bench.flops import flops_per_step

        return ArmSample(step_times_s=steps, flops_per_step=flops_per_step(cfg), wall_s=(n + 1) * t)


def recorded_step_times() -> tuple[dict[str, float], float]:
    facts, ex, _ = recorded()
    assert ex is not None
    times = {"baseline": ex.baseline_chunk_s[0]}
    for r in ex.results:
        if r.step_time_s is not None:
            times[r.variant.key] = r.step_time_s
    return times, facts.step_time_s


def seed() -> tuple[Any, Any]:
    return preset("nanogpt-cpu"), StepOptions(device="cpu", threads=2)


def synthetic_rounds(
    ratio: float, n_rounds: int, rng: random.Random, round_sd: float = 0.03, step_sd: float = 0.05
) -> list[RoundObs]:
    """Rounds of a variant `ratio` times faster than a 30 ms baseline: per-round drift shared by both
    arms' chunks, plus a different share of round-to-round noise per arm, plus one-sided step jitter."""
    out = []

    def chunk(step: float, drift: float) -> tuple[float, ...]:
        own = math.exp(rng.gauss(0.0, round_sd))
        return tuple(step * drift * own * (1 + step_sd * abs(rng.gauss(0, 1))) for _ in range(10))

    for _ in range(n_rounds):
        d = math.exp(rng.gauss(0.0, 0.05))

        out.append(RoundObs(chunk(0.030 / ratio, d), (chunk(0.030, d), chunk(0.030, d))))
    return out


def test_verdicts_follow_the_interval_and_its_precision() -> None:
    assert classify((1.05, 1.15)) == "gain"
    assert classify((1.05, 1.60)) == "likely gain"  # excludes 1 but too wide to print a number
    assert classify((0.96, 1.08)) == "no change"
    assert classify((0.80, 1.30)) == "no measurable change"
    assert classify((0.50, 0.70)) == "likely slower"
    assert classify((0.85, 0.95)) == "slower"
    assert classify(None) == "inconclusive"  # fewer than two rounds
    assert half_range_pct([1.0, 1.1, 0.9]) == pytest.approx(10.0)
    assert half_range_pct([1.0]) is None
    # fewer rounds, wider: t(0.95, 2)/z * sqrt(3/2) for three rounds, approaching 1 with many
    assert widen_factor(3) == pytest.approx(2.920 / 1.6449 * math.sqrt(1.5), rel=1e-3)
    assert widen_factor(2) > widen_factor(3) > widen_factor(6) > widen_factor(30) > 1.0


def test_claim_check_rule() -> None:
    assert claim_holds(1.17, (1.10, 1.25), 1.20)  # inside its interval
    assert claim_holds(1.28, (1.22, 1.34), 1.17)  # outside, but within 10% of the separate runs' ratio
    assert not claim_holds(1.53, (1.45, 1.60), 1.17)  # the case: far outside both
    # a hedged claim prints no number: only its interval counts
    assert not claim_holds(1.10, (0.90, 1.60), 1.70)
    assert claim_holds(1.10, (0.90, 1.60), 1.50)


def test_interval_covers_the_true_ratio_about_as_often_as_it_says() -> None:
    rng = random.Random(7)
    for n_rounds in (3, 5):
        covered = 0
        trials = 120
        for _ in range(trials):
            rounds = synthetic_rounds(1.2, n_rounds, rng)
            iv = interval(rounds, draws=200, seed=rng.randrange(1 << 30))
            assert iv is not None
            # the "true" ratio of the medians: one-sided half-normal jitter scales both arms alike
            covered += iv[0] <= 1.2 <= iv[1]
        assert covered / trials >= 0.8  # nominal 90%; a floor-based band covered far less


def test_the_estimator_is_the_median_step_not_the_fastest() -> None:
    """Two arms whose step-time distributions differ in shape: the variant's best step is far below its
    typical one (the issue's bf16 case). The claim follows the medians, which a user's run reports."""
    base = tuple(0.030 * (1 + 0.02 * i / 9) for i in range(10))  # tight: 30-30.6 ms
    var = (0.018, *(0.025 * (1 + 0.02 * i / 8) for i in range(9)))  # one 18 ms step, else ~25 ms
    r = RoundObs(var, (base,))
    medians = (sorted(base)[4] + sorted(base)[5]) / 2 / ((sorted(var)[4] + sorted(var)[5]) / 2)
    assert r.ratio() == pytest.approx(medians)
    assert r.ratio() < 1.25 < min(base) / min(var)  # a ratio of minima would claim 1.67x
    assert estimate([r, r, r]) == pytest.approx(r.ratio())
    assert interval([r]) is None


def test_plan_on_this_vm_threads_bf16_batches_and_compile_not_measured() -> None:
    facts, _, _ = recorded()
    variants, skipped = plan_variants(facts, budget_s=30)
    keys = [v.key for v in variants]
    assert keys == ["threads=1", "dtype=bf16", "batch=24", "batch=48"]
    assert not any(v.kind == "pinning" for v in variants)  # 2 physical cores, no SMT, no E-cores
    assert any(s.startswith("pinning: not tried") for s in skipped)
    assert any(s.startswith("torch.compile: not measured") and "--advise-compile" in s for s in skipped)
    assert "tf32" not in " ".join(keys) and "fused" not in " ".join(keys)  # CUDA-only changes
    with_compile, skipped2 = plan_variants(facts, include_compile=True)
    assert "compile" in [v.key for v in with_compile]
    assert not any(s.startswith("torch.compile") for s in skipped2)


def test_plan_on_a_hybrid_cpu_pins_to_one_thread_per_p_core() -> None:
    facts, _, _ = recorded()
    hybrid = on_machine(facts, "alder-lake-p-laptop", threads=16)
    variants, _ = plan_variants(hybrid)
    pins = [v for v in variants if v.kind == "pinning"]
    p_only = next(v for v in pins if v.key.startswith("pin=P-cores"))
    assert p_only.cpus == (0, 2, 4, 6) and p_only.options == {"threads": 4}
    phys = next(v for v in pins if v.key.startswith("pin=physical"))
    assert phys.options == {"threads": 12} and len(phys.cpus) == 12
    cmd, env, _ = nanogpt_command(hybrid, p_only)
    assert cmd.startswith("OMP_NUM_THREADS=4 taskset -c 0,2,4,6 python train.py")
    assert env == {"OMP_NUM_THREADS": "4"}
    assert hwbench_command(hybrid, p_only).startswith("taskset -c 0,2,4,6 hwbench mfu")


def test_interleaving_cancels_drift_and_reports_each_change() -> None:
    times, base_step = recorded_step_times()
    m = FakeMachine(times, drift=1.01)  # 1% slower on every call: a drifting, shared VM
    cfg, opts = seed()
    facts, _, _ = recorded()
    variants, skipped = plan_variants(facts)
    rep = run_experiments(
        cfg,
        opts,
        variants,
        baseline_step_s=base_step,
        runner=m.run,
        clock=m.clock,
        budget_s=200,
        skipped=skipped,
    )
    # every round starts with the baseline
    assert m.calls[0] == "baseline"
    assert rep.rounds >= 2 and m.calls.count("baseline") >= rep.rounds
    by_key = {r.variant.key: r for r in rep.results}
    t1 = by_key["threads=1"]
    assert t1.speedup == pytest.approx(times["baseline"] / times["threads=1"], rel=0.06)
    bf16 = by_key["dtype=bf16"]
    assert bf16.verdict == "likely slower"  # two rounds: a wide interval, but all of it far below 1
    assert bf16.interval is not None and bf16.interval[1] < 0.5
    # decided after one round: only one more chunk, from left-over time, not one every round
    assert len(bf16.ratios) == 2 < len(t1.ratios)
    assert rep.wall_s <= 200 * 1.2
    assert rep.skipped == tuple(skipped)


def test_budget_is_respected_and_unrun_variants_are_not_measured() -> None:
    times, base_step = recorded_step_times()
    m = FakeMachine({k: v * 20 for k, v in times.items()})  # a machine 20x slower than when recorded
    cfg, opts = seed()
    facts, _, _ = recorded()
    variants, _ = plan_variants(facts)
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=base_step, runner=m.run, clock=m.clock, budget_s=8
    )
    assert rep.wall_s <= 8 + 20 * times["baseline"] * 12  # at most one chunk past the budget
    assert any(r.verdict == "not measured" for r in rep.results)
    sug = suggestions(facts, rep)
    assert [s.verdict for s in sug][-1] == "not measured"


def test_a_failing_variant_is_reported_and_the_others_go_on() -> None:
    times, base_step = recorded_step_times()
    m = FakeMachine(times, fail={"batch=48"})
    cfg, opts = seed()
    facts, _, _ = recorded()
    variants, _ = plan_variants(facts)
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=base_step, runner=m.run, clock=m.clock, budget_s=300
    )
    r = next(r for r in rep.results if r.variant.key == "batch=48")
    assert r.verdict == "failed" and "out of memory" in r.note
    assert all(r.speedup is not None for r in rep.results if r.variant.key != "batch=48")


def test_batch_sweep_extends_while_it_gains_and_stops_when_flat() -> None:
    cfg, opts = seed()
    base = 0.05
    # throughput keeps rising up to batch 96, then flat: step time ~ batch until 96, then linear
    times = {
        "baseline": base,
        "batch=24": base * 1.5,
        "batch=48": base * 2.5,
        "batch=96": base * 4.0,
        "batch=192": base * 8.0,
    }
    m = FakeMachine(times)
    variants = [v for v in plan_variants(recorded()[0])[0] if v.kind == "batch"]
    rep = run_experiments(cfg, opts, variants, baseline_step_s=base, runner=m.run, clock=m.clock, budget_s=60)
    keys = [r.variant.key for r in rep.results]
    assert "batch=96" in keys and "batch=192" in keys  # extended while gaining
    assert "batch=384" not in keys  # 192 gave nothing over 96: the sweep stopped
    by = {r.variant.key: r for r in rep.results}
    assert by["batch=192"].speedup == pytest.approx(by["batch=96"].speedup, rel=0.01)


def test_best_combination_is_built_from_two_kinds_of_gain() -> None:
    def res(key: str, kind: str, speedup: float, verdict_: str = "gain", **kw: Any) -> ExperimentResult:
        return ExperimentResult(
            variant=Variant(key=key, kind=kind, change=key, **kw),
            verdict=verdict_,  # type: ignore[arg-type]
            speedup=speedup,
        )

    combo = combine(
        [
            res("threads=4", "threads", 1.3, options={"threads": 4}),
            res("pin=P-cores:0,2,4,6", "pinning", 1.5, options={"threads": 4}, cpus=(0, 2, 4, 6)),
            res("batch=48", "batch", 1.1, config={"batch_size": 48}),
            res("dtype=bf16", "dtype", 0.5, "slower", options={"dtype": "bf16"}),
        ]
    )
    assert combo is not None
    assert combo.parts == ("batch=48", "pin=P-cores:0,2,4,6")  # best of the threads group, no loser
    assert combo.cpus == (0, 2, 4, 6) and combo.config == {"batch_size": 48}
    assert "dtype" not in combo.options
    assert combine([res("batch=48", "batch", 1.1)]) is None  # one kind of gain: nothing to combine


def test_ranking_gains_first_then_no_change_then_losses_then_unmeasured() -> None:
    def s(key: str, verdict_: str, sp: float | None) -> Suggestion:
        return Suggestion(
            key=key,
            kind="x",
            change=key,
            verdict=verdict_,
            measured_speedup=sp,
            noise_pct=3.0,
            new_achieved_tflops=None,
            new_mfu=None,
            new_mfu_source=None,
            command="",
            hwbench_command="",
        )

    ranked = rank(
        [
            s("a", "slower", 0.6),
            s("b", "gain", 1.1),
            s("c", "not measured", None),
            s("d", "gain", 1.7),
            s("e", "no change", 1.01),
            s("f", "slower", 0.06),
        ]
    )
    assert [x.key for x in ranked] == ["d", "b", "e", "a", "f", "c"]


def test_recorded_suggestions_carry_figures_commands_and_losses() -> None:
    facts, ex, _ = recorded()
    sug = suggestions(facts, ex)
    assert [x.verdict for x in sug] == sorted(
        (x.verdict for x in sug),
        key=lambda v: ["gain", "no change", "slower", "failed", "not measured"].index(v),
    )
    bf16 = next(x for x in sug if x.key == "dtype=bf16")
    assert bf16.verdict == "slower" and bf16.measured_speedup is not None and bf16.measured_speedup < 1
    assert "nullcontext" in bf16.note  # nanoGPT ignores --dtype on CPU: the edit is spelled out
    # one denominator for every change: bf16 has no faster path on this Zen 3 (hwbench.peaks gives
    # it the fp32 rate), so the scale is the run's own fp32 peak, the headline MFU's
    assert {x.new_mfu_source for x in sug if x.new_mfu is not None} == {"the fp32 peak (0.185 TFLOP/s)"}
    assert bf16.new_mfu == pytest.approx(bf16.new_achieved_tflops / facts.peak_tflops)
    t1 = next(x for x in sug if x.key == "threads=1")
    assert t1.command.startswith(
        "OMP_NUM_THREADS=1 python train.py config/train_shakespeare_char.py --device=cpu"
    )
    assert "--batch_size=12" in t1.command and t1.hwbench_command.endswith("--threads 1")
    b48 = next(x for x in sug if x.key == "batch=48")
    assert "--batch_size=48" in b48.command and "--batch-size 48" in b48.hwbench_command
    for x in sug:
        if x.measured_speedup is not None:
            assert x.new_achieved_tflops == pytest.approx(facts.achieved_tflops * x.measured_speedup)
            tokens_per_s = facts.tokens_per_step / facts.step_time_s
            assert x.new_tokens_per_s == pytest.approx(tokens_per_s * x.measured_speedup)
    comp = next(x for x in sug if x.key == "compile")
    assert comp.verdict == "not measured" and "--compile=True" in comp.command


def test_baseline_threads_are_explicit_so_a_threads_variant_cannot_leak() -> None:
    cfg, opts = seed()
    seen: list[int | None] = []

    def runner(c: Any, o: Any, v: Variant | None, timeout_s: float | None) -> ArmSample:
        seen.append(o.threads)
        return ArmSample(step_times_s=(0.05,) * o.steps, flops_per_step=4e9, wall_s=0.1)

    run_experiments(
        cfg,
        opts,
        [Variant(key="threads=1", kind="threads", change="", options={"threads": 1})],
        baseline_step_s=0.05,
        runner=runner,
        budget_s=20,  # every clock reading is a second later: room for two rounds
        clock=iter(range(0, 1000)).__next__,
    )
    assert seen[0] == 2 and 1 in seen and all(t in (1, 2) for t in seen)
    assert replace(opts, threads=None).threads is None  # (the caller, advise(), fills it from the run)


def test_plan_on_cuda_offers_tensor_core_dtypes_and_no_cpu_knobs() -> None:
    from hwbench.peaks import gpu_peak
    from hwbench.report.facts import GpuFacts

    facts, _, _ = recorded()
    peak = gpu_peak("NVIDIA GeForce RTX 4070 Ti")  # datasheet table (hwbench.peaks)
    cuda = replace(
        facts,
        device="cuda:0",
        dtype="fp32",
        peaks_tflops=dict(peak.peaks_tflops),
        peak_tflops=peak.peaks_tflops["fp32"],
        cpu=None,
        threads=None,
        fused_adamw=False,
        gpus=(GpuFacts(name="NVIDIA GeForce RTX 4070 Ti", vendor="nvidia", usable_by_torch=True),),
    )
    variants, _ = plan_variants(cuda)
    keys = [v.key for v in variants]
    assert keys[:3] == ["dtype=tf32", "dtype=bf16", "fused_adamw"]
    assert not any(v.kind in ("threads", "pinning") for v in variants)
    tf32 = variants[0]
    cmd, env, note = nanogpt_command(cuda, tf32)
    assert cmd.startswith("python train.py config/train_shakespeare_char.py --device=cuda --dtype=float32")
    assert env == {} and "taskset" not in cmd and "OMP_NUM_THREADS" not in cmd
    assert "already runs matmuls in TF32" in note
    assert hwbench_command(cuda, tf32).startswith("hwbench mfu --device cuda --preset nanogpt-cpu")
    assert "--dtype tf32" in hwbench_command(cuda, tf32) and "--threads" not in hwbench_command(cuda, tf32)
    # compile is on by default on CUDA: an eager run's command says --no-compile, or it would measure
    # compiled steps; a change no hwbench flag expresses (fused AdamW) prints no hwbench command
    assert hwbench_command(cuda, tf32).endswith("--no-compile")
    assert hwbench_command(cuda, next(v for v in variants if v.key == "fused_adamw")) == ""
    biased = replace(cuda, config={**cuda.config, "bias": True})
    assert "--bias" in hwbench_command(biased, tf32).split()
    # a bf16, compiled, fused run (nanoGPT's CUDA defaults) leaves only the batch sweep to try
    default = replace(cuda, dtype="bf16", compile=True, fused_adamw=True)
    assert [v.kind for v in plan_variants(default)[0]] == ["batch", "batch"]


def test_a_baseline_chunk_hit_by_interference_cannot_make_a_claim() -> None:
    """Recorded on this VM (bench5): one baseline chunk ran 35x slow and 1 thread looked 29x faster."""
    cfg, opts = seed()
    times = {"baseline": 0.065, "threads=1": 0.095, "dtype=bf16": 1.0, "batch=24": 0.11, "batch=48": 0.21}
    variants, _ = plan_variants(recorded()[0])
    m = FakeMachine(times)
    m.spikes = {0: 35.0}  # the first call is round 1's baseline chunk
    # (the 35x slow chunk alone takes ~23 s of the budget)
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=0.065, runner=m.run, clock=m.clock, budget_s=120
    )
    t1 = next(r for r in rep.results if r.variant.key == "threads=1")
    assert t1.speedup is not None and t1.speedup < 1.0  # the contaminated round is left out
    assert t1.verdict == "slower"
    assert len(t1.ratios) == sum(1 for c in rep.chunks if c.key == "threads=1") - 1  # round 1's is out
    assert any("left out" in n for n in rep.skipped)
    # with no second clean baseline chunk there is no verdict at all
    m2 = FakeMachine(times)
    m2.spikes = {0: 35.0}
    rep2 = run_experiments(
        cfg,
        opts,
        variants[:1],
        baseline_step_s=0.065,
        runner=m2.run,
        clock=m2.clock,
        budget_s=0.2,
        max_rounds=1,
    )
    assert all(r.verdict in ("inconclusive", "not measured") for r in rep2.results)


def test_a_fewer_threads_gain_on_a_busy_machine_says_so() -> None:
    facts, ex, _ = recorded("this-kvm-epyc-seed-busy.json")  # threads=1 measured 2.32x there, under load
    busy = replace(facts, others_busy_pct=78.0)
    t1 = next(s for s in suggestions(busy, ex) if s.key == "threads=1")
    assert t1.verdict == "gain" and "78% of the CPUs busy" in t1.note and "re-measure" in t1.note
    quiet = next(s for s in suggestions(replace(facts, others_busy_pct=2.0), ex) if s.key == "threads=1")
    assert "busy" not in quiet.note


def test_a_faster_dtype_change_never_reads_as_a_lower_mfu() -> None:
    """With each change's own dtype peak, bf16 at 1.5x read below its fp32 baseline (the bf16 peak is
    twice the fp32 one on an AVX512_BF16 CPU); on one scale, faster is always higher."""
    import dataclasses

    from hwbench.report.suggest import mfu_scale

    facts, ex, _ = recorded()
    assert ex is not None
    zen5 = dataclasses.replace(facts, peaks_tflops={**facts.peaks_tflops, "bf16": 2 * facts.peak_tflops})
    fast = [dataclasses.replace(r, speedup=1.5, verdict="gain") if r.variant.key == "dtype=bf16" else r
            for r in ex.results]  # fmt: skip
    sug = suggestions(zen5, dataclasses.replace(ex, results=tuple(fast)))
    scale = mfu_scale(zen5, ex)
    assert scale.dtype == "bf16" and scale.peak_tflops == pytest.approx(2 * facts.peak_tflops)
    baseline_mfu = scale.mfu(facts.achieved_tflops)
    assert baseline_mfu is not None
    for x in sug:
        if x.measured_speedup is not None:
            assert x.new_mfu == pytest.approx(baseline_mfu * x.measured_speedup)
            assert x.new_mfu_source == scale.source and "highest of the dtypes compared" in scale.source
    assert sug[0].key == "dtype=bf16" and sug[0].new_mfu is not None and sug[0].new_mfu > baseline_mfu
    # a dtype change that was not measured shows no MFU, so it does not set the scale either
    unmeasured = [
        dataclasses.replace(r, speedup=None, verdict="not measured") if r.variant.key == "dtype=bf16" else r
        for r in ex.results
    ]
    assert mfu_scale(zen5, dataclasses.replace(ex, results=tuple(unmeasured))).dtype == facts.dtype


def test_a_recording_of_the_chunks_replays_into_the_same_results() -> None:
    times, base_step = recorded_step_times()
    m = FakeMachine(times, drift=1.005)
    cfg, opts = seed()
    variants, _ = plan_variants(recorded()[0])
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=base_step, runner=m.run, clock=m.clock, budget_s=60
    )
    measured = [r for r in rep.results if r.speedup is not None]
    assert measured and rep.chunks
    replayed = {
        r.variant.key: r for r in results_from_chunks([r.variant for r in measured], rep.chunks, base_step)
    }
    for r in measured:
        assert replayed[r.variant.key].speedup == pytest.approx(r.speedup)
        assert replayed[r.variant.key].interval == pytest.approx(r.interval)
        assert replayed[r.variant.key].verdict == r.verdict


def test_a_precise_variant_stops_taking_rounds_and_leaves_them_to_the_others() -> None:
    cfg, opts = seed()
    m = FakeMachine({"baseline": 0.03, "threads=1": 0.045, "batch=24": 0.05}, jitter=0.002)
    variants = [
        Variant(key="threads=1", kind="threads", change="", options={"threads": 1}),
        Variant(key="batch=24", kind="batch", change="", config={"batch_size": 24}),
    ]
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=0.03, runner=m.run, clock=m.clock, budget_s=300
    )
    by = {r.variant.key: r for r in rep.results}
    assert by["threads=1"].verdict == "slower" and by["batch=24"].verdict == "gain"
    assert all(r.interval is not None and r.interval[1] / r.interval[0] <= 1.2 for r in by.values())
    assert m.calls.count("threads=1") == 3  # settled after three rounds, with time left
    assert rep.wall_s < 300 / 4


def test_a_compiled_runs_eager_ab_is_not_projected_onto_its_compiled_rate() -> None:
    facts, ex, _ = recorded()
    assert ex is not None
    compiled = replace(facts, compile=True)
    eager = replace(ex, compiled=False, method="fresh process per chunk")
    sug = [s for s in suggestions(compiled, eager) if s.measured_speedup is not None]
    assert sug
    for s in sug:
        assert s.new_achieved_tflops is None and s.new_mfu is None and s.new_tokens_per_s is None
        assert "eager-mode A/B" in s.note and s.method.endswith("eager mode")
    # the same experiments on an eager run are projected as before
    plain = [s for s in suggestions(facts, eager) if s.measured_speedup is not None]
    assert all(s.new_achieved_tflops is not None and "eager-mode" not in s.note for s in plain)


def test_claims_print_a_number_only_when_precise() -> None:
    facts, _, _ = recorded()
    v = Variant(key="dtype=bf16", kind="dtype", change="bf16", options={"dtype": "bf16"})
    from hwbench.report.suggest import suggestion

    precise = suggestion(
        facts, ExperimentResult(v, "gain", 1.17, (1.15, 1.19, 1.17), 5.0, interval=(1.12, 1.22))
    )
    assert precise.precise and precise.claim == "1.17x (1.12-1.22)"
    wide = suggestion(facts, ExperimentResult(v, "likely gain", 1.3, (1.1, 1.5), 40.0, interval=(1.02, 1.71)))
    assert not wide.precise and wide.claim == "1.02-1.71x" and "1.3" not in wide.claim
    assert claim_text(1.0, (0.16, 17085.0)) == "0.16->10x"  # two rounds on a busy machine
    old = suggestion(facts, ExperimentResult(v, "gain", 1.3, (1.3,), 9.0))  # a recording without intervals
    assert old.claim == "1.30x ±9%"


def test_a_chunk_in_a_fresh_process_returns_its_steps_and_its_failures() -> None:
    """The real fresh-process runner on a tiny model (a few seconds: the fork server imports torch)."""
    from hwbench.report.runner import ForkedChunkRunner, forking_available

    if not forking_available():
        pytest.skip("no forkserver start method on this platform")
    tiny = replace(preset("nanogpt-cpu"), n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=2)
    run = ForkedChunkRunner()
    opts = StepOptions(device="cpu", threads=1, warmup=1, steps=4)
    sample = run(tiny, opts, None)
    assert len(sample.step_times_s) == 4 and sample.flops_per_step > 0
    pinned = run(tiny, opts, Variant(key="pin", kind="pinning", change="", cpus=(0,)))
    assert len(pinned.step_times_s) == 4
    with pytest.raises(RuntimeError, match="InputError"):
        run(tiny, replace(opts, threads=0), None)  # the child's error comes back as the chunk's failure
    with pytest.raises(ChunkTimeout):
        run(tiny, replace(opts, steps=100_000, max_seconds=None), None, 1.0)  # stopped, not awaited


def test_a_report_with_chunks_round_trips_through_a_recording() -> None:
    import json

    from hwbench.jsonout import to_jsonable
    from hwbench.report.recording import load, record

    times, base_step = recorded_step_times()
    m = FakeMachine(times)
    cfg, opts = seed()
    facts, _, _ = recorded()
    variants, _ = plan_variants(facts)
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=base_step, runner=m.run, clock=m.clock, budget_s=40
    )
    _, back, _ = load(json.loads(json.dumps(to_jsonable(record(facts, rep, None, source="test")))))
    assert back is not None
    assert back.chunks == rep.chunks and back.method == rep.method and back.compiled == rep.compiled
    assert [r.interval for r in back.results] == [r.interval for r in rep.results]
    assert [s.claim for s in suggestions(facts, back)] == [s.claim for s in suggestions(facts, rep)]


def test_on_a_slow_machine_a_far_slower_variant_is_stopped_and_the_budget_holds() -> None:
    """4x slower than recorded: two rounds of everything do not fit. bf16 (12x slower than fp32 on that
    Zen 3) would take ~32 s a chunk: its first chunk is stopped at 3x its prediction, not awaited;
    the costliest batch is priced out (not measured) rather than measured once, without an interval."""
    times, base_step = recorded_step_times()
    m = FakeMachine({k: v * 4 for k, v in times.items()})
    cfg, opts = seed()
    variants, _ = plan_variants(recorded()[0])
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=base_step * 4, runner=m.run, clock=m.clock, budget_s=30
    )
    by = {r.variant.key: r for r in rep.results}
    assert by["dtype=bf16"].verdict == "not measured" and "first chunk ran over 3x" in by["dtype=bf16"].note
    assert len(by["threads=1"].ratios) >= 2 and by["threads=1"].interval is not None
    assert by["batch=48"].verdict == "not measured" and "budget" in by["batch=48"].note
    assert rep.wall_s <= 30 + 2.0


def test_a_recorded_zen5_run_replays_from_its_chunks_into_its_own_suggestions() -> None:
    """Real chunks (tests/fixtures/report/this-kvm-epyc-zen5-seed-chunks-busy.json): recomputing every
    result from the recorded step times gives the figures and verdicts the run printed, contaminated
    round included (left out by the same rule)."""
    import json

    from helpers import REPORT

    doc = json.loads((REPORT / "this-kvm-epyc-zen5-seed-chunks-busy.json").read_text())
    chunks = tuple(
        ChunkRecord(c["key"], c["round"], c["flops_per_step"], tuple(c["step_times_s"]))
        for c in doc["experiments"]["chunks"]
    )
    printed = [s for s in doc["suggestions"] if s["measured_speedup"] is not None]
    variants = [Variant(key=s["key"], kind=s["kind"], change=s["change"]) for s in printed]
    replayed = {r.variant.key: r for r in results_from_chunks(variants, chunks, doc["step_time_s"])}
    assert len(printed) == 4
    for s in printed:
        r = replayed[s["key"]]
        assert r.speedup == pytest.approx(s["measured_speedup"]) and r.verdict == s["verdict"]
        assert claim_text(r.speedup, r.interval, r.noise_pct) == s["claim"]
    # the threads=1 chunks are steady (53-60 ms) against a 30-41 ms baseline chunk: 0.60x, one round
    assert replayed["threads=1"].speedup == pytest.approx(0.60, abs=0.01)


def test_one_stalled_step_does_not_price_the_variants_out() -> None:
    """Recorded on the Zen 5 guest: round 1's baseline chunk was 34, 30, 30, 72, 1463 ms. Its median
    says how fast the machine is, not its wall time, so the variants still get their rounds."""
    cfg, opts = seed()
    m = FakeMachine({"baseline": 0.031, "threads=1": 0.054, "dtype=bf16": 0.027}, jitter=0.02)
    stalled: list[bool] = []

    def run(c: Any, o: Any, v: Variant | None, timeout_s: float | None = None) -> ArmSample:
        s = m.run(c, o, v, timeout_s)
        if v is None and not stalled:  # the first baseline chunk: one step stalls for 1.4 s
            stalled.append(True)
            m.now += 1.4
            return replace(s, step_times_s=(*s.step_times_s[:-1], 1.463))
        return s

    variants = [
        Variant(key="threads=1", kind="threads", change="", options={"threads": 1}),
        Variant(key="dtype=bf16", kind="dtype", change="", options={"dtype": "bf16"}),
    ]
    rep = run_experiments(cfg, opts, variants, baseline_step_s=0.031, runner=run, clock=m.clock, budget_s=8)
    assert all(r.verdict != "not measured" and len(r.ratios) >= 2 for r in rep.results)


def test_compile_not_measured_is_a_field_not_a_note_to_parse() -> None:
    """The sentence why torch.compile was not measured travels as the report's own field: the suggestion
    row and the explanation come from it, not from matching the text of the skipped notes."""
    from hwbench.report.explain import compile_not_measured as explain_compile
    from hwbench.report.planner import compile_not_measured

    facts, ex, _ = recorded()
    assert ex is not None
    note = compile_not_measured(facts, include_compile=False, budget_s=30)
    assert note is not None and "--advise-compile" in note
    assert compile_not_measured(facts, include_compile=True, budget_s=30) is None
    bare = replace(ex, skipped=(), compile_not_measured=note)
    rows = [s for s in suggestions(facts, bare) if s.key == "compile"]
    assert len(rows) == 1 and rows[0].verdict == "not measured" and rows[0].note == note
    explained = explain_compile(facts, bare)
    assert explained is not None and explained.text == note
    assert not [s for s in suggestions(facts, replace(ex, compile_not_measured=None)) if s.key == "compile"]
    # a recording made before the field existed still finds its sentence among the skipped notes
    assert ex.compile_not_measured is not None and ex.compile_not_measured in ex.skipped


def test_batch_variant_names_what_a_step_processes() -> None:
    from hwbench.report.planner import batch_variant

    assert "4x the tokens per step" in batch_variant(12, 48).change
    assert "4x the samples per step" in batch_variant(32, 128, "samples").change  # a user's model


def test_a_chunk_costs_what_the_first_baseline_chunk_measured() -> None:
    """A fresh process per chunk costs more than its steps (fork, model build, first-step setup): about
    0.8 s each in the --quick runs on this guest. Assumed at 0.2 s, variants were admitted that then got
    one round each and no interval; measured on round 0, those admitted get two rounds or more."""
    cfg, opts = seed()
    m = FakeMachine({"baseline": 0.031, "threads=1": 0.054, "dtype=bf16": 0.027, "batch=24": 0.06})

    def run(c: Any, o: Any, v: Variant | None, timeout_s: float | None = None) -> ArmSample:
        m.now += 0.8  # beyond the steps: forking the chunk's process and building the model
        return m.run(c, o, v, timeout_s)

    variants = [
        Variant(key="threads=1", kind="threads", change="", options={"threads": 1}),
        Variant(key="dtype=bf16", kind="dtype", change="", options={"dtype": "bf16"}),
        Variant(key="batch=24", kind="batch", change="", config={"batch_size": 24}),
    ]
    rep = run_experiments(cfg, opts, variants, baseline_step_s=0.031, runner=run, clock=m.clock, budget_s=9)
    measured = [r for r in rep.results if r.verdict not in ("not measured", "failed")]
    assert measured and all(len(r.ratios) >= 2 for r in measured)


def test_out_of_memory_is_decided_where_it_was_raised() -> None:
    """One rule (bench.oom.is_oom) for the run and its chunks; a chunk's process decides it, where the
    exception's type is known, and the flag crosses the pipe with the message."""
    import pickle

    from hwbench.bench.oom import is_oom
    from hwbench.report.runner import ChunkFailed

    class OutOfMemoryError(RuntimeError):  # the name torch gives its CUDA (and, from 2.5, every) OOM
        pass

    assert is_oom(OutOfMemoryError("CUDA error: 2.00 GiB requested")) and is_oom(MemoryError())
    # torch's own CPU message (c10/core/impl/alloc_cpu.cpp)
    assert is_oom(RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1073741824"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    failed = pickle.loads(pickle.dumps(ChunkFailed("RuntimeError: killed", oom=True)))
    assert isinstance(failed, ChunkFailed) and failed.oom and str(failed) == "RuntimeError: killed"
