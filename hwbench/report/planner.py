"""What to measure: the candidate changes for a run, and how long each chunk of steps should be.

Pure functions of `RunFacts` (no torch, no clock): the runner (`hwbench.report.runner`) asks this module
which variants apply, how many steps a chunk of each takes, what the batch sweep tries next, and which
gains to combine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hwbench.bench.config import GPTConfig
from hwbench.bench.step import StepOptions
from hwbench.fmt import cpu_list
from hwbench.report.facts import CpuFacts, RunFacts

if TYPE_CHECKING:
    from hwbench.report.experiments import ExperimentResult

# torch.compile's one-off cost on CPU for the seed model, measured on the project's 2-vCPU Zen 3 VM
# (26 s); used only to say why compile was not measured.
COMPILE_ESTIMATE_S = {"cpu": 26.0, "cuda": 40.0}
# a chunk times this many steps at least: its median must not be one step's luck
MIN_CHUNK_STEPS = 5
MAX_CHUNK_STEPS = 20


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


BASELINE = Variant(key="baseline", kind="baseline", change="the run as measured")


# -- which variants ------------------------------------------------------------------------------------


def _thread_variants(facts: RunFacts, cpu: CpuFacts | None, t: int) -> tuple[list[Variant], list[str]]:
    """Pinning and thread-count variants for a CPU run with `t` threads."""
    out: list[Variant] = []
    skipped: list[str] = []
    if cpu is not None:
        usable = tuple(cpu.usable_cpus) or tuple(range(cpu.logical_cpus or t))
        one_per_core = cpu.one_cpu_per_core(usable)
        has_smt = any(len(g) > 1 for g in cpu.smt_siblings)
        if cpu.hybrid:
            p_cpus = tuple(c for c in cpu.p_core_cpus if c in usable) or tuple(cpu.p_core_cpus)
            p_one = cpu.one_cpu_per_core(p_cpus)
            if p_one and t > len(p_one):
                out.append(
                    Variant(
                        key=f"pin=P-cores:{cpu_list(p_one)}",
                        kind="pinning",
                        change=f"{len(p_one)} threads pinned to the P-cores only (CPUs {cpu_list(p_one)}), "
                        f"instead of {t} threads across P- and E-cores",
                        options={"threads": len(p_one)},
                        cpus=p_one,
                    )
                )
        if has_smt and t > len(one_per_core):
            out.append(
                Variant(
                    key=f"pin=physical:{cpu_list(one_per_core)}",
                    kind="pinning",
                    change=f"{len(one_per_core)} threads, one per physical core (CPUs "
                    f"{cpu_list(one_per_core)}), instead of {t} on SMT siblings",
                    options={"threads": len(one_per_core)},
                    cpus=one_per_core,
                )
            )
        if t > len(usable):
            out.append(
                Variant(
                    key=f"threads={len(one_per_core)}",
                    kind="threads",
                    change=f"{len(one_per_core)} threads (one per usable core) instead of {t}",
                    options={"threads": len(one_per_core)},
                )
            )
        elif t < len(one_per_core):
            out.append(
                Variant(
                    key=f"threads={len(one_per_core)}",
                    kind="threads",
                    change=f"{len(one_per_core)} threads (every usable physical core) instead of {t}",
                    options={"threads": len(one_per_core)},
                    cpus=one_per_core if has_smt else (),
                )
            )
        if not out and not has_smt and not cpu.hybrid:
            skipped.append(
                f"pinning: not tried: the {len(usable)} usable CPUs are {len(one_per_core)} physical "
                f"cores with no SMT siblings and no E-cores, so taskset would pin to the same set"
            )
    if not out and t >= 2:
        # all cores already used: check the other direction (a busy or throttled VM can prefer fewer)
        half = max(1, t // 2)
        out.append(
            Variant(
                key=f"threads={half}",
                kind="threads",
                change=f"{half} thread{'s' if half != 1 else ''} instead of {t}",
                options={"threads": half},
            )
        )
    return out, skipped


def _dtype_variant(dtype: str, instead_of: str, change: str | None = None) -> Variant:
    return Variant(
        key=f"dtype={dtype}",
        kind="dtype",
        change=change or f"{dtype} autocast instead of {instead_of}",
        options={"dtype": dtype},
    )


def _cpu_dtype_variants(facts: RunFacts, cpu: CpuFacts | None) -> list[Variant]:
    if facts.dtype != "fp32":
        return []
    out = [_dtype_variant("bf16", "fp32")]
    if {"amx_fp16", "avx512_fp16"} & set(cpu.isa if cpu else ()):
        out.append(_dtype_variant("fp16", "fp32"))
    return out


def _cuda_variants(facts: RunFacts) -> list[Variant]:
    out: list[Variant] = []
    if facts.dtype == "fp32":
        out.append(_dtype_variant("tf32", "fp32", "TF32 matmuls instead of fp32"))
        if facts.peaks_tflops.get("bf16"):
            out.append(_dtype_variant("bf16", "fp32"))
    elif facts.dtype == "fp16" and facts.peaks_tflops.get("bf16"):
        out.append(_dtype_variant("bf16", "fp16"))
    if not facts.fused_adamw:
        out.append(
            Variant(
                key="fused_adamw", kind="fused_adamw", change="fused AdamW", options={"fused_adamw": True}
            )
        )
    return out


def compile_not_measured(facts: RunFacts, include_compile: bool, budget_s: float) -> str | None:
    """The sentence saying why torch.compile is not measured in this run, or None when it is (or when the
    run is compiled already). The report carries it as its own field, so readers never parse notes."""
    if facts.compile or include_compile:
        return None
    est = COMPILE_ESTIMATE_S.get("cuda" if facts.is_cuda else "cpu", 30.0)
    why = (
        f"more than this {budget_s:.0f} s experiment budget"
        if est > budget_s
        else f"left out by default to keep hwbench mfu within its time goal (budget {budget_s:.0f} s)"
    )
    return (
        f"torch.compile: not measured: compiling alone takes ~{est:.0f} s here ({why}); "
        f"run with --advise-compile to measure it"
    )


def _compile_plan(facts: RunFacts, include_compile: bool, budget_s: float) -> tuple[list[Variant], list[str]]:
    if include_compile and not facts.compile:
        return [Variant(key="compile", kind="compile", change="torch.compile", options={"compile": True})], []
    note = compile_not_measured(facts, include_compile, budget_s)
    return [], [note] if note else []


def plan_variants(
    facts: RunFacts, *, include_compile: bool = False, budget_s: float = 30.0
) -> tuple[list[Variant], list[str]]:
    """The candidate changes that apply to this device and config, and sentences for those skipped."""
    variants: list[Variant] = []
    skipped: list[str] = []
    if facts.is_cpu:
        cpu = facts.cpu
        t = facts.threads or (len(cpu.usable_cpus) if cpu and cpu.usable_cpus else os.cpu_count() or 1)
        threads, why_not = _thread_variants(facts, cpu, t)
        variants += threads + _cpu_dtype_variants(facts, cpu)
        skipped += why_not
    elif facts.is_cuda:
        variants += _cuda_variants(facts)
    if "batch_size" in facts.config:
        batch = int(facts.config["batch_size"])
        unit = "samples" if facts.model is not None else "tokens"
        variants += [batch_variant(batch, batch * factor, unit) for factor in (2, 4)]
    else:
        skipped.append(
            "batch size: not tried: the model's inputs have no batch dimension hwbench can scale (not "
            "every input tensor shares its first dimension); try a larger batch in your own script"
        )
    compile_variants, why_not = _compile_plan(facts, include_compile, budget_s)
    return variants + compile_variants, skipped + why_not


def batch_variant(base: int, new: int, unit: str = "tokens") -> Variant:
    """`unit`: what a step processes, "tokens" (the GPT) or "samples" (a user's model)."""
    return Variant(
        key=f"batch={new}",
        kind="batch",
        change=f"batch size {new} instead of {base} ({new / base:g}x the {unit} per step)",
        config={"batch_size": new},
    )


def next_batch(
    batch_speedups: Sequence[tuple[int, float]], base_batch: int, max_factor: int, gain: float
) -> int | None:
    """The next batch size of the sweep: double the largest while it still beats the one before it by
    more than `gain` (a fraction), up to `max_factor` x the run's batch; None when the sweep is done.
    `batch_speedups`: (batch size, measured speedup), any order."""
    ordered = sorted(batch_speedups)
    if len(ordered) < 2:
        return None
    (_, prev), (last_b, last) = ordered[-2], ordered[-1]
    nxt = last_b * 2
    if last > prev * (1 + gain) and nxt <= base_batch * max_factor:
        return nxt
    return None


def combine(results: Sequence[ExperimentResult]) -> Variant | None:
    """The best measured gain of each kind, together; None unless two or more kinds gained."""
    best: dict[str, ExperimentResult] = {}
    for r in results:
        if r.verdict not in ("gain", "likely gain") or r.speedup is None or r.variant.kind == "combination":
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


# -- how long a chunk is ------------------------------------------------------------------------------


def batch_factor(v: Variant, base_batch: int) -> float:
    """How many times the baseline's work per step the variant does (1 unless it raises the batch)."""
    return float(max(1.0, int(v.config.get("batch_size", base_batch)) / max(base_batch, 1)))


def warmup_steps(v: Variant) -> int:
    """Untimed steps first. Every chunk runs in a fresh process whose first step pays one-off costs
    (allocator growth, the thread pool's start, lazy kernel selection); autocast's first steps also
    build its weight-cast caches, and compile's first step compiles."""
    return 3 if v.options.get("compile") or v.options.get("dtype") not in (None, "fp32") else 2


def chunk_steps(est_step_s: float, chunk_s: float) -> int:
    """Timed steps for a chunk of about `chunk_s` seconds, between MIN_ and MAX_CHUNK_STEPS."""
    return max(MIN_CHUNK_STEPS, min(MAX_CHUNK_STEPS, round(chunk_s / max(est_step_s, 1e-4))))


@dataclass(frozen=True)
class ChunkPlan:
    steps: int
    warmup: int
    max_timed_s: float  # stop timing after this long, once MIN_CHUNK_STEPS are done
    predicted_wall_s: float  # warm-up + timed steps at the baseline's step time scaled by the batch


def chunk_plan(v: Variant, base_batch: int, baseline_step_s: float, chunk_s: float) -> ChunkPlan:
    """A larger batch gets a longer chunk (sqrt of its factor) so that it still times several steps."""
    f = batch_factor(v, base_batch)
    steps = chunk_steps(baseline_step_s * f, chunk_s * f**0.5)
    warmup = warmup_steps(v)
    return ChunkPlan(steps, warmup, chunk_s * f, (steps + warmup) * baseline_step_s * f)


def apply_variant(
    base_cfg: GPTConfig, base_opts: StepOptions, v: Variant, plan: ChunkPlan
) -> tuple[GPTConfig, StepOptions]:
    """The model config and step options of one chunk of `v` (BASELINE: the run's own)."""
    cfg = replace(base_cfg, **v.config) if v.config else base_cfg
    opts = replace(base_opts, **v.options) if v.options else base_opts
    opts = replace(
        opts,
        warmup=plan.warmup,
        steps=plan.steps,
        max_seconds=plan.max_timed_s,
        min_steps=min(MIN_CHUNK_STEPS, plan.steps),
    )
    return cfg, opts
