"""What `hwbench check --json` prints: built here, from the report of one machine or of every rank."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwbench import jsonout
from hwbench.check.registry import Expectations
from hwbench.check.results import CheckResult, Summary, summarize
from hwbench.check.run import CheckReport
from hwbench.fleet.dist import FleetContext
from hwbench.model import System


@dataclass
class CheckDocument:
    """What `hwbench check` reports: its JSON document, and the checks and summary the document holds
    (every rank's under torchrun, named by rank)."""

    json: dict[str, Any]
    results: list[CheckResult]
    summary: Summary
    exit_code: int  # the worst over ranks under torchrun
    fleet: bool = False  # a fleet document: every rank's report, on rank 0


def check_document(report: CheckReport, exp: Expectations, ctx: FleetContext | None) -> CheckDocument | None:
    """This machine's document; under torchrun every rank's, gathered to rank 0 (None on the others)."""
    doc = jsonout.document("check", check_payload(report, exp))
    if ctx is None:
        return CheckDocument(doc, report.results, report.summary, report.summary.exit_code)
    import hwbench.fleet as fleet

    fleet_doc, rc = fleet.finish(ctx, "check", doc, report.summary.exit_code)
    if fleet_doc is None:
        return None
    results = fleet_results(fleet_doc)
    summary = summarize(results, strict=exp.strict)
    add_fleet_checks(fleet_doc, results, summary)
    return CheckDocument(fleet_doc, results, summary, rc, fleet=True)


def check_payload(report: CheckReport, expectations: Expectations) -> dict[str, Any]:
    """The `hwbench check --json` document's payload for one machine (or one torchrun rank)."""
    single = [f for f in report.figures if f.value is not None]
    devices = sorted({f.device for f in single})
    out: dict[str, Any] = {
        "checks": report.results,
        "summary": report.summary,
        "expectations": expectations.to_json(),
        "defaults_used": report.defaults_used,
        "level": expectations.level,
        "measurements": [
            {"device": f.device, "name": f.name, "value": f.value, "source": f.source, "error": f.error}
            for f in report.figures
        ],
        "baseline": report.baseline,
        "saved_baseline": report.saved_baseline,
        "system": _system_json(report.system),
        "warnings": report.warnings,
        "elapsed_s": round(report.elapsed_s, 3),
        # stopped by SIGINT/SIGTERM: `checks` lists those that ran, and the run fails
        "interrupted": any(r.name == "interrupted" and r.source == "signal" for r in report.results),
    }
    if len(devices) == 1:
        # one device measured (a fleet rank, or a single GPU): name it and its matmul figure at the
        # top level, where hwbench.fleet looks for the per-rank figure it compares for stragglers
        tf = [f for f in single if f.dtype is not None]
        out["device"] = devices[0]
        if tf:
            out["dtype"] = tf[0].dtype
            out["achieved_tflops"] = tf[0].value
    return out


def _system_json(system: System | None) -> dict[str, Any] | None:
    if system is None:
        return None
    return {
        "source": system.source,
        "cpu_model": system.cpu.model if system.cpu else None,
        "gpus": [{"name": g.name, "kind": g.kind, "pci_slot": g.pci_slot} for g in system.gpus],
        "torch": system.torch.version,
    }


def fleet_results(doc: dict[str, Any]) -> list[CheckResult]:
    """Every rank's checks, named with their rank, from the fleet document rank 0 got."""
    out: list[CheckResult] = []
    for row in doc.get("ranks") or []:
        res = row.get("result") or {}
        for c in res.get("checks") or []:
            out.append(
                CheckResult(
                    name=f"rank{row.get('rank')}:{c.get('name')}",
                    status=c.get("status", "skip"),
                    measured=c.get("measured"),
                    expected=c.get("expected"),
                    message=f"{row.get('host')}: {c.get('message')}",
                    unit=c.get("unit"),
                    op=c.get("op"),
                    device=c.get("device"),
                    source=c.get("source"),
                )
            )
    return out


def add_fleet_checks(doc: dict[str, Any], results: list[CheckResult], summary: Summary) -> None:
    """The fleet document keeps every rank's report; add the checks of all ranks, named by rank, so
    that `checks` and `summary` mean the same thing with and without torchrun."""
    doc["checks"] = jsonout.to_jsonable(results)
    doc["summary"] = jsonout.to_jsonable(summary)
