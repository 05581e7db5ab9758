"""One real GPT training step, timed: forward, loss, backward, grad clip 1.0, AdamW step.

What is timed is exactly one optimizer step per sample on a pre-made random token batch (no data
loading), finished with a device synchronize. Warm-up steps come first: with --compile the first
step includes compilation, reported apart as compile_time_s. The figure is the median over the
timed steps; VM stalls are counted by `Timing.stalls` and do not move it.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hwbench.bench.config import GPTConfig
from hwbench.bench.flops import flops_per_step
from hwbench.bench.timing import Timing, summarize
from hwbench.errors import InputError

STEP_DTYPES = ("fp32", "tf32", "bf16", "fp16")


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
    config: GPTConfig
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


def _rss_high_water_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024  # Linux reports KiB, macOS bytes


def _autocast(device: str, dtype: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    if dtype in ("fp32", "tf32"):
        return contextlib.nullcontext()
    device_type = device.split(":", 1)[0]
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


@contextlib.contextmanager
def _precision(device: str, dtype: str, threads: int | None) -> Iterator[None]:
    import torch

    from hwbench.bench.matmul import tf32_mode, torch_threads

    is_cuda = device.startswith("cuda")
    tf = tf32_mode(dtype == "tf32") if is_cuda else contextlib.nullcontext()
    on_device = torch.cuda.device(device) if is_cuda else contextlib.nullcontext()
    with tf, torch_threads(threads), on_device:
        yield


def check_options(opts: StepOptions) -> None:
    if opts.dtype not in STEP_DTYPES:
        raise InputError(f"unknown dtype {opts.dtype!r}", hint=f"choose one of: {', '.join(STEP_DTYPES)}")
    if opts.dtype == "tf32" and not opts.device.startswith("cuda"):
        raise InputError(
            f"tf32 is an NVIDIA tensor-core mode; it does not exist on {opts.device}",
            hint="use --dtype fp32 or bf16",
        )
    if opts.steps < 1 or opts.warmup < 0:
        raise InputError("steps must be >= 1 and warmup >= 0")
    if opts.threads is not None and opts.threads < 1:
        raise InputError(f"threads must be >= 1, got {opts.threads}")


def _sync(device: str) -> Callable[[], None]:
    from hwbench.bench.matmul import _sync_fn

    return _sync_fn(device)


def measure_step(cfg: GPTConfig, opts: StepOptions, progress: ProgressFn | None = None) -> StepResult:
    """Build the model on opts.device, warm up, time training steps; Ctrl-C keeps what was measured.

    Raises torch's OutOfMemoryError unchanged (the caller retries with a smaller batch).
    """
    import torch

    from hwbench.bench.gpt import GPT

    cfg.validate()
    check_options(opts)
    device = opts.device
    is_cuda = device.startswith("cuda")
    sync = _sync(device)
    with _precision(device, opts.dtype, opts.threads):
        torch.manual_seed(opts.seed)
        if is_cuda:
            torch.cuda.reset_peak_memory_stats(device)
        model = GPT(cfg).to(device)
        model.train()
        optimizer = model.optimizer(fused=opts.fused_adamw)
        scaler = torch.amp.GradScaler(device.split(":", 1)[0], enabled=opts.dtype == "fp16")
        gen = torch.Generator(device="cpu").manual_seed(opts.seed)
        batches = [
            (
                torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size), generator=gen).to(device),
                torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size), generator=gen).to(device),
            )
            for _ in range(max(1, opts.n_batches))
        ]
        fwd: Callable[..., torch.Tensor] = model
        if opts.compile:
            fwd = torch.compile(model)
        ctx = _autocast(device, opts.dtype)
        last_loss: list[torch.Tensor] = []

        def step(i: int) -> None:
            x, y = batches[i % len(batches)]
            with ctx:
                loss = fwd(x, y)
            scaler.scale(loss).backward()
            if opts.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            last_loss[:] = [loss.detach()]

        compile_time_s: float | None = None
        samples: list[float] = []
        interrupted = False
        t_warm = time.perf_counter()
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
        except KeyboardInterrupt:
            interrupted = True
            warmup_s = time.perf_counter() - t_warm if not samples else warmup_s
            if not samples:
                raise
        if is_cuda:
            mem: int | None = int(torch.cuda.max_memory_allocated(device))
            mem_src = "torch.cuda.max_memory_allocated"
        elif device == "cpu":
            mem = _rss_high_water_bytes()
            mem_src = "process RSS high-water (getrusage ru_maxrss)"
        else:
            mem, mem_src = None, f"not measured on {device}"
        final_loss = float(last_loss[0].float().item()) if last_loss else None
    timing = summarize(samples)
    fps = flops_per_step(cfg)
    return StepResult(
        config=cfg,
        options=opts,
        timing=timing,
        flops_per_step=fps,
        achieved_tflops=fps / timing.median_s / 1e12,
        peak_memory_bytes=mem,
        peak_memory_source=mem_src,
        compile_time_s=compile_time_s,
        warmup_s=warmup_s,
        interrupted=interrupted,
        final_loss=final_loss,
    )
