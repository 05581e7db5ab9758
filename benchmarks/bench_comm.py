"""All-reduce bus bandwidth two ways, side by side, on the ranks of a torchrun job.

    torchrun --standalone --nproc-per-node 2 benchmarks/bench_comm.py            # sizes 4 KiB..4 MiB
    torchrun --standalone --nproc-per-node 8 benchmarks/bench_comm.py --max-bytes 1G   # 8-GPU node

- hwbench: `hwbench.fleet.comm.run_op` (barrier before each iteration, slowest rank's time, median);
- back-to-back: nccl-tests' way (N calls in a row, one synchronize, mean time per call).
The ratio shows how much the two timing conventions differ at each size (back-to-back hides
per-call latency behind pipelining; the per-iteration median exposes it, and resists outliers on a
shared machine). Both use nccl-tests' bus-bandwidth factor 2(n-1)/n. Rank 0 prints the table.
"""

from __future__ import annotations

import argparse
import statistics
import time


def back_to_back(ctx: object, nbytes: int, device: str, iters: int, reps: int) -> float:
    import torch
    import torch.distributed as dist

    buf = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        dist.all_reduce(buf)
    means = []
    for _ in range(reps):
        sync()
        dist.barrier(group=ctx.object_group)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(buf)
        sync()
        means.append((time.perf_counter() - t0) / iters)
    return statistics.median(means)


def main() -> None:
    from hwbench import fleet
    from hwbench.fleet.comm import bandwidths, default_device, parse_size, run_op, sweep

    ap = argparse.ArgumentParser()
    ap.add_argument("--min-bytes", default="4K")
    ap.add_argument("--max-bytes", default="4M")
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    ctx = fleet.init_from_env()
    if ctx is None:
        raise SystemExit(
            "run under torchrun: torchrun --standalone --nproc-per-node 2 benchmarks/bench_comm.py"
        )
    dev = default_device(ctx)
    rows = []
    for size in sweep(parse_size(args.min_bytes), parse_size(args.max_bytes)):
        ours = run_op(ctx, "all_reduce", size, dev, iters=args.iters, warmup=3)
        t_b2b = back_to_back(ctx, ours.bytes, dev, args.iters, reps=3)
        _, bus_b2b = bandwidths("all_reduce", ours.bytes, t_b2b, ctx.world_size)
        rows.append((ours.bytes, ours.time_s, ours.busbw_gbps, t_b2b, bus_b2b))
    if ctx.rank == 0:
        print(f"all-reduce, {ctx.world_size} ranks, {dev}, backend {ctx.backend} (measured)")
        head = ("bytes", "hwbench us", "busbw GB/s", "b2b us", "busbw GB/s", "b2b/hw")
        print("".join(f"{h:>12}" for h in head))
        for b, t, bw, t2, bw2 in rows:
            print(f"{b:>12}{t * 1e6:>12.1f}{bw:>12.4f}{t2 * 1e6:>12.1f}{bw2:>12.4f}{bw2 / bw:>12.2f}")
    fleet.finish(ctx, "bench-comm", None, 0, metric=None)


if __name__ == "__main__":
    main()
