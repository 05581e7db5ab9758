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
    assert out["stragglers"][0]["host"] == "gpu5"  # no host field: named after its file
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
    row5 = next(line for line in r.stdout.splitlines() if line.startswith("gpu5 "))
    assert "straggler -20%" in row5 and "364.1" in row5
    assert "rank 5 on gpu5 (cuda:5) is 20% below the median of its peers" in r.stdout
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
