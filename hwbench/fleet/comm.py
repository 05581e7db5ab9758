"""Collective benchmark: all-reduce and all-gather over a size sweep, nccl-tests' bandwidth convention.

Bandwidths follow nccl-tests (NVIDIA/nccl-tests, doc/PERFORMANCE.md), in GB/s = 1e9 bytes/s:
  algbw = bytes / time
  busbw = algbw x factor, the share of the data each rank's link must carry, so that busbw is
          comparable with the hardware's link bandwidth whatever the number of ranks n:
    all-reduce     factor 2(n-1)/n   (bytes = the buffer each rank contributes and receives)
    all-gather     factor (n-1)/n    (bytes = the gathered buffer, n x each rank's part)
Each timed iteration is preceded by a barrier so that every rank starts together; its time is the
slowest rank's (a collective is done when its last rank is), and the reported time is the median
over iterations. Every iteration's result is checked against known values: rank r contributes
r + 1, so an all-reduce sums to n(n+1)/2 everywhere and all-gather part i holds i + 1 (exact in fp32).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hwbench.devices import resolve
from hwbench.errors import HwbenchError, InputError
from hwbench.fleet.dist import FleetContext

OPS = ("all_reduce", "all_gather")
SOURCE = "nccl-tests doc/PERFORMANCE.md bus-bandwidth convention"

# Default sweeps: 4 KiB..16 MiB on CPU (gloo over TCP/shared memory is slow; keeps a 2-rank run to a
# few seconds), 1 MiB..1 GiB on GPU (NVLink needs large messages to reach its bandwidth).
CPU_SIZES = tuple(4 * 1024 * 4**i for i in range(7))
GPU_SIZES = tuple(1024 * 1024 * 4**i for i in range(6))
DTYPE_BYTES = 4  # float32


@dataclass(frozen=True)
class CommResult:
    op: str
    bytes: int
    time_s: float  # median over iterations of the slowest rank's time
    algbw_gbps: float
    busbw_gbps: float
    correct: bool
    iters: int
    time_s_min: float
    time_s_max: float


def bus_factor(op: str, world_size: int) -> float:
    """nccl-tests' factor from algorithm bandwidth to bus bandwidth."""
    n = world_size
    if n < 1:
        raise ValueError("world size must be >= 1")
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op == "all_gather":
        return (n - 1) / n
    raise ValueError(f"unknown collective {op!r}")


def bandwidths(op: str, nbytes: int, time_s: float, world_size: int) -> tuple[float, float]:
    """(algbw_gbps, busbw_gbps) for `nbytes` moved in `time_s` by `world_size` ranks."""
    algbw = nbytes / time_s / 1e9
    return algbw, algbw * bus_factor(op, world_size)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'64M', '64MiB', '1g', '4096' -> bytes (K/M/G/T are powers of 1024, as nccl-tests' -b/-e)."""
    m = _SIZE.match(text)
    if not m:
        raise InputError(f"size {text!r} is not a byte count", hint="e.g. 4096, 64K, 16M, 1G")
    value = float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower())
    if value < 1:
        raise InputError(f"size {text!r} is smaller than one byte", hint="e.g. 4096, 64K, 16M, 1G")
    return int(value)


def sweep(min_bytes: int, max_bytes: int, factor: int = 4) -> list[int]:
    """Sizes from min to max multiplying by `factor` (max included when it is on the way)."""
    if min_bytes < 1 or max_bytes < min_bytes or factor < 2:
        raise InputError(
            f"bad size sweep {min_bytes}..{max_bytes} x{factor}",
            hint="need --min-bytes <= --max-bytes and --factor >= 2, e.g. --min-bytes 4K --max-bytes 64M",
        )
    out, s = [], min_bytes
    while s <= max_bytes:
        out.append(s)
        s *= factor
    return out


def _round_bytes(op: str, nbytes: int, world_size: int) -> int:
    """Whole float32 elements, and for all-gather a whole number of per-rank parts (at least one each)."""
    unit = DTYPE_BYTES * (world_size if op == "all_gather" else 1)
    return max(unit, nbytes // unit * unit)


def run_op(
    ctx: FleetContext, op: str, nbytes: int, device: str, iters: int = 10, warmup: int = 3
) -> CommResult:
    """Time one collective at one size on every rank; every rank returns the same result."""
    import torch
    import torch.distributed as dist

    from hwbench.fleet.dist import arrive, collective, fault_point, step

    if op not in OPS:
        raise InputError(f"unknown collective {op!r}", hint=f"choose from: {', '.join(OPS)}")
    n, rank = ctx.world_size, ctx.rank
    nbytes = _round_bytes(op, nbytes, n)
    count = nbytes // DTYPE_BYTES
    arrive(ctx, f"{op} {nbytes} B")
    fault_point(ctx, "collective")
    sync = resolve(device).synchronize

    if op == "all_reduce":
        buf = torch.empty(count, dtype=torch.float32, device=device)
        expected = float(n * (n + 1) // 2)

        def prepare() -> None:
            buf.fill_(rank + 1)

        def call() -> None:
            dist.all_reduce(buf)

        def check() -> bool:
            return bool(torch.all(buf == expected).item())

    else:
        part = torch.full((count // n,), float(rank + 1), dtype=torch.float32, device=device)
        out = torch.empty(count, dtype=torch.float32, device=device)
        want = torch.arange(1, n + 1, dtype=torch.float32, device=device).repeat_interleave(count // n)

        def prepare() -> None:
            out.zero_()

        # all_gather_single is the newer name (torch 2.13 deprecates all_gather_into_tensor)
        gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor

        def call() -> None:
            gather_single(out, part)

        def check() -> bool:
            return bool(torch.equal(out, want))

    times: list[float] = []
    ok = True
    every: list[Any] = [None] * n
    with collective(ctx, f"{op} of {nbytes} bytes"):
        for i in range(warmup + iters):
            step(ctx, i)
            prepare()
            sync()
            dist.barrier(group=ctx.object_group)  # CPU-side (gloo) barrier: every rank starts together
            t0 = time.perf_counter()
            call()
            sync()
            dt = time.perf_counter() - t0
            ok = check() and ok
            if i >= warmup:
                times.append(dt)
        dist.all_gather_object(every, (times, ok), group=ctx.object_group)
    slowest = [max(t[i] for t, _ in every) for i in range(iters)]
    correct = all(c for _, c in every)
    med = statistics.median(slowest)
    algbw, busbw = bandwidths(op, nbytes, med, n)
    return CommResult(op, nbytes, med, algbw, busbw, correct, iters, min(slowest), max(slowest))


def default_device(ctx: FleetContext) -> str:
    return f"cuda:{ctx.local_rank}" if "nccl" in ctx.backend else "cpu"


def run_sweep(
    ctx: FleetContext,
    ops: Sequence[str] = OPS,
    sizes: Sequence[int] | None = None,
    device: str | None = None,
    iters: int = 10,
    warmup: int = 3,
    progress: Callable[[CommResult], None] | None = None,
) -> list[CommResult]:
    from hwbench.fleet.dist import fault_point

    dev = device or default_device(ctx)
    if sizes is None:
        sizes = CPU_SIZES if resolve(dev).is_host else GPU_SIZES
    out: list[CommResult] = []
    for op in ops:
        for k, size in enumerate(sizes):
            if k == 1:
                fault_point(ctx, "comm")
            r = run_op(ctx, op, size, dev, iters=iters, warmup=warmup)
            out.append(r)
            if progress is not None:
                progress(r)
    return out


def nothing_to_measure() -> HwbenchError:
    return HwbenchError(
        "not running under torchrun (WORLD_SIZE is 1 or unset): there is no other rank to communicate with",
        hint="torchrun --standalone --nproc-per-node 2 -m hwbench comm   (one process per GPU: "
        "--nproc-per-node 8 on an 8-GPU node)",
    )


def measure_busbw(
    ctx: FleetContext | None = None,
    *,
    op: str = "all_reduce",
    size_bytes: int | None = None,
    device: str | None = None,
    iters: int = 10,
    warmup: int = 3,
) -> CommResult:
    """Bus bandwidth of one collective at one size: for `hwbench check --min-busbw GBPS`.

    Joins torchrun's group if `ctx` is None; raises HwbenchError (exit 2) outside torchrun. The
    default size is the largest of the default sweep for the device (16 MiB CPU, 1 GiB GPU).
    """
    from hwbench.fleet.session import init_from_env

    if ctx is None:
        ctx = init_from_env()
    if ctx is None:
        raise nothing_to_measure()
    dev = device or default_device(ctx)
    if size_bytes is None:
        size_bytes = (CPU_SIZES if resolve(dev).is_host else GPU_SIZES)[-1]
    return run_op(ctx, op, size_bytes, dev, iters=iters, warmup=warmup)
