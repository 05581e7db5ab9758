"""Apple GPUs through Metal Performance Shaders: one device, no events, no allocator peak."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from hwbench.devices.base import Device, DtypeChoice, Identity
from hwbench.model import NA

if TYPE_CHECKING:
    from hwbench.model import System
    from hwbench.peaks.types import DevicePeak


def apple_chip() -> str:
    """The chip's brand string ("Apple M2 Pro") from sysctl; "Apple GPU" when it cannot be read."""
    from hwbench.detect.macos import live_brand_string

    return live_brand_string() or "Apple GPU"


def mps_native_dtypes(chip: str, macos_14: bool) -> tuple[str, ...]:
    """bf16 needs an M2 or later (the M1 GPU has no bf16 arithmetic) and torch's MPS bf16, macOS 14+."""
    m = re.search(r"\bM(\d+)\b", chip)
    if m and int(m.group(1)) >= 2 and macos_14:
        return ("bf16", "fp16", "fp32")
    return ("fp16", "fp32")


class MpsDevice(Device):
    kind: ClassVar[str] = "mps"
    vendor: ClassVar[str | None] = "apple"
    collective_backend: ClassVar[str] = "none"  # torch.distributed has no backend for MPS tensors
    api: ClassVar[str] = "mps"

    @classmethod
    def why_unavailable(cls) -> str:
        import torch

        return f"MPS is not available in torch {torch.__version__} on this machine"

    @classmethod
    def available(cls) -> bool:
        try:
            import torch

            return bool(torch.backends.mps.is_available())
        except Exception:
            return False

    def identity(self) -> Identity:
        return Identity(name=apple_chip())

    def synchronize(self) -> None:
        import torch

        torch.mps.synchronize()

    def native_dtypes(self) -> tuple[str, ...]:
        import torch

        return mps_native_dtypes(apple_chip(), bool(torch.backends.mps.is_macos_or_newer(14, 0)))

    def default_dtype(self) -> DtypeChoice:
        """fp16 even where bf16 runs: Apple publishes no bf16 rate (an MFU against it would be n/a), and
        its GPUs run fp16 at the fp32 rate, so bf16 would be no faster."""
        return DtypeChoice(
            "fp16", "Apple GPUs: fp16 (Apple publishes no bf16 rate, and bf16 is no faster here)"
        )

    def math_library(self, dtype: str = "fp32") -> str:
        return "Metal Performance Shaders"

    def peak_memory_bytes(self) -> int | NA:
        return NA("MPS keeps no peak: torch.mps gives the current allocation only")

    def peak(self, system: System | None = None, **hints: object) -> DevicePeak | None:
        from hwbench.detect.macos import live_gpu_core_count
        from hwbench.peaks.gpu import gpu_peak

        self.require_available()
        # the GPU core count tells binned parts apart (a 30- or 40-core M3 Max): the peak scales with it
        cores = live_gpu_core_count()
        return gpu_peak(self.identity().name, sm_count=cores, vendor=self.vendor, device=self.torch_name)
