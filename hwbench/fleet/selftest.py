"""A small fleet self-test: each rank times a tiny matmul and the results meet on rank 0.

    torchrun --standalone --nproc-per-node 2 -m hwbench.fleet.selftest --json

It goes through the same hooks as the commands (`init_from_env`, `finish`), so it checks a cluster's
plumbing (rendezvous, gather, timeouts, fingerprints) in seconds, before a long benchmark. The
figure is a 256x256 fp32 matmul's measured TFLOP/s (no peak: MFU is null), not a benchmark.
"""

from __future__ import annotations

import statistics
import sys
import time

from hwbench.devices import resolve


def measure(device: str, n: int = 256, reps: int = 20) -> float:
    """Median TFLOP/s of an n x n x n fp32 matmul (2 n^3 FLOPs) on `device`."""
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = resolve(device).synchronize
    times = []
    for _ in range(reps + 3):
        sync()
        t0 = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times[3:]) / 1e12


def main(argv: list[str] | None = None) -> int:
    from hwbench import fleet
    from hwbench.console import error_line
    from hwbench.errors import HwbenchError
    from hwbench.jsonout import document, emit

    args = sys.argv[1:] if argv is None else argv
    try:
        ctx = fleet.init_from_env()
        import torch

        device = "cpu"
        if torch.cuda.is_available():
            device = ctx.device_for("cuda") if ctx else "cuda:0"
        payload = {
            "device": device,
            "dtype": "fp32",
            "achieved_tflops": measure(device),
            "peak_tflops": None,
            "mfu": None,
            "source": "measured: 256x256 fp32 matmul, median of 20 (a plumbing test, not a benchmark)",
        }
        doc, rc = fleet.finish(ctx, "fleet-selftest", document("fleet-selftest", payload), 0)
    except HwbenchError as e:
        error_line(e.message, e.hint)
        return e.exit_code
    if doc is None:
        return rc
    if "--json" in args:
        emit(doc)
    elif "ranks" in doc:
        fleet.render_fleet(doc)
    else:
        emit(doc)
    return rc


if __name__ == "__main__":
    from hwbench.fleet.dist import leave
    from hwbench.fleet.session import joined

    code = main()
    if joined():
        leave(code)
    sys.exit(code)
