"""hwbench comm: the nccl-tests bandwidth convention, size parsing, and the recorded 2-rank gloo run."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwbench.errors import InputError
from hwbench.fleet.comm import CPU_SIZES, bandwidths, bus_factor, parse_size, sweep

FIX = Path(__file__).parent / "fixtures" / "fleet"


def test_bus_factors_follow_nccl_tests() -> None:
    # nccl-tests doc/PERFORMANCE.md: all-reduce 2(n-1)/n, all-gather (n-1)/n
    assert bus_factor("all_reduce", 2) == 1.0
    assert bus_factor("all_reduce", 8) == 1.75
    assert bus_factor("all_gather", 8) == 0.875
    assert bus_factor("all_reduce", 1) == 0.0
    with pytest.raises(ValueError):
        bus_factor("broadcast_everything", 2)


def test_bandwidths() -> None:
    # 1 GB all-reduced in 10 ms on 8 ranks: algbw 100 GB/s, busbw 175 GB/s
    assert bandwidths("all_reduce", 10**9, 0.01, 8) == pytest.approx((100.0, 175.0))


def test_parse_size() -> None:
    assert parse_size("4096") == 4096
    assert parse_size("64K") == 65536
    assert parse_size("16MiB") == 16 * 2**20
    assert parse_size("1g") == 2**30
    for bad in ("", "M", "1.5.2K", "-1", "0.1"):
        with pytest.raises(InputError):
            parse_size(bad)


@given(st.text(max_size=12))
def test_parse_size_never_crashes(text: str) -> None:
    with contextlib.suppress(InputError):
        assert parse_size(text) >= 1


def test_sweep() -> None:
    assert sweep(4096, 65536) == [4096, 16384, 65536]
    assert len(CPU_SIZES) >= 5
    with pytest.raises(InputError):
        sweep(100, 10)


def test_recorded_two_rank_gloo_run() -> None:
    doc = json.loads((FIX / "comm_2rank_cpu_gloo.json").read_text())
    assert doc["backend"] == "gloo" and doc["world_size"] == 2
    ar = [r for r in doc["results"] if r["op"] == "all_reduce"]
    assert len(ar) >= 5 and all(r["correct"] for r in doc["results"])
    for r in doc["results"]:
        algbw, busbw = bandwidths(r["op"], r["bytes"], r["time_s"], 2)
        assert r["algbw_gbps"] == pytest.approx(algbw)
        assert r["busbw_gbps"] == pytest.approx(busbw)
    assert {r["rank"] for r in doc["ranks"]} == {0, 1}


def test_outside_torchrun_says_there_is_no_peer() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "comm", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 2
    assert r.stdout == ""
    assert "no other rank to communicate with" in r.stderr
    assert "torchrun --standalone --nproc-per-node 2 -m hwbench comm" in r.stderr
