"""Fleet mode end to end under torchrun with gloo: 2 ranks on this machine's CPUs.

Kept few and short (each starts two Python processes that import torch): a comm sweep with the DDP
step (init, store check-ins, gather to rank 0, one document on stdout) and a stalled rank named
within the timeout, both launched as an srun script would (env:// variables, no launcher, which
saves a third torch import), and a killed rank under torchrun itself. The `mfu` path through the
same hooks is the recorded fixture mfu_2rank_cpu_gloo.json (tests/test_fleet.py).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from helpers import launch_direct

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def torchrun(*args: str, timeout: float = 120, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    clean.update(env)
    t0 = time.monotonic()
    r = subprocess.run([*TORCHRUN, *args], capture_output=True, text=True, timeout=timeout, env=clean)
    return r, time.monotonic() - t0


def test_comm_sweep_and_ddp_step() -> None:
    procs, _ = launch_direct(
        "-m", "hwbench", "comm", "--json", "--min-bytes", "1K", "--max-bytes", "256K",
        "--iters", "3", "--warmup", "1", "--ddp", "--steps", "1",
    )  # fmt: skip
    (out, err), (out1, _) = (p.communicate(timeout=120) for p in procs)
    assert [p.returncode for p in procs] == [0, 0], err[-2000:]
    assert out1 == ""  # rank 1: nothing on stdout
    doc = json.loads(out)  # exactly one JSON document: rank 1 printed nothing on stdout
    assert doc["backend"] == "gloo" and doc["world_size"] == 2
    assert [x["rank"] for x in doc["ranks"]] == [0, 1]
    assert {x["host"] for x in doc["ranks"]} == {socket.gethostname()}
    assert not set(doc["ranks"][0]["cpus"]) & set(doc["ranks"][1]["cpus"])  # each rank its own cores
    ar = [x for x in doc["results"] if x["op"] == "all_reduce"]
    assert [x["bytes"] for x in ar] == [1024, 4096, 16384, 65536, 262144]
    assert all(x["correct"] and x["busbw_gbps"] > 0 for x in doc["results"])
    assert {x["op"] for x in doc["results"]} == {"all_reduce", "all_gather"}
    d = doc["ddp"]
    assert d["world_size"] == 2 and d["preset"] == "nanogpt-cpu"
    # summed over ranks: twice one rank's work per synchronous step
    assert d["achieved_tflops_total"] == pytest.approx(
        2 * d["flops_per_step_per_rank"] / d["step_time_s"] / 1e12
    )
    assert 0.0 <= d["comm_share"] < 1.0


def test_killed_rank_ends_the_job() -> None:
    r, elapsed = torchrun("-m", "hwbench.fleet.selftest", "--json", HWBENCH_TEST_KILL_RANK="1")
    assert r.returncode != 0
    assert r.stdout == ""
    # torchrun names the dead rank and its host; rank 0 says why it stopped, in one line
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)", r.stderr) and "SIGKILL" in r.stderr
    assert "error: rank 0 on" in r.stderr or "exitcode  : -9" in r.stderr
    assert elapsed < 60


def test_stalled_rank_is_named_within_the_timeout() -> None:
    procs, t0 = launch_direct(
        "-m", "hwbench.fleet.selftest", "--json", HWBENCH_TEST_STALL_RANK="1", HWBENCH_DIST_TIMEOUT_S="3"
    )
    try:
        out, err = procs[0].communicate(timeout=90)
        waited = time.monotonic() - t0
        assert procs[1].poll() is None  # still asleep: torchrun would now stop it with SIGTERM
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        stalled_err = procs[1].communicate()[1]
    assert procs[0].returncode == 2
    assert out == ""
    line = f"error: rank 1 on {socket.gethostname()} did not reach 'gather' within 3 s (died or stalled)"
    assert line in err
    assert "test hook: stalling rank 1" in stalled_err
    assert waited < 60  # start-up of torch on a loaded 2-core machine + the 3 s timeout
