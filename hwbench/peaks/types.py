"""The peak record every command shares (no I/O, no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hwbench.errors import InputError

# The dtypes every peak answers for, in display order. int8 is in TOPS, the rest in TFLOP/s; all DENSE.
DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8")

# What hwbench runs with torch (GEMM sweeps, training steps): tf32 is fp32 tensors with TF32 math.
TORCH_DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16")
# The torch dtype each of those runs as (torch.<name>), as a training script spells it.
TORCH_DTYPE_NAMES: dict[str, str] = {
    "fp32": "float32",
    "tf32": "float32",
    "bf16": "bfloat16",
    "fp16": "float16",
}

# Every spelling a training script uses for a dtype (torch's names, str(torch.bfloat16) less "torch.")
DTYPE_ALIASES: dict[str, str] = {
    "float64": "fp64",
    "double": "fp64",
    "float32": "fp32",
    "float": "fp32",
    "tensorfloat32": "tf32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8_e4m3fn": "fp8",
    "float8_e4m3fnuz": "fp8",
    "float8_e5m2": "fp8",
    "float8_e5m2fnuz": "fp8",
    **{d: d for d in DTYPES},
}


def dtype_key(dtype: object) -> str:
    """torch.bfloat16, "bfloat16", "bf16", "torch.float16", "tf32", ... -> "bf16", "fp16", "tf32", ..."""
    key = DTYPE_ALIASES.get(str(dtype).strip().lower().removeprefix("torch."))
    if key is None:
        raise InputError(
            f"unknown dtype {dtype!r}",
            hint="use a torch dtype or one of: bfloat16/bf16, float16/fp16, float32/fp32, tf32, fp8, "
            "fp64, int8",
        )
    return key


@dataclass(frozen=True)
class DevicePeak:
    """Theoretical dense peak of one device, per dtype, with where every number came from.

    `peaks_tflops[d] is None` means there is no figure for dtype `d`: the hardware (or the math library)
    has no path for it, or the vendor publishes none; `dtype_sources[d]` says which. An unknown device has
    no DevicePeak at all.
    """

    device: str  # "cpu", "cuda:0", or "gpu" for a --gpu lookup
    name: str
    peaks_tflops: dict[str, float | None]  # keys exactly DTYPES; dense; int8 in TOPS
    source: str  # "NVIDIA H100 ... datasheet ...", "computed: 2 cores x 32 FLOP/cycle x 3.03 GHz (measured)"
    estimated: bool
    notes: tuple[str, ...] = ()
    clock_mhz: float | None = None
    clock_source: str | None = None
    memory_bandwidth_gbps: float | None = None
    sm_count: int | None = None
    dtype_sources: dict[str, str] = field(default_factory=dict)  # per-dtype source where it differs
    # CPUs measured here: the FMA throughput kernel at the widest vector ISA (fp32 TFLOP/s, all cores)
    measured_fma_tflops: float | None = None
    computed: bool = False  # cores x FLOP/cycle x clock (a CPU), not a vendor's figure
    overridden: tuple[str, ...] = ()  # the dtypes whose figure the user gave (--peak-tflops, the env var)

    def peak(self, dtype: object) -> float | None:
        """TFLOP/s for a dtype key or any name `dtype_key` knows (torch.bfloat16, "bfloat16", ...)."""
        return self.peaks_tflops.get(dtype_key(dtype))
