"""The device layer on a real GPU: identity, native dtypes, synchronize, telemetry, and the GPU profile
counting each kernel once. Marked `gpu`; skips where torch sees no CUDA/ROCm device (scripts/gpu_validate.sh
runs it in its device call)."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch"),
]


def test_identity_dtype_and_synchronize() -> None:
    from hwbench.devices import resolve

    dev = resolve("cuda:0")
    ident = dev.identity()
    assert ident.name == torch.cuda.get_device_name(0)
    assert isinstance(ident.pci_bus_id, str) and re.fullmatch(
        r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.0", ident.pci_bus_id
    )
    major, _ = torch.cuda.get_device_capability(0)
    assert dev.default_dtype().dtype == ("bf16" if major >= 8 else "fp16")
    x = torch.randn(1024, 1024, device="cuda:0")
    (x @ x).sum()
    dev.synchronize()
    assert dev.peak_memory_bytes() > 0


def test_telemetry_reading_is_typed() -> None:
    from hwbench.devices import resolve
    from hwbench.model import GpuTelemetry

    sampler = resolve("cuda:0").telemetry()
    if sampler is None:
        pytest.skip("no NVML/amdsmi/sysfs telemetry on this machine")
    s = sampler()
    assert isinstance(s, GpuTelemetry)
    assert isinstance(s.sm_clock_mhz, int) and s.sm_clock_mhz > 0


def test_gpu_profile_counts_each_kernel_once() -> None:
    from hwbench.bench.config import preset
    from hwbench.bench.step import StepOptions
    from hwbench.report.profile import profile_step

    cfg = preset("nanogpt-cpu")
    res = profile_step(cfg, StepOptions(device="cuda:0", dtype="fp32", compile=False), steps=2, warmup=1)
    assert "kernel time" in res.source
    assert sum(c.time_s_per_step for c in res.categories) <= res.step_time_s * 1.05  # nothing twice
    assert res.share("matmul") > 0 and res.share("other") < 0.9
    assert res.sdpa_backend is not None
