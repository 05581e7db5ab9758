"""Parameter and FLOP counts for the nanoGPT architecture, as nanoGPT's `estimate_mfu` counts them.

PaLM (Chowdhery et al. 2022), Appendix B: training FLOPs per token = 6N + 12·L·H·Q·T, where
N = parameters (nanoGPT: all except the position embedding, `get_num_params(non_embedding=True)`; the
token embedding is counted because it is tied to the output head, a real matmul), L layers, H heads,
Q = head dim, T = sequence length. 6N: forward 2N + backward 4N multiply-adds x2. 12·L·H·Q·T:
attention scores QK^T and the weighted sum AV, forward and backward, with the FULL T x T matrix:
causal masking is NOT halved (the kernels compute, or at least the convention counts, all of it).
LayerNorm, GELU, softmax, the loss and the optimizer are not counted (a few percent at these sizes).

Seed preset (L4 H4 C128 T64 B12 vocab 65, bias=False): N = 795,904; per token 5,168,640;
per step x 768 tokens = 3.9695e9, the figure nanoGPT's estimate_mfu uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwbench.bench.config import GPTConfig


def n_params(cfg: GPTConfig, non_embedding: bool = True) -> int:
    """Parameters of `hwbench.bench.gpt.GPT(cfg)`; non_embedding drops the position embedding only."""
    c, v, t = cfg.n_embd, cfg.vocab_size, cfg.block_size
    b = 1 if cfg.bias else 0
    ln = c + b * c  # weight (+ bias)
    attn = (c * 3 * c + b * 3 * c) + (c * c + b * c)
    mlp = (c * 4 * c + b * 4 * c) + (4 * c * c + b * c)
    block = ln + attn + ln + mlp
    total = v * c + t * c + cfg.n_layer * block + ln  # wte (tied with lm_head), wpe, blocks, ln_f
    if non_embedding:
        total -= t * c
    return total


def palm_flops_per_token(n_params: int, n_layer: int, n_head: int, head_dim: int, seq_len: int) -> float:
    """6N + 12·L·H·Q·T: training FLOPs per token (forward + backward), PaLM Appendix B."""
    return 6.0 * n_params + 12.0 * n_layer * n_head * head_dim * seq_len


def flops_per_token(cfg: GPTConfig) -> float:
    """Training FLOPs per token (forward + backward), PaLM Appendix B."""
    n = n_params(cfg, non_embedding=True)
    return palm_flops_per_token(n, cfg.n_layer, cfg.n_head, cfg.head_dim, cfg.block_size)


def flops_per_step(cfg: GPTConfig) -> float:
    """Training FLOPs per optimizer step: flops_per_token x batch_size x block_size."""
    return flops_per_token(cfg) * cfg.tokens_per_step


NANOGPT_PEAK_TFLOPS = 312.0  # nanoGPT estimate_mfu: "A100 GPU bfloat16 peak flops is 312 TFLOPS"


def mfu_ratio(achieved_tflops: float, peak_tflops: float | None) -> float | None:
    """The one MFU rule: achieved over the dense peak, None without a positive peak or when the measured
    rate exceeds it (then the peak is wrong, and a figure above 100% would only mislead)."""
    if peak_tflops is None or peak_tflops <= 0 or achieved_tflops > peak_tflops:
        return None
    return achieved_tflops / peak_tflops


@dataclass(frozen=True)
class GemmShape:
    """One GEMM of the model: (m x k) @ (k x n)."""

    name: str
    m: int
    n: int
    k: int

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k


def model_gemm_shapes(cfg: GPTConfig) -> list[GemmShape]:
    """The forward GEMMs of one layer and the head, with M = batch_size x block_size tokens."""
    m, c = cfg.tokens_per_step, cfg.n_embd
    return [
        GemmShape("attn.qkv", m, 3 * c, c),
        GemmShape("attn.proj", m, c, c),
        GemmShape("mlp.fc", m, 4 * c, c),
        GemmShape("mlp.proj", m, c, 4 * c),
        GemmShape("lm_head", m, cfg.vocab_size, c),
    ]
