"""Peaks of this machine's devices (each backend in hwbench.devices calls in here) and of recorded GPUs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hwbench.errors import HwbenchError
from hwbench.fmt import plural
from hwbench.model import Cpu, Gpu, System
from hwbench.peaks.cpu import CoreCount, core_rates, count_cores, cpu_peak
from hwbench.peaks.gpu import gpu_peak
from hwbench.peaks.types import DevicePeak

if TYPE_CHECKING:
    import torch

    from hwbench.devices.cuda import CudaDevice

if TYPE_CHECKING:
    from hwbench.peaks.clock import CpuMeasurement

_VENDOR_BY_ID = {0x10DE: "nvidia", 0x1002: "amd", 0x8086: "intel"}


def _int(v: Any) -> int | None:
    try:
        return int(str(v), 16) if isinstance(v, str) else int(v)
    except (TypeError, ValueError):
        return None


def _clock_untrusted(cpu: Cpu) -> bool:
    return cpu.virtualized or cpu.max_mhz_kind != "cpufreq" or cpu.max_mhz is None


def measured_cpu_peak(
    cpu: Cpu,
    threads: int | None = None,
    measure: bool | None = None,
    measured_tflops: Mapping[str, float] | None = None,
    measured_sources: Mapping[str, str] | None = None,
) -> DevicePeak:
    """cpu_peak for THIS machine's CPU: where the clock cannot be trusted (VM, no cpufreq), measure it, and
    the FMA kernel's throughput (at the widest vector ISA) is a measured floor like any GEMM."""
    counts, _ = count_cores(cpu)
    cores_total = sum(c.cores for c in counts)
    cores = None
    if threads is not None and threads < cores_total:
        cores = threads  # the run uses fewer cores than the machine has: its peak is theirs
    floors = dict(measured_tflops or {})
    sources = dict(measured_sources or {})
    clock_mhz = clock_src = None
    fma_floor: float | None = None
    notes: list[str] = []
    if measure is None:
        measure = _clock_untrusted(cpu)
    scale, scale_source = 1.0, None
    fma_tflops: float | None = None
    if measure:
        from hwbench.peaks.clock import measure_cpu, widest_fma_kernel

        cpus = list(cpu.usable_cpus) or None
        kernel = widest_fma_kernel(set(cpu.isa))
        m = measure_cpu(cpus, fma=kernel)
        if m is not None:
            clock_mhz, clock_src = m.clock_mhz, m.describe()
            if m.fma_fp32_tflops and m.fma_kernel is not None:
                fma_tflops = m.fma_fp32_tflops
                per_core = ", ".join(f"{g:.1f}" for g in m.fma_gflops_per_thread)
                notes.append(
                    f"{m.fma_kernel.isa} FMA throughput kernel ({m.fma_kernel.register}): "
                    f"{m.fma_fp32_tflops * 1000:.1f} GFLOP/s on {plural(m.threads, 'thread')} "
                    f"({per_core} GFLOP/s "
                    f"each = {m.fma_flop_per_cycle or 0:.1f} FLOP/cycle at the measured clock)"
                )
                fma_floor = m.fma_fp32_tflops if cores is None else None
                scale, scale_source = _fma_units_scale(cpu, counts, m)
        else:
            notes.append("clock measurement unavailable here (needs x86-64 Linux and executable memory)")

    def compute(floors: dict[str, float], sources: dict[str, str]) -> DevicePeak:
        return cpu_peak(
            cpu,
            cores=cores,
            measured_tflops=floors,
            measured_clock_mhz=clock_mhz,
            measured_clock_source=clock_src,
            measured_sources=sources,
            vector_scale=scale,
            vector_scale_source=scale_source,
        )

    peak = compute(floors, sources)
    fp32 = peak.peaks_tflops.get("fp32")
    # The FMA kernel and the clock are timed moments apart: within 3% they agree (noted above); beyond,
    # the kernel is a measured floor like any GEMM.
    if fma_floor and fp32 is not None and fma_floor > fp32 * 1.03:
        floors["fp32"] = max(floors.get("fp32", 0.0), fma_floor)
        sources.setdefault("fp32", "FMA throughput kernel")
        peak = compute(floors, sources)
    if notes:
        peak = dataclasses.replace(peak, notes=(*peak.notes, *notes))
    return dataclasses.replace(peak, measured_fma_tflops=fma_tflops) if fma_tflops else peak


def _fma_units_scale(cpu: Cpu, counts: list[CoreCount], m: CpuMeasurement) -> tuple[float, str | None]:
    """Where the rate table assumes two 512-bit FMA units per core and the AVX-512 kernel measures one
    unit's worth (Xeon Silver/Bronze and some Gold parts, Zen 5 mobile's 256-bit datapath), the vector
    rates are halved, and the note says so. Hybrid CPUs are left as the table says (their kernel threads
    mix core types)."""
    if m.fma_kernel is None or m.fma_kernel.isa != "AVX-512" or not m.fma_fp32_tflops or not m.clock_mhz:
        return 1.0, None
    if len(counts) != 1 or counts[0].cores <= 0:
        return 1.0, None
    table = core_rates(cpu.microarchitecture, counts[0].role, frozenset(f.lower() for f in cpu.isa))
    row = table.get("fp32")
    unit = m.fma_kernel.flop_per_cycle_per_unit
    if row is None or row.flop_per_cycle is None or row.flop_per_cycle < 2 * unit:
        return 1.0, None
    per_core = m.fma_fp32_tflops * 1e12 / counts[0].cores / (m.clock_mhz * 1e6)
    if per_core > 0.6 * row.flop_per_cycle:
        return 1.0, None
    units = max(1, round(per_core / unit))
    table_units = round(row.flop_per_cycle / unit)
    return units / table_units, (
        f"the AVX-512 FMA kernel measured {per_core:.1f} FLOP/cycle per core: {units} 512-bit FMA "
        f"unit(s) where the rate table assumes {table_units}; vector rates scaled to match (a busy SMT "
        "sibling on the host can also halve it: re-measure on an idle machine)"
    )


def _nvml_clock(gpu: Gpu | None) -> float | None:
    if gpu is None or gpu.nvml is None:
        return None
    v = gpu.nvml.sm_clock_max_mhz
    return float(v) if isinstance(v, (int, float)) and v > 0 else None


def gpu_for_system(gpu: Gpu, device: str) -> DevicePeak | None:
    """A detected GPU (no torch needed): NVML name when present, else the PCI name; device id from PCI."""
    return gpu_peak(
        gpu_name(gpu),
        device_id=_int(gpu.device_id),
        sm_count=gpu.units,
        vendor=gpu.vendor if gpu.vendor in ("nvidia", "amd", "intel") else None,
        vendor_id=_int(gpu.vendor_id),
        clock_mhz=_nvml_clock(gpu),
        device=device,
    )


def host_cpu_peak(system: System | None = None, **hints: Any) -> DevicePeak:
    """This machine's CPU peak (detect's CPU, else read now). Hints: threads, measure, measured_tflops,
    measured_sources."""
    cpu = system.cpu if system is not None else None
    if cpu is None:
        from hwbench.detect import this_cpu

        cpu = this_cpu()
    return measured_cpu_peak(
        cpu,
        threads=hints.get("threads"),
        measure=hints.get("measure"),
        measured_tflops=hints.get("measured_tflops"),
        measured_sources=hints.get("measured_sources"),
    )


def gpu_device_peak(dev: CudaDevice, system: System | None = None, **hints: Any) -> DevicePeak | None:
    """The peak of a torch "cuda" device (NVIDIA, or AMD under HIP). Hints: name, sm_count, cc, clock."""
    if system is not None and "cuda" not in system.torch.usable_devices and not hints.get("name"):
        why = "; ".join(system.torch.messages) or f"torch build: {system.torch.build or 'not installed'}"
        raise HwbenchError(
            f"{dev.torch_name}: CUDA is not usable here ({why})",
            hint="check `hwbench detect`, or ask about a GPU by name: hwbench peaks --gpu NAME",
        )
    index = dev.index or 0
    name: str | None = hints.get("name")
    sm_count: int | None = hints.get("sm_count")
    cc: tuple[int, int] | None = hints.get("cc")
    bus: str | None = None
    live = dev.available() and index < dev.count()
    if not live and system is None and not hints.get("name"):
        dev.require_available()  # no recording to fall back on: say why torch cannot use it
    if live:
        t_name, t_sm, t_cc, t_bus, _ = dev.properties()
        name, sm_count, cc = name or t_name, sm_count or t_sm, cc or t_cc
        bus = t_bus if isinstance(t_bus, str) else None
    gpu: Gpu | None = None
    if system is not None:
        gpu = next((g for g in system.gpus if bus and g.pci_slot.lower() == bus), None)
        if gpu is None and not live:
            gpu = _usable_gpus(system)[index] if index < len(_usable_gpus(system)) else None
    if name is None and gpu is not None:
        name = gpu_name(gpu)
    if name is None:
        raise HwbenchError(
            f"{dev.torch_name}: no such CUDA device here",
            hint="check `hwbench detect`: is there a GPU, and can this torch build use it?",
        )
    vendor = dev.vendor if live else (gpu.vendor if gpu is not None else None)
    return gpu_peak(
        name,
        device_id=_int(gpu.device_id) if gpu is not None else None,
        sm_count=sm_count,
        compute_capability=cc,
        clock_mhz=hints.get("clock") or _nvml_clock(gpu),
        vendor=vendor,
        vendor_id=_int(gpu.vendor_id) if gpu is not None else None,
        device=f"cuda:{index}",
    )


def _usable_gpus(system: System) -> list[Gpu]:
    """The GPUs torch numbers cuda:0, cuda:1... in a recording: NVIDIA and AMD discrete, in PCI order."""
    return [g for g in system.gpus if g.vendor in ("nvidia", "amd") and g.kind == "discrete"]


def gpu_name(gpu: Gpu) -> str:
    """NVML's name when it gave one (it names MIG slices and unlisted parts), else the PCI name."""
    nvml_name = gpu.nvml.name if gpu.nvml is not None else None
    return nvml_name if isinstance(nvml_name, str) else gpu.name


def peak_for_device(
    device: str | torch.device, system: System | None = None, **hints: Any
) -> DevicePeak | None:
    """The peak of a device ("cpu", "cuda[:N]", "mps", "xpu[:N]" or the torch.device) on this machine,
    through its backend (hwbench.devices). Hints: name, sm_count, cc, clock (GPU); threads, measure,
    measured_tflops (CPU). None when the GPU is not in the table and cannot be estimated."""
    from hwbench.devices import resolve

    return resolve(str(device)).peak(system, **hints)
