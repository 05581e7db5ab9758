"""`hwbench merge`: JSON reports from many nodes into one fleet table with outliers (pure).

Accepted inputs, each a document printed by `hwbench ... --json`:
- a fleet document (from torchrun: has `ranks`): each of its ranks becomes a row;
- a single-process document (`hwbench mfu --json` on one node): one row, named after its `host`
  field when it has one, else "? (FILE)" (`host_recorded` false): a file name is not a host name;
- a `comm` document: one row in the separate `comm` table (bus bandwidth of each collective at its
  largest size; `op`/`bytes`/`busbw_gbps` are the all-reduce's).
Rows are renumbered 0..N-1 across files (`rank`); `source` and `job_rank` say where each came from.

A report that says it was interrupted (SIGINT/SIGTERM: `"interrupted": true`) holds partial figures:
its row is listed (`interrupted` true) but left out of the fleet totals, the spread and the straggler
test, and a warning names it. A report without an `exit_code` has an unknown one (`exit_code` null),
unless it names the signal that stopped it (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from hwbench.devices import recorded
from hwbench.errors import InputError
from hwbench.fleet.gather import METRIC, combine, find_value
from hwbench.fleet.stragglers import DEFAULT_THRESHOLD, RankFigure, find_stragglers

_SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
_MISMATCH = "fingerprint mismatch: "

_FP_KEYS = (
    "gpu_name",
    "gpu_uuid",
    "driver_version",
    "cuda_driver_version",
    "torch_version",
    "torch_cuda_version",
    "cpu_model",
)


def _single_fingerprint(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a single-process report says about its software and device (fewer fields than a fleet run)."""
    fp: dict[str, Any] = {"hwbench_version": doc.get("hwbench_version")}
    for k in _FP_KEYS:
        v = find_value(doc, k)
        if isinstance(v, (str, int, float)):
            fp[k] = str(v)
    device = doc.get("device")
    name = doc.get("device_name")
    if isinstance(name, str) and isinstance(device, str):
        dev = recorded(device)
        fp.setdefault("gpu_name" if dev is not None and not dev.is_host else "cpu_model", name)
    return fp


def _node_name(doc: Mapping[str, Any]) -> str | None:
    for k in ("host", "hostname", "node"):
        v = doc.get(k)
        if isinstance(v, str) and v:
            return v
    return None


def unknown_host(source: str) -> str:
    """The row name of a report that records no host: the file says where it came from, but is no
    host name (eight `gpu5.json` files may come from one machine or eight)."""
    return f"? ({PurePath(source).name or source})"


def _interrupted(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("interrupted") is True


def _signal(doc: Any) -> str | None:
    """The signal an interrupted report names: `check` records it as its `interrupted` check's
    measured value; an `mfu` report says only that it was interrupted."""
    checks = doc.get("checks") if isinstance(doc, Mapping) else None
    for c in checks if isinstance(checks, list) else []:
        if isinstance(c, Mapping) and c.get("name") == "interrupted" and c.get("source") == "signal":
            sig = c.get("measured")
            if isinstance(sig, str) and sig in _SIGNAL_EXIT:
                return sig
    return None


_UNEDITED = "pass the file `hwbench mfu|check|comm --json` printed, unedited"


def records_from(doc: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    """Per-rank records (as `gather.combine` takes them) from one report."""
    if not isinstance(doc, Mapping) or "schema_version" not in doc:
        raise InputError(
            f"{source}: not an hwbench JSON report (no schema_version)",
            hint="merge reads what `hwbench mfu --json` / `check --json` printed, one file per node or job",
        )
    ranks = doc.get("ranks")
    if isinstance(ranks, list) and ranks:
        out = []
        for r in ranks:
            if not isinstance(r, Mapping) or not _is_int(r.get("rank")):
                raise InputError(f"{source}: a `ranks` entry has no rank number", hint=_UNEDITED)
            result = r.get("result")
            if result is None:  # a fleet row without the rank's own document: keep its figures
                result = {
                    k: r.get(k) for k in ("device", "device_name", "achieved_tflops", "peak_tflops", "mfu")
                }
            if not isinstance(result, Mapping):
                raise InputError(f"{source}: rank {r['rank']}'s result is not a JSON object", hint=_UNEDITED)
            fp = r.get("fingerprint")
            cpus = r.get("cpus")
            host = r.get("host")
            host = host if isinstance(host, str) and host else _node_name(doc)
            out.append(
                {
                    "rank": r["rank"],
                    "job_rank": r["rank"],
                    "local_rank": r.get("local_rank") if _is_int(r.get("local_rank")) else None,
                    "host": host or unknown_host(source),
                    "host_recorded": host is not None,
                    "cpus": [c for c in cpus if _is_int(c)] if isinstance(cpus, list) else [],
                    "exit_code": _exit_code(r, source, result),
                    "interrupted": _interrupted(result),
                    "fingerprint": dict(fp) if isinstance(fp, Mapping) else {},
                    "result": result,
                    "source": source,
                }
            )
        return out
    host = _node_name(doc)
    return [
        {
            "rank": 0,
            "job_rank": 0,
            "host": host or unknown_host(source),
            "host_recorded": host is not None,
            "exit_code": _exit_code(doc, source, doc),
            "interrupted": _interrupted(doc),
            "fingerprint": _single_fingerprint(doc),
            "result": dict(doc),
            "source": source,
        }
    ]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _exit_code(doc: Mapping[str, Any], source: str, result: Any) -> int | None:
    """The recorded exit code; else 130/143 when the report names the signal that stopped it; else
    None (unknown: a single-process report does not record how its process exited)."""
    code = doc.get("exit_code")
    if code is None:
        sig = _signal(result) if _interrupted(result) else None
        return _SIGNAL_EXIT[sig] if sig else None
    if not _is_int(code) or not 0 <= code <= 255:
        raise InputError(f"{source}: exit_code {str(code)[:20]!r} is not an exit code", hint=_UNEDITED)
    return int(code)


def _gbps(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if 0.0 <= v < float("inf") else None


def _comm_row(doc: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    """One comm report's row: each collective at its largest size (where bandwidth is least
    dominated by latency, as nccl-tests reads its sweep)."""
    listed = doc.get("results")
    results = [
        r
        for r in (listed if isinstance(listed, list) else [])
        if isinstance(r, Mapping) and isinstance(r.get("op"), str) and _is_int(r.get("bytes"))
    ]
    if not results:
        return None
    collectives = []
    for op in dict.fromkeys(str(r["op"]) for r in results):
        top = max((r for r in results if r["op"] == op), key=lambda r: int(r["bytes"]))
        collectives.append(
            {
                "op": op,
                "bytes": int(top["bytes"]),
                "busbw_gbps": _gbps(top.get("busbw_gbps")),
                "algbw_gbps": _gbps(top.get("algbw_gbps")),
                "correct": top.get("correct") if isinstance(top.get("correct"), bool) else None,
                "below_median_fraction": None,
            }
        )
    ar = next((c for c in collectives if c["op"] == "all_reduce"), None)
    hosts = doc.get("hosts")
    world = doc.get("world_size")
    source_text = doc.get("bandwidth_source")
    return {
        "source": source,
        "hosts": [h for h in hosts if isinstance(h, str)] if isinstance(hosts, list) else [],
        "backend": doc.get("backend"),
        "world_size": world if _is_int(world) else None,
        "op": "all_reduce",
        "bytes": None if ar is None else ar["bytes"],
        "busbw_gbps": None if ar is None else ar["busbw_gbps"],
        "correct": doc.get("correct"),
        "exit_code": _exit_code(doc, source, doc),
        "bandwidth_source": source_text if isinstance(source_text, str) else None,
        "collectives": collectives,
    }


def _comm_outliers(
    comm_rows: list[dict[str, Any]], threshold: float
) -> tuple[dict[str, list[str]], list[str]]:
    """Per collective, the reports more than `threshold` below their peers' median busbw (in file
    order); sets each collective's `below_median_fraction`. Also warns where the largest sizes
    compared differ between reports (a smaller message reads lower on latency alone)."""
    by_op: dict[str, list[str]] = {}
    warnings = []
    ops = dict.fromkeys(c["op"] for row in comm_rows for c in row["collectives"])
    for op in ops:
        entries = [(i, c) for i, row in enumerate(comm_rows) for c in row["collectives"] if c["op"] == op]
        figures = [
            RankFigure(i, ",".join(comm_rows[i]["hosts"]), comm_rows[i]["source"], c["busbw_gbps"])
            for i, c in entries
            if c["busbw_gbps"] is not None
        ]
        slow = {s.rank: s for s in find_stragglers(figures, threshold)}
        for i, c in entries:
            c["below_median_fraction"] = slow[i].below_median_fraction if i in slow else None
        by_op[op] = [comm_rows[i]["source"] for i, _ in entries if i in slow]
        sizes = sorted({c["bytes"] for _, c in entries})
        if len(sizes) > 1:
            warnings.append(
                f"{op}: the reports' largest sizes differ ({', '.join(map(str, sizes))} bytes): "
                "their bus bandwidths are compared all the same"
            )
    return by_op, warnings


RANK_COMMANDS = ("mfu", "check", "comm", "fleet-selftest")


def check_mergeable(named_docs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Refuse what is not a rank report (a detect or peaks report, any other JSON) or mixes commands
    (an mfu row beside a check row compares nothing); warn about a report given twice, which would
    count one node as two."""
    commands: dict[str, list[str]] = {}
    for source, doc in named_docs:
        if not isinstance(doc, Mapping) or "schema_version" not in doc:
            raise InputError(
                f"{source}: not an hwbench JSON report (no schema_version)",
                hint="merge reads what `hwbench mfu --json` / `check --json` printed, one file per node",
            )
        command = doc.get("command")
        if command not in RANK_COMMANDS:
            raise InputError(
                f"{source}: a `{command}` report has no per-rank figures to merge",
                hint=f"merge takes what `hwbench {'/'.join(RANK_COMMANDS[:3])} --json` printed",
            )
        commands.setdefault(str(command), []).append(source)
    if len(commands) > 1:
        listed = "; ".join(f"{c}: {', '.join(srcs[:3])}" for c, srcs in sorted(commands.items()))
        raise InputError(
            f"merge takes reports of one command, and these are of {len(commands)} ({listed})",
            hint="merge each command's reports separately",
        )
    warnings = []
    seen: dict[str, str] = {}
    for source, doc in named_docs:
        key = json.dumps(doc, sort_keys=True, default=str)
        if key in seen:
            warnings.append(f"{source} is the same report as {seen[key]}: that node counts twice")
        else:
            seen[key] = source
    return warnings


def merge_reports(
    named_docs: Sequence[tuple[str, Mapping[str, Any]]], threshold: float = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """One fleet payload from (source name, document) pairs: rows, spread, outliers, mismatches."""
    if not named_docs:
        raise InputError("no reports to merge", hint="hwbench merge node-*.json")
    warnings = check_mergeable(named_docs)
    commands = sorted({str(doc.get("command")) for _, doc in named_docs if isinstance(doc, Mapping)})
    # comm reports have no per-rank FLOP/s: their ranks still count for fingerprints
    metric = None if commands == ["comm"] else METRIC
    records: list[dict[str, Any]] = []
    comm_rows: list[dict[str, Any]] = []
    for source, doc in named_docs:
        if isinstance(doc, Mapping) and doc.get("command") == "comm":
            row = _comm_row(doc, source)
            if row is not None:
                comm_rows.append(row)
            recs = records_from(doc, source) if doc.get("ranks") else []
            for r in recs:  # their fingerprints still count; they have no FLOP/s
                r["result"] = {"device": (r.get("result") or {}).get("device")}
            records.extend(recs)
            continue
        records.extend(records_from(doc, source))
    for i, r in enumerate(records):
        r["rank"] = i
    payload = combine("merge", records, threshold=threshold, metric=metric)
    interrupted = [r for r in records if r["interrupted"]]
    if interrupted:
        _count_only_complete(payload, [r for r in records if not r["interrupted"]], threshold, metric)
    by_rank = {r["rank"]: r for r in records}
    for row in payload["ranks"]:
        rec = by_rank[row["rank"]]
        row["exit_code"] = rec["exit_code"]  # None stays unknown (combine reads it as 0)
        row["interrupted"] = rec["interrupted"]
        row["host_recorded"] = rec["host_recorded"]
    payload["fleet"]["commands"] = commands
    payload["fleet"]["hosts"] = sorted({r["host"] for r in records if r["host_recorded"]})
    payload["interrupted_ranks"] = [r["rank"] for r in interrupted]
    if interrupted:  # a report stopped by a signal is not a complete pass, whether it recorded a code or not
        payload["exit_code"] = max(int(payload.get("exit_code") or 0), 1)
    payload["sources"] = [s for s, _ in named_docs]
    for r in interrupted:
        warnings.append(
            f"rank {r['rank']} (file {r['source']}) was interrupted: its figures are partial and are "
            "not counted in the fleet totals or the straggler test"
        )
    by_op, size_warnings = _comm_outliers(comm_rows, threshold)
    warnings.extend(size_warnings)
    payload["warnings"] = warnings
    for c in comm_rows:
        ar = next((x for x in c["collectives"] if x["op"] == "all_reduce"), None)
        c["below_median_fraction"] = None if ar is None else ar["below_median_fraction"]
    payload["comm"] = comm_rows
    payload["comm_outliers"] = by_op.get("all_reduce", [])
    payload["comm_outliers_by_op"] = by_op
    if comm_rows:
        codes = [c["exit_code"] for c in comm_rows if c["exit_code"] is not None]
        payload["exit_code"] = max([payload["exit_code"], *codes])
    return payload


def _count_only_complete(
    payload: dict[str, Any], complete: list[dict[str, Any]], threshold: float, metric: str | None
) -> None:
    """Totals, spread and stragglers from the complete ranks only; every rank's row and fingerprint
    stay (an interrupted run still says which driver it ran on)."""
    part = combine("merge", complete, threshold=threshold, metric=metric)
    for k in ("spread", "stragglers", "total_achieved_tflops", "total_peak_tflops", "fleet_mfu"):
        payload[k] = part[k]
    n = len(part["stragglers"])  # combine lists straggler lines first, then mismatches, then gaps
    payload["explanation"] = [
        *part["explanation"][:n],
        *(line for line in payload["explanation"] if line.startswith(_MISMATCH)),
        *(line for line in part["explanation"][n:] if not line.startswith(_MISMATCH)),
    ]
