"""FLOPs and parameter counts against nanoGPT's published figures and torch's own FLOP counter."""

from __future__ import annotations

import dataclasses

import pytest

from hwbench.bench.config import PRESETS, GPTConfig
from hwbench.bench.flops import flops_per_step, flops_per_token, model_gemm_shapes, n_params

SEED = PRESETS["nanogpt-cpu"]


def test_seed_preset_is_nanogpt_readme_cpu_command() -> None:
    # nanoGPT README: --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0,
    # shakespeare_char vocab 65, train.py default bias=False
    assert (SEED.n_layer, SEED.n_head, SEED.n_embd, SEED.block_size, SEED.batch_size) == (4, 4, 128, 64, 12)
    assert SEED.vocab_size == 65 and SEED.bias is False and SEED.dropout == 0.0


def test_seed_flops_per_step_matches_nanogpt_estimate() -> None:
    # nanoGPT estimate_mfu for this config: N = 795,904 (it prints "number of parameters: 0.80M"),
    # 6N + 12*4*4*32*64 = 5,168,640 per token, x 64 x 12 = 3.9695e9 per iteration
    assert n_params(SEED) == 795_904
    assert flops_per_token(SEED) == 5_168_640
    assert flops_per_step(SEED) == pytest.approx(3.9695e9, rel=1e-3)


def test_gpt2_124m_parameter_count() -> None:
    # GPT-2 small (vocab 50257, bias=True, 1024 positions) has 124,439,808 parameters (the Hugging Face
    # `gpt2` checkpoint's count); nanoGPT pads the vocab to 50304 for speed
    gpt2 = dataclasses.replace(PRESETS["gpt2-124m"], bias=True, vocab_size=50257)
    assert n_params(gpt2, non_embedding=False) == 124_439_808
    assert n_params(gpt2) == 124_439_808 - 1024 * 768


def test_params_match_the_torch_model() -> None:
    from hwbench.bench.gpt import GPT

    for bias in (False, True):
        cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, batch_size=2, vocab_size=50, bias=bias)
        model = GPT(cfg)
        assert model.num_params(non_embedding=True) == n_params(cfg)
        assert model.num_params(non_embedding=False) == n_params(cfg, non_embedding=False)


@pytest.mark.parametrize("bias", [False, True])
def test_flop_counter_cross_check(bias: bool) -> None:
    """torch's FlopCounterMode on a forward+backward must equal the formula minus what it leaves out.

    The formula's 6N counts every parameter as a matmul weight; LayerNorm weights and biases are not
    matmuls, so the counter is short by exactly 6 x (those parameters) x tokens. Attention is counted
    through the math path (on the CPU, the flash-attention op is not counted in torch 2.13).
    """
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from hwbench.bench.gpt import GPT

    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, batch_size=3, vocab_size=50, bias=bias)
    model = GPT(cfg)
    x = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size))
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        model(x, x).backward()
    c, lyr = cfg.n_embd, cfg.n_layer
    not_matmul = (2 * lyr + 1) * c  # LayerNorm weights
    if bias:
        not_matmul += (2 * lyr + 1) * c + lyr * (3 * c + c + 4 * c + c)  # LN biases + Linear biases
    expected = flops_per_step(cfg) - 6 * not_matmul * cfg.tokens_per_step
    assert counter.get_total_flops() == expected


def test_model_gemm_shapes() -> None:
    shapes = {s.name: (s.m, s.n, s.k) for s in model_gemm_shapes(SEED)}
    assert shapes == {
        "attn.qkv": (768, 384, 128),
        "attn.proj": (768, 128, 128),
        "mlp.fc": (768, 512, 128),
        "mlp.proj": (768, 128, 512),
        "lm_head": (768, 65, 128),
    }
