"""The fleet report on a terminal (rich): per-rank table, spread, stragglers, mismatches."""

from __future__ import annotations

from typing import Any

from hwbench.fleet.fingerprint import ranges as _ranges


def _fmt(v: Any, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def render_fleet(doc: dict[str, Any]) -> None:
    from rich.table import Table

    from hwbench.console import stdout

    con = stdout()
    fleet = doc.get("fleet", {})
    stragglers = {s["rank"]: s for s in doc.get("stragglers", [])}
    t = Table(
        title=f"hwbench {fleet.get('command', '')}: {fleet.get('world_size')} rank(s) on "
        f"{len(fleet.get('hosts', []))} host(s), backend {fleet.get('backend')}"
    )
    cols = ("host", "rank", "device", "TFLOP/s (measured)", "MFU", "exit", "note", "UUID")
    for col in cols:
        right = col in ("rank", "TFLOP/s (measured)", "MFU", "exit")
        t.add_column(col, justify="right" if right else "left", overflow="fold")
    names: dict[str, list[int]] = {}
    for r in doc.get("ranks", []):
        s = stragglers.get(r["rank"])
        note = f"straggler -{s['below_median_fraction']:.0%}" if s else ""
        if r.get("device_name"):
            names.setdefault(str(r["device_name"]), []).append(r["rank"])
        t.add_row(
            r["host"],
            str(r["rank"]),
            r.get("device") or "?",
            _fmt(r.get("achieved_tflops"), ".4g"),
            "n/a" if r.get("mfu") is None else f"{r['mfu']:.1%}",
            str(r.get("exit_code", 0)),
            note,
            r.get("uuid") or "n/a",
            style="bold red" if s else None,
        )
    con.print(t)
    for name, ranks in names.items():
        con.print(f"{name}: rank(s) {_ranges(ranks)}")
    sp = doc.get("spread")
    if sp:
        con.print(
            f"spread of {sp['metric']}: min {sp['min']:.4g} (rank {sp['min_rank']}), median "
            f"{sp['median']:.4g}, max {sp['max']:.4g} (rank {sp['max_rank']}): "
            f"{sp['spread_fraction']:.1%} of the median"
        )
    if doc.get("total_achieved_tflops") is not None:
        line = f"fleet: {doc['total_achieved_tflops']:.4g} TFLOP/s measured, summed over ranks"
        if doc.get("fleet_mfu") is not None:
            line += (
                f"; MFU {doc['fleet_mfu']:.1%} of the summed peaks ({doc['total_peak_tflops']:.4g} TFLOP/s,"
                " each rank's own peak source)"
            )
        con.print(line)
    sources: dict[str, list[int]] = {}
    for r in doc.get("ranks", []):
        if r.get("peak_source"):
            peak = _fmt(r.get("peak_tflops"), ".4g")
            key = f"{r.get('dtype') or '?'} peak {peak} TFLOP/s: {r['peak_source']}"
            sources.setdefault(key, []).append(r["rank"])
    for key, ranks in sources.items():
        con.print(f"MFU of rank(s) {_ranges(ranks)} against the {key}")
    thr = fleet.get("straggler_threshold")
    if not stragglers and thr is not None:
        con.print(f"no stragglers (threshold {thr:.0%} below the peers' median)")
    for line in doc.get("explanation", []):
        con.print(f"- {line}")
