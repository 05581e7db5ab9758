"""`hwbench check` under torchrun: the fleet document rank 0 prints holds every rank's checks, named by
rank, and a summary of them all. On the recorded 2-rank document of tests/fixtures/fleet (see the
README there: a real torchrun run on a CPU-only VM, where `--min-gpus 1` fails on both ranks)."""

from __future__ import annotations

import json
from pathlib import Path

from hwbench.check.payload import add_fleet_checks, fleet_results
from hwbench.check.results import summarize
from hwbench.check.summary import group_results

DOC = Path(__file__).parent / "fixtures" / "fleet" / "check_2rank_cpu_gloo.json"


def test_every_rank_check_is_named_by_its_rank() -> None:
    doc = json.loads(DOC.read_text(encoding="utf-8"))
    results = fleet_results(doc)
    own = [c["name"] for c in doc["ranks"][0]["result"]["checks"]]
    assert own == ["min_gpus", "require_isa[avx2]", "min_tflops[fp32]@cpu"]
    assert [r.name for r in results] == [f"rank{k}:{n}" for k in (0, 1) for n in own]
    assert all(r.message.startswith(f"{doc['ranks'][0]['host']}: ") for r in results)


def test_the_fleet_summary_counts_every_rank_and_fails_with_any() -> None:
    doc = json.loads(DOC.read_text(encoding="utf-8"))
    results = fleet_results(doc)
    summary = summarize(results, strict=False)
    assert (summary.total, summary.passed, summary.failed, summary.exit_code) == (6, 4, 2, 1)
    assert summary.exit_code == doc["exit_code"]
    rebuilt = dict(doc)
    add_fleet_checks(rebuilt, results, summary)
    assert rebuilt["checks"] == doc["checks"]
    assert rebuilt["summary"] == doc["summary"]


def test_ranks_that_read_the_same_are_one_row() -> None:
    results = fleet_results(json.loads(DOC.read_text(encoding="utf-8")))
    rows = {(g.name, g.where) for g in group_results(results)}
    assert ("min_gpus", "ranks 0-1") in rows
    assert ("require_isa[avx2]", "ranks 0-1") in rows
