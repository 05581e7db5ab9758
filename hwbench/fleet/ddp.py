"""The mfu GPT training step under DistributedDataParallel: fleet FLOP/s, fleet MFU, communication share.

Each rank trains on its own batch of `batch_size` sequences, so one synchronous step does
world_size x flops_per_step(cfg) of useful work (PaLM Appendix B count, bench/flops.py). Hence

  achieved (fleet) = world_size x flops_per_step / step_time      (summed over ranks)
  MFU (fleet)      = achieved (fleet) / sum of every rank's own peak

nanoGPT's train.py divides gradient_accumulation_steps by the world size but estimate_mfu still
counts only one rank's tokens against one A100's 312 TFLOP/s, so its printed MFU falls as GPUs are
added; here both sides of the fraction grow with the fleet.

Communication share: the same step timed with DDP's gradient all-reduce and under `no_sync()` (no
communication), interleaved step by step; share = 1 - t_no_sync / t_ddp. DDP overlaps the all-reduce
with the backward pass, so this is the *exposed* communication, the part that costs step time.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwbench.bench.flops import mfu_ratio
from hwbench.devices import Device, resolve
from hwbench.errors import InputError, one_line
from hwbench.fleet.dist import FleetContext

if TYPE_CHECKING:  # torch is imported inside the functions that run under torchrun
    import torch
    from torch.nn.parallel import DistributedDataParallel

DDP_DTYPES = ("fp32", "bf16")


@dataclass(frozen=True)
class DdpResult:
    preset: str
    config: dict[str, Any]
    device: str
    dtype: str
    world_size: int
    steps: int
    flops_per_step_per_rank: float
    step_time_s: float  # median over steps of the slowest rank, with DDP's all-reduce
    step_time_no_sync_s: float  # the same without communication
    comm_share: float  # exposed communication: 1 - no_sync / ddp, floored at 0
    achieved_tflops_total: float  # summed over ranks
    achieved_tflops_per_rank: float
    peak_tflops_total: float | None  # sum of each rank's own peak for the dtype
    peak_sources: list[str]
    mfu: float | None
    grad_bytes: int  # bytes all-reduced per step (parameters x element size)
    source: str = "measured (DDP vs no_sync, interleaved); FLOPs per PaLM Appendix B"


def fleet_figures(
    flops_per_step: float, world_size: int, step_time_s: float, peaks_tflops: list[float | None]
) -> tuple[float, float | None, float | None]:
    """(achieved TFLOP/s summed over ranks, summed peak, MFU); peak and MFU None if any peak is unknown,
    MFU None as well where the fleet measured more than the summed peak (`bench.flops.mfu_ratio`)."""
    achieved = world_size * flops_per_step / step_time_s / 1e12
    if not peaks_tflops or any(p is None or p <= 0 for p in peaks_tflops):
        return achieved, None, None
    total = float(sum(p for p in peaks_tflops if p is not None))
    return achieved, total, mfu_ratio(achieved, total)


def _own_peak(device: str, dtype: str, threads: int | None) -> tuple[float | None, str]:
    """This rank's peak for the dtype from hwbench.peaks (CPU: for its share of the cores), or (None, why)."""
    try:
        from hwbench.peaks import peak_for_device

        hints = {"threads": threads} if resolve(device).is_host and threads else {}
        peak = peak_for_device(device, None, **hints)
        if peak is None:
            return None, f"no peak known for {device}"
        value = peak.peaks_tflops.get(dtype)
        return (float(value) if value else None), str(peak.source)
    except Exception as e:  # peaks unavailable for this device: say so, MFU becomes n/a
        return None, f"no peak ({one_line(e, 100)})"


def _ddp_dtype(target: Device, dtype: str | None) -> str:
    """The asked dtype, else bf16 where the accelerator computes it natively, else fp32."""
    dt = dtype or ("fp32" if target.is_host or "bf16" not in target.native_dtypes() else "bf16")
    if dt not in DDP_DTYPES:
        raise InputError(
            f"DDP step dtype {dt!r} not supported", hint=f"choose one of: {', '.join(DDP_DTYPES)}"
        )
    return dt


class _Stepper:
    """One timed training step, with DDP's gradient all-reduce or without it (`no_sync`); each step
    is announced first, so that a failed all-reduce names the ranks behind."""

    def __init__(
        self,
        ctx: FleetContext,
        ddp: DistributedDataParallel,
        optimizer: torch.optim.Optimizer,
        batches: list[tuple[torch.Tensor, torch.Tensor]],
        autocast: contextlib.AbstractContextManager[object],
        sync: Callable[[], None],
    ) -> None:
        self.ctx, self.ddp, self.optimizer, self.batches = ctx, ddp, optimizer, batches
        self.autocast, self.sync = autocast, sync
        self.announced = 0

    def __call__(self, i: int, communicate: bool) -> float:
        import torch.distributed as dist

        from hwbench.fleet.dist import step as announce

        announce(self.ctx, self.announced)  # untimed
        self.announced += 1
        x, y = self.batches[i % len(self.batches)]
        self.sync()
        dist.barrier(group=self.ctx.object_group)
        t0 = time.perf_counter()
        with contextlib.nullcontext() if communicate else self.ddp.no_sync():
            with self.autocast:
                loss = self.ddp(x, y)
            loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.sync()
        return time.perf_counter() - t0


def measure_ddp_step(
    ctx: FleetContext,
    preset: str = "nanogpt-cpu",
    device: str | None = None,
    dtype: str | None = None,
    steps: int = 10,
    warmup: int = 2,
) -> DdpResult:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from hwbench.bench.config import preset as get_preset
    from hwbench.bench.flops import flops_per_step
    from hwbench.bench.gpt import GPT
    from hwbench.fleet.dist import arrive, collective

    cfg = get_preset(preset)
    dev = device or (f"cuda:{ctx.local_rank}" if "nccl" in ctx.backend else "cpu")
    target = resolve(dev)
    dt = _ddp_dtype(target, dtype)
    if steps < 1 or warmup < 0:
        raise InputError("steps must be >= 1 and warmup >= 0", hint="give --steps 1 or more, e.g. --steps 10")

    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = GPT(cfg).to(dev)
    arrive(ctx, "ddp")
    with collective(ctx, "wrapping the model in DDP (broadcast of rank 0's weights)"):
        # device_ids names the one GPU of a single-device module; CPU and MPS modules take None
        ddp = DDP(model, device_ids=[target.explicit().index] if target.numbered else None)
    gen = torch.Generator(device="cpu").manual_seed(1000 + ctx.rank)  # each rank its own data
    batches = [
        (
            torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size), generator=gen).to(dev),
            torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size), generator=gen).to(dev),
        )
        for _ in range(2)
    ]
    autocast: contextlib.AbstractContextManager[object] = (
        torch.autocast(device_type=target.api, dtype=torch.bfloat16)
        if dt == "bf16"
        else contextlib.nullcontext()
    )
    step = _Stepper(ctx, ddp, model.optimizer(), batches, autocast, target.synchronize)

    with_comm: list[float] = []
    without: list[float] = []
    peak, peak_src = _own_peak(dev, dt, len(ctx.cpus) or None)
    every: list[Any] = [None] * ctx.world_size
    with collective(ctx, "the DDP step"):
        for i in range(warmup):
            step(i, True)
            step(i, False)
        for i in range(steps):  # interleaved, so drift in clocks or load hits both sides alike
            with_comm.append(step(i, True))
            without.append(step(i, False))
        dist.all_gather_object(every, (with_comm, without, peak, peak_src), group=ctx.object_group)
    t_ddp = statistics.median(max(e[0][i] for e in every) for i in range(steps))
    t_local = statistics.median(max(e[1][i] for e in every) for i in range(steps))
    fps = flops_per_step(cfg)
    achieved, peak_total, mfu = fleet_figures(fps, ctx.world_size, t_ddp, [e[2] for e in every])
    grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return DdpResult(
        preset=preset,
        config=cfg.as_dict(),
        device=dev,
        dtype=dt,
        world_size=ctx.world_size,
        steps=steps,
        flops_per_step_per_rank=fps,
        step_time_s=t_ddp,
        step_time_no_sync_s=t_local,
        comm_share=max(0.0, 1.0 - t_local / t_ddp),
        achieved_tflops_total=achieved,
        achieved_tflops_per_rank=achieved / ctx.world_size,
        peak_tflops_total=peak_total,
        peak_sources=sorted({str(e[3]) for e in every}),
        mfu=mfu,
        grad_bytes=int(grad_bytes),
    )
