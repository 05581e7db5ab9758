"""AMD GPUs through torch's HIP build, which exposes them as "cuda" devices: rocBLAS/hipBLASLt, HIP events
(through the torch.cuda API), RCCL under the "nccl" name, telemetry from amdsmi or sysfs (detect.amdgpu).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import ClassVar

from hwbench.devices.base import Sampler
from hwbench.devices.cuda import CudaDevice
from hwbench.model import NA


def rocm_native_dtypes(gfx_arch: str) -> tuple[str, ...]:
    """What an AMD GPU computes natively from its gfx target ("gfx942:sramecc+:xnack-" -> CDNA3).

    bf16 matrix instructions: CDNA1 (gfx908, MI100: at half its fp16 rate), CDNA2 (gfx90a), CDNA3 (gfx94x,
    gfx950), RDNA3 (gfx11xx WMMA) and RDNA4 (gfx12xx). RDNA1/2 (gfx10xx) and GCN have none.
    """
    target = gfx_arch.strip().lower().split(":", 1)[0].removeprefix("gfx")
    cdna = target in ("908", "90a") or (len(target) == 3 and target.startswith(("94", "95")))
    rdna3_up = len(target) == 4 and target.startswith(("11", "12"))
    if cdna or rdna3_up:
        return ("bf16", "fp16", "fp32")
    return ("fp16", "fp32") if re.fullmatch(r"[0-9a-f]{3,4}", target) else ("fp32",)


def cus_from_hip_count(gfx_arch: str, count: int, environ: Mapping[str, str] = os.environ) -> int:
    """HIP's multiProcessorCount in compute units. On RDNA (gfx10xx, gfx11xx, gfx12xx) HIP runs in WGP mode
    by default and counts work-group processors, two CUs each: an RX 7900 XT reports 42 of its 84 CUs
    (ROCm/hip issues 3198 and 3767; GPU_ENABLE_WGP_MODE=0 switches HIP to CU mode). The peak table
    counts CUs, so a WGP count would read as half the card."""
    target = gfx_arch.strip().lower().split(":", 1)[0].removeprefix("gfx")
    rdna = len(target) == 4 and target.startswith(("10", "11", "12"))
    wgp_mode = environ.get("GPU_ENABLE_WGP_MODE", "1") != "0"
    return count * 2 if rdna and wgp_mode else count


class RocmDevice(CudaDevice):
    kind: ClassVar[str] = "rocm"
    vendor: ClassVar[str | None] = "amd"
    has_tf32: ClassVar[bool] = False  # TF32 is an NVIDIA mode (CDNA3's xf32 is not switched by torch's flag)
    gemm_dtypes: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "fp16")

    def gfx_arch(self) -> str:
        import torch

        p = torch.cuda.get_device_properties(self.ordinal)
        return str(p.gcnArchName) if hasattr(p, "gcnArchName") else ""

    def native_dtypes(self) -> tuple[str, ...]:
        return rocm_native_dtypes(self.gfx_arch())

    def properties(self) -> tuple[str, int, tuple[int, int], str | NA, int]:
        """As CudaDevice's, with the unit count in CUs (HIP counts WGPs on RDNA: `cus_from_hip_count`)."""
        name, count, cc, bus, memory = super().properties()
        return name, cus_from_hip_count(self.gfx_arch(), count), cc, bus, memory

    def math_library(self, dtype: str = "fp32") -> str:
        import torch

        return f"rocBLAS/hipBLASLt, ROCm {torch.version.hip}"

    def telemetry(self) -> Sampler | None:
        from hwbench.detect.amdgpu import open_sampler

        _, _, _, bus, _ = self.properties()
        return None if isinstance(bus, NA) else open_sampler(bus)
