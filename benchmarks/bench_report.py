"""Benchmark of the reporter: the default seed run's time, and suggestions checked against separate runs.

    python benchmarks/bench_report.py                 # time the default run, then verify suggestions
    python benchmarks/bench_report.py --record DIR    # also write recordings (fixtures) into DIR

1. Times the whole default `hwbench mfu` path on the seed preset (run_mfu + advise, experiments and
   profile included) and prints the full report. Goal: <= 90 s on the project's 2-vCPU VM.
2. For the threads suggestion and for a batch-size suggestion (and bf16 with --dtype), runs `run_mfu`
   separately with the change applied and without it, alternating baseline/variant `--pairs` times, and
   compares the measured ratio with the speedup the report claimed, both from the fastest step's rate
   (the report's estimator; the ratio of medians is printed too). They agree when the difference is
   within the noise: the report's noise band for that suggestion plus the separate runs' own
   run-to-run spread (half-range of the per-pair ratios).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


def _run(opts: Any) -> Any:
    from hwbench.bench.mfu import run_mfu

    return run_mfu(opts)


def separate_ratio(base_opts: Any, variant_opts: Any, pairs: int) -> dict[str, Any]:
    """Alternate baseline and variant runs; ratio of achieved TFLOP/s per pair, median and half-range."""
    ratios, ratios_median = [], []
    base_t, var_t = [], []
    for _ in range(pairs):
        b = _run(base_opts)
        v = _run(variant_opts)
        base_t.append(b.step.achieved_tflops)
        var_t.append(v.step.achieved_tflops)
        ratios_median.append(v.step.achieved_tflops / b.step.achieved_tflops)
        # the report's estimator: the rate of the fastest step (interference only slows steps)
        ratios.append(
            (v.step.flops_per_step / v.step.timing.min_s) / (b.step.flops_per_step / b.step.timing.min_s)
        )
    med = statistics.median(ratios)
    half = (max(ratios) - min(ratios)) / 2 / med * 100 if len(ratios) > 1 else None
    return {
        "ratios": ratios,
        "ratio": med,
        "spread_pct": half,
        "ratios_of_medians": ratios_median,
        "baseline_tflops": base_t,
        "variant_tflops": var_t,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", type=Path, help="write recordings of this run into this folder")
    ap.add_argument("--pairs", type=int, default=3, help="baseline/variant pairs per checked suggestion")
    ap.add_argument(
        "--check", default="threads,batch", help="which suggestions to verify: threads,batch,dtype"
    )
    ap.add_argument("--out", type=Path, help="write the benchmark's results as JSON here")
    ap.add_argument("--budget", type=float, default=30.0, help="the reporter's time budget (s)")
    ap.add_argument("--no-verify", action="store_true", help="only time the default run (and record)")
    args = ap.parse_args(argv)

    from rich.console import Console

    from hwbench.bench.mfu import MfuOptions, mfu_payload, run_mfu
    from hwbench.report import advise, render
    from hwbench.report.recording import record

    t0 = time.perf_counter()
    run = run_mfu(MfuOptions())
    t_mfu = time.perf_counter() - t0
    advice = advise(run, budget_s=args.budget)
    total = time.perf_counter() - t0
    console = Console(record=True, width=120)
    render(advice, console)
    print(
        f"\ndefault seed run: {total:.1f} s in all (mfu part {t_mfu:.1f} s, report {advice.wall_s:.1f} s: "
        f"profile + experiments); goal <= 90 s: {'OK' if total <= 90 else 'OVER'}"
    )
    results: dict[str, Any] = {
        "total_s": total,
        "mfu_s": t_mfu,
        "report_s": advice.wall_s,
        "checks": [],
    }
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        rec = record(advice.facts, advice.experiments, advice.profile, source="")
        rec["source"] = (
            "benchmarks/bench_report.py --record on the project's 2-vCPU AMD EPYC (Zen 3) KVM guest, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: hwbench mfu default seed run + advise "
            f"(mfu part {t_mfu:.1f} s, report {advice.wall_s:.1f} s)"
        )
        (args.record / "this-kvm-epyc-seed.json").write_text(json.dumps(rec, indent=1) + "\n")
        payload = mfu_payload(run)
        payload.update(advice.to_json())
        from hwbench.jsonout import to_jsonable

        (args.record / "this-kvm-epyc-seed-payload.json").write_text(
            json.dumps(to_jsonable(payload), indent=1) + "\n"
        )
        (args.record / "this-kvm-epyc-seed-report.txt").write_text(console.export_text())
        from hwbench.report.profile import collect_events

        events, wall = collect_events(run.config, replace(run.step.options, threads=run.threads), 3, 1)
        (args.record / "profile-events-seed.json").write_text(
            json.dumps(
                {
                    "source": "hwbench.report.profile.collect_events on the seed preset (3 steps after 1 "
                    "warm-up, fp32, 2 threads) on the project's 2-vCPU Zen 3 KVM guest, "
                    + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "steps": 3,
                    "wall_s": wall,
                    "events": [[n, a, s] for n, a, s in events],
                }
            )
            + "\n"
        )

    if args.no_verify:
        return 0
    base_opts = MfuOptions(with_ceiling=False, max_seconds=4.0, threads=run.threads)
    wanted = set(args.check.split(","))
    for s in advice.suggestion_items:
        if s.measured_speedup is None:
            continue
        v = next((r.variant for r in advice.experiments.results if r.variant.key == s.key), None)  # type: ignore[union-attr]
        if v is None:
            continue
        group = {"threads": "threads", "batch": "batch", "dtype": "dtype"}.get(v.kind)
        if group not in wanted:
            continue
        wanted.discard(group)
        var_opts = replace(
            base_opts,
            threads=v.options.get("threads", base_opts.threads),
            dtype=v.options.get("dtype"),
            batch_size=v.config.get("batch_size"),
        )
        sep = separate_ratio(base_opts, var_opts, args.pairs)
        tol = (s.noise_pct or 0.0) + (sep["spread_pct"] or 0.0)
        diff = (s.measured_speedup / sep["ratio"] - 1) * 100
        ok = abs(diff) <= tol
        line = (
            f"{s.key}: report claimed {s.measured_speedup:.2f}x (±{s.noise_pct:.0f}%), separate runs "
            f"{sep['ratio']:.2f}x (pairs {', '.join(f'{r:.2f}' for r in sep['ratios'])}, "
            f"±{sep['spread_pct'] or 0:.0f}%; ratio of medians "
            f"{statistics.median(sep['ratios_of_medians']):.2f}x): differ by {diff:+.1f}%, "
            f"tolerance ±{tol:.1f}% -> "
            f"{'AGREE' if ok else 'DISAGREE'}"
        )
        print(line)
        results["checks"].append(
            {
                "key": s.key,
                "claimed": s.measured_speedup,
                "noise_pct": s.noise_pct,
                **sep,
                "diff_pct": diff,
                "tolerance_pct": tol,
                "agree": ok,
            }
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(c["agree"] for c in results["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
