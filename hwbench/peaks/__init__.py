"""Theoretical dense peaks per device and dtype, each with its source.

GPU figures come from a datasheet table (data/gpus.csv) or, for a GPU the table lacks, an estimate from
SM count x clock x the architecture's per-SM rate; CPU figures are computed from cores x FLOP/cycle
(data/cpu_rates.csv) x a clock whose source is stated (measured where the machine hides it).
"""

from __future__ import annotations

from hwbench.peaks.cpu import cpu_peak
from hwbench.peaks.device import measured_cpu_peak, peak_for_device
from hwbench.peaks.gpu import gpu_peak, identify, normalize_name
from hwbench.peaks.overrides import override_only_peak, parse_peak_overrides, with_overrides
from hwbench.peaks.types import DTYPES, DevicePeak

__all__ = [
    "DTYPES",
    "DevicePeak",
    "cpu_peak",
    "gpu_peak",
    "identify",
    "measured_cpu_peak",
    "normalize_name",
    "override_only_peak",
    "parse_peak_overrides",
    "peak_for_device",
    "with_overrides",
]
