"""Intel GPUs through torch.xpu (oneDNN/oneMKL): synchronize and memory statistics per device index."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar

from hwbench.devices.base import Device, Identity
from hwbench.model import NA

if TYPE_CHECKING:
    from hwbench.model import System
    from hwbench.peaks.types import DevicePeak


def xpu_native_dtypes(has_xmx: bool) -> tuple[str, ...]:
    """XMX matrix engines (Arc A/B-series, Data Center GPU Max, Lunar Lake Xe2) run bf16; without them
    (Iris Xe, Meteor Lake's Arc iGPU) bf16 is emulated and fp16 runs on the vector engines."""
    return ("bf16", "fp16", "fp32") if has_xmx else ("fp16", "fp32")


class XpuDevice(Device):
    kind: ClassVar[str] = "xpu"
    vendor: ClassVar[str | None] = "intel"
    api: ClassVar[str] = "xpu"
    numbered: ClassVar[bool] = True
    collective_backend: ClassVar[str] = "xccl"
    peak_memory_source: ClassVar[str] = "torch.xpu.max_memory_allocated"
    profiler_activity: ClassVar[str | None] = "XPU"

    @property
    def ordinal(self) -> int:
        if self.index is not None:
            return self.index
        import torch

        return int(torch.xpu.current_device())

    def explicit(self) -> XpuDevice:
        return XpuDevice(self.ordinal)

    def made_current(self) -> contextlib.AbstractContextManager[object]:
        import torch

        return torch.xpu.device(self.ordinal)

    def memory_total_bytes(self) -> int | NA:
        import torch

        return int(torch.xpu.get_device_properties(self.ordinal).total_memory)

    @classmethod
    def why_unavailable(cls) -> str:
        import torch

        return f"no usable Intel XPU in torch {torch.__version__}"

    @classmethod
    def available(cls) -> bool:
        try:
            import torch

            return hasattr(torch, "xpu") and bool(torch.xpu.is_available())
        except Exception:
            return False

    @classmethod
    def count(cls) -> int:
        import torch

        return int(torch.xpu.device_count()) if cls.available() else 0

    def identity(self) -> Identity:
        import torch

        return Identity(name=str(torch.xpu.get_device_name(self.ordinal)))

    def synchronize(self) -> None:
        import torch

        torch.xpu.synchronize(self.ordinal)

    def native_dtypes(self) -> tuple[str, ...]:
        import torch

        p = torch.xpu.get_device_properties(self.ordinal)
        # torch >= 2.5 names the XMX capability; older builds say nothing, and nothing means no claim
        has_xmx = bool(getattr(p, "has_subgroup_matrix_multiply_accumulate", False))
        return xpu_native_dtypes(has_xmx)

    def math_library(self, dtype: str = "fp32") -> str:
        return "oneDNN/oneMKL (XPU)"

    def peak_memory_bytes(self) -> int | NA:
        import torch

        return int(torch.xpu.max_memory_allocated(self.ordinal))

    def reset_peak_memory(self) -> None:
        import torch

        torch.xpu.reset_peak_memory_stats(self.ordinal)

    def peak(self, system: System | None = None, **hints: object) -> DevicePeak | None:
        from hwbench.peaks.gpu import gpu_peak

        self.require_available()
        return gpu_peak(self.identity().name, vendor=self.vendor, device=self.torch_name)
