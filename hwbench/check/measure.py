"""The measuring side of `hwbench check` (touches the machine; torch imported inside functions).

Each function returns a value with its source, or None with the reason: a check that cannot be
measured is skipped with that reason, never a crash.
"""

from __future__ import annotations

import os
from typing import Any

from hwbench.check.checks import Figure, TorchRuntime
from hwbench.check.expectations import Level
from hwbench.errors import HwbenchError

# How long the --pcie-full / --no-throttle load runs per GPU, by level (a soak for "long").
LOAD_SECONDS: dict[str, float] = {"quick": 3.0, "medium": 20.0, "long": 120.0}


def one_line(e: BaseException, limit: int = 160) -> str:
    """An exception as one short line (torch's CUDA errors run to a dozen lines)."""
    first = (str(e).strip().splitlines() or [""])[0]
    text = f"{type(e).__name__}: {first}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def torch_runtime(device: str) -> TorchRuntime:
    """Import torch and ask whether it can run on `device` (cpu, cuda, cuda:N, mps, xpu)."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising OSError on a missing .so
        return TorchRuntime(device, False, 0, f"import torch failed: {one_line(e)}")
    kind, _, idx = device.partition(":")
    ver = torch.__version__
    if kind == "cpu":
        return TorchRuntime(
            device, True, 1, f"torch {ver} runs on the CPU ({torch.get_num_threads()} threads)"
        )
    if kind == "cuda":
        built = getattr(torch.version, "cuda", None) or getattr(torch.version, "hip", None)
        if not built:
            return TorchRuntime(device, False, 0, f"torch {ver} is a CPU-only build (no CUDA/ROCm)")
        try:
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception as e:
            return TorchRuntime(device, False, 0, f"CUDA initialisation failed: {one_line(e)}")
        if n == 0:
            return TorchRuntime(device, False, 0, f"torch {ver} (CUDA {built}) sees no usable GPU")
        if idx and int(idx) >= n:
            return TorchRuntime(device, False, n, f"torch sees {n} GPU(s), so {device} does not exist")
        names = sorted({torch.cuda.get_device_name(i) for i in range(n)})
        return TorchRuntime(
            device, True, n, f"torch {ver} (CUDA {built}) sees {n} GPU(s): {', '.join(names)}"
        )
    if kind == "mps":
        ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        return TorchRuntime(
            device, ok, int(ok), f"MPS {'available' if ok else 'not available'} in torch {ver}"
        )
    if kind == "xpu":
        xpu = getattr(torch, "xpu", None)
        ok = bool(xpu is not None and xpu.is_available())
        n = int(xpu.device_count()) if ok and xpu is not None else 0
        return TorchRuntime(device, ok, n, f"torch {ver} sees {n} XPU device(s)")
    return TorchRuntime(device, False, 0, f"unknown device {device!r}")


def cuda_devices() -> list[str]:
    """['cuda:0', ...] for every GPU torch can use; [] without CUDA (never raises)."""
    try:
        import torch

        built = getattr(torch.version, "cuda", None) or getattr(torch.version, "hip", None)
        if built and torch.cuda.is_available():
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except Exception:
        pass
    return []


def default_dtype(device: str) -> str:
    """What to measure when the user named no dtype: fp32 on a CPU, bf16 (tensor cores) elsewhere."""
    return "fp32" if device == "cpu" else "bf16"


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

    dev = torch.device(device)
    a = torch.randn(512, 512, device=dev)
    for _ in range(3):
        a @ a
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    _WARM.add(device)


def measure_matmul(device: str, dtype: str, level: Level, threads: int | None = None) -> Figure:
    """torch's best square GEMM on `device` in `dtype` (hwbench.bench.matmul), as `<dtype>_tflops`.

    torch's own GEMM only (no numpy): the figure is what a PyTorch training step can reach.
    """
    name = f"{dtype}_tflops"
    try:
        from hwbench.bench.matmul import best_gemm

        warm_up(device)
        p = best_gemm(device=device, dtype=dtype, quick=level == "quick", threads=threads)
    except HwbenchError as e:
        return Figure(device, name, None, "hwbench.bench.matmul", error=e.message)
    except Exception as e:  # an unsupported dtype on this device, CUDA errors: skip, with why
        return Figure(device, name, None, "hwbench.bench.matmul", error=one_line(e))
    t = p.timing
    src = (
        f"measured: {p.library}, {p.m}x{p.n}x{p.k} {dtype}, median of {t.n} timings "
        f"(min {p.tflops_min:.3g}, max {p.tflops_max:.3g} TFLOP/s)"
    )
    return Figure(device, name, float(p.tflops), src)


def peak_tflops(device: str, dtype: str, system: Any) -> tuple[float | None, str]:
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


def measure_mfu(device: str, preset: str | None, level: Level, system: Any) -> tuple[float | None, str]:
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
    if run.mfu is None:
        return None, run.mfu_reason or "no MFU (no peak known for this device)"
    peak = run.peak_tflops
    detail = (
        f"preset {run.preset or 'custom'}, {run.dtype}, {run.achieved_tflops or 0:.3g} TFLOP/s achieved "
        f"of a {peak or 0:.4g} TFLOP/s peak ({run.peak.source if run.peak else '?'})"
    )
    return run.mfu, detail


def measure_busbw(ctx: Any) -> tuple[float | None, str]:
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


def nvml_bus_id(device: str, gpus: list[tuple[str, dict[str, Any]]]) -> str | None:
    """The NVML bus id ("0000:18:00.0") of torch's `cuda:N`, from its PCI location or UUID.

    torch numbers GPUs fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so index order is the
    last resort, used only when that variable says the orders agree.
    """
    try:
        import torch

        idx = int(device.partition(":")[2] or 0)
        props: Any = torch.cuda.get_device_properties(idx)
    except Exception:
        return None
    bus = getattr(props, "pci_bus_id", None)
    if isinstance(bus, int):
        dom = getattr(props, "pci_domain_id", 0) or 0
        dev = getattr(props, "pci_device_id", 0) or 0
        want = f"{dom:04x}:{bus:02x}:{dev:02x}.0"
        for b, _ in gpus:
            if b == want:
                return b
    uuid = str(getattr(props, "uuid", "") or "")
    if uuid:
        for b, f in gpus:
            if str(f.get("uuid", "")).lower().removeprefix("gpu-") == uuid.lower().removeprefix("gpu-"):
                return b
    if os.environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        ordered = sorted(b for b, _ in gpus)
        if idx < len(ordered):
            return ordered[idx]
    return None
