"""hwbench merge: per-node reports (fixtures in tests/fixtures/fleet, see README.md) into one table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hwbench.errors import InputError
from hwbench.fleet.merge import merge_reports

FIX = Path(__file__).parent / "fixtures" / "fleet"


def load(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def test_two_nodes_one_on_another_driver() -> None:
    out = merge_reports(
        [("node-a.fleet.json", load("node-a.fleet.json")), ("node-b.fleet.json", load("node-b.fleet.json"))]
    )
    assert len(out["ranks"]) == 16
    assert [r["rank"] for r in out["ranks"]] == list(range(16))
    assert [r["job_rank"] for r in out["ranks"]][8:] == list(range(8))
    assert {r["source"] for r in out["ranks"][8:]} == {"node-b.fleet.json"}
    fields = {m["field"]: m for m in out["fingerprint_mismatches"]}
    assert set(fields) == {"driver_version", "cuda_driver_version"}
    assert fields["driver_version"]["others"] == [
        {"value": "550.54.15", "ranks": list(range(8, 16)), "hosts": ["node-b"]}
    ]
    assert out["stragglers"] == []
    assert out["fleet"]["hosts"] == ["node-a", "node-b"]


def test_single_process_reports_one_slow_gpu(tmp_path: Path) -> None:
    # Eight single-GPU `hwbench mfu --json` documents (the records' own results), one file per GPU.
    records = load("h100x8_one_slow.records.json")
    named = [(f"gpu{r['rank']}.json", r["result"]) for r in records]
    out = merge_reports(named)
    assert [s["rank"] for s in out["stragglers"]] == [5]
    # no host field: the file says where the row came from, but is not taken for a host name
    assert out["stragglers"][0]["host"] == "? (gpu5.json)"
    assert out["fleet"]["hosts"] == [] and not out["ranks"][5]["host_recorded"]
    assert [r["exit_code"] for r in out["ranks"]] == [None] * 8  # not recorded: unknown, not 0
    assert out["stragglers"][0]["below_median_fraction"] == pytest.approx(0.2, abs=0.005)
    assert out["fingerprint_mismatches"] == []


def test_comm_reports_get_their_own_table() -> None:
    doc = load("comm_2rank_cpu_gloo.json")
    slow = json.loads(json.dumps(doc))
    for r in slow["results"]:
        r["busbw_gbps"] *= 0.5
    out = merge_reports([("a.json", doc), ("b.json", doc), ("c.json", slow)])
    assert [c["source"] for c in out["comm"]] == ["a.json", "b.json", "c.json"]
    assert out["comm_outliers"] == ["c.json"]
    assert out["comm"][2]["below_median_fraction"] == pytest.approx(0.5)


def test_not_a_report() -> None:
    with pytest.raises(InputError):
        merge_reports([("x.json", {"hello": 1})])
    with pytest.raises(InputError):
        merge_reports([])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "merge", *args], capture_output=True, text=True, timeout=60
    )


def test_command_json_and_errors(tmp_path: Path) -> None:
    r = run(str(FIX / "node-a.fleet.json"), str(FIX / "node-b.fleet.json"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["command"] == "merge" and doc["schema_version"] == 1
    assert len(doc["ranks"]) == 16 and len(doc["fingerprint_mismatches"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    r = run(str(bad))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stdout == ""
    r = run(str(tmp_path / "missing.json"))
    assert r.returncode == 2


def test_command_table_names_the_straggler(tmp_path: Path) -> None:
    files = []
    for r in load("h100x8_one_slow.records.json"):
        f = tmp_path / f"gpu{r['rank']}.json"
        f.write_text(json.dumps(r["result"]))
        files.append(str(f))
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "merge", *files],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2].startswith("straggler: rank 5")  # the answer first
    row5 = next(line for line in r.stdout.splitlines() if line.startswith("? (gpu5.json) "))
    assert "straggler -20%" in row5 and "364.1" in row5 and " - " in row5  # exit unknown
    assert "rank 5 on ? (gpu5.json) (cuda:5) is 20% below the median of its peers" in r.stdout
    assert "MFU of ranks 0-7 against the bf16 peak 989.4 TFLOP/s: NVIDIA H100 SXM datasheet" in r.stdout


def test_merge_fits_80_columns_with_short_uuids(tmp_path: Path) -> None:
    """Two recorded 8-GPU nodes: every line fits 80 columns; UUIDs shortened to what tells them apart,
    whole in --json."""
    from hwbench.fleet.render import short_uuids

    files = [str(FIX / "node-a.fleet.json"), str(FIX / "node-b.fleet.json")]
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "merge", *files],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hwbench merge: 16 ranks on 2 hosts" and "15.8 PFLOP/s" in r.stdout
    assert all(len(ln) <= 80 and ln == ln.rstrip() for ln in lines)
    row3 = next(ln for ln in lines if ln.startswith("node-a") and " cuda:3 " in ln)
    assert row3.endswith("GPU-…00000003")
    doc = json.loads(run(*files, "--json").stdout)
    assert doc["ranks"][3]["uuid"] == "GPU-6e6f6465-0000-4000-8000-000000000003"
    real = ["GPU-5a1f9c3e-8d2b-11ee-b962-0242ac120002", "GPU-e0c4b7a1-8d2b-11ee-b962-0242ac120002"]
    assert short_uuids(real) == {real[0]: "GPU-5a1f9c3e…", real[1]: "GPU-e0c4b7a1…"}


def merge_cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "merge", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_comm_report_shows_bus_bandwidth_per_collective() -> None:
    """A recorded 2-rank gloo `comm` report: the answer is each collective's busbw, not FLOP/s."""
    r = merge_cli(str(FIX / "comm_2rank_cpu_gloo.json"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == [
        "hwbench merge: 1 comm report, 2 ranks on 1 host, gloo",
        "all_reduce: busbw 0.657 GB/s at 16.8 MB",
        "all_gather: busbw 0.350 GB/s at 16.8 MB",
    ]
    assert "achieved_tflops" not in r.stdout and "n/a" not in r.stdout and "TFLOP" not in r.stdout
    row = next(ln for ln in lines if ln.startswith("comm_2rank_cpu_gloo.json "))
    assert row.split() == ["comm_2rank_cpu_gloo.json", "2", "vm", "0.657", "0.350", "yes", "0"]
    assert all(len(ln) <= 80 and ln == ln.rstrip() for ln in lines)


def test_comm_outlier_named_per_collective(tmp_path: Path) -> None:
    doc = load("comm_2rank_cpu_gloo.json")
    slow = json.loads(json.dumps(doc))
    slow["hosts"] = ["node-c"]
    for res in slow["results"]:
        if res["op"] == "all_gather":
            res["busbw_gbps"] *= 0.5
    files = []
    for name, d in (("a.json", doc), ("b.json", doc), ("c.json", slow)):
        (tmp_path / name).write_text(json.dumps(d))
        files.append(str(tmp_path / name))
    out = merge_reports([(f, json.loads(Path(f).read_text())) for f in files])
    assert out["comm_outliers"] == [] and out["comm_outliers_by_op"]["all_gather"] == [files[2]]
    r = merge_cli(*files)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == "all_reduce: busbw 0.657 GB/s at 16.8 MB, median of 3 reports"
    assert lines[2] == "all_gather: busbw 0.350 GB/s at 16.8 MB, median of 3 reports"
    assert lines[3] == "  slowest: c.json on node-c: 0.175 GB/s, 50% below its peers' median"
    assert next(ln for ln in lines if ln.startswith("c.json ")).split()[3:5] == ["0.657", "0.175"]
    assert all(len(ln) <= 80 for ln in lines)


SIGINT_A, SIGINT_B = "mfu_cpu_sigint_a.json", "mfu_cpu_sigint_b.json"


def test_interrupted_single_node_reports_are_listed_not_counted() -> None:
    """Two recorded `timeout -s INT 8 hwbench mfu --quick --json` outputs (no host, no exit code)."""
    a, b = str(FIX / SIGINT_A), str(FIX / SIGINT_B)
    r = merge_cli(a, b)
    assert r.returncode == 1, r.stderr  # listed, and not a complete pass
    for rank, f in ((0, a), (1, b)):
        assert (
            f"warning: rank {rank} (file {f}) was interrupted: its figures are partial and are not "
            "counted in the fleet totals or the straggler test"
        ) in r.stderr.splitlines()
    lines = r.stdout.splitlines()
    assert lines[:2] == [
        "hwbench merge: 2 ranks, 2 without a recorded host",
        "no straggler test: 0 complete ranks, ranks 0-1 interrupted",
    ]
    assert "fleet:" not in r.stdout and "straggler -" not in r.stdout
    row = next(ln for ln in lines if ln.startswith(f"? ({SIGINT_A}) "))
    assert row.split()[-3:] == ["-", "interrupted", "n/a"]  # exit unknown: the report does not say
    assert all(len(ln) <= 80 for ln in lines)
    doc = json.loads(merge_cli(a, b, "--json").stdout)
    assert doc["interrupted_ranks"] == [0, 1] and doc["total_achieved_tflops"] is None
    assert [(x["host"], x["exit_code"], x["interrupted"]) for x in doc["ranks"]] == [
        (f"? ({SIGINT_A})", None, True),
        (f"? ({SIGINT_B})", None, True),
    ]
    assert doc["fleet"]["hosts"] == [] and doc["exit_code"] == 1  # as the process exits


def test_an_interrupted_rank_leaves_the_totals_and_the_straggler_test() -> None:
    records = load("h100x8_one_slow.records.json")
    docs = [(f"gpu{r['rank']}.json", dict(r["result"])) for r in records]
    full = merge_reports(docs)
    docs[2][1]["interrupted"] = True
    out = merge_reports(docs)
    assert [s["rank"] for s in out["stragglers"]] == [5]  # still found among the 7 complete ranks
    got = full["ranks"][2]["achieved_tflops"]
    assert out["total_achieved_tflops"] == pytest.approx(full["total_achieved_tflops"] - got)
    assert out["ranks"][2]["interrupted"] and out["ranks"][2]["achieved_tflops"] == got  # still listed
    assert out["interrupted_ranks"] == [2] and out["spread"]["count"] == 7
    assert out["warnings"] == [
        "rank 2 (file gpu2.json) was interrupted: its figures are partial and are not counted in "
        "the fleet totals or the straggler test"
    ]
    docs[2][1]["interrupted"] = False
    docs[5][1]["interrupted"] = True  # the slow one stopped early: no longer a straggler
    out = merge_reports(docs)
    assert out["stragglers"] == [] and not any("below the median" in e for e in out["explanation"])


def test_interrupted_check_report_names_its_signal() -> None:
    """A recorded `hwbench check --json` stopped by SIGTERM: its `interrupted` check says which."""
    out = merge_reports([("c.json", load("check_cpu_sigterm.json"))])
    assert out["ranks"][0]["exit_code"] == 143 and out["ranks"][0]["interrupted"]
    assert out["exit_code"] == 143
    # merge was not signalled itself: the report's 143 becomes 1 ("a merged report did not pass")
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "merge", str(FIX / "check_cpu_sigterm.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
