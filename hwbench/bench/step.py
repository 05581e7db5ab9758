"""One real GPT training step, timed: forward, loss, backward, grad clip 1.0, AdamW step.

What is timed is exactly one optimizer step per sample on a pre-made random token batch (no data
loading), finished with a device synchronize. Warm-up steps come first: with --compile the first
step includes compilation, reported apart as compile_time_s. The figure is the median over the
timed steps; VM stalls are counted by `Timing.stalls` and do not move it.
"""

from __future__ import annotations

from collections.abc import Callable

from hwbench.bench.config import GPTConfig, ModelConfig
from hwbench.bench.flops import flops_per_step
from hwbench.bench.steploop import (
    STEP_DTYPES,
    ProgressFn,
    StepLoop,
    StepOptions,
    StepResult,
    autocast,
    check_options,
    check_threads,
    peak_memory,
    precision,
    run_steps,
    step_result,
    sync_fn,
)
from hwbench.devices import resolve

__all__ = [
    "STEP_DTYPES",
    "ProgressFn",
    "StepLoop",
    "StepOptions",
    "StepResult",
    "check_options",
    "check_threads",
    "measure_step",
    "peak_memory",
    "run_steps",
    "step_result",
]


def measure_step(
    cfg: GPTConfig | ModelConfig, opts: StepOptions, progress: ProgressFn | None = None
) -> StepResult:
    """Build the model on opts.device, warm up, time training steps; Ctrl-C keeps what was measured.

    A ModelConfig (`hwbench mfu --model`) is the user's model, measured by bench.usermodel the same way,
    so every caller (the run, the reporter's experiments) handles both. Raises torch's OutOfMemoryError
    unchanged (the caller retries with a smaller batch).
    """
    if isinstance(cfg, ModelConfig):
        from hwbench.bench.usermodel import measure_model_step

        return measure_model_step(cfg, opts, progress)
    import torch

    from hwbench.bench.gpt import GPT

    cfg.validate()
    check_options(opts)
    from hwbench.bench.fits import check_fits

    check_fits(cfg, opts.device)  # before allocating: too big is an error with the figures, not an OOM
    device = opts.device
    sync = sync_fn(device)
    with precision(device, opts.dtype, opts.threads):
        torch.manual_seed(opts.seed)
        resolve(device).reset_peak_memory()
        model = GPT(cfg).to(device)
        model.train()
        optimizer = model.optimizer(fused=opts.fused_adamw)
        scaler = resolve(device).grad_scaler(enabled=opts.dtype == "fp16")
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
        ctx = autocast(device, opts.dtype)
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

        loop = run_steps(step, sync, opts, progress)
    return step_result(cfg, opts, loop, flops_per_step(cfg), last_loss)
