"""The training step at tiny sizes: it trains, it is timed, Ctrl-C keeps what was measured."""

from __future__ import annotations

import pytest

from hwbench.bench.config import GPTConfig
from hwbench.bench.flops import flops_per_step
from hwbench.bench.step import StepOptions, measure_step
from hwbench.errors import InputError

TINY = GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=2, vocab_size=40)


def test_measure_step_tiny() -> None:
    r = measure_step(TINY, StepOptions(device="cpu", warmup=1, steps=3, threads=1))
    assert r.timing.n == 3 and not r.interrupted
    assert r.flops_per_step == flops_per_step(TINY)
    assert r.achieved_tflops == pytest.approx(r.flops_per_step / r.timing.median_s / 1e12)
    assert r.peak_memory_bytes and r.peak_memory_bytes > 10 * 2**20  # a torch process is > 10 MiB
    assert r.final_loss is not None and 0 < r.final_loss < 10
    assert r.compile_time_s is None


def test_training_reduces_the_loss() -> None:
    # the same batch rotated: AdamW at lr 1e-3 must bring the loss down from ln(40) = 3.69
    r = measure_step(TINY, StepOptions(device="cpu", warmup=0, steps=30, n_batches=1, threads=1))
    assert r.final_loss is not None and r.final_loss < 3.5


def test_bf16_autocast_on_cpu() -> None:
    r = measure_step(TINY, StepOptions(device="cpu", dtype="bf16", warmup=1, steps=2, threads=1))
    assert r.timing.n == 2 and r.options.dtype == "bf16"


def test_ctrl_c_keeps_what_was_measured() -> None:
    def interrupt_after_two(done: int, total: int, dt: float) -> None:
        if done == 2:
            raise KeyboardInterrupt

    r = measure_step(TINY, StepOptions(device="cpu", warmup=1, steps=50), progress=interrupt_after_two)
    assert r.interrupted and r.timing.n == 2


def test_bad_options() -> None:
    with pytest.raises(InputError, match="tf32"):
        measure_step(TINY, StepOptions(device="cpu", dtype="tf32"))
    with pytest.raises(InputError, match="not divisible"):
        measure_step(GPTConfig(1, 3, 32, 16, 2, 40), StepOptions())
