"""One interface over every kind of device torch can train on (psutil-style: a facade over one module per
backend). Callers ask a `Device` what to do instead of comparing device strings:

    dev = resolve("cuda:1")          # CudaDevice, or RocmDevice under a HIP build of torch
    dev.synchronize(); dev.default_dtype().dtype; dev.peak(system); dev.telemetry()

Backends: cpu, cuda (NVIDIA), rocm (AMD through torch's HIP "cuda" API), mps (Apple), xpu (Intel).
Importing this package imports no torch; methods that need the runtime import it themselves.
"""

from __future__ import annotations

import functools
import sys

from hwbench.devices.base import (
    SPEC_HINT,
    Device,
    DtypeChoice,
    Identity,
    Sampler,
    Spec,
    TelemetrySample,
    bus_id_from_props,
    mig_profile,
    parse,
)
from hwbench.devices.cpu import CpuDevice
from hwbench.devices.cuda import CudaDevice
from hwbench.devices.mps import MpsDevice
from hwbench.devices.rocm import RocmDevice
from hwbench.devices.xpu import XpuDevice
from hwbench.errors import InputError

BACKENDS: tuple[type[Device], ...] = (CpuDevice, CudaDevice, RocmDevice, MpsDevice, XpuDevice)


def hip_build() -> bool:
    """Whether the installed torch is a ROCm (HIP) build: from torch itself when it is already imported,
    else from its package's version.py (no import)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.version.hip)
    return _hip_in_metadata()


@functools.lru_cache(maxsize=1)
def _hip_in_metadata() -> bool:
    """The installed package does not change while hwbench runs: scan sys.path for it once."""
    from hwbench.detect.torchinfo import read_torch_metadata

    return read_torch_metadata().hip is not None


def resolve(spec: str | Device) -> Device:
    """The Device for "cpu", "cuda[:N]", "mps", "xpu[:N]"; InputError (one line, exit 2) for anything else.

    "cuda" is AMD's too under a HIP build of torch: resolve picks the rocm backend then."""
    if isinstance(spec, Device):
        return spec
    s = parse(spec)
    if s.api == "cpu":
        return CpuDevice(None)
    if s.api == "cuda":
        return RocmDevice(s.index) if hip_build() else CudaDevice(s.index)
    if s.api == "mps":
        return MpsDevice(None)
    return XpuDevice(s.index)


def recorded(spec: str) -> Device | None:
    """`resolve` for a device string read from a saved run or a peer: None instead of an error when it
    names no device this version knows ("gpu:0000:17:00.0", a future backend)."""
    try:
        return resolve(spec)
    except InputError:
        return None


def available() -> list[Device]:
    """Every device this torch can use here, accelerators first, the CPU last (imports torch)."""
    out: list[Device] = []
    for cls in (RocmDevice if hip_build() else CudaDevice, XpuDevice):
        out.extend(cls(i) for i in range(cls.count()))
    if MpsDevice.available():
        out.append(MpsDevice(None))
    out.append(CpuDevice(None))
    return out


__all__ = [
    "BACKENDS",
    "SPEC_HINT",
    "CpuDevice",
    "CudaDevice",
    "Device",
    "DtypeChoice",
    "Identity",
    "MpsDevice",
    "RocmDevice",
    "Sampler",
    "Spec",
    "TelemetrySample",
    "XpuDevice",
    "available",
    "bus_id_from_props",
    "hip_build",
    "mig_profile",
    "parse",
    "recorded",
    "resolve",
]
