"""The A/B scheduler, noise rules, planning and ranking, replaying recorded step times (no torch runs).

The fake runner answers each chunk with the step time recorded for that variant on this VM
(tests/fixtures/report/this-kvm-epyc-seed.json) and advances a fake clock by what the chunk would have
taken, so interleaving, the budget and the verdicts are tested deterministically.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from test_report_fixtures import on_machine, recorded

from hwbench.bench.config import preset
from hwbench.bench.step import StepOptions
from hwbench.report.experiments import (
    ArmSample,
    ExperimentResult,
    Variant,
    combine,
    half_range_pct,
    noise_band,
    plan_variants,
    run_experiments,
    verdict,
)
from hwbench.report.suggest import Suggestion, hwbench_command, nanogpt_command, rank, suggestions


class FakeMachine:
    """Step times per variant key; a drift factor per call to check that interleaving cancels it."""

    def __init__(self, step_s: dict[str, float], drift: float = 1.0, fail: set[str] | None = None) -> None:
        self.step_s = step_s
        self.now = 0.0
        self.calls: list[str] = []
        self.drift = drift
        self.factor = 1.0
        self.fail = fail or set()
        self.spikes: dict[int, float] = {}  # call index -> slowdown of that whole chunk (interference)

    def clock(self) -> float:
        return self.now

    def run(self, cfg: Any, opts: Any, variant: Variant | None) -> ArmSample:
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
        self.now += (n + opts.warmup) * t
        from hwbench.bench.flops import flops_per_step

        return ArmSample(step_times_s=(t,) * n, flops_per_step=flops_per_step(cfg), wall_s=(n + 1) * t)


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


def test_verdicts_only_claim_beyond_the_noise_band() -> None:
    assert verdict(1.10, 5.0) == "gain"
    assert verdict(1.04, 5.0) == "no change"
    assert verdict(0.96, 5.0) == "no change"
    assert verdict(0.90, 5.0) == "slower"
    assert verdict(None, 5.0) == "failed"
    assert half_range_pct([1.0, 1.1, 0.9]) == pytest.approx(10.0)
    assert half_range_pct([1.0]) is None
    assert noise_band(None, [1.0]) == 3.0  # the floor
    assert noise_band(2.0, [1.0, 1.2]) == pytest.approx(100 * 0.1 / 1.1)


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
    assert bf16.verdict == "slower"
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

    def runner(c: Any, o: Any, v: Variant | None) -> ArmSample:
        seen.append(o.threads)
        return ArmSample(step_times_s=(0.05,) * o.steps, flops_per_step=4e9, wall_s=0.1)

    run_experiments(
        cfg,
        opts,
        [Variant(key="threads=1", kind="threads", change="", options={"threads": 1})],
        baseline_step_s=0.05,
        runner=runner,
        budget_s=5,
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
    rep = run_experiments(
        cfg, opts, variants, baseline_step_s=0.065, runner=m.run, clock=m.clock, budget_s=60
    )
    t1 = next(r for r in rep.results if r.variant.key == "threads=1")
    assert t1.speedup is not None and t1.speedup < 1.0  # the contaminated round is left out
    assert t1.verdict == "slower"
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
