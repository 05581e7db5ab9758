"""hwbench for training scripts: the true peak of the device that runs, FLOPs of any model, MFU per step.

    import hwbench
    peak = hwbench.peak_flops("cuda", torch.bfloat16)     # 80.2e12 on an RTX 4070 Ti, with .source
    fps = hwbench.flops_per_step(model, (x, y))           # FlopCounterMode, forward + backward
    mfu = hwbench.MFU(fps, "cuda", "bf16")
    ...  mfu.update(step_seconds)                          # this step's MFU; mfu.summary() at the end

Importing this module does not import torch: every function imports it when called. The public names
are re-exported by `hwbench/__init__.py` (`hwbench.__all__`); docs/api.md has the examples.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import sys
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hwbench.bench.flops import mfu_ratio
from hwbench.devices import CudaDevice, parse, resolve
from hwbench.errors import HwbenchError, InputError
from hwbench.fmt import pct, plural
from hwbench.peaks.types import dtype_key

if TYPE_CHECKING:
    import torch

    from hwbench.model import System
    from hwbench.peaks import DevicePeak

PEAK_ENV = "HWBENCH_PEAK_TFLOPS"
_OVERRIDE_HINT = (
    f"set {PEAK_ENV}=bf16=VALUE (dense TFLOP/s from the datasheet; several as bf16=165,fp32=82), "
    "or pass the figure yourself"
)


class UnknownPeakError(HwbenchError, LookupError):
    """No dense peak is known for this device and dtype. hwbench never falls back to another device's
    figure: set HWBENCH_PEAK_TFLOPS (e.g. `bf16=165`) with the datasheet's dense figure instead."""


class DeviceUnavailableError(HwbenchError, RuntimeError):
    """The device asked for does not exist here, or this torch build cannot use it."""


class Peak(float):
    """Dense peak FLOP/s of one device for one dtype: a float, plus where the figure came from.

    `source` names the datasheet or the computation (cores x FLOP/cycle x clock, and the clock's origin);
    `estimated` is True where a figure is computed from SM count x clock rather than printed by the vendor;
    `dtype` is hwbench's key (fp32, tf32, bf16, fp16, fp8, int8, fp64); `device` is "cuda:0", "cpu" or
    "gpu" for a card asked about by name; `name` is the device's name. Read-only.
    """

    source: str
    estimated: bool
    dtype: str
    device: str
    name: str

    def __new__(
        cls, flops: float, *, dtype: str, device: str, name: str, source: str, estimated: bool
    ) -> Peak:
        self = super().__new__(cls, flops)
        fields = {"dtype": dtype, "device": device, "name": name, "source": source, "estimated": estimated}
        for key, value in fields.items():
            object.__setattr__(self, key, value)
        return self

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Peak is read-only")

    def __reduce__(self) -> tuple[Callable[..., Peak], tuple[float, str, str, str, str, bool]]:
        return _make_peak, (float(self), self.dtype, self.device, self.name, self.source, self.estimated)

    @property
    def tflops(self) -> float:
        return float(self) / 1e12

    def __repr__(self) -> str:
        kind = "estimated" if self.estimated else "dense"
        where = f"{self.device} {self.name!r}"
        return f"Peak({float(self):.4g} FLOP/s, {self.dtype}, {where}, {kind}: {self.source})"

    def __str__(self) -> str:
        return f"{self.tflops:.4g} TFLOP/s {self.dtype} on {self.name} ({self.source})"


def _make_peak(flops: float, dtype: str, device: str, name: str, source: str, estimated: bool) -> Peak:
    return Peak(flops, dtype=dtype, device=device, name=name, source=source, estimated=estimated)


# ---------------------------------------------------------------------------------------------- parsing


def _device_text(device: object) -> str:
    """A torch.device or a string -> "cuda:1", "cpu", ... (validated; torch is not imported here)."""
    text = str(device).strip().lower()
    parse(text)  # InputError (one line) for what names no device
    return text


def _current_device() -> str:
    """torch's current device: the current accelerator (cuda:N, xpu:N, mps) where there is one, else cpu."""
    import torch

    acc = getattr(torch, "accelerator", None)  # torch >= 2.6; hwbench supports torch >= 2.1
    if acc is not None and acc.is_available():
        kind = str(acc.current_accelerator().type)
        dev = resolve(kind)
        return f"{dev.api}:{acc.current_device_index()}" if dev.numbered else dev.torch_name
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.current_device()}"
    return "cpu"


def _default_dtype(device: str) -> str:
    """torch's default dtype; fp32 matmuls on CUDA run as TF32 when torch's matmul precision allows it."""
    if "torch" not in sys.modules:
        return "fp32"
    import torch

    key = dtype_key(torch.get_default_dtype())
    if key == "fp32" and resolve(device).has_tf32 and torch.get_float32_matmul_precision() != "highest":
        return "tf32"
    return key


def env_overrides() -> dict[str, float]:
    """HWBENCH_PEAK_TFLOPS="bf16=165,fp32=82" -> {"bf16": 165.0, "fp32": 82.0} (the --peak-tflops parser)."""
    from hwbench.peaks import parse_peak_overrides

    raw = os.environ.get(PEAK_ENV, "")
    items = [item for item in raw.replace(";", ",").replace(" ", ",").split(",") if item]
    try:
        return parse_peak_overrides(items)
    except InputError as e:
        raise InputError(f"{PEAK_ENV}: {e.message}", hint=e.hint) from None


def cpu_threads() -> int:
    """The cores torch will compute on: its intra-op threads, at most the CPUs this process may run on."""
    import torch

    threads = torch.get_num_threads()
    if hasattr(os, "sched_getaffinity"):
        threads = min(threads, len(os.sched_getaffinity(0)))
    return max(1, threads)


# ---------------------------------------------------------------------------------------------- lookup


@functools.lru_cache(maxsize=16)
def _cpu_device_peak(threads: int) -> DevicePeak | None:
    # cached: on a VM the clock is measured (~0.4 s), and a training loop may ask every epoch
    from hwbench.peaks import peak_for_device

    return peak_for_device("cpu", None, threads=threads)


def _cuda_device_peak(device: str) -> DevicePeak | None:
    import torch

    from hwbench.peaks import peak_for_device

    if not torch.cuda.is_available():
        build = "CPU-only build" if not (torch.version.cuda or torch.version.hip) else "no usable device"
        raise DeviceUnavailableError(
            f"peak_flops({device!r}): CUDA is not usable in torch {torch.__version__} ({build})",
            hint="ask for the device that runs (peak_flops() picks it), or for a card by name: "
            "peak_flops(gpu='NVIDIA H100 80GB HBM3')",
        )
    index = device.partition(":")[2]
    i = int(index) if index else torch.cuda.current_device()
    n = torch.cuda.device_count()
    if i >= n:
        raise DeviceUnavailableError(
            f"peak_flops({device!r}): only {n} CUDA device(s)",
            hint=f"ask for cuda:0 to cuda:{n - 1}, or for a card by name: peak_flops(gpu=NAME)",
        )
    peak = peak_for_device(f"cuda:{i}", None)
    if peak is None:
        # an unknown card is estimated from SM count x clock: detect's NVML reading has the clock
        from hwbench.detect import detect_system

        peak = peak_for_device(f"cuda:{i}", detect_system())
    return peak


def _named_gpu_peak(gpu: str) -> DevicePeak:
    """A card by name as NVML/torch print it, or by PCI id "10de:2782"."""
    from hwbench.peaks import gpu_peak
    from hwbench.peaks.gpu import identify, parse_pci_id

    ids = parse_pci_id(gpu)
    if ids is not None:
        peak = gpu_peak("", device_id=ids[1], vendor_id=ids[0])
        lookup = identify(None, ids[1], vendor_id=ids[0])
    else:
        peak = gpu_peak(gpu)
        lookup = identify(gpu)
    if peak is None:
        reason = lookup.reason or f"no peak known for {gpu!r}"
        if lookup.candidates:
            reason += " (give the full name as nvidia-smi prints it)"
        raise UnknownPeakError(reason, hint=_OVERRIDE_HINT)
    return peak


def _accelerator_peak(device: str) -> DevicePeak | None:
    """mps / xpu through their backend in hwbench.devices: the table by the name the device gives."""
    from hwbench.devices import resolve

    dev = resolve(device)
    if not dev.available():
        raise DeviceUnavailableError(
            f"peak_flops({device!r}): {dev.why_unavailable()}",
            hint="leave device out to get the one that runs, or ask by name: peak_flops(gpu=NAME)",
        )
    return dev.peak(None)


def _device_peak(device: str) -> DevicePeak | None:
    dev = resolve(device)
    if dev.is_host:
        return _cpu_device_peak(cpu_threads())
    if isinstance(dev, CudaDevice):  # NVIDIA, or AMD through torch's HIP "cuda" API
        return _cuda_device_peak(device)
    return _accelerator_peak(device)


def peak_flops(device: object = None, dtype: object = None, *, gpu: str | None = None) -> Peak:
    """The dense theoretical peak FLOP/s of `device` for `dtype`, with its source.

    device: a torch.device, "cuda", "cuda:1", "cpu", "mps", "xpu"; None = torch's current device.
    dtype: a torch dtype or a name ("bfloat16", "bf16", "float16", "fp16", "float32", "tf32", ...);
        None = torch's default dtype (fp32, counted as tf32 on CUDA when torch's float32 matmul precision
        is "high" or "medium").
    gpu: a card that need not be here, by the name NVML/torch print ("NVIDIA GeForce RTX 4070 Ti") or
        by PCI id ("10de:2782"); instead of `device`.

    On a CPU the peak is that of the cores torch computes on: `torch.get_num_threads()`, at most the
    CPUs in this process's affinity mask. HWBENCH_PEAK_TFLOPS="bf16=165" replaces the figure for the
    device this process runs on (not for `gpu=` lookups). Raises UnknownPeakError when no figure is
    known (never another device's), DeviceUnavailableError when the device is not usable here.
    """
    from hwbench.peaks import override_only_peak, with_overrides

    if gpu is not None:
        if device is not None:
            raise InputError(
                "peak_flops: pass device or gpu, not both",
                hint="drop one: peak_flops('cuda:0') for this machine, peak_flops(gpu=NAME) for any card",
            )
        dt = dtype_key(dtype) if dtype is not None else "fp32"
        return _pick(_named_gpu_peak(gpu), dt)
    dev = _device_text(device) if device is not None else _current_device()
    dt = dtype_key(dtype) if dtype is not None else _default_dtype(dev)
    overrides = env_overrides()
    found = _device_peak(dev)
    if found is None:
        if not overrides:
            raise UnknownPeakError(
                f"no peak known for {dev}: its name is not in hwbench's GPU table, and it cannot be "
                "estimated from SM count x clock",
                hint=_OVERRIDE_HINT,
            )
        found = override_only_peak(dev, dev, overrides, f"no peak model for {dev}")
    else:
        found = with_overrides(found, overrides)
    return _pick(found, dt)


def _pick(peak: DevicePeak, dtype: str) -> Peak:
    tflops = peak.peak(dtype)
    source = peak.dtype_sources.get(dtype, "")
    if tflops is None:
        why = source or "no path for this dtype on this hardware"
        raise UnknownPeakError(f"{peak.name}: no dense {dtype} peak ({why})", hint=_OVERRIDE_HINT)
    if dtype in peak.overridden:
        full = f"user override ({PEAK_ENV}: {dtype}={tflops:g} TFLOP/s)"
    elif peak.computed:
        # a CPU: the dtype's own cores x FLOP/cycle x clock, and where the clock came from
        full = f"computed: {source}" if source else peak.source
        full += f"; clock {peak.clock_source}" if peak.clock_source else ""
    elif not source or source in peak.source:
        full = peak.source
    else:
        full = f"{source}; {peak.source}"
    return Peak(
        tflops * 1e12,
        dtype=dtype,
        device=peak.device,
        name=peak.name,
        source=full,
        estimated=peak.estimated,
    )


# ---------------------------------------------------------------------------------------------- FLOPs

ModelInputs = Any  # a tensor, a tuple/list of positional arguments, or a dict of keyword arguments
LossFn = Callable[[Any], "torch.Tensor"]


def call_model(model: Callable[..., object], inputs: ModelInputs) -> object:
    """model(*inputs) for a tuple/list, model(**inputs) for a dict, else model(inputs)."""
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)


def default_loss(output: object) -> torch.Tensor:
    """The output itself when it is a scalar tensor, else its mean; for a tuple/list or a dict (a Hugging
    Face ModelOutput), its "loss" entry when present, else its first tensor."""
    import torch

    if isinstance(output, Mapping):
        loss = output.get("loss")
        output = loss if isinstance(loss, torch.Tensor) else next(iter(output.values()), None)
    elif isinstance(output, (tuple, list)):
        output = next((o for o in output if isinstance(o, torch.Tensor)), None)
    if not isinstance(output, torch.Tensor):
        raise InputError(
            f"the model returned {type(output).__name__}, not a tensor to take a loss of",
            hint="pass loss_fn=lambda out: ... that returns a scalar tensor",
        )
    return output if output.dim() == 0 else output.float().mean()


def _sdpa_counted(device_type: str) -> Any:
    """A context under which FlopCounterMode sees scaled_dot_product_attention's matmuls.

    torch registers FLOP formulas for the CUDA flash/efficient/cuDNN SDPA kernels but not for the fused
    CPU kernel (torch 2.1-2.13: `_scaled_dot_product_flash_attention_for_cpu` counts 0), so on CPU and
    MPS the counting pass runs SDPA on its math backend, whose two batched matmuls are counted. The
    timed step still uses whatever backend torch picks; only the count comes from this pass.
    """
    import contextlib

    if device_type not in ("cpu", "mps"):
        return contextlib.nullcontext()
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3
        return contextlib.nullcontext()
    return sdpa_kernel(SDPBackend.MATH)


def flops_per_step(
    model: torch.nn.Module,
    inputs: ModelInputs,
    loss_fn: LossFn | None = None,
    *,
    backward: bool = True,
) -> float:
    """FLOPs of one training step of `model` on `inputs`, counted by torch.utils.flop_counter.FlopCounterMode.

    Runs forward, the loss (`loss_fn(output)`, default: `default_loss`) and, with backward=True, the
    backward pass once, and restores the parameters' .grad afterwards. Counted: matmuls (mm, addmm, bmm,
    baddbmm), convolutions and their backward, and scaled_dot_product_attention (on CPU/MPS through its
    math backend, see `_sdpa_counted`; causal attention counted in full, as the PaLM formula does).
    Not counted: elementwise ops, norms, softmax outside SDPA, the loss, the optimizer step, and any
    kernel torch has no FLOP formula for (custom CUDA/Triton kernels, the flash-attn package's own ops,
    torch.compile'd regions are counted only where they call registered aten ops).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = [p for p in model.parameters() if p.requires_grad]
    device_type = params[0].device.type if params else "cpu"
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    loss_of = loss_fn or default_loss
    try:
        with _sdpa_counted(device_type), FlopCounterMode(display=False) as counter:
            if backward:
                loss = loss_of(call_model(model, inputs))
                loss.backward()
            else:
                with torch.no_grad():
                    call_model(model, inputs)
    finally:
        for p, g in zip(params, saved, strict=True):
            p.grad = g
    return float(counter.get_total_flops())


def gpt_flops_per_token(
    *,
    n_layer: int,
    n_head: int,
    n_embd: int,
    block_size: int,
    n_params: int | None = None,
    vocab_size: int | None = None,
    bias: bool = False,
) -> float:
    """Training FLOPs per token of a nanoGPT-architecture GPT, 6N + 12·L·H·Q·T (PaLM Appendix B), as
    nanoGPT's estimate_mfu counts them. N = `n_params` as given (nanoGPT: `model.get_num_params()`), or
    computed from the config (with vocab_size) excluding the position embedding. Multiply by tokens per
    step (batch x block_size) for FLOPs per step. See hwbench/bench/flops.py for the derivation."""
    from hwbench.bench.config import GPTConfig, divisor_near
    from hwbench.bench.flops import n_params as count_params
    from hwbench.bench.flops import palm_flops_per_token

    if n_params is None:
        if vocab_size is None:
            raise InputError(
                "gpt_flops_per_token: give n_params or vocab_size",
                hint="e.g. n_params=model.get_num_params() (nanoGPT), or vocab_size=50304",
            )
        cfg = GPTConfig(n_layer, n_head, n_embd, block_size, 1, vocab_size, bias=bias).validate()
        n_params = count_params(cfg, non_embedding=True)
    if n_embd % n_head:
        raise InputError(
            f"n_embd ({n_embd}) is not divisible by n_head ({n_head})",
            hint=f"use an n_head that divides n_embd (e.g. {divisor_near(n_embd, n_head)} for {n_embd})",
        )
    return palm_flops_per_token(n_params, n_layer, n_head, n_embd // n_head, block_size)


# ---------------------------------------------------------------------------------------------- MFU


@dataclass(frozen=True)
class MFUSummary:
    """What an MFU tracker saw. Per-rank figures, and under torch.distributed the world's (world_size
    ranks, assumed to run the same devices: the world peak is this rank's peak x world_size)."""

    steps: int
    median_of_steps: int  # the steps the median is taken over (the last `window`)
    mfu_last: float | None  # as `update` returned it (may exceed 1: see `mfu_median`)
    mfu_median: float | None  # None when the median step beats the peak (the one MFU rule: never > 100%)
    step_time_median_s: float | None
    achieved_tflops: float | None  # this rank, at the median step time
    peak_tflops: float
    peak_source: str
    peak_estimated: bool
    dtype: str
    device: str
    world_size: int
    world_achieved_tflops: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        if self.achieved_tflops is None:
            return f"MFU: no steps yet (peak {self.peak_tflops:.4g} TFLOP/s {self.dtype}, {self.peak_source})"
        if self.mfu_median is None:
            return (
                f"MFU n/a: the median step ran {self.achieved_tflops:.4g} TFLOP/s, above the "
                f"{self.peak_tflops:.4g} TFLOP/s {self.dtype} peak of {self.device} ({self.peak_source}): "
                f"time steps after a device synchronize, or set {PEAK_ENV} if the peak is wrong"
            )
        world = (
            f", world {self.world_achieved_tflops:.4g} TFLOP/s on {self.world_size} ranks"
            if self.world_size > 1 and self.world_achieved_tflops is not None
            else ""
        )
        return (
            f"MFU {pct(self.mfu_median, 1)} (median of {plural(self.median_of_steps, 'step')}) = "
            f"{self.achieved_tflops:.4g} / {self.peak_tflops:.4g} TFLOP/s {self.dtype} on {self.device} "
            f"({self.peak_source}{', estimated' if self.peak_estimated else ''}){world}"
        )


def _as_peak(peak: Peak | float, device: object, dtype: object) -> Peak:
    """A caller's own figure (FLOP/s) as a Peak whose source says it was given, not looked up."""
    if isinstance(peak, Peak):
        return peak
    if isinstance(peak, bool) or not isinstance(peak, (int, float)) or not (math.isfinite(peak) and peak > 0):
        raise InputError(
            f"MFU: peak must be a positive number of FLOP/s or a hwbench.Peak, got {peak!r}",
            hint="e.g. peak=989.4e12, or leave it out to look up the device's own peak",
        )
    if peak < 1e6:  # no device peaks below a MFLOP/s: this is a TFLOP/s figure given as FLOP/s
        raise InputError(
            f"MFU: peak={peak!r} is read as FLOP/s, and no device is that slow: is it TFLOP/s?",
            hint=f"pass FLOP/s, e.g. peak={peak:g}e12",
        )
    key = dtype_key(dtype) if dtype is not None else "?"
    where = str(device) if device is not None else "?"
    return Peak(
        float(peak), dtype=key, device=where, name=where, source="given by the caller", estimated=False
    )


def _world_size() -> int:
    # torch.distributed is never imported here: a script that uses it has imported it already
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return 1
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_world_size())
    return 1


class MFU:
    """MFU per training step against the true peak of the device that runs.

        mfu = hwbench.MFU(flops_per_step, device="cuda", dtype="bf16")
        for step in ...:
            t0 = time.perf_counter(); train_step(); torch.cuda.synchronize()
            print(f"mfu {mfu.update(time.perf_counter() - t0):.1%}")
        print(mfu.summary())

    `flops_per_step` is this rank's (or this process's) FLOPs per optimizer step; `peak` defaults to
    `peak_flops(device, dtype)`. `update` does arithmetic only: no device synchronize, no collective, so
    it is safe every step; the caller's timing decides what a step is (time it after a synchronize, or
    over many steps, else CUDA's asynchronous launches make steps look faster than they are). Under
    torch.distributed the summary adds world figures (this rank's rate x world size).
    """

    def __init__(
        self,
        flops_per_step: float,
        device: object = None,
        dtype: object = None,
        *,
        peak: Peak | float | None = None,
        window: int = 50,
    ) -> None:
        if not (math.isfinite(flops_per_step) and flops_per_step > 0):
            raise InputError(
                f"MFU: flops_per_step must be a positive number, got {flops_per_step!r}",
                hint="count it with flops_per_step(model, inputs), or gpt_flops_per_token(...) x tokens",
            )
        if window < 1:
            raise InputError(
                f"MFU: window must be >= 1, got {window}",
                hint="window is how many recent steps the rolling MFU averages, e.g. window=50",
            )
        self.flops_per_step = float(flops_per_step)
        self.peak: Peak = _as_peak(peak, device, dtype) if peak is not None else peak_flops(device, dtype)
        self.world_size = _world_size()
        self._times: deque[float] = deque(maxlen=window)
        self._steps = 0
        self._last: float | None = None
        self._warned = False

    def update(self, step_seconds: float) -> float:
        """Record one step's wall time; return this step's MFU (a fraction: 0.389 = 38.9%)."""
        if not (math.isfinite(step_seconds) and step_seconds > 0):
            raise InputError(
                f"MFU.update: step_seconds must be a positive number, got {step_seconds!r}",
                hint="pass the step's wall time in seconds, timed after a device synchronize",
            )
        self._times.append(step_seconds)
        self._steps += 1
        mfu = self.flops_per_step / step_seconds / float(self.peak)
        if mfu > 1.0 and not self._warned:
            self._warned = True
            warnings.warn(
                f"MFU {mfu:.0%} is above 100%: the step was timed without a device synchronize "
                f"(asynchronous launches), or the peak ({self.peak}) is wrong; "
                f"set {PEAK_ENV} if it is",
                RuntimeWarning,
                stacklevel=2,
            )
        self._last = mfu
        return mfu

    @property
    def median(self) -> float | None:
        """MFU at the median step time of the last `window` steps; None before the first step, and when
        that rate is above the peak (a figure over 100% would only mislead: `update` warned)."""
        if not self._times:
            return None
        achieved = self.flops_per_step / statistics.median(self._times) / 1e12
        return mfu_ratio(achieved, self.peak.tflops)

    def summary(self) -> MFUSummary:
        t = statistics.median(self._times) if self._times else None
        achieved = self.flops_per_step / t / 1e12 if t else None
        return MFUSummary(
            steps=self._steps,
            median_of_steps=len(self._times),
            mfu_last=self._last,
            mfu_median=self.median,
            step_time_median_s=t,
            achieved_tflops=achieved,
            peak_tflops=self.peak.tflops,
            peak_source=self.peak.source,
            peak_estimated=self.peak.estimated,
            dtype=self.peak.dtype,
            device=self.peak.device,
            world_size=self.world_size,
            world_achieved_tflops=achieved * self.world_size if achieved is not None else None,
        )


# ---------------------------------------------------------------------------------------------- detect


def detect_system() -> System:
    """The inventory `hwbench detect --json` prints (CPU, memory, GPUs, what torch can use) as typed
    records; never imports torch. `hwbench.detect()` is the same call."""
    from hwbench.detect import detect_system as detect_here

    return detect_here()
