"""Waterfall, drawing, export, recordings, the monitor's parsers and the MfuRun adapter."""

from __future__ import annotations

import copy
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import FIX, REPORT, nvml_sample, recorded
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from hwbench.errors import InputError
from hwbench.report import advise_facts, render, save_report
from hwbench.report.facts import facts_from_run
from hwbench.report.monitor import others_busy_pct, parse_proc_stat, steal_pct, summarize_nvml
from hwbench.report.recording import load, record
from hwbench.report.waterfall import build_waterfall, describe


def test_waterfall_levels_are_the_runs_measurements_in_order() -> None:
    facts, _ex, prof = recorded()
    w = build_waterfall(facts, prof)
    keys = [lv.key for lv in w.levels]
    assert keys[0] == "peak" and keys[1] == "best_gemm" and keys[-1] == "step"
    if facts.model_gemm_tflops_for("torch"):
        assert keys.index("best_gemm") < keys.index("model_gemms") < keys.index("step")
    else:  # the recorded run's ceiling skipped torch's model shapes: the level is absent, and said so
        assert "model_gemms" not in keys and "not measured in this run" in w.note
    assert w.level("peak").tflops == facts.peak_tflops  # type: ignore[union-attr]
    assert w.level("step").tflops == facts.achieved_tflops  # type: ignore[union-attr]
    best = facts.best_ceiling()
    assert best is not None and w.level("best_gemm").tflops == best.tflops  # type: ignore[union-attr]
    for lv in w.levels:
        assert lv.fraction_of_peak == pytest.approx(lv.tflops / facts.peak_tflops)  # type: ignore[operator]
        assert lv.source  # every level says where its number comes from
    if facts.torch_ceiling() is not best:
        assert "torch_gemm" in keys
    assert any("profiler" in lv.lost for lv in w.levels if lv.key == "step")
    assert len(describe(w)) == len(w.levels)


def test_model_shape_level_and_an_inversion_called_noise_not_a_gain() -> None:
    facts, _ex, prof = recorded()
    # the recorded numpy model-shape points, relabelled as torch's and set 10x below the step's rate:
    # the step then sits above the level before it, which can only be measurement noise
    slow = tuple(
        replace(g, library="torch", tflops=facts.achieved_tflops / 10)
        for g in facts.model_gemms
        if g.dtype == "fp32"
    )
    assert slow
    w = build_waterfall(replace(facts, model_gemms=slow), prof)
    keys = [lv.key for lv in w.levels]
    assert keys.index("best_gemm") < keys.index("model_gemms") < keys.index("step")
    assert w.level("model_gemms").tflops == pytest.approx(facts.achieved_tflops / 10)  # type: ignore[union-attr]
    assert "noise" in w.level("step").lost  # type: ignore[union-attr]
    assert "noise" not in w.level("model_gemms").lost  # type: ignore[union-attr]


def test_no_peak_starts_at_the_best_gemm_and_says_so() -> None:
    facts, _ex, prof = recorded()
    w = build_waterfall(replace(facts, peak_tflops=None), prof)
    assert w.levels[0].key == "best_gemm" and "no fp32 peak" in w.note
    assert all(lv.fraction_of_peak is None for lv in w.levels)


def rendered(width: int = 120) -> str:
    facts, ex, prof = recorded()
    con = Console(record=True, width=width, file=io.StringIO())
    render(advise_facts(facts, ex, prof), con)
    return con.export_text()


def test_render_draws_the_waterfall_and_prints_whole_commands() -> None:
    out = rendered(100)
    flat = " ".join(out.split())
    assert "Where the fp32 FLOP/s go" in out and "█" in out  # drawn, not only tabulated
    assert "share of time vs share of the FLOPs" in flat
    facts, ex, _ = recorded()
    from hwbench.report.suggest import suggestions

    for s in suggestions(facts, ex):
        if s.verdict != "not measured":
            # commands are meant to be copied: never cropped, whatever the width
            assert s.command in out.replace("\n", "") or s.command in out
    assert "nanoGPT would print" in out
    assert "not measured" in out  # torch.compile, with its flag
    narrow = rendered(60)
    assert "OMP_NUM_THREADS=1 python train.py" in narrow.replace("\n", "")


def test_save_report_svg_and_html(tmp_path: Path) -> None:
    facts, ex, prof = recorded()
    adv = advise_facts(facts, ex, prof)
    svg = save_report(adv, tmp_path / "r.svg")
    html = save_report(adv, tmp_path / "r.html")
    s, h = svg.read_text(), html.read_text()
    assert s.lstrip().startswith("<svg") and "nanoGPT" in s
    assert "<html" in h.lower() and "Measured suggestions" in h
    with pytest.raises(InputError):
        save_report(adv, tmp_path / "r.png")


def test_recording_round_trips(tmp_path: Path) -> None:
    facts, ex, prof = recorded()
    again = load(json.loads(json.dumps(record(facts, ex, prof, "test"))))
    assert again == (facts, ex, prof)
    with pytest.raises(InputError):
        load({"facts": {"device": "cpu"}})


def test_json_fields_of_the_advice() -> None:
    facts, ex, prof = recorded()
    doc = advise_facts(facts, ex, prof).to_json()
    json.dumps(doc)  # plain JSON
    assert doc["explanation"] and all(isinstance(s, str) for s in doc["explanation"])
    for s in doc["suggestions"]:
        assert {"change", "measured_speedup", "command", "hwbench_command", "verdict", "new_mfu"} <= set(s)
    assert doc["waterfall"]["levels"][0]["key"] == "peak"
    assert doc["experiments"]["run_to_run_spread_pct"] == ex.run_to_run_spread_pct  # type: ignore[union-attr]


# -- monitor -----------------------------------------------------------------------------------------------

# this VM's /proc/stat aggregate line, read twice 2026-11-28 (user nice system idle iowait irq softirq steal)
STAT_BEFORE = "cpu  13561 0 2409 77174 331 0 80 130 0 0\ncpu0 1628 0 710 44268 113 0 32 78 0 0\n"
STAT_AFTER = "cpu  13961 0 2459 77374 331 0 80 140 0 0\ncpu0 1828 0 735 44368 113 0 32 83 0 0\n"


def test_proc_stat_steal_and_other_processes() -> None:
    b, a = parse_proc_stat(STAT_BEFORE), parse_proc_stat(STAT_AFTER)
    assert b is not None and b.steal == 130 and b.idle == 77174 + 331
    assert steal_pct(b, a) == pytest.approx(10 / 660 * 100)
    # 660 jiffies elapsed (6.6 CPU-s at 100 Hz), 450 busy; this process used 2.0 s of them
    assert others_busy_pct(b, a, own_cpu_s=2.0, clk_tck=100) == pytest.approx((4.5 - 2.0) / 6.6 * 100)
    assert steal_pct(b, None) is None


@given(st.text(max_size=300))
def test_parse_proc_stat_never_raises(text: str) -> None:
    parse_proc_stat(text)


def test_nvml_recordings_give_clock_events_and_link_state() -> None:
    events, _ = summarize_nvml([nvml_sample("v100-sxm2-hw-power-brake.json")])
    assert any(e.startswith("hardware slowdown") for e in events)
    assert any(e.startswith("hardware power brake") for e in events)
    _, pcie = summarize_nvml([nvml_sample("a10g-x8-of-x16.json")])
    assert pcie == {"gen": 4, "max_gen": 4, "width": 8, "max_width": 16}
    events, pcie = summarize_nvml([nvml_sample("h100-sxm-80gb.json")])
    assert events == [] and pcie is not None and pcie["width"] == pcie["max_width"]


# -- the adapter from a real bench.mfu.MfuRun ----------------------------------------------------------------


def test_facts_from_a_real_mfu_run_object() -> None:
    """Build bench's own records from the recorded numbers and read them back through the adapter."""
    from hwbench.bench.config import preset
    from hwbench.bench.flops import flops_per_step
    from hwbench.bench.matmul import CeilingResult, GemmPoint
    from hwbench.bench.mfu import MfuOptions, MfuRun
    from hwbench.bench.step import StepOptions, StepResult
    from hwbench.bench.timing import summarize
    from hwbench.detect import replay
    from hwbench.peaks import DevicePeak

    facts, _, _ = recorded()
    cfg = preset("nanogpt-cpu")
    timing = summarize(facts.step_samples_s or (facts.step_time_s,))
    step = StepResult(
        config=cfg,
        options=StepOptions(threads=None),
        timing=timing,
        flops_per_step=flops_per_step(cfg),
        achieved_tflops=flops_per_step(cfg) / timing.median_s / 1e12,
        peak_memory_bytes=facts.peak_memory_bytes,
        peak_memory_source="rss",
        compile_time_s=None,
        warmup_s=0.1,
        interrupted=False,
    )
    points = tuple(
        GemmPoint(
            library=f"{g.library} ({g.backend})" if g.backend else g.library,
            dtype=g.dtype,
            m=g.m,
            n=g.n,
            k=g.k,
            tflops=g.tflops,
            tflops_min=g.tflops,
            tflops_max=g.tflops,
            timing=summarize([1.0]),
            label=g.label,
            model_shape=g.label.removeprefix("model ") if g in facts.model_gemms else None,
        )
        for g in (*facts.ceiling, *facts.model_gemms)
    )
    ceiling = CeilingResult(device="cpu", points=points, best={"fp32": max(points, key=lambda p: p.tflops)})
    system = replay(FIX / "machines" / "this-kvm-epyc")
    run = MfuRun(
        device="cpu",
        dtype="fp32",
        config=cfg,
        preset="nanogpt-cpu",
        options=MfuOptions(),
        step=step,
        peak=DevicePeak(
            device="cpu",
            name="AMD EPYC",
            peaks_tflops=dict(facts.peaks_tflops),
            source=str(facts.peak_source),
            estimated=False,
        ),
        ceiling=ceiling,
        model_gemms=[p for p in points if p.model_shape is not None],
        mfu=None,
        mfu_reason=None,
        mfu_vs_ceiling=None,
        mfu_nanogpt=None,
        threads=2,
        device_name="AMD EPYC",
        system=system,
    )
    got = facts_from_run(run)
    assert got.threads == 2 and got.n_params == 795904 and got.flops_per_step == 3969515520.0
    assert got.device_name == "AMD EPYC (Zen 3)"
    assert got.peak_tflops == facts.peaks_tflops["fp32"]
    assert {g.library for g in got.ceiling} == {g.library for g in facts.ceiling}
    assert got.best_ceiling().tflops == max(g.tflops for g in facts.ceiling)  # type: ignore[union-attr]
    per_layer = [g for g in got.model_gemms if g.label == "model attn.qkv"]
    assert per_layer and all(g.count == 4 for g in per_layer)  # once per layer
    assert all(g.count == 1 for g in got.model_gemms if g.label == "model lm_head")
    assert got.cpu is not None and got.cpu.usable_physical_cores == 2 and not got.cpu.hybrid
    assert not got.gpus and got.torch_version


def test_fixture_readme_lists_every_fixture() -> None:
    readme = (REPORT / "README.md").read_text()
    for p in REPORT.iterdir():
        if p.name != "README.md":
            assert p.name in readme, p.name


@pytest.fixture(scope="module")
def tiny_run() -> Any:
    """One real run_mfu of a tiny model on this machine (shared: torch and the peak lookup cost seconds)."""
    from hwbench.bench.mfu import MfuOptions, run_mfu
    from hwbench.detect import replay

    system = replay(FIX / "machines" / "this-kvm-epyc")
    opts = MfuOptions(
        device="cpu", preset="nanogpt-cpu", n_layer=1, n_head=2, n_embd=16, block_size=8, batch_size=2,
        with_ceiling=False, quick=True, steps=5, max_seconds=0.3, threads=2,
    )  # fmt: skip
    return run_mfu(opts, system=system)


def test_advise_on_a_tiny_real_run_measures_within_its_budget(tiny_run: Any) -> None:
    """The whole path on this machine: run_mfu, profile, interleaved experiments, monitor, render."""
    import time

    import torch

    from hwbench.report import advise

    run = tiny_run
    threads_before = torch.get_num_threads()
    t0 = time.perf_counter()
    adv = advise(run, budget_s=3.0)
    took = time.perf_counter() - t0
    assert took < 3.0 + 10.0  # the budget, plus at most a chunk or two past it on a very busy machine
    assert adv.profile is not None and adv.profile.steps >= 1
    assert adv.experiments is not None and adv.experiments.rounds >= 1
    assert adv.experiments.baseline_chunk_s  # the baseline was measured
    assert adv.facts.others_busy_pct is not None  # /proc/stat was sampled around the measurements
    assert any(s.key == "threads=1" for s in adv.suggestion_items)
    for s in adv.suggestion_items:  # measured, or said why not: never a guessed figure
        assert (s.measured_speedup is not None) or ("not measured" in s.note or "not measured" in s.verdict)
    assert torch.get_num_threads() == threads_before  # the threads=1 experiment restored the setting
    con = Console(record=True, width=100, file=io.StringIO())
    render(adv, con)
    assert "Measured suggestions" in con.export_text()


def test_busy_recording_leaves_unmeasured_levels_out_and_ranks_unmeasured_last() -> None:
    facts, ex, prof = recorded("this-kvm-epyc-seed-busy.json")
    adv = advise_facts(facts, ex, prof)
    assert adv.waterfall.level("model_gemms") is None and "not measured in this run" in adv.waterfall.note
    verdicts = [s.verdict for s in adv.suggestion_items]
    assert verdicts[-2:] == ["not measured", "not measured"]  # batch=48 (budget) and torch.compile
    noisy = [s for s in adv.suggestion_items if s.noise_pct is not None]
    assert noisy and all(s.noise_pct >= 80 for s in noisy)  # the ±81% baseline spread widens every band


def test_rendered_fixture_report_matches_a_fresh_render_of_its_recording() -> None:
    """The saved report text and a render of the same recording today say the same key numbers."""
    saved = (REPORT / "this-kvm-epyc-seed-report.txt").read_text()
    facts, ex, _ = recorded()
    from hwbench.report.explain import pct

    assert f"nanoGPT would print mfu {pct(facts.achieved_tflops / 312)}" in " ".join(saved.split())
    for r in ex.results:  # type: ignore[union-attr]
        if r.speedup is not None:
            assert f"{r.speedup:.2f}x" in saved


def test_a_compiled_run_is_advised_eager_and_says_so(tiny_run: Any) -> None:
    from hwbench.report import advise

    run = copy.copy(tiny_run)
    assert run.step is not None
    # as if the user had run with --compile (measuring a real compile would take ~26 s here)
    run.step = replace(run.step, options=replace(run.step.options, compile=True))
    adv = advise(run, budget_s=2.0, profile=False)
    assert any("ran eager" in n for n in adv.notes)
    assert "compile" not in {s.key for s in adv.suggestion_items}  # already compiled: nothing to suggest
    assert all("--compile=True" in s.command for s in adv.suggestion_items)  # the user's command keeps it


def summary_text(facts: Any, ex: Any, prof: Any, width: int = 80) -> str:
    from hwbench.report.render import summary

    con = Console(record=True, width=width, file=io.StringIO())
    summary(advise_facts(facts, ex, prof), con)
    return con.export_text()


def test_summary_of_the_recorded_seed_run_fits_a_screen() -> None:
    """No change beat the seed run beyond its noise: the rows say so, on one MFU scale, no command."""
    facts, ex, prof = recorded()
    out = summary_text(facts, ex, prof)
    lines = out.splitlines()
    assert len(lines) <= 16
    flat = " ".join(out.split())
    assert lines[0].startswith("biggest loss  GEMMs at the model's shapes -> training step (0.52x): time")
    assert (
        "No measured change beat this run beyond its noise; MFU against the fp32 peak (0.185 TFLOP/s)" in flat
    )
    base = next(ln for ln in lines if "this run (baseline)" in ln)
    assert "1.00x" in base and f"{facts.tokens_per_step / facts.step_time_s:,.0f}" in base and "30%" in base
    rows = [ln for ln in lines if ln[:3].strip().isdigit()]
    assert len(rows) == 3 and "batch size 48 instead of 12" in rows[0] and "1.14x ±27%" in rows[0]
    assert "hwbench mfu" not in out  # no gain, so no command to apply


def test_summary_puts_a_faster_dtype_first_with_a_higher_mfu_and_its_command() -> None:
    """The Zen 5 case: bf16 has twice the fp32 peak; a 1.5x bf16 change reads above its baseline."""
    facts, ex, prof = recorded()
    assert ex is not None
    zen5 = replace(facts, peaks_tflops={**facts.peaks_tflops, "bf16": 2 * facts.peak_tflops})
    fast = tuple(
        replace(r, speedup=1.5, verdict="gain") if r.variant.key == "dtype=bf16" else r for r in ex.results
    )
    out = summary_text(zen5, replace(ex, results=fast), prof)
    flat = " ".join(out.split())
    assert "Top measured fixes, A/B against this run; MFU against the bf16 peak (0.369 TFLOP/s)" in flat
    lines = out.splitlines()
    base = next(ln for ln in lines if "this run (baseline)" in ln)
    first = next(ln for ln in lines if ln.startswith("1  "))
    assert "bf16 autocast" in first and "1.50x" in first and "gain" in first
    mfu_base, mfu_first = (
        int([t for t in ln.split() if t.endswith("%") and not t.startswith("±")][-1][:-1])
        for ln in (base, first)
    )
    assert mfu_first > mfu_base  # 15% -> 23% of the bf16 peak: faster reads higher
    assert "1. hwbench mfu --device cpu --preset nanogpt-cpu --dtype bf16 --threads 2" in out


def test_summary_says_why_nothing_was_measured() -> None:
    facts, ex, prof = recorded("this-kvm-epyc-seed-busy.json")
    assert ex is not None
    unmeasured = tuple(replace(r, speedup=None, verdict="not measured") for r in ex.results)
    out = summary_text(facts, replace(ex, results=unmeasured), prof, width=200)
    assert "no suggestion was measured in this run: " in out
