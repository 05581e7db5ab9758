"""The fleet report on a terminal (rich): the answer first (ranks, fleet rate and MFU, stragglers,
mismatches), then the per-rank table, at 80 columns (UUIDs shortened; `--json` keeps them whole)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwbench.fmt import flop_rate, pct, plural, ranges

# above this many ranks the table lists only the ranks with something to say, unless asked for all
ALL_RANKS_UP_TO = 16


def short_uuids(uuids: Sequence[str]) -> dict[str, str]:
    """Each UUID as the shortest head (at least 8 hex digits) that tells the distinct ones apart, or
    "…" + a tail where they share a long head: "GPU-6e6f6465-0000-4000-8000-000000000003" among its
    siblings -> "GPU-…00000003"."""
    distinct = sorted(set(uuids))

    def hexpart(u: str) -> tuple[str, str]:
        prefix = "GPU-" if u.startswith("GPU-") else "MIG-" if u.startswith("MIG-") else ""
        return prefix, u[len(prefix) :].replace("-", "")

    parts = {u: hexpart(u) for u in distinct}
    for n in range(8, 13):
        heads = {u: p + h[:n] for u, (p, h) in parts.items()}
        if len(set(heads.values())) == len(distinct):
            return {u: (heads[u] + "…" if len(heads[u]) < len(u) else u) for u in distinct}
    for n in range(8, 33):
        tails = {u: p + "…" + h[-n:] for u, (p, h) in parts.items()}
        if len(set(tails.values())) == len(distinct):
            return tails
    return {u: u for u in distinct}


def render_fleet(doc: dict[str, Any], details: bool = False) -> None:
    from rich.table import Table

    from hwbench.console import stdout

    con = stdout()
    fleet = doc.get("fleet", {})
    ranks = list(doc.get("ranks", []))
    stragglers = {s["rank"]: s for s in doc.get("stragglers", [])}
    hosts = fleet.get("hosts", [])
    backend = fleet.get("backend")
    world = plural(int(fleet.get("world_size") or 0), "rank")
    con.print(
        f"[bold]hwbench {fleet.get('command', '')}[/bold]: {world} on {plural(len(hosts), 'host')}"
        + (f", backend {backend}" if backend else ""),
        highlight=False,
    )
    # the answer: the fleet's rate and MFU, who is slow, what does not match
    if doc.get("total_achieved_tflops") is not None:
        line = f"fleet: {flop_rate(doc['total_achieved_tflops'])} measured, summed over ranks"
        if doc.get("fleet_mfu") is not None:
            line += (
                f"; MFU {pct(doc['fleet_mfu'])} of the summed peaks ({flop_rate(doc['total_peak_tflops'])},"
                " each rank's own peak source)"
            )
        con.print(line, highlight=False)
    thr = fleet.get("straggler_threshold")
    if stragglers:
        con.print(
            f"[bold red]{'straggler' if len(stragglers) == 1 else 'stragglers'}[/bold red]: "
            f"{'rank' if len(stragglers) == 1 else 'ranks'} {ranges(list(stragglers))}"
            + (f" (more than {thr:.0%} below the peers' median)" if thr is not None else ""),
            highlight=False,
        )
    elif thr is not None:
        con.print(f"no stragglers (threshold {thr:.0%} below the peers' median)", highlight=False)
    for line in doc.get("explanation", []):
        con.print(f"- {line}", highlight=False)

    uuids = short_uuids([str(r["uuid"]) for r in ranks if r.get("uuid")])
    shown = [
        r
        for r in ranks
        if details or len(ranks) <= ALL_RANKS_UP_TO or r["rank"] in stragglers or r.get("exit_code", 0)
    ]
    if shown:
        t = Table(box=None, pad_edge=False, show_edge=False)
        for col in ("host", "rank", "device", "TFLOP/s", "MFU", "exit", "note", "UUID"):
            right = col in ("rank", "TFLOP/s", "MFU", "exit")
            t.add_column(col, justify="right" if right else "left", overflow="fold")
        for r in shown:
            s = stragglers.get(r["rank"])
            t.add_row(
                r["host"],
                str(r["rank"]),
                r.get("device") or "?",
                "n/a" if r.get("achieved_tflops") is None else f"{r['achieved_tflops']:.4g}",
                pct(r.get("mfu")),
                str(r.get("exit_code", 0)),
                f"straggler -{s['below_median_fraction']:.0%}" if s else "",
                uuids.get(str(r.get("uuid")), "n/a") if r.get("uuid") else "n/a",
                style="bold red" if s else None,
            )
        con.print()
        con.print(t)
    if len(shown) < len(ranks):
        con.print(
            f"{plural(len(ranks) - len(shown), 'other rank')} with nothing to note "
            "(--details lists every rank)",
            highlight=False,
        )
    names: dict[str, list[int]] = {}
    for r in ranks:
        if r.get("device_name"):
            names.setdefault(str(r["device_name"]), []).append(r["rank"])
    for name, rs in names.items():
        con.print(f"{name}: {'rank' if len(rs) == 1 else 'ranks'} {ranges(rs)}", highlight=False)
    sp = doc.get("spread")
    if sp:
        con.print(
            f"spread of {sp['metric']}: min {sp['min']:.4g} (rank {sp['min_rank']}), median "
            f"{sp['median']:.4g}, max {sp['max']:.4g} (rank {sp['max_rank']}): "
            f"{pct(sp['spread_fraction'])} of the median",
            highlight=False,
        )
    sources: dict[str, list[int]] = {}
    for r in ranks:
        if r.get("peak_source"):
            peak = r.get("peak_tflops")
            key = f"{r.get('dtype') or '?'} peak {'n/a' if peak is None else f'{peak:.4g}'} TFLOP/s: "
            key += str(r["peak_source"])
            sources.setdefault(key, []).append(r["rank"])
    for key, rs in sources.items():
        con.print(
            f"MFU of {'rank' if len(rs) == 1 else 'ranks'} {ranges(rs)} against the {key}", highlight=False
        )
