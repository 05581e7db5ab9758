"""Fleet mode: hwbench on every rank of a torchrun job, one report on rank 0.

Commands call two hooks:

    ctx = hwbench.fleet.init_from_env()      # None outside torchrun (WORLD_SIZE absent or 1)
    ...measure on ctx.device_for(device)...  # cuda:LOCAL_RANK under torchrun
    doc, rc = hwbench.fleet.finish(ctx, "mfu", doc, rc)
    if doc is not None: print it            # rank 0 only; other ranks print nothing on stdout

and the CLI ends a process that joined a fleet with `hwbench.fleet.dist.leave` (no interpreter
finalization while gloo threads may still run; see there), whatever the exit code.

Environment: HWBENCH_DIST_TIMEOUT_S (default 60) bounds every wait; HWBENCH_STRAGGLER_THRESHOLD
(default 0.10) is how far below its peers' median a rank must be to be named a straggler;
HWBENCH_NO_AFFINITY=1 keeps torchrun's CPU placement instead of giving each local rank its share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hwbench.fleet.dist import DEFAULT_TIMEOUT_S, FleetContext, FleetError
from hwbench.fleet.session import init_from_env, joined

if TYPE_CHECKING:
    from hwbench.fleet.comm import CommResult

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "FleetContext",
    "FleetError",
    "finish",
    "init_from_env",
    "joined",
    "measure_busbw",
    "render_fleet",
]


def finish(
    ctx: FleetContext | None,
    command: str,
    doc: dict[str, Any] | None,
    rc: int,
    *,
    metric: str | None = "achieved_tflops",
) -> tuple[dict[str, Any] | None, int]:
    """Gather every rank's document and exit code to rank 0 and combine them.

    Rank 0 gets (the fleet document, the worst exit code over ranks). Other ranks get (None, 0): they
    print nothing on stdout, and they exit 0 so that torchrun does not stop rank 0 before it has
    printed (torchrun stops all workers as soon as one exits non-zero); rank 0 carries the worst code.
    Outside torchrun (ctx None) the arguments come back unchanged. `metric` is the per-rank figure
    (higher is better) compared for stragglers; None for reports without one.
    """
    if ctx is None:
        return doc, rc
    from hwbench import jsonout
    from hwbench.fleet.dist import destroy, fault_point
    from hwbench.fleet.gather import combine, gather_records
    from hwbench.fleet.local import fingerprint
    from hwbench.fleet.session import forget

    fault_point(ctx, "finish")
    device = doc.get("device") if isinstance(doc, dict) else None
    record = {
        "rank": ctx.rank,
        "local_rank": ctx.local_rank,
        "host": ctx.host,
        "cpus": list(ctx.cpus),
        "exit_code": rc,
        "fingerprint": fingerprint(device if isinstance(device, str) else None),
        "result": doc,
    }
    records = gather_records(ctx, record)
    destroy(ctx)
    forget()
    if ctx.rank != 0 or records is None:
        return None, 0
    payload = combine(
        command,
        records,
        threshold=ctx.straggler_threshold,
        backend=ctx.backend,
        timeout_s=ctx.timeout_s,
        metric=metric,
    )
    return jsonout.document(command, payload), int(payload["exit_code"])


def render_fleet(doc: dict[str, Any]) -> None:
    """Print the fleet document as tables on stdout (the non --json path, rank 0)."""
    from hwbench.fleet.render import render_fleet as _render

    _render(doc)


def measure_busbw(
    ctx: FleetContext | None = None,
    *,
    op: str = "all_reduce",
    size_bytes: int | None = None,
    device: str | None = None,
    iters: int = 10,
    warmup: int = 3,
) -> CommResult:
    """Bus bandwidth of one collective at one size (the largest of the default sweep if None)."""
    from hwbench.fleet.comm import measure_busbw as _m

    return _m(ctx, op=op, size_bytes=size_bytes, device=device, iters=iters, warmup=warmup)
