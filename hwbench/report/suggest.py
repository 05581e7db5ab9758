"""Suggestions from measured experiments: the exact change for the user's command, ranked by gain.

Pure functions of `RunFacts` and `ExperimentsReport`. Each suggestion carries what was measured (its
speedup against the interleaved baseline, the noise band, the verdict), the MFU it would give, and the
change both as nanoGPT's train.py command line (with the environment and taskset it needs) and as a
`hwbench mfu` command that re-measures it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from hwbench.fmt import cpu_list
from hwbench.report.experiments import ExperimentResult, ExperimentsReport, Variant
from hwbench.report.facts import RunFacts

VERDICT_ORDER = {"gain": 0, "no change": 1, "slower": 2, "inconclusive": 3, "failed": 4, "not measured": 5}
NANOGPT_DTYPE = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class Suggestion:
    key: str
    kind: str
    change: str
    verdict: str  # gain | no change | slower | failed | not measured
    measured_speedup: float | None
    noise_pct: float | None
    new_achieved_tflops: float | None
    new_mfu: float | None
    new_mfu_source: str | None  # which peak the new MFU is against
    command: str  # the user's nanoGPT command with the change applied
    hwbench_command: str
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    step_time_s: float | None = None
    baseline_step_time_s: float | None = None
    compile_time_s: float | None = None
    payback_steps: float | None = None
    rounds: int = 0

    def as_dict(self) -> dict[str, Any]:
        from hwbench.jsonout import to_jsonable

        d: dict[str, Any] = to_jsonable(self)
        return d


# -- commands --------------------------------------------------------------------------------------------


def nanogpt_command(facts: RunFacts, variant: Variant | None = None) -> tuple[str, dict[str, str], str]:
    """(command line, environment, note) for nanoGPT's train.py with `variant` applied."""
    cfg = dict(facts.config)
    opts: dict[str, Any] = {"threads": facts.threads, "dtype": facts.dtype, "compile": facts.compile}
    cpus: tuple[int, ...] = ()
    if variant is not None:
        cfg.update(variant.config)
        opts.update(variant.options)
        cpus = variant.cpus
    notes: list[str] = []
    env: dict[str, str] = {}
    prefix: list[str] = []
    if facts.is_cpu:
        threads_changed = variant is not None and "threads" in variant.options
        if opts.get("threads") and (threads_changed or cpus):
            env["OMP_NUM_THREADS"] = str(opts["threads"])
        if cpus:
            prefix = ["taskset", "-c", cpu_list(cpus)]
    script = ["python", "train.py"]
    if int(cfg.get("vocab_size", 0)) == 65:
        script.append("config/train_shakespeare_char.py")
    device = "cpu" if facts.is_cpu else ("cuda" if facts.device in ("cuda", "cuda:0") else facts.device)
    flags = [f"--device={device}"]
    if facts.is_cuda:
        flags.append(f"--dtype={NANOGPT_DTYPE.get(str(opts.get('dtype')), 'float32')}")
    flags.append(f"--compile={bool(opts.get('compile'))}")
    for name in ("block_size", "batch_size", "n_layer", "n_head", "n_embd"):
        if name in cfg:
            flags.append(f"--{name}={cfg[name]}")
    flags.append(f"--dropout={cfg.get('dropout', 0.0)}")
    if cfg.get("bias"):
        flags.append("--bias=True")
    if facts.is_cpu and opts.get("dtype") in ("bf16", "fp16") and opts.get("dtype") != facts.dtype:
        notes.append(
            "nanoGPT ignores --dtype on CPU (its autocast context is nullcontext there): edit train.py's "
            "`ctx = ...` line to `ctx = torch.amp.autocast(device_type='cpu', dtype=torch."
            + ("bfloat16" if opts["dtype"] == "bf16" else "float16")
            + ")`"
        )
    if facts.is_cuda and variant is not None and variant.key == "dtype=tf32":
        # nanoGPT's train.py sets torch.backends.cuda.matmul.allow_tf32 = True: its "float32" is TF32
        notes.append(
            "nanoGPT's --dtype=float32 already runs matmuls in TF32 (train.py sets allow_tf32 = True); "
            "in your own code: torch.backends.cuda.matmul.allow_tf32 = True"
        )
    if facts.is_cuda and variant is not None and variant.options.get("fused_adamw"):
        notes.append("nanoGPT already uses fused AdamW on CUDA when torch has it (configure_optimizers)")
    env_part = [f"{k}={v}" for k, v in env.items()]
    cmd = " ".join([*env_part, *prefix, *script, *flags])
    return cmd, env, "; ".join(notes)


def hwbench_command(facts: RunFacts, variant: Variant | None = None) -> str:
    """The `hwbench mfu` command that measures the run with `variant` applied."""
    cfg = dict(facts.config)
    opts: dict[str, Any] = {
        "threads": facts.threads,
        "dtype": facts.dtype,
        "compile": facts.compile,
        "fused_adamw": facts.fused_adamw,
    }
    cpus: tuple[int, ...] = ()
    if variant is not None:
        cfg.update(variant.config)
        opts.update(variant.options)
        cpus = variant.cpus
    parts: list[str] = []
    if cpus:
        parts += ["taskset", "-c", cpu_list(cpus)]
    parts += [
        "hwbench",
        "mfu",
        "--device",
        facts.device.split(":")[0] if facts.device == "cuda:0" else facts.device,
    ]
    if facts.preset:
        parts += ["--preset", facts.preset]
    from hwbench.bench.config import PRESETS

    base = PRESETS.get(facts.preset or "")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "vocab_size"):
        if name in cfg and (base is None or getattr(base, name) != cfg[name]):
            parts += [f"--{name.replace('_', '-')}", str(cfg[name])]
    parts += ["--dtype", str(opts["dtype"])]
    if opts.get("threads") and facts.is_cpu:
        parts += ["--threads", str(opts["threads"])]
    if opts.get("compile"):
        parts.append("--compile")
    # (no flag for fused AdamW: hwbench mfu uses it on CUDA by default, as nanoGPT does)
    return " ".join(shlex.quote(p) for p in parts)


# -- suggestions -----------------------------------------------------------------------------------------


def _new_mfu(facts: RunFacts, variant: Variant, new_tflops: float | None) -> tuple[float | None, str | None]:
    if new_tflops is None:
        return None, None
    dtype = str(variant.options.get("dtype", facts.dtype))
    peak = facts.peaks_tflops.get(dtype)
    if peak:
        return new_tflops / peak, f"the {dtype} peak ({peak:.3g} TFLOP/s)"
    fp32 = facts.peaks_tflops.get("fp32") or (facts.peak_tflops if facts.dtype == "fp32" else None)
    if fp32 and facts.is_cpu and dtype in ("bf16", "fp16"):
        return new_tflops / fp32, f"the fp32 peak ({fp32:.3g} TFLOP/s): this CPU has no {dtype} path"
    return None, None


def suggestion(facts: RunFacts, r: ExperimentResult) -> Suggestion:
    cmd, env, note = nanogpt_command(facts, r.variant)
    new_tflops = facts.achieved_tflops * r.speedup if r.speedup is not None else None
    new_mfu, src = _new_mfu(facts, r.variant, new_tflops)
    notes = [n for n in (r.note, note) if n]
    busy = facts.others_busy_pct
    if r.variant.kind in ("threads", "pinning") and r.verdict == "gain" and busy is not None and busy >= 15:
        fewer = int(r.variant.options.get("threads") or 0) < int(facts.threads or 0)
        if fewer:
            notes.append(
                f"measured while other processes kept {busy:.0f}% of the CPUs busy: fewer threads wait less "
                f"for descheduled ones; on an idle machine this can reverse, so re-measure there"
            )
    if r.variant.kind == "compile" and r.compile_time_s is not None:
        pay = (
            f"pays back its {r.compile_time_s:.1f} s compile after {r.payback_steps:.0f} steps"
            if r.payback_steps is not None
            else f"never pays back its {r.compile_time_s:.1f} s compile here (no step time saved)"
        )
        notes.append(pay)
    return Suggestion(
        key=r.variant.key,
        kind=r.variant.kind,
        change=r.variant.change,
        verdict=r.verdict,
        measured_speedup=r.speedup,
        noise_pct=r.noise_pct if r.speedup is not None else None,
        new_achieved_tflops=new_tflops,
        new_mfu=new_mfu,
        new_mfu_source=src,
        command=cmd,
        hwbench_command=hwbench_command(facts, r.variant),
        env=env,
        note="; ".join(notes),
        step_time_s=r.step_time_s,
        baseline_step_time_s=r.baseline_step_time_s,
        compile_time_s=r.compile_time_s,
        payback_steps=r.payback_steps,
        rounds=len(r.ratios),
    )


def rank(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Gains first (largest measured speedup first), then no change, slower, failed, not measured."""
    return sorted(
        suggestions,
        key=lambda s: (VERDICT_ORDER.get(s.verdict, 9), -(s.measured_speedup or 0.0), s.key),
    )


def suggestions(facts: RunFacts, experiments: ExperimentsReport | None) -> list[Suggestion]:
    if experiments is None:
        return []
    out = [suggestion(facts, r) for r in experiments.results]
    for note in experiments.skipped:
        if note.startswith("torch.compile"):
            v = Variant(key="compile", kind="compile", change="torch.compile", options={"compile": True})
            cmd, env, _ = nanogpt_command(facts, v)
            out.append(
                Suggestion(
                    key="compile",
                    kind="compile",
                    change="torch.compile",
                    verdict="not measured",
                    measured_speedup=None,
                    noise_pct=None,
                    new_achieved_tflops=None,
                    new_mfu=None,
                    new_mfu_source=None,
                    command=cmd,
                    hwbench_command=hwbench_command(facts, v),
                    env=env,
                    note=note,
                )
            )
    return rank(out)
