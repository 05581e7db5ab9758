"""The one interface every backend implements, and the device-string grammar.

A `Device` answers behaviour questions (does it time with events? which collective backend? what does it
run natively?) so that callers never compare device strings. Class attributes answer what is true of the
backend without touching torch; methods that need the runtime import torch inside themselves, so
`import hwbench.devices` stays light.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from hwbench.errors import HwbenchError, InputError
from hwbench.model import NA, GpuTelemetry

if TYPE_CHECKING:
    from torch.amp import GradScaler as GradScalerLike

    from hwbench.model import System
    from hwbench.peaks.types import DevicePeak

# One telemetry reading (NVML on NVIDIA, amdsmi/sysfs on AMD): typed fields, NA(reason) where unreadable.
TelemetrySample = GpuTelemetry
Sampler = Callable[[], GpuTelemetry]

# The one list of device kinds a --device value may name (torch's device types; AMD runs under "cuda").
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda", "mps", "xpu")
_SPEC = re.compile(rf"^({'|'.join(DEVICE_KINDS)})(?::(\d+))?$")
SPEC_HINT = "use cpu, cuda, cuda:N, mps, xpu or xpu:N"


@dataclass(frozen=True)
class Spec:
    """A parsed device string: torch's device type and index ("cuda:1" -> ("cuda", 1))."""

    api: str  # torch's device type: cpu, cuda (NVIDIA and AMD/HIP), mps, xpu
    index: int | None

    def __str__(self) -> str:
        return self.api if self.index is None else f"{self.api}:{self.index}"

    def as_script_flag(self) -> str:
        """The device as a training script's --device takes it: the first one of a kind by its bare
        type ("cuda:0" -> "cuda"), others with their index."""
        return self.api if self.index in (None, 0) else str(self)


def parse(spec: str) -> Spec:
    """ "cuda:1" -> Spec("cuda", 1); anything else raises InputError (exit 2, one line)."""
    m = _SPEC.match(spec.strip().lower())
    if m is None:
        raise InputError(f"unknown device {spec!r}", hint=SPEC_HINT)
    return Spec(m.group(1), int(m.group(2)) if m.group(2) is not None else None)


@dataclass(frozen=True)
class Identity:
    """Who a device is: name, PCI bus id (sysfs form "0000:17:00.0"), UUID, and its MIG slice if any."""

    name: str
    pci_bus_id: str | NA = field(default_factory=lambda: NA("not a PCI device"))
    uuid: str | NA = field(default_factory=lambda: NA("no UUID for this device"))
    mig_profile: str | None = None  # "1g.5gb" when the device is a MIG slice


@dataclass(frozen=True)
class DtypeChoice:
    """The dtype a training step should use here, and why (when it is not bf16)."""

    dtype: str  # "bf16", "fp16", "fp32"
    note: str | None = None


class Device(ABC):
    """One device of one backend. Construct through `hwbench.devices.resolve`."""

    kind: ClassVar[str]  # the backend: cpu, cuda (NVIDIA), rocm (AMD through torch's HIP cuda API), mps, xpu
    api: ClassVar[str]  # torch's device type for it
    vendor: ClassVar[str | None] = None  # the peak table's vendor column: nvidia, amd, apple, intel
    is_host: ClassVar[bool] = False  # the CPU itself: no device memory, no synchronize, threads matter
    numbered: ClassVar[bool] = False  # torch numbers these devices (cuda:0, xpu:1): one per local rank
    has_timing_events: ClassVar[bool] = False  # torch.cuda.Event timing on the device's stream
    has_tf32: ClassVar[bool] = False  # a TF32 tensor-core mode switched by torch.backends.cuda.matmul
    collective_backend: ClassVar[str] = "gloo"  # torch.distributed backend for collectives on it ("none")
    compile_by_default: ClassVar[bool] = False  # torch.compile pays for itself in a short run
    fused_optimizer_by_default: ClassVar[bool] = False  # AdamW(fused=True) exists and is faster
    gemm_dtypes: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "fp16")  # GEMMs worth timing here
    peak_memory_source: ClassVar[str] = "not measured on this device"
    profiler_activity: ClassVar[str | None] = None  # torch.profiler.ProfilerActivity member for its kernels

    def __init__(self, index: int | None = None) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.torch_name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and (self.kind, self.index) == (other.kind, other.index)

    def __hash__(self) -> int:
        return hash((self.kind, self.index))

    @property
    def torch_name(self) -> str:
        """The string torch takes: "cuda:0", "xpu:1", "mps", "cpu"."""
        return self.api if self.index is None else f"{self.api}:{self.index}"

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """Whether this torch can use the backend here (imports torch)."""

    @classmethod
    def count(cls) -> int:
        """How many devices of this backend torch sees (imports torch)."""
        return 1 if cls.available() else 0

    @abstractmethod
    def identity(self) -> Identity:
        """Name, PCI bus id, UUID, MIG slice (imports torch)."""

    def name(self) -> str:
        """The device's name as its runtime gives it ("NVIDIA H100 80GB HBM3")."""
        return self.identity().name

    def synchronize(self) -> None:
        """Wait for the work queued on this device, and this device only (the host has none)."""
        return None

    def native_dtypes(self) -> tuple[str, ...]:
        """The dtypes the hardware computes natively (no emulation), fastest first."""
        return ("fp32",)

    def default_dtype(self) -> DtypeChoice:
        """The training dtype: bf16 only where the hardware has it, else fp16 with a note, else fp32."""
        native = self.native_dtypes()
        if "bf16" in native:
            return DtypeChoice("bf16")
        if "fp16" in native:
            return DtypeChoice("fp16", f"{self.name()} has no native bf16: fp16 with loss scaling")
        return DtypeChoice("fp32")

    @abstractmethod
    def math_library(self, dtype: str = "fp32") -> str:
        """The GEMM library torch calls here, as a user would name it."""

    def peak_memory_bytes(self) -> int | NA:
        """The most memory torch's allocator held on this device since the last reset."""
        return NA(f"{self.kind} has no allocator statistics")

    def memory_total_bytes(self) -> int | NA:
        """The device memory torch can allocate from."""
        return NA(f"{self.kind} reports no device memory size")

    def explicit(self) -> Device:
        """This device with the index torch would use made explicit ("cuda" -> "cuda:0")."""
        return self

    def made_current(self) -> contextlib.AbstractContextManager[object]:
        """A context in which this device is torch's current one (events and streams follow it)."""
        return contextlib.nullcontext()

    def grad_scaler(self, enabled: bool) -> GradScalerLike:
        """A loss scaler for fp16 training: torch.amp.GradScaler(device type), which torch < 2.3 lacks;
        there torch.cuda.amp's (which disables itself off CUDA)."""
        import torch

        if hasattr(torch.amp, "GradScaler"):
            return torch.amp.GradScaler(self.api, enabled=enabled)
        return torch.cuda.amp.GradScaler(enabled=enabled)

    @classmethod
    def why_unavailable(cls) -> str:
        """One line saying why this torch cannot use the backend here (imports torch)."""
        import torch

        return f"torch {torch.__version__} cannot use {cls.kind} devices on this machine"

    def reset_peak_memory(self) -> None:
        """Start a new peak-memory window (a no-op where there are no allocator statistics)."""
        return None

    def telemetry(self) -> Sampler | None:
        """A function reading clocks, power, temperature, link and clock events now; None without a source."""
        return None

    @abstractmethod
    def peak(self, system: System | None = None, **hints: object) -> DevicePeak | None:
        """The device's dense peak per dtype (hwbench.peaks); None when not known nor estimable."""

    def require_available(self) -> None:
        """Raise HwbenchError (exit 2, one line) when this torch cannot use the device here."""
        if not self.available():
            raise HwbenchError(
                f"{self.torch_name}: {self.why_unavailable()}",
                hint="check `hwbench detect`, or ask about a GPU by name: hwbench peaks --gpu NAME",
            )

    def timed_region(self) -> Callable[[], Callable[[], float]] | None:
        """With timing events: a function that starts a region and returns its stop (seconds elapsed)."""
        return None


def bus_id_from_props(domain: int, bus: int, device: int) -> str:
    """torch's pci_domain_id/pci_bus_id/pci_device_id -> hwbench's one bus-id form "0000:17:00.0"."""
    return f"{domain:04x}:{bus:02x}:{device:02x}.0"


def mig_profile(name: str) -> str | None:
    """ "NVIDIA A100-SXM4-40GB MIG 1g.5gb" -> "1g.5gb" (the name NVML and torch give a MIG slice)."""
    m = re.search(r"\bMIG\s+(\d+g\.\d+gb)\b", name, re.IGNORECASE)
    return m.group(1).lower() if m else None
