"""The timed loop every training step shares (the built-in GPT's in bench.step, a user's model in
bench.usermodel): options, result, precision and thread context, warm-up, samples until a step count or
a time budget, Ctrl-C keeping what was measured."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hwbench.bench.config import GPTConfig, ModelConfig
from hwbench.bench.timing import Timing, summarize
from hwbench.devices import resolve
from hwbench.errors import InputError
from hwbench.model import value_or_none
from hwbench.peaks.types import TORCH_DTYPES

STEP_DTYPES = TORCH_DTYPES


@dataclass(frozen=True)
class StepOptions:
    device: str = "cpu"
    dtype: str = "fp32"  # fp32 | tf32 (CUDA) | bf16 | fp16 (autocast; fp16 with a grad scaler)
    compile: bool = False
    threads: int | None = None
    fused_adamw: bool = False
    warmup: int = 3
    steps: int = 50
    max_seconds: float | None = None  # stop timing after this long (once min_steps are done)
    min_steps: int = 5
    seed: int = 0
    grad_clip: float = 1.0
    n_batches: int = 4  # random batches rotated through


@dataclass(frozen=True)
class StepResult:
    config: GPTConfig | ModelConfig
    options: StepOptions
    timing: Timing
    flops_per_step: float
    achieved_tflops: float  # flops_per_step / median step time
    peak_memory_bytes: int | None
    peak_memory_source: str
    compile_time_s: float | None  # first step's time when compiling (compilation + one step)
    warmup_s: float  # all warm-up steps together
    interrupted: bool
    final_loss: float | None = None

    @property
    def step_time_s(self) -> float:
        return self.timing.median_s

    @property
    def tokens_per_s(self) -> float:
        return self.config.tokens_per_step / self.timing.median_s


ProgressFn = Callable[[int, int, float], None]  # (steps done, steps planned, last step seconds)


def autocast(device: str, dtype: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    if dtype in ("fp32", "tf32"):
        return contextlib.nullcontext()
    low = torch.bfloat16 if dtype == "bf16" else torch.float16
    return torch.autocast(device_type=resolve(device).api, dtype=low)


@contextlib.contextmanager
def precision(device: str, dtype: str, threads: int | None) -> Iterator[None]:
    from hwbench.bench.matmul import tf32_mode, torch_threads

    dev = resolve(device)
    tf = tf32_mode(dtype == "tf32") if dev.has_tf32 else contextlib.nullcontext()
    with tf, torch_threads(threads), dev.made_current():
        yield


def check_options(opts: StepOptions) -> None:
    if opts.dtype not in STEP_DTYPES:
        raise InputError(f"unknown dtype {opts.dtype!r}", hint=f"choose one of: {', '.join(STEP_DTYPES)}")
    if opts.dtype == "tf32" and not resolve(opts.device).has_tf32:
        raise InputError(
            f"tf32 is an NVIDIA tensor-core mode; it does not exist on {opts.device}",
            hint="use --dtype fp32 or bf16",
        )
    if opts.steps < 1 or opts.warmup < 0:
        raise InputError(
            "steps must be >= 1 and warmup >= 0",
            hint="e.g. steps=20, warmup=3 (warmup=0 times from the first step)",
        )
    check_threads(opts.threads)


def check_threads(threads: int | None) -> None:
    """--threads within 1..MAX_CPUS (torch takes a C int: a 64-bit value is an overflow traceback)."""
    from hwbench.detect.cpu import MAX_CPUS

    if threads is not None and not 1 <= threads <= MAX_CPUS:
        raise InputError(
            f"--threads must be between 1 and {MAX_CPUS}, got {threads}",
            hint="at most the machine's CPU count (`hwbench detect` shows it)",
        )


def sync_fn(device: str) -> Callable[[], None]:
    from hwbench.bench.matmul import _sync_fn

    return _sync_fn(device)


def step_result(
    cfg: GPTConfig | ModelConfig, opts: StepOptions, loop: StepLoop, fps: float, last_loss: list[Any]
) -> StepResult:
    """A timed loop's result: median step, achieved FLOP/s, peak memory so far, the last step's loss
    (`last_loss`: the loss tensor of the last step, or empty)."""
    mem, mem_src = peak_memory(opts.device)
    timing = summarize(loop.samples)
    return StepResult(
        config=cfg,
        options=opts,
        timing=timing,
        flops_per_step=fps,
        achieved_tflops=fps / timing.median_s / 1e12,
        peak_memory_bytes=mem,
        peak_memory_source=mem_src,
        compile_time_s=loop.compile_time_s,
        warmup_s=loop.warmup_s,
        interrupted=loop.interrupted,
        final_loss=float(last_loss[0].float().item()) if last_loss else None,
    )


@dataclass(frozen=True)
class StepLoop:
    """What `run_steps` timed."""

    samples: list[float]
    compile_time_s: float | None
    warmup_s: float
    interrupted: bool


def run_steps(
    step: Callable[[int], None], sync: Callable[[], None], opts: StepOptions, progress: ProgressFn | None
) -> StepLoop:
    """Warm up, then time `step(i)` + `sync()` per sample until opts.steps or opts.max_seconds (after
    opts.min_steps). With compile, the first warm-up step is the compilation. Ctrl-C keeps the samples
    taken (and re-raises when there are none).

    An interrupt (SIGINT, or SIGTERM via hwbench.interrupt) is also remembered, and a loop started
    after it raises at once: a chunked experiment that catches the interrupt to keep its samples
    cannot go on measuring.
    """
    from hwbench import interrupt

    interrupt.check()
    compile_time_s: float | None = None
    samples: list[float] = []
    interrupted = False
    t_warm = time.perf_counter()
    warmup_s = 0.0
    try:
        for i in range(opts.warmup or (1 if opts.compile else 0)):
            t0 = time.perf_counter()
            step(i)
            sync()
            if i == 0 and opts.compile:
                compile_time_s = time.perf_counter() - t0
        warmup_s = time.perf_counter() - t_warm
        start = time.perf_counter()
        for i in range(opts.steps):
            t0 = time.perf_counter()
            step(opts.warmup + i)
            sync()
            dt = time.perf_counter() - t0
            samples.append(dt)
            if progress:
                progress(i + 1, opts.steps, dt)
            if (
                opts.max_seconds is not None
                and i + 1 >= opts.min_steps
                and time.perf_counter() - start > opts.max_seconds
            ):
                break
    except KeyboardInterrupt as e:
        interrupt.note(e)
        interrupted = True
        warmup_s = time.perf_counter() - t_warm if not samples else warmup_s
        if not samples:
            raise
    return StepLoop(samples, compile_time_s, warmup_s, interrupted)


def peak_memory(device: str) -> tuple[int | None, str]:
    """The run's peak memory so far, and how it was read."""
    dev = resolve(device)
    return value_or_none(dev.peak_memory_bytes()), dev.peak_memory_source
