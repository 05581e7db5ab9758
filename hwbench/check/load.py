"""NVML samples taken while a matmul keeps one GPU busy: for `--pcie-full` and `--no-throttle`.

An idle GPU trains its PCIe link down and reports `gpu_idle`, so both checks are only meaningful
under load. This is a collector (it touches the machine): the checks themselves are pure functions
of the samples (`checks.check_pcie_full`, `checks.check_no_throttle`). Each NVML field is read on its
own; one that fails is NA with NVML's reason, never an abort. torch is imported inside functions.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from hwbench.model import NA

Sampler = Callable[[], dict[str, Any]]


def nvml_sampler(bus_id: str) -> Sampler | None:
    """A function reading this GPU's link, clocks and clock-event reasons under load; None without NVML."""
    from hwbench.detect.nvml import open_sampler

    sampler = open_sampler(bus_id)
    if sampler is None:
        return None
    return lambda: sampler().as_fields()  # the checks read detect's field names


def read_volatile_ecc(bus_id: str) -> int | NA:
    """Uncorrectable ECC errors since the driver loaded for one GPU, or NA with NVML's reason."""
    from hwbench.detect.nvml import read_volatile_ecc as read

    value: int | NA = read(bus_id)
    return value


def sample_while(
    work: Callable[[], None], sampler: Sampler, interval_s: float = 0.2, warmup_s: float = 0.5
) -> list[dict[str, Any]]:
    """Run `work()` in this thread while another samples every `interval_s`; drop the first
    `warmup_s` (the clocks and the link ramp up from idle when the load starts)."""
    samples: list[dict[str, Any]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def loop() -> None:
        while not stop.is_set():
            try:
                s = sampler()
            except Exception:  # a sampler must never take the run down
                s = {}
            if s and time.monotonic() - t0 >= warmup_s:
                samples.append(s)
            stop.wait(interval_s)

    th = threading.Thread(target=loop, name="hwbench-nvml-sampler", daemon=True)
    th.start()
    try:
        work()
    finally:
        stop.set()
        th.join(timeout=2.0)
    if not samples:  # a very short load: keep one sample taken right at its end
        with contextlib.suppress(Exception):
            samples.append(sampler())
    return samples


def matmul_load(device: str, seconds: float, n: int = 8192) -> Callable[[], None]:
    """A busy loop of n x n matmuls for `seconds` on `device`, in bf16 where the hardware has it, else fp16,
    else fp32."""

    def work() -> None:
        import torch

        from hwbench.devices import resolve

        dev = resolve(device)
        native = dev.native_dtypes()
        dtype = torch.bfloat16 if "bf16" in native else torch.float16 if "fp16" in native else torch.float32
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(4):
                torch.matmul(a, b)
            dev.synchronize()

    return work
