"""Time `hwbench check --level quick` end to end (a fresh process each run, as CI runs it).

    python benchmarks/bench_check.py            # 3 runs, prints each wall time and the median
    python benchmarks/bench_check.py --runs 5 --budget-s 15

The default expectations exercise every kind of check this machine can evaluate: inventory (GPUs,
ISA, torch), a measured CPU matmul, and the GPU-under-load checks (which skip on a CPU-only machine
after detect found no NVIDIA GPU). Exit 1 if the median exceeds the budget. On a shared machine the
figure is noisy: quote the median and the machine's load average with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

DEFAULT_ARGS = [
    "--level", "quick",
    "--require-isa", "avx2",
    "--torch-can-use", "cpu",
    "--device", "cpu",
    "--min-tflops", "fp32=0.001",
    "--pcie-full",
    "--no-throttle",
    "--max-ecc-errors", "0",
    "--json",
]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=15.0)
    ap.add_argument("args", nargs="*", help="hwbench check arguments (default: a representative quick set)")
    ns = ap.parse_args()
    args = ns.args or DEFAULT_ARGS
    times = []
    for i in range(ns.runs):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "hwbench", "check", *args], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        times.append(dt)
        status = "?"
        if "--json" in args and r.stdout.strip():
            doc = json.loads(r.stdout)
            s = doc["summary"]
            status = f"{s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped"
        print(f"run {i + 1}: {dt:6.2f} s  exit {r.returncode}  {status}")
        if r.returncode == 2:
            print(r.stderr, file=sys.stderr)
            return 2
    med = statistics.median(times)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"median {med:.2f} s over {ns.runs} runs (min {min(times):.2f}, max {max(times):.2f}); "
        f"budget {ns.budget_s:g} s; load average {load:.2f}"
    )
    return 0 if med <= ns.budget_s else 1


if __name__ == "__main__":
    sys.exit(main())
