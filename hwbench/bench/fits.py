"""Will the GPT fit? Its training memory estimated from its size and held against what the device has,
before a byte is allocated.

A `--vocab-size 10000000000` or a huge `--n-embd` otherwise ends in an allocator failure deep in
torch (a traceback, or minutes of swapping first). The estimate leaves out what is hard to bound
(attention scores, the allocator's slack), so it errs low:

    parameters x 16 bytes    fp32 weights (4), their gradients (4), AdamW's two moments (8)
  + activations              B x T x L x C x 68 bytes: a block's saved tensors, 34 bytes per token
                             and channel in 16-bit (Korthikanti et al. 2022, "Reducing Activation
                             Recomputation in Large Transformer Models", section 4.1, without the
                             attention-score term), doubled for fp32
  + logits                   B x T x V x 12 bytes: the logits, their softmax and its gradient in fp32

held against MemAvailable (/proc/meminfo) on the CPU and the device's total memory on a GPU.
Under the estimate, a model can still run out at run time (the allocator's fragmentation, other
processes); above it, it cannot fit, so the run stops with the figures in the message.
"""

from __future__ import annotations

from hwbench.bench.config import GPTConfig
from hwbench.errors import InputError
from hwbench.fmt import count, si

BYTES_PER_PARAM = 16  # fp32 weight + gradient + AdamW exp_avg + exp_avg_sq


def training_bytes(cfg: GPTConfig) -> tuple[int, int]:
    """(parameters, estimated training bytes) of `hwbench.bench.gpt.GPT(cfg)` under AdamW."""
    from hwbench.bench.flops import n_params

    params = n_params(cfg, non_embedding=False)
    tokens = cfg.batch_size * cfg.block_size
    activations = tokens * (cfg.n_layer * cfg.n_embd * 68 + cfg.vocab_size * 12)
    return params, params * BYTES_PER_PARAM + activations


def available_bytes(device: str) -> tuple[int | None, str]:
    """(bytes the run may use on `device`, where the figure comes from); None when unknown."""
    from hwbench.devices import resolve
    from hwbench.model import NA

    dev = resolve(device)
    if dev.is_host:
        from hwbench.detect.memory import read_memory

        try:
            mem = read_memory()
        except Exception:  # no /proc and no psutil: cannot say, so do not refuse
            return None, "unknown"
        return mem.available_bytes, f"RAM available, {mem.source}"
    total = dev.memory_total_bytes()
    return (None, "unknown") if isinstance(total, NA) else (int(total), "its total memory, torch")


def check_fits(cfg: GPTConfig, device: str) -> None:
    """InputError (exit 2) when the model's training memory exceeds what `device` has."""
    params, need = training_bytes(cfg)
    have, source = available_bytes(device)
    if have is None or need <= have:
        return
    weights = params * BYTES_PER_PARAM
    raise InputError(
        f"the model needs at least {si(need, 'B')} to train: {si(weights, 'B')} for {count(params)} "
        f"parameters ({BYTES_PER_PARAM} bytes each: weights, gradients, AdamW state) and "
        f"{si(need - weights, 'B')} of activations ({cfg.batch_size} x {cfg.block_size} tokens); "
        f"{device} has {si(have, 'B')} ({source})",
        hint="a smaller --n-embd, --n-layer, --vocab-size or --batch-size, or a --preset",
    )
