"""The fleet report on a terminal (rich): the answer first (ranks, fleet rate and MFU, stragglers,
mismatches), then the per-rank table, at 80 columns (UUIDs shortened; `--json` keeps them whole)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwbench.fmt import flop_rate, pct, plural, ranges, si

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
    from hwbench.console import stdout

    con = stdout()
    fleet = doc.get("fleet", {})
    if fleet.get("commands") == ["comm"]:
        render_comm_merge(doc)
        return
    ranks = list(doc.get("ranks", []))
    stragglers = {s["rank"]: s for s in doc.get("stragglers", [])}
    interrupted = [r["rank"] for r in ranks if r.get("interrupted")]
    complete = len(ranks) - len(interrupted)
    hosts = fleet.get("hosts", [])
    backend = fleet.get("backend")
    world = plural(int(fleet.get("world_size") or 0), "rank")
    unnamed = sum(1 for r in ranks if r.get("host_recorded") is False)
    where = f" on {plural(len(hosts), 'host')}" if hosts or not unnamed else ""
    if unnamed:
        where += f"{' +' if where else ','} {unnamed} without a recorded host"
    con.print(
        f"[bold]hwbench {fleet.get('command', '')}[/bold]: {world}{where}"
        + (f", backend {backend}" if backend else ""),
        highlight=False,
    )
    _fleet_answer(con, doc, stragglers, interrupted, complete)
    shown = _rank_table(con, ranks, stragglers, details)
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


def _fleet_answer(
    con: Any, doc: dict[str, Any], stragglers: dict[int, Any], interrupted: list[int], complete: int
) -> None:
    """The answer first: the fleet's rate and MFU, who is slow, what does not match."""
    if doc.get("total_achieved_tflops") is not None:
        line = f"fleet: {flop_rate(doc['total_achieved_tflops'])} measured, summed over "
        line += f"the {plural(complete, 'complete rank')}" if interrupted else "ranks"
        if doc.get("fleet_mfu") is not None:
            line += (
                f"; MFU {pct(doc['fleet_mfu'])} of the summed peaks ({flop_rate(doc['total_peak_tflops'])},"
                " each rank's own peak source)"
            )
        con.print(line, highlight=False)
    thr = doc.get("fleet", {}).get("straggler_threshold")
    if stragglers:
        con.print(
            f"[bold red]{'straggler' if len(stragglers) == 1 else 'stragglers'}[/bold red]: "
            f"{'rank' if len(stragglers) == 1 else 'ranks'} {ranges(list(stragglers))}"
            + (f" (more than {thr:.0%} below the peers' median)" if thr is not None else ""),
            highlight=False,
        )
    elif thr is not None and interrupted and complete < 2:
        con.print(
            f"no straggler test: {plural(complete, 'complete rank')}, "
            f"{'rank' if len(interrupted) == 1 else 'ranks'} {ranges(interrupted)} interrupted",
            highlight=False,
        )
    elif thr is not None:
        among = f" among the {plural(complete, 'complete rank')}" if interrupted else ""
        con.print(f"no stragglers{among} (threshold {thr:.0%} below the peers' median)", highlight=False)
    for line in doc.get("explanation", []):
        con.print(f"- {line}", highlight=False)


def _rank_table(
    con: Any, ranks: list[dict[str, Any]], stragglers: dict[int, Any], details: bool
) -> list[dict[str, Any]]:
    """One row per rank worth a look (every rank with --details or in a small fleet); the rows shown."""
    from rich.table import Table

    uuids = short_uuids([str(r["uuid"]) for r in ranks if r.get("uuid")])
    shown = [
        r
        for r in ranks
        if details
        or len(ranks) <= ALL_RANKS_UP_TO
        or r["rank"] in stragglers
        or r.get("exit_code", 0)
        or r.get("interrupted")
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
                "-" if r.get("exit_code", 0) is None else str(r.get("exit_code", 0)),
                f"straggler -{s['below_median_fraction']:.0%}"
                if s
                else "interrupted"
                if r.get("interrupted")
                else "",
                uuids.get(str(r.get("uuid")), "n/a") if r.get("uuid") else "n/a",
                style="bold red" if s else None,
            )
        con.print()
        con.print(t)
    return shown


def _gbps(x: float) -> str:
    return f"{x:.3f}"  # as `hwbench comm` prints bus bandwidth


def render_comm_merge(doc: dict[str, Any]) -> None:
    """Merged `comm` reports: per collective the bus bandwidth at the largest size (the median over
    reports when there are several), the outliers named with their hosts, then a row per report."""
    import statistics

    from hwbench.console import stdout

    con = stdout()
    rows = list(doc.get("comm") or [])
    names = _report_names([str(c["source"]) for c in rows])
    hosts = sorted({h for c in rows for h in c.get("hosts") or []})
    world = sum(c["world_size"] for c in rows if isinstance(c.get("world_size"), int))
    backends = sorted({str(c["backend"]) for c in rows if c.get("backend")})
    con.print(
        f"[bold]hwbench merge[/bold]: {plural(len(rows), 'comm report')}, {plural(world, 'rank')} "
        f"on {plural(len(hosts), 'host')}" + (f", {', '.join(backends)}" if backends else ""),
        highlight=False,
    )
    ops = list(dict.fromkeys(c["op"] for row in rows for c in row.get("collectives") or []))
    if not ops:
        con.print("no collective results in these reports", highlight=False)
    thr = doc.get("fleet", {}).get("straggler_threshold")
    for op in ops:
        entries = [
            (row, c)
            for row in rows
            for c in row.get("collectives") or []
            if c["op"] == op and c.get("busbw_gbps") is not None
        ]
        if not entries:
            con.print(f"{op}: no bus bandwidth recorded", highlight=False)
            continue
        sizes = sorted({c["bytes"] for _, c in entries})
        at = si(sizes[0], "B") if len(sizes) == 1 else f"{si(sizes[0], 'B')} to {si(sizes[-1], 'B')}"
        values = [c["busbw_gbps"] for _, c in entries]
        if len(values) == 1:
            con.print(f"{op}: busbw {_gbps(values[0])} GB/s at {at}", highlight=False)
        else:
            con.print(
                f"{op}: busbw {_gbps(statistics.median(values))} GB/s at {at}, "
                f"median of {plural(len(values), 'report')}",
                highlight=False,
            )
        slow = sorted(
            ((row, c) for row, c in entries if c.get("below_median_fraction") is not None),
            key=lambda e: -e[1]["below_median_fraction"],
        )
        for n, (row, c) in enumerate(slow):
            on = ", ".join(row.get("hosts") or []) or "hosts not recorded"
            con.print(
                f"  [bold red]{'slowest' if n == 0 else 'also slow'}[/bold red]: "
                f"{names[row['source']]} on {on}: {_gbps(c['busbw_gbps'])} GB/s, "
                f"{pct(c['below_median_fraction'])} below its peers' median",
                highlight=False,
            )
    if len(rows) > 1 and thr is not None and not any(doc.get("comm_outliers_by_op", {}).values()):
        con.print(f"no outliers (threshold {thr:.0%} below the peers' median)", highlight=False)
    elif len(rows) == 1:
        con.print("one report: no outlier test (it compares reports)", highlight=False)
    for line in doc.get("explanation", []):
        con.print(f"- {line}", highlight=False)
    if rows and ops:
        _comm_table(con, rows, ops, names)


def _comm_table(con: Any, rows: list[dict[str, Any]], ops: list[str], names: dict[str, str]) -> None:
    """A row per comm report: each collective's busbw (and how far below its peers), correct, exit."""
    from rich.table import Table

    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("report", overflow="fold")
    t.add_column("ranks", justify="right")
    t.add_column("hosts", overflow="fold")
    for op in ops:
        t.add_column(op, justify="right")
    t.add_column("correct")
    t.add_column("exit", justify="right")
    for row in rows:
        by_op = {c["op"]: c for c in row.get("collectives") or []}
        cells = []
        for op in ops:
            c = by_op.get(op)
            if c is None or c.get("busbw_gbps") is None:
                cells.append("n/a")
                continue
            frac = c.get("below_median_fraction")
            cells.append(_gbps(c["busbw_gbps"]) + (f" -{frac:.0%}" if frac is not None else ""))
        correct = row.get("correct")
        code = row.get("exit_code")
        t.add_row(
            names[row["source"]],
            "?" if row.get("world_size") is None else str(row["world_size"]),
            ", ".join(row.get("hosts") or []) or "?",
            *cells,
            "yes" if correct is True else "NO" if correct is False else "?",
            "-" if code is None else str(code),
            style="bold red" if correct is False else None,
        )
    con.print()
    con.print("busbw (GB/s) of each collective at its largest size:", highlight=False)
    con.print(t)
    source = next((c["bandwidth_source"] for c in rows if c.get("bandwidth_source")), None)
    con.print(
        "busbw = algbw x 2(n-1)/n for all-reduce, x (n-1)/n for all-gather"
        + (f" ({source})" if source else ""),
        highlight=False,
    )


def _report_names(sources: Sequence[str]) -> dict[str, str]:
    """Each report by its file name, or its whole path where two files share a name."""
    from pathlib import PurePath

    short = {s: PurePath(s).name or s for s in sources}
    clash = len(set(short.values())) < len(set(sources))
    return {s: s for s in sources} if clash else short
