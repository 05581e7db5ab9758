"""Measure what the CPU really does, for VMs where no trustworthy clock can be read.

A KVM guest's "cpu MHz" is the TSC rate (the host's base clock, 2.45 GHz on this EPYC), not the clock the
cores run at under load; cpufreq is absent. So we time two tiny machine-code loops, on every usable CPU at
once (ctypes releases the GIL), each thread pinned to its CPU:

- clock: 16 dependent `add rax, rdx` per iteration. Integer add has a 1-cycle latency on every x86-64 core
  since the P6, so the chain takes exactly 16 cycles per iteration whatever the width of the machine:
  iterations x 16 / seconds = cycles per second. (Register operands: some cores fold `add reg, imm`.)
- fma: 10 independent `vfmadd231ps` chains per iteration (enough to cover 2 pipes x 4-5 cycles of
  latency), at the widest vector ISA the CPU has: `zmm` (16 fp32 lanes, 320 FLOP per iteration) where
  the kernel lists avx512f, else `ymm` (AVX2+FMA, 160 FLOP per iteration). An AVX2 kernel on an AVX-512
  core measures half its peak, so the width must follow the CPU. FLOP/s per core = what the FMA pipes
  really deliver, SMT sharing and hypervisor steal included; divided by the measured clock it tells one
  512-bit FMA unit (32 FLOP/cycle) from two (64), or a double-pumped one (Zen 4: 32). Operands are zero,
  so no denormal assists.

Both are timed in thread CPU time (time the scheduler gives other processes is not counted) and are
the best of a few short repeats (anything else can only make a repeat slower). x86-64 Linux
only; elsewhere `measure_cpu()` returns None and callers fall back to a read clock.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from hwbench.fmt import plural

# Assembled with GNU as 2.x from the listing in the docstring (see docs/peaks.md), verified with objdump.
_CLOCK_CODE = bytes.fromhex(
    "4889f9"  # mov rcx, rdi
    "31c0"  # xor eax, eax
    "ba01000000"  # mov edx, 1
    + ("4801d0" * 16)  # add rax, rdx  (x16, a dependent chain)
    + "48ffc9"  # dec rcx
    "75cb"  # jnz back to the first add
    "c3"  # ret
)
_FMA_CODE = bytes.fromhex(
    "4889f9"  # mov rcx, rdi
    "c5fc57c0c5f457c9c5ec57d2c5e457dbc5dc57e4c5d457edc5cc57f6c5c457ff"  # vxorps ymm0..ymm7
    "c4413c57c0c4413457c9c4412c57d2c4412457db"  # vxorps ymm8..ymm11
    "c4c22db8c3c4c22db8cbc4c22db8d3c4c22db8dbc4c22db8e3"  # vfmadd231ps ymm0..4, ymm10, ymm11
    "c4c22db8ebc4c22db8f3c4c22db8fbc4422db8c3c4422db8cb"  # vfmadd231ps ymm5..9, ymm10, ymm11
    "48ffc9"  # dec rcx
    "75c9"  # jnz back to the first vfmadd
    "c5f877"  # vzeroupper
    "c3"  # ret
)
# The same loop on zmm registers (EVEX encoding): vpxord zmm0..zmm11, then 10 x vfmadd231ps zmm0..9,
# zmm10, zmm11. zmm0-15 are caller-saved in the SysV ABI, like ymm.
_FMA512_CODE = bytes.fromhex(
    "4889f9"  # mov rcx, rdi
    "62f17d48efc062f17548efc962f16d48efd262f16548efdb"  # vpxord zmm0..zmm3
    "62f15d48efe462f15548efed62f14d48eff662f14548efff"  # vpxord zmm4..zmm7
    "62513d48efc062513548efc962512d48efd262512548efdb"  # vpxord zmm8..zmm11
    "62d22d48b8c362d22d48b8cb62d22d48b8d362d22d48b8db62d22d48b8e3"  # vfmadd231ps zmm0..4, zmm10, zmm11
    "62d22d48b8eb62d22d48b8f362d22d48b8fb62522d48b8c362522d48b8cb"  # vfmadd231ps zmm5..9, zmm10, zmm11
    "48ffc9"  # dec rcx
    "75bf"  # jnz back to the first vfmadd
    "c5f877"  # vzeroupper
    "c3"  # ret
)
_CLOCK_OPS_PER_ITER = 16  # cycles per iteration


@dataclass(frozen=True)
class FmaKernel:
    isa: str  # "AVX-512" | "AVX2"
    register: str  # "zmm" | "ymm"
    code: bytes
    flop_per_iter: int  # 10 FMAs x fp32 lanes x 2 FLOP
    flop_per_cycle_per_unit: int  # what one FMA unit of this width does: lanes x 2


FMA_KERNELS = (
    FmaKernel("AVX-512", "zmm", _FMA512_CODE, 10 * 16 * 2, 32),
    FmaKernel("AVX2", "ymm", _FMA_CODE, 10 * 8 * 2, 16),
)


def widest_fma_kernel(isa: frozenset[str] | set[str]) -> FmaKernel | None:
    """The widest FMA kernel the CPU's flags (lower-case, as the kernel names them) say it can run."""
    flags = {f.lower() for f in isa}
    if "avx512f" in flags:
        return FMA_KERNELS[0]
    if {"avx2", "fma"} <= flags:
        return FMA_KERNELS[1]
    return None


@dataclass(frozen=True)
class CpuMeasurement:
    clock_mhz: float  # median over threads of each thread's best
    clock_mhz_per_thread: tuple[float, ...]
    threads: int
    fma_fp32_tflops: float | None  # sum over threads of the FMA kernel, None when not run
    fma_gflops_per_thread: tuple[float, ...]
    seconds: float
    fma_kernel: FmaKernel | None = None  # which FMA kernel ran (its ISA and register width)

    @property
    def fma_flop_per_cycle(self) -> float | None:
        """FLOP per cycle of one thread of the FMA kernel at the measured clock (median over threads)."""
        if not self.fma_gflops_per_thread or not self.clock_mhz:
            return None
        return statistics.median(self.fma_gflops_per_thread) * 1e3 / self.clock_mhz

    def describe(self) -> str:
        return (
            f"measured: dependent-add chain on {plural(self.threads, 'thread')} pinned one per CPU, "
            f"best of 7 short runs, thread CPU time: {self.clock_mhz / 1000:.2f} GHz"
        )


def supported() -> bool:
    return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")


class _Jit:
    def __init__(self, code: bytes) -> None:
        self._buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._buf.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(self._buf))
        self.fn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64)(addr)


def _best_rate(fn: Any, iterations: int, per_iter: int, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        # Thread CPU time, not wall time: on a shared machine the scheduler takes the CPU away mid-run, and
        # wall time would count those gaps as slow cycles.
        t0 = time.thread_time()
        fn(iterations)
        dt = time.thread_time() - t0
        if dt > 0:
            best = max(best, iterations * per_iter / dt)
    return best


def _on_each_cpu(cpus: list[int], work: object) -> list[float]:
    results: dict[int, float] = {}

    def run(cpu: int) -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, {cpu})  # this thread only
        results[cpu] = work()  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(c,)) for c in cpus]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[c] for c in cpus if c in results]


def measure_cpu(
    cpus: list[int] | None = None,
    fma: FmaKernel | None = None,
    iterations: int = 4_000_000,
    repeats: int = 7,
) -> CpuMeasurement | None:
    """Clock (and the throughput of the `fma` kernel, when given: pass `widest_fma_kernel(cpu flags)`) on
    each CPU in `cpus` at once. None when unsupported or when executable memory is refused."""
    if not supported():
        return None
    if cpus is None:
        cpus = sorted(os.sched_getaffinity(0))
    t0 = time.perf_counter()
    try:
        clock = _Jit(_CLOCK_CODE)
        fma_jit = _Jit(fma.code) if fma is not None else None
    except (OSError, ValueError, PermissionError):
        return None  # W^X policy (SELinux execmem) forbids executable mappings
    clocks = _on_each_cpu(cpus, lambda: _best_rate(clock.fn, iterations, _CLOCK_OPS_PER_ITER, repeats))
    fmas: list[float] = []
    if fma_jit is not None and fma is not None:
        per_iter = fma.flop_per_iter
        fmas = _on_each_cpu(cpus, lambda: _best_rate(fma_jit.fn, iterations // 2, per_iter, repeats))
    if not clocks:
        return None
    return CpuMeasurement(
        clock_mhz=statistics.median(clocks) / 1e6,
        clock_mhz_per_thread=tuple(c / 1e6 for c in clocks),
        threads=len(clocks),
        fma_fp32_tflops=sum(fmas) / 1e12 if fmas else None,
        fma_gflops_per_thread=tuple(f / 1e9 for f in fmas),
        seconds=time.perf_counter() - t0,
        fma_kernel=fma if fmas else None,
    )
