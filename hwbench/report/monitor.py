"""Sampling the machine while the experiments run: VM CPU steal (/proc/stat) and GPU clock events (the
device's telemetry: NVML on NVIDIA, amdsmi/sysfs on AMD, through hwbench.devices).

Parsers are pure functions of recorded text or values; only `Monitor` reads the machine.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwbench.detect.nvml import CLOCK_EVENT_REASONS, SLOWING_REASONS
from hwbench.model import NA, GpuTelemetry

if TYPE_CHECKING:
    from hwbench.devices import Sampler


@dataclass(frozen=True)
class CpuTimes:
    total: int  # jiffies, all columns of the aggregate "cpu" line
    steal: int
    idle: int = 0  # idle + iowait


def parse_proc_stat(text: str) -> CpuTimes | None:
    """The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal guest..."""
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["cpu"]:  # the aggregate line; cpu0, cpu1... follow it
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


def _label(reason: str) -> str:
    """ "hw_power_brake_slowdown" -> "hardware power brake slowdown"."""
    words = reason.split("_")
    return " ".join({"hw": "hardware", "sw": "software"}.get(w, w) for w in words)


def _int(v: int | NA) -> int | None:
    return None if isinstance(v, NA) else v


def summarize_nvml(samples: Sequence[GpuTelemetry]) -> tuple[list[str], dict[str, Any] | None]:
    """Clock-event sentences and the PCIe link under load from telemetry samples."""
    busy = [s for s in samples if (_int(s.utilization_pct) or 0) >= 50] or list(samples)
    events: list[str] = []
    if busy:
        for reason in sorted(SLOWING_REASONS, key=[name for _, name in CLOCK_EVENT_REASONS].index):
            n = sum(
                1
                for s in busy
                if not isinstance(s.clock_event_reasons, NA) and reason in s.clock_event_reasons
            )
            if n:
                events.append(f"{_label(reason)} in {n} of {len(busy)} samples under load")
    pcie = None
    loaded = [s for s in busy if _int(s.pcie_gen_current) is not None]
    if loaded:
        last = loaded[-1]
        pcie = {
            "gen": max(_int(s.pcie_gen_current) or 0 for s in loaded),
            "max_gen": _int(last.pcie_gen_max),
            "width": max(_int(s.pcie_width_current) or 0 for s in loaded),
            "max_width": _int(last.pcie_width_max),
        }
    return events, pcie


@dataclass
class Monitor:
    """Context manager: /proc/stat steal before/after; telemetry samples every `interval_s` on a GPU."""

    device: str = "cpu"
    interval_s: float = 0.2
    root: Path = Path("/")
    samples: list[GpuTelemetry] = field(default_factory=list)
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
        sampler = None
        with contextlib.suppress(Exception):  # no telemetry is a run without clock events, not a failure
            from hwbench.devices import resolve

            sampler = resolve(self.device).telemetry()
        if sampler is not None:
            self._thread = threading.Thread(target=self._sample, args=(sampler,), daemon=True)
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

    def _sample(self, sampler: Sampler) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(sampler())
            except Exception:  # a sampler must never take the run down
                return
            self._stop.wait(self.interval_s)

    def nvml_summary(self) -> tuple[list[str], dict[str, Any] | None]:
        return summarize_nvml(self.samples)
