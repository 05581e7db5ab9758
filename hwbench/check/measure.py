"""The measuring side of `hwbench check` (touches the machine; torch imported inside functions).

Each function returns a value with its source, or None with the reason: a check that cannot be
measured is skipped with that reason, never a crash.
"""

from __future__ import annotations

import os

from hwbench.check.checks import Figure, TorchRuntime
from hwbench.check.parse import Level
from hwbench.devices import recorded, resolve
from hwbench.errors import HwbenchError, one_line
from hwbench.fleet.dist import FleetContext
from hwbench.model import NvmlGpu, System, value_or_none

# How long the --pcie-full / --no-throttle load runs per GPU, by level (a soak for "long").
LOAD_SECONDS: dict[str, float] = {"quick": 3.0, "medium": 20.0, "long": 120.0}


def torch_runtime(device: str) -> TorchRuntime:
    """Import torch and ask whether it can run on `device` (cpu, cuda, cuda:N, mps, xpu, xpu:N)."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising OSError on a missing .so
        return TorchRuntime(device, False, 0, f"import torch failed: {one_line(e)}")
    dev = recorded(device)
    if dev is None:
        return TorchRuntime(device, False, 0, f"unknown device {device!r}")
    ver = torch.__version__
    if dev.is_host:
        return TorchRuntime(
            device, True, 1, f"torch {ver} runs on the CPU ({torch.get_num_threads()} threads)"
        )
    try:
        n = dev.count()
    except Exception as e:
        return TorchRuntime(device, False, 0, f"{dev.kind} initialisation failed: {one_line(e)}")
    if n == 0:
        return TorchRuntime(device, False, 0, dev.why_unavailable())
    if dev.index is not None and dev.index >= n:
        return TorchRuntime(device, False, n, f"torch sees {n} GPU(s), so {device} does not exist")
    names = sorted({type(dev)(i).identity().name for i in range(n)})
    return TorchRuntime(
        device, True, n, f"torch {ver} ({dev.math_library()}) sees {n} GPU(s): {', '.join(names)}"
    )


def cuda_devices() -> list[str]:
    """['cuda:0', ...] for every GPU torch can use (NVIDIA, AMD under ROCm, Intel XPU, Apple MPS);
    [] without one (never raises)."""
    try:
        from hwbench.devices import available

        return [d.torch_name for d in available() if not d.is_host]
    except Exception:
        return []


def default_dtype(device: str) -> str:
    """What to measure when the user named no dtype: the device's training dtype (fp32 on a CPU, bf16
    where the hardware has it, fp16 on V100/T4-class GPUs)."""
    return resolve(device).default_dtype().dtype


_WARM: set[str] = set()


def warm_up(device: str) -> None:
    """Import torch and run a few small matmuls on `device` once per process, before any timing.

    bench.matmul's quick sweep has a time budget per dtype; in a fresh process the first call paid
    for importing torch and starting the BLAS thread pool inside that budget (1-3 s here), so the
    larger sizes were skipped and the figure came from a 512^3 GEMM at a third of the rate.
    """
    if device in _WARM:
        return
    import torch

    a = torch.randn(512, 512, device=device)
    for _ in range(3):
        a @ a
    resolve(device).synchronize()
    _WARM.add(device)


def measure_matmul(device: str, dtype: str, level: Level, threads: int | None = None) -> Figure:
    """torch's best square GEMM on `device` in `dtype` (hwbench.bench.matmul), as `<dtype>_tflops`.

    torch's own GEMM only (no numpy): the figure is what a PyTorch training step can reach.
    """
    name = Figure.matmul_name(dtype)
    try:
        from hwbench.bench.matmul import best_gemm

        warm_up(device)
        p = best_gemm(device=device, dtype=dtype, quick=level == "quick", threads=threads)
    except HwbenchError as e:
        return Figure(device, name, None, "hwbench.bench.matmul", error=e.message)
    except Exception as e:  # an unsupported dtype on this device, CUDA errors: skip, with why
        return Figure(device, name, None, "hwbench.bench.matmul", error=one_line(e))
    from hwbench import interrupt

    if interrupt.received() is not None:  # cut short: a figure from a partial sweep judges nothing
        # (and the same for measure_mfu's training step)
        why = f"interrupted by {interrupt.name()}: the measurement did not finish"
        return Figure(device, name, None, "hwbench.bench.matmul", error=why)
    t = p.timing
    src = (
        f"measured: {p.library}, {p.m}x{p.n}x{p.k} {dtype}, median of {t.n} timings "
        f"(min {p.tflops_min:.3g}, max {p.tflops_max:.3g} TFLOP/s)"
    )
    return Figure(device, name, float(p.tflops), src)


def peak_tflops(device: str, dtype: str, system: System | None) -> tuple[float | None, str]:
    """The device's dense peak for `dtype` from hwbench.peaks, with its source; (None, why) on a miss."""
    try:
        from hwbench.bench.mfu import lookup_peak

        info, notes = lookup_peak(device, system, None)
    except HwbenchError as e:
        return None, e.message
    except Exception as e:
        return None, f"peak lookup failed: {one_line(e)}"
    if info is None:
        return None, "; ".join(notes) or "no peak known"
    value = info.peaks_tflops.get(dtype)
    src = info.source + (" (estimated)" if info.estimated else "")
    return (float(value) if value else None), src


def measure_mfu(
    device: str, preset: str | None, level: Level, system: System | None
) -> tuple[float | None, str]:
    """MFU of hwbench's GPT training step (hwbench.bench.mfu) on `device`; (None, why) when not measured."""
    try:
        from hwbench.bench.mfu import MfuOptions, run_mfu

        run = run_mfu(
            MfuOptions(device=device, preset=preset, quick=level == "quick", with_ceiling=False),
            system=system,
        )
    except HwbenchError:
        raise  # an unknown preset is a usage error: exit 2
    except Exception as e:
        return None, f"MFU run failed: {one_line(e)}"
    from hwbench import interrupt

    if interrupt.received() is not None:  # a step timing cut short judges nothing, as a cut matmul
        return None, f"interrupted by {interrupt.name()}: the training step did not finish"
    if run.mfu is None:
        return None, run.mfu_reason or "no MFU (no peak known for this device)"
    peak = run.peak_tflops
    detail = (
        f"preset {run.preset or 'custom'}, {run.dtype}, {run.achieved_tflops or 0:.3g} TFLOP/s achieved "
        f"of a {peak or 0:.4g} TFLOP/s peak ({run.peak.source if run.peak else '?'})"
    )
    return run.mfu, detail


def measure_busbw(ctx: FleetContext | None) -> tuple[float | None, str]:
    """All-reduce bus bandwidth from hwbench.fleet (needs torchrun); (None, why) when unavailable."""
    import hwbench.fleet as fleet

    if ctx is None:
        return None, "no other rank: run under torchrun (torchrun --nproc-per-node N -m hwbench check ...)"
    try:
        r = fleet.measure_busbw(ctx)
    except HwbenchError as e:
        return None, e.message
    except Exception as e:
        return None, f"all-reduce failed: {one_line(e)}"
    if not r.correct:
        return None, f"all-reduce of {r.bytes} bytes returned wrong results"
    return float(
        r.busbw_gbps
    ), f"all-reduce, {r.bytes / 2**20:.0f} MiB, {ctx.world_size} ranks, nccl-tests busbw"


def nvml_bus_id(device: str, gpus: list[tuple[str, NvmlGpu]]) -> str | None:
    """The NVML bus id ("0000:18:00.0") of torch's `cuda:N`, from its PCI location or UUID.

    torch numbers GPUs fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so index order is the
    last resort, used only when that variable says the orders agree.
    """
    dev = resolve(device)
    idx = dev.index or 0
    try:
        ident = dev.identity()
    except Exception:
        return None
    for b, _ in gpus:
        if b == ident.pci_bus_id:
            return b
    uuid = value_or_none(ident.uuid)
    if uuid:
        for b, f in gpus:
            if isinstance(f.uuid, str) and f.uuid.lower().removeprefix("gpu-") == uuid.lower().removeprefix(
                "gpu-"
            ):
                return b
    if os.environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        ordered = sorted(b for b, _ in gpus)
        if idx < len(ordered):
            return ordered[idx]
    return None
