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

# pynvml constant suffix -> the reason name used in NVML field dicts (see smi.REASON_NAMES).
_REASON_BITS = (
    ("GpuIdle", "gpu_idle"),
    ("ApplicationsClocksSetting", "applications_clocks_setting"),
    ("SwPowerCap", "sw_power_cap"),
    ("HwSlowdown", "hw_slowdown"),
    ("SyncBoost", "sync_boost"),
    ("SwThermalSlowdown", "sw_thermal_slowdown"),
    ("HwThermalSlowdown", "hw_thermal_slowdown"),
    ("HwPowerBrakeSlowdown", "hw_power_brake_slowdown"),
    ("DisplayClockSetting", "display_clock_setting"),
)


def reason_names(mask: int, nvml: Any) -> list[str]:
    """NVML's clock-event bitmask -> names (newer `ClocksEventReason` constants, else the old ones)."""
    out = []
    for suffix, name in _REASON_BITS:
        bit = getattr(nvml, f"nvmlClocksEventReason{suffix}", None)
        if bit is None:
            bit = getattr(nvml, f"nvmlClocksThrottleReason{suffix}", 0)
        if bit and mask & bit:
            out.append(name)
    return out


def nvml_sampler(bus_id: str) -> Sampler | None:
    """A function reading this GPU's link, clocks and clock-event reasons; None without NVML."""
    try:
        import pynvml as nvml

        nvml.nvmlInit()
        handle = nvml.nvmlDeviceGetHandleByPciBusId(bus_id.encode() if isinstance(bus_id, str) else bus_id)
    except Exception:
        return None

    def read(key: str, fn: Callable[[], Any]) -> tuple[str, Any]:
        try:
            return key, fn()
        except Exception as e:  # NVMLError_NotSupported and friends: one field, not the run
            return key, NA(f"NVML: {e}")

    def sample() -> dict[str, Any]:
        f = dict(
            [
                read("pcie_gen_current", lambda: nvml.nvmlDeviceGetCurrPcieLinkGeneration(handle)),
                read("pcie_gen_max", lambda: nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle)),
                read("pcie_width_current", lambda: nvml.nvmlDeviceGetCurrPcieLinkWidth(handle)),
                read("pcie_width_max", lambda: nvml.nvmlDeviceGetMaxPcieLinkWidth(handle)),
                read("sm_clock_mhz", lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
                read("sm_clock_max_mhz", lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM)),
                read(
                    "temperature_c", lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                ),
                read("clock_event_reasons", lambda: reason_names(_reasons_mask(nvml, handle), nvml)),
            ]
        )
        f["t_s"] = time.monotonic()
        return f

    return sample


def read_volatile_ecc(bus_id: str) -> Any:
    """Uncorrectable ECC errors since the driver loaded (NVML's volatile counter) for one GPU;
    NA with NVML's reason when it cannot be read (no NVML, ECC off, a GeForce card)."""
    try:
        import pynvml as nvml

        nvml.nvmlInit()
        handle = nvml.nvmlDeviceGetHandleByPciBusId(bus_id)
        return int(
            nvml.nvmlDeviceGetTotalEccErrors(
                handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
            )
        )
    except Exception as e:
        return NA(f"NVML: {e}")


def _reasons_mask(nvml: Any, handle: Any) -> int:
    fn = (
        getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    )
    return int(fn(handle))


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
    """A busy loop of bf16 (fp32 where bf16 is unsupported) n x n matmuls for `seconds` on `device`."""

    def work() -> None:
        import torch

        dev = torch.device(device)
        dtype = torch.bfloat16
        if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            dtype = torch.float16
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(4):
                torch.matmul(a, b)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

    return work
