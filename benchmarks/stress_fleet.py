"""Fleet exits, under stress: N two-rank torchrun jobs, and how many of them failed.

    python benchmarks/stress_fleet.py                 # 100 runs, alternating comm --ddp / mfu --quick
    python benchmarks/stress_fleet.py --runs 20 --only comm
    python benchmarks/stress_fleet.py --runs 10 --mfu-args="--quick --no-ceiling --no-advise"

Each run is `torchrun --standalone --nproc-per-node 2 -m hwbench <command> --json`, launched the way a
user launches it. A run fails when torchrun exits non-zero (a rank aborted, e.g. SIGABRT at
interpreter exit), when stdout is not exactly one JSON document from rank 0, or when stderr shows a
C++ abort ("terminate called", "core dumped"). The goal is 0 failures: an exit race that loses 1 run
in 20 turns a healthy node into a drained one in a fleet's CI.

The per-rank CPU pinning hwbench does under torchrun (one core per rank on a 2-core machine) is what
makes an exit-time race between the main thread and gloo's worker threads likely, so this runs
with it on. Timings are not the point here; on a shared machine each run takes tens of seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter

COMMANDS = {
    "comm": ["comm", "--json", "--ddp", "--steps", "1", "--min-bytes", "1K", "--max-bytes", "64K"],
    "mfu": ["mfu", "--json", "--quick"],
}
ABORT_MARKS = ("terminate called", "core dumped", "Aborted", "SIGABRT", "Fatal Python error")


def one_run(command: list[str], timeout_s: float) -> tuple[str | None, float, str]:
    """Run one 2-rank job; (None if it passed else why, seconds, stderr tail)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    argv += ["-m", "hwbench", *command]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, ""
    took = time.monotonic() - t0
    tail = r.stderr[-1500:]
    abort = next((m for m in ABORT_MARKS if m in r.stderr), None)
    if abort:
        return f"abort ({abort}), exit {r.returncode}", took, tail
    if r.returncode != 0:
        return f"exit {r.returncode}", took, tail
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        return "stdout is not one JSON document", took, tail
    if not isinstance(doc, dict) or len(doc.get("ranks") or []) != 2:
        return "the document does not have 2 ranks", took, tail
    return None, took, tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100, help="Jobs in all (default 100).")
    ap.add_argument("--only", choices=sorted(COMMANDS), help="Run only this command (default: alternate).")
    ap.add_argument("--mfu-args", default=None, help="Replace the mfu arguments (default: --quick).")
    ap.add_argument("--timeout", type=float, default=300.0, help="Seconds before a run counts as hung.")
    ap.add_argument("--verbose", action="store_true", help="Print stderr of every failed run.")
    args = ap.parse_args()
    commands = dict(COMMANDS)
    if args.mfu_args is not None:
        commands["mfu"] = ["mfu", "--json", *shlex.split(args.mfu_args)]
    names = [args.only] if args.only else sorted(commands)
    fails: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    t_all = time.monotonic()
    for i in range(args.runs):
        name = names[i % len(names)]
        why, took, tail = one_run(commands[name], args.timeout)
        runs[name] += 1
        load = os.getloadavg()[0]
        status = "ok" if why is None else f"FAIL: {why}"
        print(f"run {i + 1:3d}/{args.runs} {name:4s} {took:6.1f} s (load {load:.1f}) {status}", flush=True)
        if why is not None:
            fails[name] += 1
            if args.verbose:
                print("  | " + tail.replace("\n", "\n  | "), flush=True)
    total = sum(fails.values())
    per = ", ".join(f"{n}: {fails[n]}/{runs[n]}" for n in names)
    print(f"failures: {total} of {args.runs} ({per}) in {time.monotonic() - t_all:.0f} s")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
