"""Sampling the machine while the experiments run: VM CPU steal (/proc/stat) and GPU clock events (NVML).

Parsers are pure functions of recorded text or values; only `Monitor` reads the machine.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# NVML clocks-event (formerly "throttle") reason bits, nvml.h: nvmlClocksEventReason*
CLOCK_EVENT_BITS: tuple[tuple[int, str], ...] = (
    (0x0000000000000002, "applications clocks setting"),
    (0x0000000000000004, "software power cap"),
    (0x0000000000000008, "hardware slowdown"),
    (0x0000000000000020, "software thermal slowdown"),
    (0x0000000000000040, "hardware thermal slowdown"),
    (0x0000000000000080, "hardware power brake slowdown"),
)
# GPU idle (0x1), sync boost (0x10) and display clock setting (0x100) do not slow a running job


@dataclass(frozen=True)
class CpuTimes:
    total: int  # jiffies, all columns of the aggregate "cpu" line
    steal: int
    idle: int = 0  # idle + iowait


def parse_proc_stat(text: str) -> CpuTimes | None:
    """The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal guest..."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            try:
                vals = [int(x) for x in parts[1:]]
            except ValueError:
                return None
            # guest and guest_nice are already counted in user and nice
            counted = vals[:8]
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0) if len(vals) > 3 else 0
            return CpuTimes(total=sum(counted), steal=vals[7] if len(vals) > 7 else 0, idle=idle)
    return None


def steal_pct(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    if before is None or after is None:
        return None
    d_total = after.total - before.total
    if d_total <= 0:
        return None
    return max(0.0, (after.steal - before.steal) / d_total * 100.0)


def others_busy_pct(
    before: CpuTimes | None, after: CpuTimes | None, own_cpu_s: float, clk_tck: int = 100
) -> float | None:
    """Share of all CPUs' time that OTHER processes kept busy (not idle, not stolen) over the interval.

    `own_cpu_s` is this process's user+system CPU time over the same interval (os.times()).
    """
    if before is None or after is None:
        return None
    d_total = after.total - before.total
    if d_total <= 0:
        return None
    busy = d_total - (after.idle - before.idle) - (after.steal - before.steal)
    others = busy / clk_tck - own_cpu_s
    return max(0.0, min(100.0, others / (d_total / clk_tck) * 100.0))


def read_proc_stat(root: Path = Path("/")) -> CpuTimes | None:
    try:
        return parse_proc_stat((root / "proc/stat").read_text())
    except OSError:
        return None


def summarize_nvml(samples: Sequence[dict[str, Any]]) -> tuple[list[str], dict[str, Any] | None]:
    """Clock-event sentences and the PCIe link under load from NVML samples.

    Each sample: {"reasons": int bitmask, "util": % or None, "pcie_gen", "pcie_max_gen", "pcie_width",
    "pcie_max_width", "sm_mhz", "temp_c", "power_w"} (any may be missing).
    """
    busy = [s for s in samples if (s.get("util") or 0) >= 50] or list(samples)
    events: list[str] = []
    if busy:
        for bit, name in CLOCK_EVENT_BITS:
            n = sum(1 for s in busy if int(s.get("reasons") or 0) & bit)
            if n:
                events.append(f"{name} in {n} of {len(busy)} samples under load")
    pcie = None
    loaded = [s for s in busy if s.get("pcie_gen") is not None]
    if loaded:
        last = loaded[-1]
        pcie = {
            "gen": max(int(s["pcie_gen"]) for s in loaded),
            "max_gen": last.get("pcie_max_gen"),
            "width": max(int(s.get("pcie_width") or 0) for s in loaded),
            "max_width": last.get("pcie_max_width"),
        }
    return events, pcie


@dataclass
class Monitor:
    """Context manager: /proc/stat steal before/after; NVML samples every `interval_s` on a CUDA device."""

    device: str = "cpu"
    interval_s: float = 0.2
    root: Path = Path("/")
    samples: list[dict[str, Any]] = field(default_factory=list)
    steal: float | None = None
    others_busy: float | None = None  # % of all CPUs other processes used meanwhile
    loadavg: float | None = None  # 1-minute load average at the end
    _before: CpuTimes | None = None
    _own_before: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Monitor:
        self._before = read_proc_stat(self.root)
        t = os.times()
        self._own_before = t.user + t.system
        if self.device.startswith("cuda"):
            self._thread = threading.Thread(target=self._sample_nvml, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        after = read_proc_stat(self.root)
        self.steal = steal_pct(self._before, after)
        t = os.times()
        try:
            tck = int(os.sysconf("SC_CLK_TCK"))
        except (ValueError, OSError, AttributeError):
            tck = 100
        self.others_busy = others_busy_pct(self._before, after, t.user + t.system - self._own_before, tck)
        with contextlib.suppress(OSError, ValueError, IndexError):
            self.loadavg = float((self.root / "proc/loadavg").read_text().split()[0])

    def _sample_nvml(self) -> None:
        try:
            import pynvml
        except ImportError:
            return
        try:
            pynvml.nvmlInit()
        except Exception:
            return
        try:
            index = int(self.device.split(":")[1]) if ":" in self.device else 0
            # NVML numbers devices in PCI order; honour CUDA_VISIBLE_DEVICES through torch's bus id
            handle = None
            with contextlib.suppress(Exception):
                import torch

                props: Any = torch.cuda.get_device_properties(index)
                bus = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
                handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus)
            if handle is None:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            get_reasons = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
                pynvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
            )
            while not self._stop.is_set():
                s: dict[str, Any] = {"t": time.perf_counter()}
                for key, fn in (
                    ("reasons", lambda: get_reasons(handle) if get_reasons else None),
                    ("util", lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                    ("pcie_gen", lambda: pynvml.nvmlDeviceGetCurrPcieLinkGeneration(handle)),
                    ("pcie_max_gen", lambda: pynvml.nvmlDeviceGetMaxPcieLinkGeneration(handle)),
                    ("pcie_width", lambda: pynvml.nvmlDeviceGetCurrPcieLinkWidth(handle)),
                    ("pcie_max_width", lambda: pynvml.nvmlDeviceGetMaxPcieLinkWidth(handle)),
                    ("sm_mhz", lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
                ):
                    try:  # one unsupported field never stops the others
                        s[key] = fn()
                    except Exception:
                        s[key] = None
                self.samples.append(s)
                self._stop.wait(self.interval_s)
        finally:
            with contextlib.suppress(Exception):
                pynvml.nvmlShutdown()

    def nvml_summary(self) -> tuple[list[str], dict[str, Any] | None]:
        return summarize_nvml(self.samples)
