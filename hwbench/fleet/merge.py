"""`hwbench merge`: JSON reports from many nodes into one fleet table with outliers (pure).

Accepted inputs, each a document printed by `hwbench ... --json`:
- a fleet document (from torchrun: has `ranks`): each of its ranks becomes a row;
- a single-process document (`hwbench mfu --json` on one node): one row, named after its `host`
  field when it has one, else after the file;
- a `comm` document: one row in the separate `comm` table (bus bandwidth of the largest all-reduce).
Rows are renumbered 0..N-1 across files (`rank`); `source` and `job_rank` say where each came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from hwbench.devices import recorded
from hwbench.errors import InputError
from hwbench.fleet.gather import combine, find_value
from hwbench.fleet.stragglers import DEFAULT_THRESHOLD, RankFigure, find_stragglers

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


def _node_name(doc: Mapping[str, Any], source: str) -> str:
    for k in ("host", "hostname", "node"):
        v = doc.get(k)
        if isinstance(v, str) and v:
            return v
    return PurePath(source).stem or source


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
                raise InputError(f"{source}: a `ranks` entry has no rank number")
            result = r.get("result")
            if result is None:  # a fleet row without the rank's own document: keep its figures
                result = {
                    k: r.get(k) for k in ("device", "device_name", "achieved_tflops", "peak_tflops", "mfu")
                }
            if not isinstance(result, Mapping):
                raise InputError(f"{source}: rank {r['rank']}'s result is not a JSON object")
            fp = r.get("fingerprint")
            cpus = r.get("cpus")
            host = r.get("host")
            out.append(
                {
                    "rank": r["rank"],
                    "job_rank": r["rank"],
                    "local_rank": r.get("local_rank") if _is_int(r.get("local_rank")) else None,
                    "host": host if isinstance(host, str) and host else _node_name(doc, source),
                    "cpus": [c for c in cpus if _is_int(c)] if isinstance(cpus, list) else [],
                    "exit_code": _exit_code(r, source),
                    "fingerprint": dict(fp) if isinstance(fp, Mapping) else {},
                    "result": result,
                    "source": source,
                }
            )
        return out
    return [
        {
            "rank": 0,
            "job_rank": 0,
            "host": _node_name(doc, source),
            "exit_code": _exit_code(doc, source),
            "fingerprint": _single_fingerprint(doc),
            "result": dict(doc),
            "source": source,
        }
    ]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _exit_code(doc: Mapping[str, Any], source: str) -> int:
    code = doc.get("exit_code", 0)
    if code is None:
        return 0
    if not _is_int(code) or not 0 <= code <= 255:
        raise InputError(f"{source}: exit_code {str(code)[:20]!r} is not an exit code")
    return int(code)


def _comm_row(doc: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    listed = doc.get("results")
    results = [
        r
        for r in (listed if isinstance(listed, list) else [])
        if isinstance(r, Mapping) and r.get("op") == "all_reduce" and _is_int(r.get("bytes"))
    ]
    if not results:
        return None
    top = max(results, key=lambda r: int(r["bytes"]))
    hosts = doc.get("hosts")
    return {
        "source": source,
        "hosts": [h for h in hosts if isinstance(h, str)] if isinstance(hosts, list) else [],
        "backend": doc.get("backend"),
        "world_size": doc.get("world_size"),
        "op": "all_reduce",
        "bytes": top.get("bytes"),
        "busbw_gbps": top.get("busbw_gbps"),
        "correct": doc.get("correct"),
    }


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
    commands = sorted({str(doc.get("command")) for _, doc in named_docs if isinstance(doc, Mapping)})
    payload = combine("merge", records, threshold=threshold)
    payload["fleet"]["commands"] = commands
    payload["sources"] = [s for s, _ in named_docs]
    payload["warnings"] = warnings
    figures = [
        RankFigure(i, ",".join(c["hosts"]) or c["source"], c["source"], float(c["busbw_gbps"]))
        for i, c in enumerate(comm_rows)
        if isinstance(c.get("busbw_gbps"), (int, float))
    ]
    slow = {s.rank: s for s in find_stragglers(figures, threshold)}
    for i, c in enumerate(comm_rows):
        s = slow.get(i)
        c["below_median_fraction"] = s.below_median_fraction if s else None
    payload["comm"] = comm_rows
    payload["comm_outliers"] = [c["source"] for i, c in enumerate(comm_rows) if i in slow]
    return payload
