"""`hwbench comm`: collective bandwidth across the ranks of a torchrun job (and the DDP GPT step).

Outside torchrun there is no other rank: the command says so and exits 2 with the torchrun line to
use (a world of one would report a bus bandwidth of 0, which helps nobody).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from hwbench.devices import resolve
from hwbench.errors import InputError

if TYPE_CHECKING:
    from hwbench.fleet.comm import CommResult
    from hwbench.fleet.ddp import DdpResult


def command(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document (rank 0 only)."),
    op: list[str] = typer.Option(
        ["all_reduce", "all_gather"], "--op", help="Collective(s) to time: all_reduce, all_gather."
    ),
    min_bytes: str = typer.Option(None, "--min-bytes", help="Smallest size (e.g. 4K); default by device."),
    max_bytes: str = typer.Option(None, "--max-bytes", help="Largest size (e.g. 1G); default by device."),
    factor: int = typer.Option(4, "--factor", help="Multiply the size by this between points."),
    iters: int = typer.Option(10, "--iters", help="Timed iterations per size (median reported)."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed iterations per size."),
    device: str = typer.Option(
        None, "--device", help="cpu (gloo) or cuda (NCCL, cuda:LOCAL_RANK); default cuda when NCCL is up."
    ),
    ddp: bool = typer.Option(False, "--ddp", help="Also time the GPT training step under DDP."),
    preset: str = typer.Option("nanogpt-cpu", "--preset", help="GPT preset for --ddp."),
    dtype: str = typer.Option(None, "--dtype", help="--ddp dtype: fp32 or bf16 (default bf16 on GPU)."),
    steps: int = typer.Option(10, "--steps", help="--ddp timed steps (each with and without all-reduce)."),
) -> None:
    """Collective bandwidth (all-reduce, all-gather; nccl-tests' algbw/busbw) across torchrun ranks."""
    from hwbench import fleet
    from hwbench.fleet.comm import SOURCE, nothing_to_measure

    _check_options(op, iters, warmup, device)
    ctx = fleet.init_from_env()
    if ctx is None:
        raise nothing_to_measure()
    from hwbench.console import log
    from hwbench.fleet.comm import default_device, run_sweep

    dev = ctx.device_for(device) if device else default_device(ctx)
    target = resolve(dev)
    if target.collective_backend not in ctx.backend:
        raise InputError(
            "--device cuda needs the NCCL backend, and this job runs gloo",
            hint="a CUDA build of torch with as many visible GPUs as processes per node",
        )
    sizes = _sizes(target.is_host, min_bytes, max_bytes, factor)

    def progress(r: CommResult) -> None:
        if ctx.rank == 0:
            log(f"comm: {r.op} {r.bytes} B: {r.time_s * 1e6:.1f} us, busbw {r.busbw_gbps:.3f} GB/s")

    results = run_sweep(ctx, op, sizes, dev, iters=iters, warmup=warmup, progress=progress)
    ddp_result = None
    if ddp:
        from hwbench.fleet.ddp import measure_ddp_step

        ddp_result = measure_ddp_step(ctx, preset=preset, device=dev, dtype=dtype, steps=steps)
    correct = all(r.correct for r in results)
    rc = 0 if correct else 1
    backend = target.collective_backend
    fleet_doc, rc = fleet.finish(ctx, "comm", {"device": dev}, rc, metric=None)
    if fleet_doc is None:
        return  # not rank 0: nothing on stdout
    from hwbench.jsonout import document

    ranks = [
        {k: r[k] for k in ("rank", "local_rank", "host", "device", "uuid", "cpus", "fingerprint")}
        for r in fleet_doc["ranks"]
    ]
    doc = document(
        "comm",
        {
            "backend": backend,
            "world_size": ctx.world_size,
            "hosts": fleet_doc["fleet"]["hosts"],
            "device": f"{target.api}:LOCAL_RANK" if target.numbered else dev,
            "dtype": "fp32",
            "iters": iters,
            "warmup": warmup,
            "timing": "median over iterations of the slowest rank's time, barrier before each",
            "bandwidth_source": f"measured; {SOURCE}",
            "correct": correct,
            "results": [_result_dict(r) for r in results],
            "ddp": None if ddp_result is None else _ddp_dict(ddp_result),
            "ranks": ranks,
            "fingerprint_mismatches": fleet_doc["fingerprint_mismatches"],
            "exit_code": rc,
            "explanation": fleet_doc["explanation"],
        },
    )
    if not correct:
        doc["explanation"] = [*doc.get("explanation", []), "a collective returned wrong values (see results)"]
    if json_out:
        from hwbench.jsonout import emit

        emit(doc)
    else:
        _render(doc)
    if rc:
        raise typer.Exit(rc)


def _check_options(op: list[str], iters: int, warmup: int, device: str | None) -> None:
    from hwbench.fleet.comm import OPS

    for o in op:
        if o not in OPS:
            raise InputError(f"unknown collective {o!r}", hint=f"choose from: {', '.join(OPS)}")
    if iters < 1 or warmup < 0:
        raise InputError(
            "--iters must be >= 1 and --warmup >= 0",
            hint="e.g. --iters 10 --warmup 3 (--warmup 0 skips the untimed iterations)",
        )
    if device is not None and resolve(device).collective_backend not in ("gloo", "nccl"):
        raise InputError(
            f"--device {device!r}: comm runs on cpu (gloo) or cuda (NCCL)",
            hint="use --device cpu, or --device cuda (one GPU per torchrun process)",
        )


def _sizes(host: bool, min_bytes: str | None, max_bytes: str | None, factor: int) -> list[int]:
    """The message sizes to time: the flags' range, else the device kind's default one."""
    from hwbench.fleet.comm import CPU_SIZES, GPU_SIZES, parse_size, sweep

    defaults = CPU_SIZES if host else GPU_SIZES
    lo = parse_size(min_bytes) if min_bytes else defaults[0]
    hi = parse_size(max_bytes) if max_bytes else defaults[-1]
    return sweep(lo, hi, factor)


def _result_dict(r: CommResult) -> dict[str, Any]:
    return {
        "op": r.op,
        "bytes": r.bytes,
        "time_s": r.time_s,
        "algbw_gbps": r.algbw_gbps,
        "busbw_gbps": r.busbw_gbps,
        "correct": r.correct,
        "time_s_min": r.time_s_min,
        "time_s_max": r.time_s_max,
    }


def _ddp_dict(r: DdpResult) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(r)


def _render(doc: dict[str, Any]) -> None:
    from rich.table import Table

    from hwbench.console import stdout
    from hwbench.fmt import plural

    con = stdout()
    ranks, hosts = plural(int(doc["world_size"]), "rank"), plural(len(doc["hosts"]), "host")
    t = Table(
        title=f"hwbench comm: {ranks} on {hosts}, "
        f"{doc['backend']}, {doc['device']}, fp32, median of {doc['iters']} (measured)"
    )
    for col in ("op", "bytes", "time (us)", "algbw (GB/s)", "busbw (GB/s)", "correct"):
        t.add_column(col, justify="left" if col == "op" else "right")
    for r in doc["results"]:
        t.add_row(
            r["op"],
            str(r["bytes"]),
            f"{r['time_s'] * 1e6:.1f}",
            f"{r['algbw_gbps']:.3f}",
            f"{r['busbw_gbps']:.3f}",
            "yes" if r["correct"] else "NO",
            style=None if r["correct"] else "bold red",
        )
    con.print(t)
    con.print(
        f"busbw = algbw x 2(n-1)/n for all-reduce, x (n-1)/n for all-gather ({doc['bandwidth_source']})"
    )
    d = doc.get("ddp")
    if d:
        mfu = "n/a (no peak)" if d["mfu"] is None else f"{d['mfu']:.1%} of {d['peak_tflops_total']:.4g}"
        con.print(
            f"DDP {d['preset']} {d['dtype']} on {d['world_size']} ranks: "
            f"step {d['step_time_s'] * 1e3:.1f} ms "
            f"({d['step_time_no_sync_s'] * 1e3:.1f} ms without all-reduce, exposed communication "
            f"{d['comm_share']:.0%}); {d['achieved_tflops_total']:.4g} TFLOP/s summed over ranks, "
            f"MFU {mfu} TFLOP/s (summed peaks)"
        )
        con.print(f"peak source: {'; '.join(d['peak_sources'])}")
    for m in doc.get("fingerprint_mismatches", []):
        from hwbench.fleet.fingerprint import Mismatch, describe

        con.print(
            "fingerprint mismatch: "
            + describe(
                Mismatch(
                    m["field"],
                    m["majority_value"],
                    m["majority_count"],
                    tuple((o["value"], tuple(o["ranks"]), tuple(o["hosts"])) for o in m["others"]),
                )
            )
        )
