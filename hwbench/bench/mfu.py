"""`hwbench mfu` as an API: step + ceiling + peak -> MFU three ways, with their denominators.

- `mfu`            achieved / the device's own dense peak for the dtype that ran (from hwbench.peaks):
                   "how much of the silicon this uses". None (with a reason) without a peak; never
                   above 100%: a measured rate above the peak means the peak is wrong, and we say so.
- `mfu_vs_ceiling` achieved / the best GEMM FLOP/s measured here, same dtype and threads:
                   "how close to what this machine+BLAS can actually do".
- `mfu_nanogpt`    achieved / 312 TFLOP/s (A100 bf16), what nanoGPT's estimate_mfu prints on every
                   device, CPU included: only there to explain the tiny number users saw.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hwbench.bench.config import (
    PRESET_NOTES,
    PRESETS,
    SIZES,
    GPTConfig,
    ModelConfig,
    check_size,
    divisor_near,
    preset,
)
from hwbench.bench.flops import NANOGPT_PEAK_TFLOPS, flops_per_step, mfu_ratio, model_gemm_shapes, n_params
from hwbench.bench.matmul import CeilingResult, GemmPoint, ceiling, supported_dtypes
from hwbench.bench.step import StepOptions, StepResult, check_options, measure_step
from hwbench.devices import resolve
from hwbench.errors import HwbenchError, InputError, one_line
from hwbench.model import System
from hwbench.peaks.types import TORCH_DTYPES, DevicePeak

PhaseFn = Callable[[str, float | None], None]  # (what is running, fraction done or None)

FLOPS_CONVENTION = (
    "PaLM Appendix B as nanoGPT estimate_mfu: (6N + 12*L*H*Q*T) per token x batch_size x block_size; "
    "N excludes the position embedding; causal attention counted in full (not halved); "
    "LayerNorm/softmax/GELU/optimizer not counted"
)
MODEL_FLOPS_CONVENTION = (
    "counted by torch.utils.flop_counter.FlopCounterMode over one forward + loss + backward: matmuls, "
    "convolutions and scaled_dot_product_attention (math backend on CPU, causal counted in full); "
    "elementwise ops, norms, the loss and the optimizer not counted, nor kernels torch has no formula for"
)


@dataclass(frozen=True)
class MfuOptions:
    device: str | None = None  # None: the best device torch can use
    model: str | None = None  # "FILE.py:FACTORY" / "package.module:FACTORY": the user's model, not the GPT
    preset: str | None = None  # None: one that fits the device
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None
    batch_size: int | None = None
    vocab_size: int | None = None
    bias: bool | None = None
    dtype: str | None = None  # None: what nanoGPT uses there (fp32 on CPU, bf16/fp16 on CUDA)
    compile: bool | None = None  # None: nanoGPT's default there (off on CPU per its README, on on CUDA)
    threads: int | None = None
    fused_adamw: bool | None = None  # None: on for CUDA (nanoGPT uses fused AdamW when available)
    quick: bool = False
    with_ceiling: bool = True
    peak_overrides: tuple[str, ...] = ()  # "bf16=165" (TFLOP/s)
    steps: int | None = None
    max_seconds: float | None = None
    warmup: int | None = None
    ceiling_budget_s: float | None = None  # per dtype; None: the sweep's default
    ceiling_squares: tuple[int, ...] | None = None  # None: the sweep's default sizes


@dataclass
class MfuRun:
    device: str
    dtype: str
    config: GPTConfig | ModelConfig
    preset: str | None
    options: MfuOptions
    step: StepResult | None
    peak: DevicePeak | None  # hwbench.peaks, with any --peak-tflops overrides in place
    ceiling: CeilingResult | None
    model_gemms: list[GemmPoint]
    mfu: float | None
    mfu_reason: str | None  # why mfu is None
    mfu_vs_ceiling: float | None
    mfu_nanogpt: float | None
    threads: int | None
    device_name: str | None = None
    system: System | None = None  # when detect ran
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0

    @property
    def achieved_tflops(self) -> float | None:
        return self.step.achieved_tflops if self.step else None

    @property
    def peak_tflops(self) -> float | None:
        return self.peak.peaks_tflops.get(self.dtype) if self.peak else None

    @property
    def ceiling_point(self) -> GemmPoint | None:
        return self.ceiling.best.get(self.dtype) if self.ceiling else None

    @property
    def step_options(self) -> StepOptions | None:
        return self.step.options if self.step else None


# ---------------------------------------------------------------------------------------------
# device, preset, dtype choices


def _detect() -> tuple[System | None, str | None]:
    try:
        from hwbench.detect import detect_system

        return detect_system(), None
    except Exception as e:  # detect is best-effort here: the benchmark still runs without it
        return None, f"hardware detection unavailable ({one_line(e)})"


def _gpus_seen(system: System | None) -> str:
    gpus = system.gpus if system is not None else None
    if not gpus:
        return "detect saw no GPU"
    return "detect saw: " + "; ".join(f"{g.name} ({g.vendor}, {g.pci_slot})" for g in gpus)


def best_device() -> str:
    """The best device this torch can use: a GPU (CUDA/ROCm, then XPU, then MPS), else the CPU."""
    from hwbench.devices import available

    return available()[0].torch_name


def resolve_device(device: str, system: System | None = None) -> str:
    """Validate a --device value against this torch build; raise a one-line HwbenchError if unusable.
    Returns the device with its index made explicit ("cuda" -> "cuda:0")."""
    dev = resolve(device)  # InputError for what names no device
    if not dev.available():
        seen = "" if dev.is_host else f"; {_gpus_seen(system)}"
        raise HwbenchError(
            f"--device {device}: {dev.why_unavailable()}{seen}",
            hint="install a torch build for this GPU (https://pytorch.org/get-started/locally/) "
            "or run with --device cpu",
        )
    n = dev.count()
    if dev.index is not None and dev.index >= n:
        raise HwbenchError(
            f"--device {device}: only {n} {dev.kind} device(s) visible to torch",
            hint=f"use --device {dev.kind}:0 to {dev.kind}:{n - 1} (`hwbench detect` lists them)"
            if n
            else "`hwbench detect` lists the devices this machine has",
        )
    return dev.explicit().torch_name


def device_name(device: str, system: System | None = None) -> str | None:
    dev = resolve(device)
    if not dev.is_host:
        return dev.identity().name
    cpu = system.cpu if system is not None else None
    return str(cpu.model) if cpu is not None else None


def default_preset(device: str) -> str:
    """A preset that fits the device and finishes in about a minute."""
    dev = resolve(device)
    if dev.is_host:
        return "nanogpt-cpu"
    mem = dev.memory_total_bytes()
    return "gpt2-124m" if isinstance(mem, int) and mem >= 20 * 2**30 else "shakespeare-char"


def default_dtype(device: str) -> str:
    """bf16 autocast where the hardware has bf16, fp16 (with loss scaling) where it has only that, else
    fp32 (the device layer decides: torch's is_bf16_supported() counts emulation on V100/T4)."""
    return resolve(device).default_dtype().dtype


def step_plan(device: str, quick: bool) -> tuple[int, int, float]:
    """(warm-up steps, max timed steps, max timed seconds) per device kind."""
    if resolve(device).is_host:
        return (2, 40, 3.0) if quick else (5, 300, 8.0)
    return (5, 30, 4.0) if quick else (10, 200, 15.0)


def build_config(opts: MfuOptions, device: str) -> tuple[GPTConfig, str | None]:
    name = opts.preset or default_preset(device)
    base = preset(name)
    cfg = base.with_overrides(
        n_layer=opts.n_layer,
        n_head=opts.n_head,
        n_embd=opts.n_embd,
        block_size=opts.block_size,
        batch_size=opts.batch_size,
        vocab_size=opts.vocab_size,
        bias=opts.bias,
    )
    return cfg, name


# ---------------------------------------------------------------------------------------------
# peaks


def lookup_peak(
    device: str,
    system: System | None,
    threads: int | None,
    overrides: tuple[str, ...] = (),
    measured_tflops: dict[str, float] | None = None,
) -> tuple[DevicePeak | None, list[str]]:
    """The device's peak from hwbench.peaks (plus --peak-tflops overrides); never raises for a miss."""
    from hwbench.peaks import override_only_peak, parse_peak_overrides, peak_for_device, with_overrides

    notes: list[str] = []
    peak_obj: DevicePeak | None = None
    if system is not None:
        try:
            # hints for CPU peaks: the cores this run may use, and the measured GEMM rates (a floor
            # for a computed peak: a CPU that turbos past its listed clock must not show > 100%)
            hints: dict[str, Any] = {}
            host = resolve(device).is_host
            if host and threads:
                hints["threads"] = threads
            if host and measured_tflops:
                hints["measured_tflops"] = dict(measured_tflops)
            peak_obj = peak_for_device(device, system, **hints)
        except HwbenchError as e:  # the run is measured already: a peak problem is a note, not an abort
            notes.append(f"no peak: {e.message}")
        except Exception as e:
            notes.append(f"peak lookup failed ({one_line(e)})")
    if overrides:
        values = parse_peak_overrides(list(overrides))
        if peak_obj is not None:
            peak_obj = with_overrides(peak_obj, values)
        else:
            reason = notes[-1] if notes else "no peak known for this device"
            peak_obj = override_only_peak(device, device_name(device, system) or device, values, reason)
    return peak_obj, notes


def mfu_against_peak(
    achieved_tflops: float, dtype: str, peak: DevicePeak | None
) -> tuple[float | None, str | None, list[str]]:
    """(mfu, reason when None, warnings). The value is `flops.mfu_ratio`'s: never above 1."""
    if peak is None:
        return None, "no peak known for this device", []
    p = peak.peaks_tflops.get(dtype)
    if p is None or p <= 0:
        return None, f"no dense {dtype} peak known for this device (source: {peak.source})", []
    value = mfu_ratio(achieved_tflops, p)
    if value is None:
        return (
            None,
            f"achieved {achieved_tflops:.3g} TFLOP/s exceeds the {dtype} peak {p:.3g} TFLOP/s",
            [
                f"the {dtype} peak {p:.3g} TFLOP/s ({peak.source}) is below what was measured "
                f"({achieved_tflops:.3g} TFLOP/s): that peak is wrong; MFU against it is not shown. "
                "Pass the right one with --peak-tflops DTYPE=VALUE."
            ],
        )
    return value, None, []


# ---------------------------------------------------------------------------------------------
# the run


def machine_busy_note() -> str | None:
    """A warning when other processes already load the CPUs this run will time (shared/CI machines)."""
    import os

    try:
        load1 = os.getloadavg()[0]
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    except OSError:
        return None
    if load1 >= max(0.75, 0.5 * cpus):
        return (
            f"the machine was already busy before this run (1-min load average {load1:.2f} on {cpus} "
            "CPUs): other processes compete for the cores, so CPU timings will be low and noisy"
        )
    return None


def _is_oom(e: BaseException) -> bool:
    from hwbench.bench.oom import is_oom

    return is_oom(e)


def _check_cheap_options(opts: MfuOptions) -> None:
    """What can be checked before importing torch or detecting anything: InputError on the first bad one."""
    if opts.preset is not None:
        preset(opts.preset)
    if opts.dtype is not None and opts.dtype not in TORCH_DTYPES:
        raise InputError(f"unknown dtype {opts.dtype!r}", hint=f"choose one of: {', '.join(TORCH_DTYPES)}")
    if opts.preset is not None:
        # with a preset known, the whole config (n_embd % n_head included) can be checked now
        build_config(opts, "cpu")
    elif opts.model is None:  # with --model these flags are refused below
        for name in SIZES:
            if getattr(opts, name) is not None:
                check_size(name, getattr(opts, name))
        if opts.n_embd is not None and opts.n_head is not None and opts.n_embd % opts.n_head:
            raise InputError(
                f"n_embd ({opts.n_embd}) is not divisible by n_head ({opts.n_head})",
                hint="use --n-head that divides --n-embd "
                f"(e.g. {divisor_near(opts.n_embd, opts.n_head)} for {opts.n_embd})",
            )
    if opts.peak_overrides:
        from hwbench.peaks import parse_peak_overrides

        parse_peak_overrides(list(opts.peak_overrides))
    if opts.model is not None:
        gpt_only = {
            "--preset": opts.preset,
            "--n-layer": opts.n_layer,
            "--n-head": opts.n_head,
            "--n-embd": opts.n_embd,
            "--block-size": opts.block_size,
            "--vocab-size": opts.vocab_size,
            "--bias/--no-bias": opts.bias,
        }
        given = [flag for flag, v in gpt_only.items() if v is not None]
        if given:
            raise InputError(
                f"--model replaces the built-in GPT: {', '.join(given)} do not apply to it",
                hint="the factory decides the model; --batch-size scales its inputs' batch dimension",
            )


def _step_options(opts: MfuOptions, device: str, dtype: str) -> StepOptions:
    """The timed step's options: the user's, else the device's defaults (compile, fused AdamW, budget)."""
    dev = resolve(device)
    warmup, max_steps, max_s = step_plan(device, opts.quick)
    step_opts = StepOptions(
        device=device,
        dtype=dtype,
        compile=opts.compile if opts.compile is not None else dev.compile_by_default,
        threads=opts.threads,
        fused_adamw=opts.fused_adamw if opts.fused_adamw is not None else dev.fused_optimizer_by_default,
        warmup=warmup if opts.warmup is None else opts.warmup,
        steps=opts.steps or max_steps,
        max_seconds=opts.max_seconds if opts.max_seconds is not None else max_s,
    )
    check_options(step_opts)
    return step_opts


def _ceiling_dtypes(device: str, dtype: str, quick: bool) -> list[str]:
    """The step's dtype first, then the others where they are quick to time."""
    dev = resolve(device)
    dts = [dtype]
    if not dev.is_host and not quick:
        dts += [d for d in TORCH_DTYPES if d != dtype]
    elif dev.is_host and not quick and dtype != "bf16":
        dts.append("bf16")  # shows whether bf16 would help here (no bf16 hardware: it will not)
    return [d for d in dts if d in supported_dtypes(device)]


def _model_ceiling(device: str, dtype: str, cfg: StepConfig, opts: MfuOptions, say: PhaseFn) -> CeilingResult:
    """The matmul ceiling at square sizes and, for the GPT, at its own GEMM shapes (a user's model is
    known only by its FLOP count)."""
    gemms = model_gemm_shapes(cfg) if isinstance(cfg, GPTConfig) else []
    return ceiling(
        device,
        _ceiling_dtypes(device, dtype, opts.quick),
        model_shapes=[(s.name, s.m, s.n, s.k) for s in gemms],
        quick=opts.quick,
        threads=opts.threads,
        libraries=True,
        progress=lambda s: say(s, None),
        budget_s=opts.ceiling_budget_s,
        squares=opts.ceiling_squares,
    )


def run_mfu(
    options: MfuOptions | None = None,
    progress: PhaseFn | None = None,
    system: System | None = None,
) -> MfuRun:
    """Measure the step, the ceiling and look up the peak. Ctrl-C returns a partial run."""
    opts = options or MfuOptions()
    t_start = time.perf_counter()
    warnings: list[str] = []

    def say(what: str, frac: float | None = None) -> None:
        if progress:
            progress(what, frac)

    _check_cheap_options(opts)  # before importing torch or detecting anything
    busy = machine_busy_note()
    if busy:
        warnings.append(busy)
    if system is None:
        say("detecting hardware")
        system, why = _detect()
        if why:
            warnings.append(why)
    say("loading torch")
    device = resolve_device(opts.device, system) if opts.device else best_device()
    cfg: GPTConfig | ModelConfig
    if opts.model is not None:
        from hwbench.bench.usermodel import describe

        say(f"loading {opts.model}")
        cfg, preset_name = describe(opts.model, opts.batch_size), None
    else:
        cfg, preset_name = build_config(opts, device)
    dev = resolve(device)
    if opts.dtype:
        dtype = opts.dtype
    else:
        choice = dev.default_dtype()
        dtype = choice.dtype
        if choice.note:
            warnings.append(choice.note)
    step_opts = _step_options(opts, device, dtype)
    run = MfuRun(
        device=device,
        dtype=dtype,
        config=cfg,
        preset=preset_name,
        options=opts,
        step=None,
        peak=None,
        ceiling=None,
        model_gemms=[],
        mfu=None,
        mfu_reason="not measured",
        mfu_vs_ceiling=None,
        mfu_nanogpt=None,
        threads=opts.threads,
        device_name=device_name(device, system),
        system=system,
        warnings=warnings,
    )
    try:
        # 1. the training step (OOM: halve the batch and say so)
        say(f"training step {describe_config(cfg)} {dtype}", 0.0)
        run.step, cfg = step_with_oom_retry(
            cfg, step_opts, warnings, lambda c, o: _measure_step_compiling(c, o, warnings, say)
        )
        run.config = cfg
        run.interrupted = run.step.interrupted
        if run.step.interrupted:
            warnings.append("interrupted during the training step: figures are from the steps measured")
        # 2. the matmul ceiling: the step's dtype first, others where they are quick to time
        if opts.with_ceiling and not run.interrupted:
            run.ceiling = _model_ceiling(device, dtype, cfg, opts, say)
            run.model_gemms = [p for p in run.ceiling.points if p.model_shape is not None]
            run.interrupted = run.ceiling.interrupted
    except KeyboardInterrupt:
        run.interrupted = True
        warnings.append("interrupted (Ctrl-C or SIGTERM): figures are from what was measured before it")
    # 3. the three denominators
    say("peaks", None)
    measured = {dt: p.tflops for dt, p in run.ceiling.best.items()} if run.ceiling else None
    run.peak, notes = lookup_peak(device, system, opts.threads, opts.peak_overrides, measured)
    warnings.extend(notes)
    _finish(run)
    run.elapsed_s = time.perf_counter() - t_start
    return run


StepConfig = GPTConfig | ModelConfig


def describe_config(cfg: StepConfig) -> str:
    """ "4L/128C B12" for the GPT, "SmallCNN B32" for a user's model."""
    if isinstance(cfg, ModelConfig):
        return f"{cfg.name}" + (f" B{cfg.batch_size}" if cfg.batch_size else "")
    return f"{cfg.n_layer}L/{cfg.n_embd}C B{cfg.batch_size}"


def completed_phases(run: MfuRun, *, advised: bool = False) -> list[str]:
    """The phases that ran to the end: "step", "ceiling", and "advice" when the reporter finished
    (an interrupted run names what its figures rest on)."""
    out = []
    if run.step is not None and not run.step.interrupted:
        out.append("step")
    if run.ceiling is not None and not run.ceiling.interrupted:
        out.append("ceiling")
    if advised:
        out.append("advice")
    return out


def model_line(run: MfuRun) -> str:
    """The model as the report's head line names it."""
    cfg = run.config
    if isinstance(cfg, ModelConfig):
        batch = f", batch {cfg.batch_size}" if cfg.batch_size else ", no batch dimension"
        return f"{cfg.spec} ({cfg.name}, {cfg.n_params:,} params{batch})"
    return (
        f"{run.preset or 'custom'} L{cfg.n_layer} H{cfg.n_head} C{cfg.n_embd} T{cfg.block_size} "
        f"B{cfg.batch_size} V{cfg.vocab_size}" + (" bias" if cfg.bias else "")
    )


def flops_line(run: MfuRun, flops: float, n_params_shown: int) -> str:
    """How FLOPs per step were made, after the figure."""
    from hwbench.fmt import si

    cfg = run.config
    if isinstance(cfg, ModelConfig):
        return (
            f"{si(flops, 'FLOP')} counted by FlopCounterMode (forward, {cfg.loss}, backward; matmuls, "
            f"convolutions, attention; elementwise, norms and the optimizer not counted)"
        )
    return (
        f"{si(flops, 'FLOP')} (6N + 12·L·H·Q·T per token x {cfg.tokens_per_step} tokens, N = "
        f"{n_params_shown:,} params excl. position embedding; causal attention not halved)"
    )


def throughput_line(run: MfuRun) -> str:
    """ "12,345 tokens/s" for the GPT, "650 samples/s" for a user's model with a batch dimension."""
    if run.step is None:
        return ""
    if isinstance(run.config, ModelConfig):
        if run.config.batch_size is None:
            return f"{1 / run.step.timing.median_s:,.1f} steps/s"
        return f"{run.step.tokens_per_s:,.0f} samples/s"
    return f"{run.step.tokens_per_s:,.0f} tokens/s"


def step_with_oom_retry(
    cfg: StepConfig,
    opts: StepOptions,
    warnings: list[str],
    measure: Callable[[StepConfig, StepOptions], StepResult],
) -> tuple[StepResult, StepConfig]:
    """Measure; on a CUDA out-of-memory error halve the batch, say so in `warnings`, and retry."""
    while True:
        try:
            return measure(cfg, opts), cfg
        except KeyboardInterrupt:
            raise
        except Exception as e:
            if resolve(opts.device).is_host or not _is_oom(e):
                raise
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if cfg.batch_size is None:
                raise HwbenchError(
                    f"out of memory on {opts.device}, "
                    "and the model's inputs have no batch dimension to halve",
                    hint="make the factory's model or inputs smaller, or use a device with more memory",
                ) from e
            if cfg.batch_size <= 1:
                raise HwbenchError(
                    f"out of memory on {opts.device} even at batch size 1",
                    hint="make the factory's model or inputs smaller, or use a device with more memory"
                    if isinstance(cfg, ModelConfig)
                    else "use a smaller --preset, --n-layer, --n-embd or --block-size, or another device",
                ) from e
            smaller = max(1, cfg.batch_size // 2)
            warnings.append(
                f"out of memory on {opts.device} at batch size {cfg.batch_size}; "
                f"retried with batch size {smaller} (the figures are for batch size {smaller})"
            )
            cfg = replace(cfg, batch_size=smaller)


def _measure_step_compiling(
    cfg: StepConfig, opts: StepOptions, warnings: list[str], say: PhaseFn
) -> StepResult:
    def prog(done: int, total: int, _dt: float) -> None:
        say(f"training step {done}/{total}", done / total)

    if not opts.compile:
        return measure_step(cfg, opts, progress=prog)
    try:
        return measure_step(cfg, opts, progress=prog)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        if _is_oom(e):
            raise
        warnings.append(f"torch.compile failed ({one_line(e, 240)}); measured eager instead")
        return measure_step(cfg, replace(opts, compile=False), progress=prog)


def _finish(run: MfuRun) -> None:
    """Fill the three MFU figures from step, peak and ceiling."""
    if run.step is None:
        return
    achieved = run.step.achieved_tflops
    run.mfu_nanogpt = achieved / NANOGPT_PEAK_TFLOPS
    run.mfu, run.mfu_reason, w = mfu_against_peak(achieved, run.dtype, run.peak)
    run.warnings.extend(w)
    cp = run.ceiling_point
    if cp is not None and cp.tflops > 0:
        run.mfu_vs_ceiling = achieved / cp.tflops
        if run.mfu_vs_ceiling > 1.0:
            run.warnings.append(
                f"the training step ran faster ({achieved:.3g} TFLOP/s) than the best {run.dtype} GEMM "
                f"measured ({cp.tflops:.3g}): the ceiling run was probably slowed (a shared machine?)"
            )
    stall = run.step.timing.stall_note()
    if stall:
        run.warnings.append(stall)
    if resolve(run.device).is_host and run.threads is None:
        with contextlib.suppress(Exception):
            import torch

            run.threads = torch.get_num_threads()


# ---------------------------------------------------------------------------------------------
# JSON


def _gemm_json(p: GemmPoint) -> dict[str, Any]:
    return {
        "library": p.library,
        "dtype": p.dtype,
        "label": p.label,
        "m": p.m,
        "n": p.n,
        "k": p.k,
        "tflops": p.tflops,
        "tflops_min": p.tflops_min,
        "tflops_max": p.tflops_max,
        "spread_pct": p.timing.spread_pct,
        "samples": p.timing.n,
        "calls_per_sample": p.calls_per_sample,
        "threads": p.threads,
    }


def mfu_payload(run: MfuRun) -> dict[str, Any]:
    """The `hwbench mfu --json` fields (docs/mfu.md), plus extras with their sources."""
    st = run.step
    cp = run.ceiling_point
    cfg = run.config
    peak_val = run.peak_tflops
    if isinstance(cfg, ModelConfig):
        # a user's model: parameters as the factory built them, FLOPs as FlopCounterMode counted them,
        # samples (the batch) standing in for tokens
        model_fields: dict[str, Any] = {
            "model": cfg.spec,
            "n_params": cfg.n_params,
            "n_params_total": cfg.n_params,
            "tokens_per_step": None,
            "samples_per_step": cfg.batch_size,
            "flops_per_step": st.flops_per_step if st else None,
            "flops_convention": MODEL_FLOPS_CONVENTION,
        }
    else:
        model_fields = {
            "model": None,
            "n_params": n_params(cfg, non_embedding=True),
            "n_params_total": n_params(cfg, non_embedding=False),
            "tokens_per_step": cfg.tokens_per_step,
            "flops_per_step": flops_per_step(cfg),
            "flops_convention": FLOPS_CONVENTION,
        }
    payload: dict[str, Any] = {
        "device": run.device,
        "device_name": run.device_name,
        "dtype": run.dtype,
        "preset": run.preset,
        "preset_source": PRESET_NOTES.get(run.preset or "", None),
        "config": cfg.as_dict(),
        **model_fields,
        "step_time_s": st.timing.median_s if st else None,
        "step_time": (
            {
                "median_s": st.timing.median_s,
                "p25_s": st.timing.p25_s,
                "p75_s": st.timing.p75_s,
                "min_s": st.timing.min_s,
                "max_s": st.timing.max_s,
                "spread_pct": st.timing.spread_pct,
                "steps_timed": st.timing.n,
                "stalls": st.timing.stalls,
                "stall_factor": st.timing.stall_factor,
                "warmup_steps": st.options.warmup,
                "warmup_s": st.warmup_s,
                "method": "wall clock per optimizer step after a device synchronize; median",
            }
            if st
            else None
        ),
        "compile": st.options.compile if st else None,
        "compile_time_s": st.compile_time_s if st else None,
        "fused_adamw": st.options.fused_adamw if st else None,
        "threads": run.threads,
        "achieved_tflops": st.achieved_tflops if st else None,
        "tokens_per_s": st.tokens_per_s if st and not isinstance(cfg, ModelConfig) else None,
        "samples_per_s": st.tokens_per_s if st and isinstance(cfg, ModelConfig) else None,
        "peak_memory_bytes": st.peak_memory_bytes if st else None,
        "peak_memory_source": st.peak_memory_source if st else None,
        "peak_tflops": peak_val,
        "peak_source": run.peak.source if run.peak else None,
        "peak_estimated": run.peak.estimated if run.peak else None,
        "peak_notes": list(run.peak.notes) if run.peak else [],
        "mfu": run.mfu,
        "mfu_reason": run.mfu_reason if run.mfu is None else None,
        "matmul_ceiling_tflops": cp.tflops if cp else None,
        "matmul_ceiling": _gemm_json(cp) if cp else None,
        "mfu_vs_ceiling": run.mfu_vs_ceiling,
        "mfu_nanogpt": run.mfu_nanogpt,
        "nanogpt_peak_tflops": NANOGPT_PEAK_TFLOPS,
        "nanogpt_peak_source": "nanoGPT model.py estimate_mfu: A100 bf16 dense peak, used on every device",
        "ceiling": (
            {
                "best": {dt: _gemm_json(p) for dt, p in run.ceiling.best.items()},
                "points": [_gemm_json(p) for p in run.ceiling.points],
                "notes": list(run.ceiling.notes),
                "env_overrides": run.ceiling.env_overrides,
            }
            if run.ceiling
            else None
        ),
        "model_gemms": [_gemm_json(p) for p in run.model_gemms],
        "final_loss": st.final_loss if st else None,
        "interrupted": run.interrupted,
        "elapsed_s": run.elapsed_s,
        "warnings": list(run.warnings),
        "explanation": [],
        "suggestions": [],
    }
    return payload


__all__ = [
    "PRESETS",
    "MfuOptions",
    "MfuRun",
    "best_device",
    "default_dtype",
    "default_preset",
    "lookup_peak",
    "mfu_against_peak",
    "mfu_payload",
    "resolve_device",
    "run_mfu",
]
