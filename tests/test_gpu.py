"""CUDA paths on a real GPU. Marked `gpu`; every test here skips where torch sees no CUDA device.

Run on a GPU machine with `pytest -m gpu` (scripts/gpu_validate.sh does, in its single device call).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch"),
]


def test_detect_joins_nvml_to_the_cuda_device() -> None:
    from hwbench.detect import detect_system

    system = detect_system()
    nvidia = [g for g in system.gpus if g.vendor == "nvidia"]
    assert nvidia, f"torch sees CUDA but detect found no NVIDIA GPU: {system.warnings}"
    fields = nvidia[0].nvml
    assert fields is not None, f"no NVML fields joined: {system.warnings}"
    assert isinstance(fields.uuid, str) and fields.uuid, "NVML UUID missing on a real card"
    assert "cuda" in system.torch.usable_devices


def test_the_peak_of_the_real_card_is_known_and_not_estimated() -> None:
    from hwbench.detect import detect_system
    from hwbench.peaks import peak_for_device

    peak = peak_for_device("cuda:0", detect_system())
    assert peak is not None, f"no peak for {torch.cuda.get_device_name(0)}"
    assert peak.peaks_tflops["bf16"], peak
    name = torch.cuda.get_device_name(0)
    if "H100" in name or "H200" in name or "A100" in name:
        assert not peak.estimated, peak


def test_bf16_gemm_on_cuda_is_below_the_peak() -> None:
    from hwbench.bench.matmul import best_gemm
    from hwbench.detect import detect_system
    from hwbench.peaks import peak_for_device

    point = best_gemm("cuda", "bf16", quick=True)
    assert point.tflops > 1.0
    peak = peak_for_device("cuda:0", detect_system())
    if peak is not None and peak.peaks_tflops.get("bf16"):
        assert point.tflops <= peak.peaks_tflops["bf16"]


def test_tiny_training_step_on_cuda() -> None:
    from hwbench.bench.gpt import GPTConfig
    from hwbench.bench.step import StepOptions, measure_step

    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=32, batch_size=4, vocab_size=65)
    res = measure_step(cfg, StepOptions(device="cuda", dtype="bf16", warmup=2, steps=5))
    assert res.achieved_tflops > 0
    assert res.peak_memory_bytes and res.peak_memory_bytes > 0


def test_mfu_cli_on_cuda_never_exceeds_100_percent() -> None:
    r = subprocess.run(
        # the small preset, eager: a cold torch.compile of a larger model would take most of the time
        # gpu_validate.sh gives all the GPU tests
        [
            sys.executable,
            "-m",
            "hwbench",
            "mfu",
            "--device",
            "cuda",
            "--preset",
            "nanogpt-cpu",
            "--no-compile",
            "--quick",
            "--no-advise",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["device"].startswith("cuda")
    if doc["mfu"] is not None:
        assert 0 < doc["mfu"] <= 1.0
