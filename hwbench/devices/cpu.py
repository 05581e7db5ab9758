"""The host CPU as a torch device: no device memory, no synchronize; its math library is torch's BLAS."""

from __future__ import annotations

import platform
import resource
import sys
from typing import TYPE_CHECKING, ClassVar

from hwbench.devices.base import Device, DtypeChoice, Identity
from hwbench.model import NA

if TYPE_CHECKING:
    from hwbench.model import System
    from hwbench.peaks.types import DevicePeak


def cpu_model() -> str | None:
    """The brand string ("AMD EPYC 9B45"), from /proc/cpuinfo on Linux, else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    from hwbench.detect.macos import live_brand_string  # a Mac: "Apple M3 Max", where platform says "arm"

    return live_brand_string() or platform.processor() or None


def blas_name(config: str) -> str | None:
    """torch's BLAS from `torch.__config__.show()` text: MKL (with its version), OpenBLAS, Accelerate;
    None when the text names none."""
    for line in config.splitlines():
        if "Math Kernel Library Version" in line:
            ver = line.split("Version", 1)[1].strip().split("-", 1)[0]
            return f"Intel MKL {ver}"
    if "BLAS_INFO=open" in config:
        return "OpenBLAS"
    if "BLAS_INFO=accelerate" in config:
        return "Apple Accelerate"
    for token in config.replace(",", " ").split():
        if token.startswith("BLAS_INFO="):
            return token.split("=", 1)[1]
    return None


class CpuDevice(Device):
    kind: ClassVar[str] = "cpu"
    api: ClassVar[str] = "cpu"
    is_host: ClassVar[bool] = True
    peak_memory_source: ClassVar[str] = "process RSS high-water (getrusage ru_maxrss)"

    @classmethod
    def available(cls) -> bool:
        return True

    def identity(self) -> Identity:
        return Identity(name=cpu_model() or "CPU")

    def native_dtypes(self) -> tuple[str, ...]:
        return ("fp32", "bf16", "fp16")  # torch runs all three; only fp32 is fast on most CPUs

    def default_dtype(self) -> DtypeChoice:
        # CPU training runs fp32: bf16 autocast on a CPU pays conversions around every op that oneDNN does
        # not fuse, and most CPUs have no bf16 FMA at all.
        return DtypeChoice("fp32")

    def math_library(self, dtype: str = "fp32") -> str:
        if dtype in ("bf16", "fp16"):
            # low-precision CPU GEMMs go through oneDNN where the ISA has them, else an ATen fallback
            return "oneDNN or ATen fallback"
        import torch

        return blas_name(torch.__config__.show()) or "unknown BLAS"

    def peak_memory_bytes(self) -> int | NA:
        """This process's peak resident set (getrusage: Linux reports KiB, macOS bytes)."""
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)

    def peak(self, system: System | None = None, **hints: object) -> DevicePeak | None:
        from hwbench.peaks.device import host_cpu_peak

        return host_cpu_peak(system, **hints)
