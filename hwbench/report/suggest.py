"""Suggestions from measured experiments: the exact change for the user's command, ranked by gain.

Pure functions of `RunFacts` and `ExperimentsReport`. Each suggestion carries what was measured (its
sustained-throughput speedup against the interleaved baseline, its 90% interval, the verdict, how it
was measured), the MFU it would give, and the change both as nanoGPT's train.py command line (with the
environment and taskset it needs) and as a `hwbench mfu` command that re-measures it.

A compiled run's experiments run eager (every chunk would compile again): their ratios are eager-mode
ratios, so they are not multiplied onto the compiled run's rate (no new TFLOP/s, MFU or tokens/s) and
the suggestion says so.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from hwbench.bench.flops import mfu_ratio
from hwbench.devices import parse
from hwbench.fmt import cpu_list
from hwbench.peaks.types import TORCH_DTYPE_NAMES
from hwbench.report.abstats import claim_text, is_precise
from hwbench.report.experiments import ExperimentResult, ExperimentsReport, Variant
from hwbench.report.facts import RunFacts

VERDICT_ORDER = {
    "gain": 0,
    "likely gain": 1,
    "no change": 2,
    "no measurable change": 3,
    "likely slower": 4,
    "slower": 5,
    "inconclusive": 6,
    "failed": 7,
    "not measured": 8,
}
EAGER_AB_NOTE = (
    "eager-mode A/B (the run was compiled, and every chunk would compile again): the ratio is not "
    "applied to the compiled run's rate"
)
NANOGPT_DTYPE = TORCH_DTYPE_NAMES  # nanoGPT's --dtype takes torch's names


@dataclass(frozen=True)
class Suggestion:
    key: str
    kind: str
    change: str
    verdict: str  # gain | likely gain | no change | no measurable change | likely slower | slower | ...
    measured_speedup: float | None  # the estimate; printed as a number only when `precise`
    noise_pct: float | None  # the interval as one ± percentage (its wider side)
    new_achieved_tflops: float | None
    new_mfu: float | None  # against mfu_scale(): one denominator for every suggestion of a run
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
    new_tokens_per_s: float | None = None  # the baseline's tokens/s x the measured speedup
    interval: tuple[float, float] | None = None  # 90% interval of the speedup
    precise: bool = False  # the interval spans at most abstats.PRECISE_SPAN
    method: str = ""  # how it was measured

    @property
    def claim(self) -> str:
        """The speedup as printed: a number only when its interval is precise (abstats.claim_text)."""
        return claim_text(self.measured_speedup, self.interval, self.noise_pct)

    def as_dict(self) -> dict[str, Any]:
        from hwbench.jsonout import to_jsonable

        d: dict[str, Any] = to_jsonable(self)
        d["claim"] = self.claim
        return d


# -- commands --------------------------------------------------------------------------------------------


def nanogpt_command(facts: RunFacts, variant: Variant | None = None) -> tuple[str, dict[str, str], str]:
    """(command line, environment, note) for nanoGPT's train.py with `variant` applied."""
    if facts.model is not None:
        # a user's model has no nanoGPT command: the change goes into the user's own training script,
        # and hwbench's command re-measures it
        return hwbench_command(facts, variant), {}, ""
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
    device = parse(facts.device).as_script_flag()
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
            + TORCH_DTYPE_NAMES[str(opts["dtype"])]
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
    """The `hwbench mfu` command that measures the run with `variant` applied; "" for a change no
    hwbench flag expresses (fused AdamW, which hwbench mfu uses wherever torch has it)."""
    if variant is not None and "fused_adamw" in variant.options:
        return ""
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
        parse(facts.device).as_script_flag(),
    ]
    if facts.model is not None:
        parts += ["--model", facts.model]
    if facts.preset:
        parts += ["--preset", facts.preset]
    from hwbench.bench.config import PRESETS

    base = PRESETS.get(facts.preset or "")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "vocab_size"):
        if name in cfg and (base is None or base.as_dict()[name] != cfg[name]):
            parts += [f"--{name.replace('_', '-')}", str(cfg[name])]
    if "bias" in cfg and (base is None or base.as_dict().get("bias") != cfg["bias"]):
        parts.append("--bias" if cfg["bias"] else "--no-bias")
    parts += ["--dtype", str(opts["dtype"])]
    if opts.get("threads") and facts.is_cpu:
        parts += ["--threads", str(opts["threads"])]
    # compile's default differs by device (on for CUDA, off on CPU): say it whenever it is not the default
    if opts.get("compile"):
        parts.append("--compile")
    elif not facts.is_cpu:
        parts.append("--no-compile")
    return " ".join(shlex.quote(p) for p in parts)


# -- suggestions -----------------------------------------------------------------------------------------


def dtype_peak_tflops(facts: RunFacts, dtype: str) -> float | None:
    """The dense peak a step in `dtype` is measured against; on a CPU without a bf16/fp16 path those
    run on the fp32 units, so the fp32 peak bounds them."""
    if dtype == facts.dtype and facts.peak_tflops:
        return facts.peak_tflops
    peak = facts.peaks_tflops.get(dtype)
    if peak:
        return peak
    if facts.is_cpu and dtype in ("bf16", "fp16"):
        return facts.peaks_tflops.get("fp32") or (facts.peak_tflops if facts.dtype == "fp32" else None)
    return None


@dataclass(frozen=True)
class MfuScale:
    """The one denominator every suggestion's MFU (and the baseline's, beside them) is stated against."""

    peak_tflops: float | None  # None: no MFU column (some compared dtype has no known peak)
    dtype: str | None
    source: str  # "the bf16 peak (1.06 TFLOP/s), the fastest of the dtypes compared" or why there is none

    def mfu(self, tflops: float | None) -> float | None:
        """By `bench.flops.mfu_ratio`'s rule: a projection above the peak shows no MFU."""
        return mfu_ratio(tflops, self.peak_tflops) if tflops is not None else None


def mfu_scale(facts: RunFacts, experiments: ExperimentsReport | None) -> MfuScale:
    """The highest dense peak among the dtypes the baseline and the changes ran in: against one
    denominator a faster change always shows a higher MFU (with each change's own dtype peak, a bf16
    change 1.5x faster read lower than its fp32 baseline)."""
    dtypes = {facts.dtype}
    for r in experiments.results if experiments is not None else ():
        if r.speedup is not None:  # a change that was not measured shows no MFU, so sets no scale
            dtypes.add(str(r.variant.options.get("dtype", facts.dtype)))
    peaks = {d: dtype_peak_tflops(facts, d) for d in sorted(dtypes)}
    missing = [d for d, p in peaks.items() if not p]
    if missing:
        return MfuScale(None, None, f"no MFU: no known {' or '.join(missing)} peak on this device")
    # the run's own dtype wins a tie, so without a faster dtype the scale is the headline MFU's
    d, peak = max(peaks.items(), key=lambda kv: (kv[1] or 0.0, kv[0] == facts.dtype))
    assert peak is not None
    src = f"the {d} peak ({peak:.3g} TFLOP/s)"
    if d != facts.dtype:
        src += f", the highest of the dtypes compared ({', '.join(peaks)})"
    return MfuScale(peak, d, src)


def suggestion(
    facts: RunFacts, r: ExperimentResult, scale: MfuScale | None = None, eager_ab: bool = False
) -> Suggestion:
    """`eager_ab`: the run was compiled and the experiments ran eager (see the module docstring)."""
    cmd, env, note = nanogpt_command(facts, r.variant)
    projected = r.speedup if not eager_ab else None
    new_tflops = facts.achieved_tflops * projected if projected is not None else None
    scale = scale or mfu_scale(facts, None)
    new_mfu = scale.mfu(new_tflops)
    src = scale.source if new_mfu is not None else None
    notes = [n for n in (r.note, note, EAGER_AB_NOTE if eager_ab and r.speedup is not None else "") if n]
    busy = facts.others_busy_pct
    gained = r.verdict in ("gain", "likely gain")
    if r.variant.kind in ("threads", "pinning") and gained and busy is not None and busy >= 15:
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
        new_tokens_per_s=facts.tokens_per_step / facts.step_time_s * projected
        if projected is not None and facts.step_time_s > 0
        else None,
        command=cmd,
        hwbench_command=hwbench_command(facts, r.variant),
        env=env,
        note="; ".join(notes),
        step_time_s=r.step_time_s,
        baseline_step_time_s=r.baseline_step_time_s,
        compile_time_s=r.compile_time_s,
        payback_steps=r.payback_steps,
        rounds=len(r.ratios),
        interval=r.interval,
        precise=r.interval is not None and is_precise(r.interval),
        method="; ".join(m for m in (r.method, "eager mode" if eager_ab else "") if m),
    )


def rank(suggestions: list[Suggestion]) -> list[Suggestion]:
    """Gains first (largest measured speedup first), then likely gains, no change, losses, failed, not
    measured."""
    return sorted(
        suggestions,
        key=lambda s: (VERDICT_ORDER.get(s.verdict, 9), -(s.measured_speedup or 0.0), s.key),
    )


def suggestions(facts: RunFacts, experiments: ExperimentsReport | None) -> list[Suggestion]:
    if experiments is None:
        return []
    scale = mfu_scale(facts, experiments)
    eager_ab = facts.compile and not experiments.compiled
    out = [suggestion(facts, r, scale, eager_ab) for r in experiments.results]
    note = experiments.compile_not_measured
    if note is not None:
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
