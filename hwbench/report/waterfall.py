"""The waterfall: from the device's peak down to the training step's rate, every level measured.

    peak (hwbench.peaks, for the dtype that ran)
      -> the best GEMM any library reaches here (library / instruction-path efficiency)
      -> torch's best GEMM (when another library beat it)
      -> torch's GEMMs at the model's own shapes (small-matrix efficiency), FLOP-weighted
      -> the training step (time outside GEMMs: attention, LayerNorm, GELU, optimizer, framework)

Pure: RunFacts (+ ProfileResult) in, a Waterfall out. A level that was not measured in this run is left
out rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwbench.bench.flops import mfu_ratio
from hwbench.fmt import pct, tf
from hwbench.report.facts import RunFacts
from hwbench.report.profile import CategoryShare, ProfileResult


@dataclass(frozen=True)
class Level:
    key: str  # peak | best_gemm | torch_gemm | model_gemms | step
    label: str
    tflops: float
    fraction_of_peak: float | None
    source: str  # where the number comes from
    lost: str  # why this level is below the one above it ("" for the first)


@dataclass(frozen=True)
class Waterfall:
    device: str
    dtype: str
    levels: tuple[Level, ...]
    categories: tuple[CategoryShare, ...] = ()  # the step's time outside GEMMs, from the profiler
    note: str = ""

    def level(self, key: str) -> Level | None:
        for lv in self.levels:
            if lv.key == key:
                return lv
        return None


def _lib(g_library: str, backend: str | None) -> str:
    return f"{g_library} ({backend})" if backend else g_library


def build_waterfall(facts: RunFacts, profile: ProfileResult | None = None) -> Waterfall:
    peak = facts.peak_tflops
    levels: list[Level] = []

    def frac(x: float) -> float | None:
        return mfu_ratio(x, peak)  # the one MFU rule: a level above the peak shows no fraction

    if peak:
        levels.append(
            Level(
                key="peak",
                label=f"{facts.dtype} peak",
                tflops=peak,
                fraction_of_peak=1.0,
                source=("estimated: " if facts.peak_estimated else "")
                + f"{facts.peak_source or 'hwbench peaks'}"
                + (f"; clock: {facts.peak_clock_source}" if facts.peak_clock_source else ""),
                lost="",
            )
        )
    best = facts.best_ceiling()
    torch_best = facts.torch_ceiling()
    if best:
        why = "the best library's kernels on this instruction path"
        if facts.is_cpu and facts.cpu is not None:
            isa = set(facts.cpu.isa)
            width = "AVX-512" if "avx512f" in isa else "AVX2+FMA" if "avx2" in isa else "SSE/NEON"
            why = f"library/instruction-path efficiency ({width} here; clock under load, memory traffic)"
        levels.append(
            Level(
                key="best_gemm",
                label=f"best GEMM, {best.library}",
                tflops=best.tflops,
                fraction_of_peak=frac(best.tflops),
                source=f"measured: {_lib(best.library, best.backend)}, {best.m}x{best.k} @ {best.k}x{best.n}"
                f" {best.dtype}",
                lost=why,
            )
        )
    if torch_best and best and torch_best is not best and torch_best.tflops < best.tflops:
        levels.append(
            Level(
                key="torch_gemm",
                label="torch's best GEMM",
                tflops=torch_best.tflops,
                fraction_of_peak=frac(torch_best.tflops),
                source=f"measured: {_lib(torch_best.library, torch_best.backend)}, "
                f"{torch_best.m}x{torch_best.k} @ {torch_best.k}x{torch_best.n}",
                lost=f"torch's BLAS ({torch_best.backend or 'its library'}) is slower than {best.library}'s "
                f"on the same cores",
            )
        )
    model_rate = facts.model_gemm_tflops_for("torch")
    if model_rate:
        levels.append(_model_gemm_level(facts, model_rate, frac(model_rate)))
    cats = profile.categories if profile else ()
    levels.append(_step_level(facts, cats, frac(facts.achieved_tflops)))
    levels = _flag_inversions(levels, facts)
    notes = []
    if not peak:
        notes.append(
            f"no {facts.dtype} peak known for {facts.device_name}: the waterfall starts at the best GEMM"
        )
    if not model_rate:
        notes.append(
            "torch's GEMMs at the model's own shapes were not measured in this run (the ceiling sweep "
            "skipped "
            "them: see its notes), so that level is left out rather than guessed"
        )
    note = "; ".join(notes)
    return Waterfall(
        device=facts.device_name, dtype=facts.dtype, levels=tuple(levels), categories=tuple(cats), note=note
    )


def _model_gemm_level(facts: RunFacts, model_rate: float, fraction: float | None) -> Level:
    shapes = sorted(
        {(g.m, g.k, g.n) for g in facts.model_gemms if g.library == "torch" and g.dtype == facts.dtype}
    )
    # nanoGPT's forward GEMM shapes: qkv, attn proj, mlp fc, mlp proj, head
    n_model = 5 if facts.config.get("n_layer") else len(shapes)
    of = f"{len(shapes)} of its {n_model} shapes" if len(shapes) < n_model else f"{len(shapes)} shapes"
    return Level(
        key="model_gemms",
        label="GEMMs at the model's shapes",
        tflops=model_rate,
        fraction_of_peak=fraction,
        source=f"measured: torch, {of} ("
        + ", ".join(f"{m}x{k}@{k}x{n}" for m, k, n in shapes[:5])
        + "), FLOP-weighted by how often each runs per step",
        lost="small matrices: too little work per call to fill the cores and amortize packing",
    )


def _step_level(facts: RunFacts, cats: tuple[CategoryShare, ...], fraction: float | None) -> Level:
    """The training step; what it lost is the profiler's non-GEMM categories when there was a profile."""
    lost_step = (
        "time outside the GEMMs: convolutions, attention, norms, activations, optimizer, framework overhead"
        if facts.model is not None
        else "time outside the GEMMs: attention, LayerNorm, GELU, optimizer, framework overhead"
    )
    if cats:
        non_mm = sorted((c for c in cats if c.category != "matmul"), key=lambda c: -c.share_time)
        lost_step = "time outside the GEMMs (profiler): " + ", ".join(
            f"{c.category} {pct(c.share_time)}" for c in non_mm if c.share_time >= 0.01
        )
    return Level(
        key="step",
        label="training step",
        tflops=facts.achieved_tflops,
        fraction_of_peak=fraction,
        source=f"measured: median of {len(facts.step_samples_s) or '?'} steps, "
        f"{facts.flops_per_step / 1e9:.2f} GFLOP/step / {facts.step_time_s * 1e3:.1f} ms",
        lost=lost_step,
    )


def _flag_inversions(levels: list[Level], facts: RunFacts) -> list[Level]:
    """A level above the one before it cannot be a loss: say it is measurement noise, not a gain."""
    from dataclasses import replace

    out: list[Level] = []
    for lv in levels:
        prev = out[-1] if out else None
        if prev is not None and prev.key != "peak" and lv.tflops > prev.tflops * 1.02:
            spread = (
                f" (the step's own spread was {facts.step_spread_pct:.0f}%)" if facts.step_spread_pct else ""
            )
            lv = replace(
                lv,
                lost=f"higher than the level above: the two were measured at different moments on a busy "
                f"machine{spread}, so the level above is understated; read this gap as noise",
            )
        out.append(lv)
    return out


def describe(w: Waterfall) -> list[str]:
    """The waterfall as plain sentences (for --json consumers and the terminal summary)."""
    out = []
    prev = None
    for lv in w.levels:
        share = f" = {pct(lv.fraction_of_peak)} of peak" if lv.fraction_of_peak is not None else ""
        line = f"{lv.label}: {tf(lv.tflops)} TFLOP/s{share} ({lv.source})"
        if prev is not None and prev.tflops > 0:
            line += f"; {lv.tflops / prev.tflops:.2f}x the level above: {lv.lost}"
        out.append(line)
        prev = lv
    return out
