"""Fleet logic on recorded per-rank results: stragglers, spread, fingerprints, the combined document.

Fixtures (tests/fixtures/fleet/README.md says where each figure comes from):
- h100x8_one_slow.records.json: 8 H100 ranks built from fms-fsdp's published 46% MFU on H100 against
  the 989.4 TFLOP/s bf16 dense peak, rank 5 set 20% slow;
- node-a/node-b.fleet.json: two 8-GPU nodes, node-b on driver 550.54.15 / CUDA 12.4;
- selftest_2rank_cpu_gloo.json: recorded here, torchrun --nproc-per-node 2 on this 2-vCPU VM.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwbench.errors import InputError
from hwbench.fleet.dist import DEFAULT_TIMEOUT_S, FleetContext, env_world_size, timeout_from_env
from hwbench.fleet.fingerprint import Mismatch, describe, find_mismatches
from hwbench.fleet.gather import combine, find_value, rank_row
from hwbench.fleet.local import cpu_share
from hwbench.fleet.stragglers import RankFigure, find_stragglers, parse_threshold, spread

FIX = Path(__file__).parent / "fixtures" / "fleet"


def load(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def test_eight_h100_one_20pct_slow_is_the_only_straggler() -> None:
    records = load("h100x8_one_slow.records.json")
    doc = combine("mfu", records)
    assert [s["rank"] for s in doc["stragglers"]] == [5]
    s = doc["stragglers"][0]
    assert s["host"] == "dgx-a"
    assert s["device"] == "cuda:5"
    # 364.1 against the median of the 7 healthy peers (455.1): 20% below
    assert s["below_median_fraction"] == pytest.approx(0.20, abs=0.005)
    assert s["peer_median"] == pytest.approx(455.1, abs=0.1)
    assert doc["fingerprint_mismatches"] == []
    assert doc["spread"]["min_rank"] == 5
    assert doc["spread"]["spread_fraction"] == pytest.approx((457.8 - 364.1) / doc["spread"]["median"])
    assert len(doc["ranks"]) == 8
    assert doc["ranks"][5]["uuid"].startswith("GPU-")
    assert doc["fleet_mfu"] == pytest.approx(sum(r["achieved_tflops"] for r in doc["ranks"]) / (8 * 989.4))
    assert any("rank 5 on dgx-a" in line and "20% below" in line for line in doc["explanation"])


def test_threshold_decides() -> None:
    records = load("h100x8_one_slow.records.json")
    assert combine("mfu", records, threshold=0.25)["stragglers"] == []
    assert [s["rank"] for s in combine("mfu", records, threshold=0.19)["stragglers"]] == [5]


def test_node_on_another_driver_is_named() -> None:
    a = load("node-a.fleet.json")
    b = load("node-b.fleet.json")
    fps = [(i, r["host"], r["fingerprint"]) for i, r in enumerate(a["ranks"] + b["ranks"])]
    mm = {m.field: m for m in find_mismatches(fps)}
    assert set(mm) == {"driver_version", "cuda_driver_version"}
    drv = mm["driver_version"]
    # 8 against 8: the tie goes to the value on the lowest rank (node-a)
    assert drv.majority_value == "535.104.05"
    assert drv.others == (("550.54.15", tuple(range(8, 16)), ("node-b",)),)
    assert describe(drv) == "driver_version: 535.104.05 on 8 ranks; 550.54.15 on ranks 8-15 (node-b)"


def test_missing_fingerprint_values_are_not_mismatches() -> None:
    fps: list[tuple[int, str, dict[str, Any]]] = [
        (0, "a", {"driver_version": "535.104.05"}),
        (1, "b", {"driver_version": None}),
        (2, "c", {}),
    ]
    assert find_mismatches(fps) == []


def test_majority_wins_over_lowest_rank() -> None:
    fps = [(0, "a", {"torch_version": "2.2.0"})] + [(r, "b", {"torch_version": "2.3.0"}) for r in (1, 2)]
    (m,) = find_mismatches(fps)
    assert m == Mismatch("torch_version", "2.3.0", 2, (("2.2.0", (0,), ("a",)),))


def test_recorded_two_rank_cpu_run() -> None:
    doc = load("selftest_2rank_cpu_gloo.json")
    assert doc["fleet"]["world_size"] == 2 and doc["fleet"]["backend"] == "gloo"
    assert [r["rank"] for r in doc["ranks"]] == [0, 1]
    assert [r["cpus"] for r in doc["ranks"]] == [[0], [1]]  # each rank pinned to its own core
    # re-combining the recorded rows gives the same verdict
    again = combine("fleet-selftest", doc["ranks"])
    assert again["stragglers"] == doc["stragglers"]
    assert again["total_achieved_tflops"] == pytest.approx(doc["total_achieved_tflops"])


def test_recorded_two_rank_mfu_run() -> None:
    """The issue's command, recorded here: torchrun --standalone --nproc-per-node 2 -m hwbench mfu
    --device cpu --preset nanogpt-cpu --quick --json; each rank's peak is for its one core."""
    doc = load("mfu_2rank_cpu_gloo.json")
    assert doc["command"] == "mfu" and doc["fleet"]["world_size"] == 2
    assert [r["rank"] for r in doc["ranks"]] == [0, 1]
    for r in doc["ranks"]:
        assert r["device"] == "cpu" and r["achieved_tflops"] > 0
        assert r["result"]["command"] == "mfu" and r["result"]["threads"] == len(r["cpus"]) == 1
        assert r["result"]["peak_source"].startswith("computed: 1 cores")
        assert r["mfu"] == pytest.approx(r["achieved_tflops"] / r["peak_tflops"])
    assert "stragglers" in doc and doc["fingerprint_mismatches"] == []
    assert doc["fleet_mfu"] == pytest.approx(doc["total_achieved_tflops"] / doc["total_peak_tflops"])


def test_two_ranks_both_directions() -> None:
    figs = [RankFigure(0, "h", "cpu", 1.0), RankFigure(1, "h", "cpu", 0.85)]
    (s,) = find_stragglers(figs)
    assert s.rank == 1 and s.below_median_fraction == pytest.approx(0.15)
    assert find_stragglers(figs[:1]) == []
    assert find_stragglers([RankFigure(0, "h", "cpu", 1.0), RankFigure(1, "h", "cpu", 0.95)]) == []


def test_unmeasured_rank_is_reported_not_a_straggler() -> None:
    records = load("h100x8_one_slow.records.json")
    records[2]["result"]["achieved_tflops"] = None
    records[2]["exit_code"] = 2
    doc = combine("mfu", records)
    assert [s["rank"] for s in doc["stragglers"]] == [5]
    assert doc["exit_code"] == 2  # the worst rank wins
    assert doc["fleet_mfu"] is None  # a part of the fleet is not compared with the whole
    assert "no achieved_tflops from rank(s) 2" in doc["explanation"]


@given(st.lists(st.floats(min_value=0.001, max_value=1e4), min_size=2, max_size=40))
def test_stragglers_are_below_their_peers(values: list[float]) -> None:
    figs = [RankFigure(i, "h", "d", v) for i, v in enumerate(values)]
    for s in find_stragglers(figs, 0.1):
        assert s.value < 0.9 * s.peer_median
    sp = spread(figs)
    assert sp is not None and sp.min <= sp.median <= sp.max


def test_cpu_share() -> None:
    assert cpu_share([0, 1], 0, 2) == (0,)
    assert cpu_share([0, 1], 1, 2) == (1,)
    assert cpu_share(range(10), 3, 4) == (6, 7)  # 2 each, 2 left unused: equal shares
    assert cpu_share([0], 1, 2) == (0,)  # fewer CPUs than ranks: shared
    assert cpu_share([4, 2, 6, 0], 1, 2) == (4, 6)
    with pytest.raises(ValueError):
        cpu_share([0, 1], 2, 2)


def test_environment_parsing() -> None:
    assert env_world_size({}) == 1
    assert env_world_size({"WORLD_SIZE": "8"}) == 8
    assert timeout_from_env({}) == DEFAULT_TIMEOUT_S == 60.0
    assert timeout_from_env({"HWBENCH_DIST_TIMEOUT_S": "5"}) == 5.0
    for bad in ("0", "-1", "soon"):
        with pytest.raises(InputError):
            timeout_from_env({"HWBENCH_DIST_TIMEOUT_S": bad})
    assert parse_threshold(None) == 0.10
    assert parse_threshold("20%") == pytest.approx(0.2)
    assert parse_threshold("0.05") == 0.05
    for bad in ("x", "1.5", "100%"):
        with pytest.raises(InputError):
            parse_threshold(bad)


@given(st.text(max_size=20))
def test_threshold_parser_never_crashes(text: str) -> None:
    try:
        v = parse_threshold(text)
    except InputError:
        return
    assert 0.0 <= v < 1.0


def test_init_from_env_is_a_noop_outside_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    import hwbench.fleet as fleet

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert fleet.init_from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert fleet.init_from_env() is None
    doc = {"device": "cpu"}
    assert fleet.finish(None, "mfu", doc, 1) == (doc, 1)


def test_device_for_rank() -> None:
    ctx = FleetContext(
        rank=3, world_size=8, local_rank=3, local_world_size=8, host="h", backend="gloo", timeout_s=60
    )
    assert ctx.device_for("cuda") == "cuda:3"
    assert ctx.device_for("cuda:0") == "cuda:3"
    assert ctx.device_for("cpu") == "cpu"


def test_find_value_prefers_top_level_even_when_null() -> None:
    assert find_value({"mfu": None, "x": {"mfu": 0.5}}, "mfu") is None
    assert find_value({"x": [{"mfu": 0.5}]}, "mfu") == 0.5
    row = rank_row({"rank": 0, "host": "h", "result": {"device": "cpu", "achieved_tflops": True}})
    assert row["achieved_tflops"] is None  # a bool is not a figure


class FakeStore:
    """The c10d Store calls hwbench uses (set, get, check, wait, add), in memory."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def set(self, key: str, value: str) -> None:
        self.data[key] = value.encode()

    def get(self, key: str) -> bytes:
        return self.data[key]

    def check(self, keys: list[str]) -> bool:
        return all(k in self.data for k in keys)

    def wait(self, keys: list[str], timeout: Any) -> None:
        if not self.check(keys):
            time.sleep(min(timeout.total_seconds(), 0.02))
            raise RuntimeError("wait timeout")

    def add(self, key: str, n: int) -> int:
        v = int(self.data.get(key, b"0")) + n
        self.data[key] = str(v).encode()
        return v


def fake_ctx(rank: int, store: FakeStore, timeout_s: float = 0.2) -> FleetContext:
    return FleetContext(
        rank=rank,
        world_size=3,
        local_rank=rank,
        local_world_size=3,
        host=f"node-{rank}",
        backend="gloo",
        timeout_s=timeout_s,
        hosts=("node-0", "node-1", "node-2"),
        store=store,
    )


def test_check_in_names_the_missing_rank_within_the_timeout() -> None:
    from hwbench.fleet.dist import FleetError, arrive

    store = FakeStore()
    c0, c2 = fake_ctx(0, store), fake_ctx(2, store)
    # rank 2 checks in first (its own wait would time out too: give it none to wait for here)
    store.set("hwbench/0/1-gather/2", "node-2")
    store.add("hwbench/0/1-gather/count", 1)
    t0 = time.monotonic()
    with pytest.raises(FleetError) as e:
        arrive(c0, "gather")
    assert time.monotonic() - t0 < 2.0
    assert e.value.message == (
        "rank 1 on node-1 did not reach 'gather' within 0.2 s (died or stalled); stopping the run"
    )
    # the last rank in releases the others: nobody waits
    c1 = fake_ctx(1, store)
    c1._phase = 0
    t0 = time.monotonic()
    arrive(c1, "gather")
    assert store.check(["hwbench/0/1-gather/done"])
    c2._phase = 0
    arrive(c2, "gather")
    assert time.monotonic() - t0 < 0.1


def test_failed_collective_names_the_ranks_behind() -> None:
    from hwbench.fleet.dist import FleetError, collective, step

    store = FakeStore()
    ctxs = [fake_ctx(r, store) for r in range(3)]
    for c in ctxs:
        c._phase = 4
    step(ctxs[0], 7)
    step(ctxs[2], 7)
    step(ctxs[1], 6)  # rank 1 never started step 7
    with pytest.raises(FleetError) as e, collective(ctxs[0], "all_reduce of 4096 bytes"):
        raise RuntimeError(
            "[/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 4000ms"
            " for recv operation to complete"
        )
    assert e.value.message == (
        "rank 0 on node-0: all_reduce of 4096 bytes failed (Timed out waiting 4000ms for recv operation"
        " to complete); rank 1 on node-1 fell behind (died or stalled)"
    )
    step(ctxs[1], 7)  # all at the same step: cannot tell who, so name every peer it could be
    with (
        pytest.raises(FleetError, match="one of rank 1 on node-1, rank 2 on node-2 died or stalled"),
        collective(ctxs[0], "x"),
    ):
        raise RuntimeError("Connection closed by peer")


def test_ddp_mfu_does_not_fall_with_the_number_of_gpus() -> None:
    """nanoGPT's pitfall: one rank's tokens against one A100 peak, with gradient accumulation divided
    by the world size, prints an MFU that falls as GPUs are added. Summed work over summed peaks
    stays put when every rank keeps its pace (gpt2-124m micro-batch FLOPs, H100 bf16 dense peak)."""
    from hwbench.bench.config import PRESETS
    from hwbench.bench.flops import flops_per_step
    from hwbench.fleet.ddp import fleet_figures

    fps = flops_per_step(PRESETS["gpt2-124m"])
    one = fleet_figures(fps, 1, 0.1, [989.4])
    for n in (2, 8, 64):
        achieved, peak, mfu = fleet_figures(fps, n, 0.1, [989.4] * n)
        assert achieved == pytest.approx(n * one[0])
        assert peak == pytest.approx(n * 989.4)
        assert mfu == pytest.approx(one[2])
    assert fleet_figures(fps, 2, 0.1, [989.4, None]) == (pytest.approx(2 * one[0]), None, None)
