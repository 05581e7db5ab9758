"""NVIDIA GPUs through torch.cuda: cuBLAS/cuBLASLt, CUDA events, NCCL, telemetry from hwbench.detect.nvml."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar

from hwbench.devices.base import Device, Identity, Sampler, bus_id_from_props, mig_profile
from hwbench.model import NA

if TYPE_CHECKING:
    from collections.abc import Callable

    from hwbench.model import System
    from hwbench.peaks.types import DevicePeak


def cuda_native_dtypes(cc: tuple[int, int]) -> tuple[str, ...]:
    """What an NVIDIA GPU of compute capability `cc` computes natively on tensor cores.

    bf16 tensor cores arrived with Ampere (cc 8.0); Volta/Turing (7.x: V100, T4, RTX 20xx) have fp16 only.
    torch >= 2.x answers `is_bf16_supported()` True on them too, counting emulation, so capability decides.
    """
    if cc >= (8, 0):
        return ("bf16", "fp16", "tf32", "fp32")
    if cc >= (7, 0):
        return ("fp16", "fp32")
    return ("fp32",)


class CudaDevice(Device):
    kind: ClassVar[str] = "cuda"
    vendor: ClassVar[str | None] = "nvidia"
    api: ClassVar[str] = "cuda"
    numbered: ClassVar[bool] = True
    has_timing_events: ClassVar[bool] = True
    has_tf32: ClassVar[bool] = True
    collective_backend: ClassVar[str] = "nccl"
    compile_by_default: ClassVar[bool] = True
    fused_optimizer_by_default: ClassVar[bool] = True
    gemm_dtypes: ClassVar[tuple[str, ...]] = ("fp32", "tf32", "bf16", "fp16")
    peak_memory_source: ClassVar[str] = "torch.cuda.max_memory_allocated"
    profiler_activity: ClassVar[str | None] = "CUDA"  # HIP kernels too, under ROCm

    @property
    def ordinal(self) -> int:
        """The index torch uses: the current device when none was given."""
        if self.index is not None:
            return self.index
        import torch

        return int(torch.cuda.current_device())

    def explicit(self) -> CudaDevice:
        return type(self)(self.ordinal)

    def made_current(self) -> contextlib.AbstractContextManager[object]:
        import torch

        return torch.cuda.device(self.ordinal)

    def memory_total_bytes(self) -> int | NA:
        return self.properties()[4]

    @classmethod
    def why_unavailable(cls) -> str:
        import torch

        built = torch.version.cuda or torch.version.hip
        why = f"built for CUDA {built} but no usable device" if built else "CPU-only build"
        return f"CUDA is not usable: torch {torch.__version__} ({why})"

    @classmethod
    def available(cls) -> bool:
        try:
            import torch

            return bool(torch.cuda.is_available())
        except Exception:
            return False

    @classmethod
    def count(cls) -> int:
        import torch

        return int(torch.cuda.device_count()) if cls.available() else 0

    def properties(self) -> tuple[str, int, tuple[int, int], str | NA, int]:
        """(name, SM/CU count, compute capability, PCI bus id, total memory bytes) from torch."""
        import torch

        p = torch.cuda.get_device_properties(self.ordinal)
        bus: str | NA = NA("this torch gives no PCI bus id")
        if hasattr(p, "pci_bus_id"):  # torch >= 2.1 (its type stubs name only pci_bus_id)
            dom, dev = getattr(p, "pci_domain_id", 0), getattr(p, "pci_device_id", 0)
            bus = bus_id_from_props(int(dom), int(p.pci_bus_id), int(dev))
        return (
            str(p.name),
            int(p.multi_processor_count),
            (int(p.major), int(p.minor)),
            bus,
            int(p.total_memory),
        )

    def name(self) -> str:
        return self.properties()[0]

    def identity(self) -> Identity:
        import torch

        name, _, _, bus, _ = self.properties()
        p = torch.cuda.get_device_properties(self.ordinal)
        uuid: str | NA = NA("this torch gives no UUID")
        if hasattr(p, "uuid"):  # torch >= 2.2
            uuid = f"GPU-{p.uuid}"
        return Identity(name=name, pci_bus_id=bus, uuid=uuid, mig_profile=mig_profile(name))

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize(self.ordinal)

    def native_dtypes(self) -> tuple[str, ...]:
        _, _, cc, _, _ = self.properties()
        return cuda_native_dtypes(cc)

    def math_library(self, dtype: str = "fp32") -> str:
        import torch

        return f"cuBLAS/cuBLASLt, CUDA {torch.version.cuda}"

    def peak_memory_bytes(self) -> int | NA:
        import torch

        return int(torch.cuda.max_memory_allocated(self.ordinal))

    def reset_peak_memory(self) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats(self.ordinal)

    def telemetry(self) -> Sampler | None:
        from hwbench.detect.nvml import open_sampler

        _, _, _, bus, _ = self.properties()
        return None if isinstance(bus, NA) else open_sampler(bus)

    def peak(self, system: System | None = None, **hints: object) -> DevicePeak | None:
        from hwbench.peaks.device import gpu_device_peak

        return gpu_device_peak(self, system, **hints)

    def timed_region(self) -> Callable[[], Callable[[], float]] | None:
        import torch

        def start() -> Callable[[], float]:
            with torch.cuda.device(self.ordinal):
                ev0 = torch.cuda.Event(enable_timing=True)
                ev1 = torch.cuda.Event(enable_timing=True)
                ev0.record()

            def stop() -> float:
                with torch.cuda.device(self.ordinal):
                    ev1.record()
                ev1.synchronize()
                return float(ev0.elapsed_time(ev1)) / 1e3

            return stop

        return start
