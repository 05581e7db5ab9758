"""One fleet document from per-rank records: the per-rank table, spread, stragglers, fingerprints.

`combine` is pure (records in, payload out) so it runs the same on records gathered live over
torch.distributed and on records read back from files (`hwbench merge`, the tests' fixtures).

A record is what each rank contributes:
  {"rank", "local_rank", "host", "cpus", "exit_code", "fingerprint": {...}, "result": <the command's
   own JSON document on that rank, or None if it produced none>}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hwbench.bench.flops import mfu_ratio
from hwbench.devices import recorded
from hwbench.fleet.dist import FleetContext
from hwbench.fleet.fingerprint import describe, find_mismatches
from hwbench.fleet.stragglers import DEFAULT_THRESHOLD, RankFigure, find_stragglers, spread

METRIC = "achieved_tflops"


def _is_host(device: object) -> bool:
    dev = recorded(device) if isinstance(device, str) else None
    return dev is not None and dev.is_host


def find_value(doc: Any, key: str, depth: int = 4) -> Any:
    """`doc[key]` at the top level, else the first one found depth-first in nested dicts/lists.

    Commands differ in shape (`mfu` has `achieved_tflops` at the top; a check report nests its
    measurements), and the fleet table needs the same few figures from each.
    """
    if isinstance(doc, Mapping):
        if key in doc:  # present at this level, even as null: do not borrow a nested namesake
            return doc[key]
        if depth > 0:
            for v in doc.values():
                found = find_value(v, key, depth - 1)
                if found is not None:
                    return found
    elif isinstance(doc, list) and depth > 0:
        for v in doc:
            found = find_value(v, key, depth - 1)
            if found is not None:
                return found
    return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def rank_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The per-rank table row: host, rank, device, UUID, achieved TFLOP/s, MFU, and where from."""
    result = record.get("result") or {}
    fp = record.get("fingerprint") or {}
    device = find_value(result, "device") if result else None
    if not isinstance(device, str):
        device = record.get("device")
    uuid = fp.get("gpu_uuid") or find_value(result, "uuid")
    return {
        "rank": int(record["rank"]),
        "local_rank": record.get("local_rank"),
        "host": str(record.get("host") or "?"),
        "device": device,
        "device_name": find_value(result, "device_name")
        or fp.get("gpu_name")
        or (fp.get("cpu_model") if _is_host(device) else None),
        "uuid": uuid,
        "cpus": list(record.get("cpus") or []),
        "dtype": find_value(result, "dtype"),
        "achieved_tflops": _num(find_value(result, "achieved_tflops")),
        "peak_tflops": _num(find_value(result, "peak_tflops")),
        "peak_source": find_value(result, "peak_source"),
        "mfu": _num(find_value(result, "mfu")),
        "exit_code": int(record.get("exit_code") or 0),
        **{k: record[k] for k in ("source", "job_rank") if k in record},
        "fingerprint": dict(fp),
        "result": result or None,
    }


def combine(
    command: str,
    records: Sequence[Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    backend: str | None = None,
    timeout_s: float | None = None,
    metric: str | None = METRIC,
) -> dict[str, Any]:
    """The fleet payload (to wrap with `jsonout.document`): ranks, spread, stragglers, mismatches.

    `metric` is the per-rank figure compared for stragglers (higher is better); None compares none
    (a report with no per-rank figure, such as `comm`, still gets the ranks and fingerprints).
    """
    rows = sorted((rank_row(r) for r in records), key=lambda r: (r["rank"], r["host"]))
    figures = [
        RankFigure(r["rank"], r["host"], str(r["device"]), r[metric])
        for r in rows
        if metric is not None and isinstance(r.get(metric), float)
    ]
    stragglers = find_stragglers(figures, threshold)
    sp = spread(figures)
    mismatches = find_mismatches([(r["rank"], r["host"], r["fingerprint"]) for r in rows])
    achieved = [r["achieved_tflops"] for r in rows if r["achieved_tflops"] is not None]
    peaks = [r["peak_tflops"] for r in rows if r["peak_tflops"] is not None]
    total_achieved = sum(achieved) if achieved else None
    # Fleet MFU: summed achieved over summed peaks, only when every rank has both (else it would
    # compare a part of the fleet with the whole), by the one MFU rule (none above the summed peak).
    total_peak = sum(peaks) if peaks and len(peaks) == len(rows) else None
    fleet_mfu = (
        mfu_ratio(total_achieved, total_peak)
        if total_achieved is not None and len(achieved) == len(rows)
        else None
    )
    worst = max((r["exit_code"] for r in rows), default=0)
    explanation: list[str] = []
    for s in stragglers:
        explanation.append(
            f"rank {s.rank} on {s.host} ({s.device}) is {s.below_median_fraction:.0%} below the "
            f"median of its peers ({s.value:.4g} vs {s.peer_median:.4g} TFLOP/s measured)"
        )
    explanation.extend(f"fingerprint mismatch: {describe(m)}" for m in mismatches)
    missing = [r["rank"] for r in rows if metric is not None and r.get(metric) is None]
    if missing:
        explanation.append(f"no {metric} from rank(s) {', '.join(map(str, missing))}")
    return {
        "fleet": {
            "command": command,
            "world_size": len(rows),
            "hosts": sorted({r["host"] for r in rows}),
            "backend": backend,
            "timeout_s": timeout_s,
            "metric": metric,
            "straggler_threshold": threshold,
        },
        "ranks": rows,
        "spread": None
        if sp is None
        else {
            "metric": metric,
            "count": sp.count,
            "min": sp.min,
            "median": sp.median,
            "max": sp.max,
            "spread_fraction": sp.spread_fraction,
            "min_rank": sp.min_rank,
            "max_rank": sp.max_rank,
        },
        "stragglers": [
            {
                "rank": s.rank,
                "host": s.host,
                "device": s.device,
                metric: s.value,
                "peer_median": s.peer_median,
                "below_median_fraction": s.below_median_fraction,
            }
            for s in stragglers
        ],
        "fingerprint_mismatches": [
            {
                "field": m.field,
                "majority_value": m.majority_value,
                "majority_count": m.majority_count,
                "others": [{"value": v, "ranks": list(rs), "hosts": list(hs)} for v, rs, hs in m.others],
            }
            for m in mismatches
        ],
        "total_achieved_tflops": total_achieved,
        "total_peak_tflops": total_peak,
        "fleet_mfu": fleet_mfu,
        "exit_code": worst,
        "explanation": explanation,
        "source": "measured on each rank; peaks as each rank's own report names them",
    }


def gather_records(ctx: FleetContext, record: dict[str, Any]) -> list[dict[str, Any]] | None:
    """gather_object to rank 0 (over gloo); rank 0 gets every record, other ranks None."""
    import torch.distributed as dist

    from hwbench.fleet.dist import arrive, collective

    arrive(ctx, "gather")
    out: list[Any] | None = [None] * ctx.world_size if ctx.rank == 0 else None
    with collective(ctx, "gathering the results"):
        dist.gather_object(record, out, dst=0, group=ctx.object_group)
    return out
