"""Fleet faults named and ended: a signal on one rank ends that rank at once (exit 130), and the rank
waiting for it names it, rank and host, as soon as its process is gone, instead of waiting out the
60 s timeout and blaming "another rank". Two ranks launched as an srun script would (no torchrun
monitor, so the naming is hwbench's own). The exit race at interpreter finalization is exercised by
benchmarks/stress_fleet.py (many runs), not here."""

from __future__ import annotations

import signal
import socket
import time

from helpers import launch_direct


def test_sigint_on_one_rank_ends_it_and_the_other_names_it() -> None:
    procs, t0 = launch_direct(
        "-m", "hwbench.fleet.selftest", "--json", HWBENCH_TEST_STALL_RANK="1", HWBENCH_DIST_TIMEOUT_S="120"
    )
    rank0, rank1 = procs
    try:
        assert rank1.stderr is not None
        for line in rank1.stderr:  # rank 1 has joined and sits at the fault point
            if "test hook: stalling rank 1" in line:
                break
        rank1.send_signal(signal.SIGINT)
        err1 = rank1.communicate(timeout=30)[1]
        out0, err0 = rank0.communicate(timeout=60)
        waited = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    host = socket.gethostname()
    assert rank1.returncode == 130
    assert f"error: rank 1 on {host}: interrupted (SIGINT); the fleet run stops" in err1
    assert rank0.returncode == 2 and out0 == ""
    assert f"error: rank 1 on {host} died before reaching 'gather' (its process is gone)" in err0
    assert waited < 100  # named from its pid, not after the 120 s timeout


def test_a_killed_unreaped_rank_counts_as_dead() -> None:
    """A rank killed with SIGKILL stays a zombie until its launcher reaps it; signal 0 still reaches a
    zombie, so liveness also reads the process state."""
    import os
    import subprocess
    import sys

    from hwbench.fleet.dist import _alive

    p = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    try:
        deadline = time.monotonic() + 30
        while _alive(p.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(p.pid)  # not yet reaped: a zombie
        assert os.path.exists(f"/proc/{p.pid}")
    finally:
        p.wait()
    assert _alive(os.getpid())


def test_a_long_torch_message_is_cut_between_words() -> None:
    from hwbench.fleet.dist import _first_line

    msg = (
        "[/pytorch/gloo/transport/tcp/pair.cc:534] Connection closed by peer " + "averyveryverylongword " * 20
    )
    line = _first_line(RuntimeError(msg + "\nsecond line"))
    assert line.startswith("Connection closed by peer") and line.endswith(" ...")
    assert all(w in ("averyveryverylongword", "...") for w in line.split()[4:])
