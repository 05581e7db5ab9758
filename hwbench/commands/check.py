"""`hwbench check`: a CI and fleet gate. Expectations in (flags and/or --config TOML), pass/fail out.

Exit 0 when nothing failed, 1 when a check failed (the report is still written: terminal or --json,
--junit, $GITHUB_STEP_SUMMARY), 2 for usage errors, a bad config, an unreadable replay file or a
corrupt baseline. Under torchrun every rank checks its own GPU and rank 0 prints one fleet report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hwbench.check.results import CheckResult
from hwbench.errors import HwbenchError, InputError

_LEVEL_HELP = (
    "quick: seconds; medium: about a minute; long: minutes of soak (--pcie-full/--no-throttle load longer)."
)


def command(
    min_gpus: int | None = typer.Option(
        None, "--min-gpus", metavar="N", help="At least N GPUs (discrete or integrated)."
    ),
    gpu_model: str | None = typer.Option(
        None,
        "--gpu-model",
        metavar="PATTERN",
        help="Every GPU's name matches this glob, case-insensitive ('*H100*').",
    ),
    min_gpu_memory_gb: float | None = typer.Option(
        None,
        "--min-gpu-memory-gb",
        metavar="X",
        help="Every NVIDIA GPU has at least X GB (decimal, as NVML reports the total).",
    ),
    min_driver: str | None = typer.Option(
        None, "--min-driver", metavar="VERSION", help="NVIDIA driver at least VERSION (535.104.05)."
    ),
    require_isa: list[str] = typer.Option(
        [],
        "--require-isa",
        metavar="FLAG",
        help="CPU has this ISA flag, as /proc/cpuinfo names it (avx2, avx512f, amx_bf16). Repeatable.",
    ),
    torch_can_use: list[str] = typer.Option(
        [],
        "--torch-can-use",
        metavar="DEVICE",
        help="The installed torch can use DEVICE (cpu, cuda, cuda:N, mps, xpu). Repeatable.",
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        metavar="DEV",
        help="Measure on DEV (cpu, cuda = every GPU, cuda:N). Default: every GPU torch can use, else CPU.",
    ),
    min_tflops: list[str] = typer.Option(
        [],
        "--min-tflops",
        metavar="DTYPE=VALUE",
        help="Measured matmul ceiling at least VALUE TFLOP/s (fp32=0.05, bf16=600). Repeatable.",
    ),
    min_fraction_of_peak: list[str] = typer.Option(
        [],
        "--min-fraction-of-peak",
        metavar="DTYPE=F",
        help="Measured matmul at least F of the device's dense peak (bf16=0.6). Repeatable.",
    ),
    min_mfu: float | None = typer.Option(
        None, "--min-mfu", metavar="F", help="MFU of hwbench's GPT training step at least F (0.3 = 30%)."
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        metavar="P",
        help="Model preset for --min-mfu (nanogpt-cpu, shakespeare-char, gpt2-124m).",
    ),
    pcie_full: bool = typer.Option(
        False,
        "--pcie-full",
        help="Under load, every GPU's PCIe link reaches its maximum generation and width.",
    ),
    no_throttle: bool = typer.Option(
        False,
        "--no-throttle",
        help="Under load, no clock-event reason beyond idle / application clocks / SW power cap.",
    ),
    max_ecc_errors: int | None = typer.Option(
        None,
        "--max-ecc-errors",
        metavar="N",
        help="At most N uncorrectable ECC errors per GPU since the driver loaded.",
    ),
    max_spread: float | None = typer.Option(
        None,
        "--max-spread",
        metavar="PCT",
        help="No GPU more than PCT% below the median matmul figure of its peers (the straggler).",
    ),
    min_busbw: float | None = typer.Option(
        None,
        "--min-busbw",
        metavar="GBPS",
        help="All-reduce bus bandwidth at least GBPS GB/s (under torchrun, from hwbench comm).",
    ),
    level: str | None = typer.Option(None, "--level", metavar="quick|medium|long", help=_LEVEL_HELP),
    strict: bool = typer.Option(
        False, "--strict", help="A check that could not be evaluated (skip) counts as a failure."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        metavar="FILE",
        help="TOML file with the same keys as the flags (min-gpus = 8); flags win.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    junit: Path | None = typer.Option(
        None, "--junit", metavar="FILE", help="Write JUnit XML (one testcase per check) to FILE."
    ),
    save_baseline: Path | None = typer.Option(
        None,
        "--save-baseline",
        metavar="FILE",
        help="Store the measured figures and this machine's fingerprint in FILE (JSON).",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        metavar="FILE",
        help="Re-measure the figures in FILE; fail any more than --max-regression below.",
    ),
    max_regression: float | None = typer.Option(
        None,
        "--max-regression",
        metavar="PCT",
        help="Allowed drop below the baseline, in percent (default 10).",
    ),
    nvidia_smi_q: Path | None = typer.Option(
        None,
        "--nvidia-smi-q",
        metavar="FILE",
        help="Judge a saved `nvidia-smi -q` (or table) output instead of this machine; measures nothing.",
    ),
    replay: Path | None = typer.Option(
        None,
        "--replay",
        metavar="DIR",
        help="Judge a machine recorded by `hwbench detect --dump DIR` instead of this one; measures nothing.",
    ),
    threads: int | None = typer.Option(
        None, "--threads", metavar="N", help="CPU threads for CPU measurements."
    ),
    details: bool = typer.Option(
        False, "--details", help="One row per check and device, each with its message (passes too)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
) -> None:
    """Gate a CI runner or a cluster node on its hardware: exit 0 ok, 1 a check failed, 2 usage error."""
    import hwbench.fleet as fleet
    from hwbench.check import expectations as E
    from hwbench.check.run import CheckOptions, run_check
    from hwbench.console import log

    ctx = fleet.init_from_env()

    flags: dict[str, Any] = {}
    raw = {
        "min_gpus": min_gpus,
        "gpu_model": gpu_model,
        "min_gpu_memory_gb": min_gpu_memory_gb,
        "min_driver": min_driver,
        "require_isa": require_isa or None,
        "torch_can_use": torch_can_use or None,
        "device": device,
        "min_tflops": min_tflops or None,
        "min_fraction_of_peak": min_fraction_of_peak or None,
        "min_mfu": min_mfu,
        "preset": preset,
        "pcie_full": pcie_full or None,
        "no_throttle": no_throttle or None,
        "max_ecc_errors": max_ecc_errors,
        "max_spread_pct": max_spread,
        "min_busbw_gbps": min_busbw,
        "level": level,
        "strict": strict or None,
        "max_regression_pct": max_regression,
    }
    flags = E.from_mapping({k: v for k, v in raw.items() if v is not None}, where="flags")
    cfg = E.load_config(config) if config is not None else {}
    exp = E.merge(cfg, flags)
    if max_regression is not None and baseline is None:
        log("warning: --max-regression has no effect without --baseline FILE")

    from hwbench.bench.step import check_threads
    from hwbench.outputs import check_writable

    check_threads(threads)
    check_writable(junit, "--junit")  # before measuring: a bad target fails in a fraction of a second
    check_writable(save_baseline, "--save-baseline")
    if replay is not None and nvidia_smi_q is not None:
        raise InputError("--replay and --nvidia-smi-q both name a machine to judge", hint="give one of them")
    opts = CheckOptions(
        exp,
        save_baseline=save_baseline,
        baseline=baseline,
        nvidia_smi=nvidia_smi_q,
        replay_dir=replay,
        threads=threads,
    )
    from hwbench.console import phases

    # under torchrun only rank 0 shows progress: eight ranks' phase lines would interleave
    with phases(quiet or (ctx is not None and ctx.rank != 0)) as phase:

        def say(message: str) -> None:
            # "measuring ...": a progress phase (timed, live on a terminal); anything else a message
            if message.endswith("..."):
                phase(message.rstrip("."), None)
            else:
                log(message)

        report = run_check(opts, ctx=ctx, log=say)
    write_errors = list(report.write_errors)  # said after the verdict, which they never replace
    from hwbench import jsonout

    doc: dict[str, Any] | None = jsonout.document("check", report.payload(exp))
    rc = report.summary.exit_code
    results = report.results
    if ctx is not None:
        doc, rc = fleet.finish(ctx, "check", doc, rc)
        if doc is None:
            raise typer.Exit(0)  # not rank 0: rank 0 prints the fleet report
        results = _fleet_results(doc)

    from hwbench.check.results import summarize

    summary = summarize(results, strict=exp.strict)
    if ctx is not None and doc is not None:
        # the fleet document keeps every rank's report; add the checks of all ranks, named by rank,
        # so that `checks` and `summary` mean the same thing with and without torchrun
        doc["checks"] = jsonout.to_jsonable(results)
        doc["summary"] = jsonout.to_jsonable(summary)
    if junit is not None:
        from hwbench.check.junit import to_junit, write_junit

        props = {"level": exp.level, "strict": str(exp.strict).lower()}
        try:
            write_junit(junit, to_junit(results, report.elapsed_s, props))
        except HwbenchError as e:
            write_errors.append(e)
    from hwbench.check.summary import markdown, write_step_summary

    write_step_summary(markdown(results, summary, report.warnings))

    for w in report.warnings:
        log(f"warning: {w}")
    if json_out:
        jsonout.emit(doc or {})
    elif ctx is not None and doc is not None:
        fleet.render_fleet(doc)
        _render(results, summary, report.defaults_used, details)
    else:
        _render(results, summary, report.defaults_used, details)
    if write_errors:
        from hwbench.console import error_line

        for err in write_errors:
            error_line(err.message, err.hint)
        rc = rc or 2  # a failed check stays 1: the node is still drained
    raise typer.Exit(rc)


def _fleet_results(doc: dict[str, Any]) -> list[CheckResult]:
    """Every rank's checks, named with their rank, from the fleet document rank 0 got."""
    out: list[CheckResult] = []
    for row in doc.get("ranks") or []:
        res = row.get("result") or {}
        for c in res.get("checks") or []:
            out.append(
                CheckResult(
                    name=f"rank{row.get('rank')}:{c.get('name')}",
                    status=c.get("status", "skip"),
                    measured=c.get("measured"),
                    expected=c.get("expected"),
                    message=f"{row.get('host')}: {c.get('message')}",
                    unit=c.get("unit"),
                    op=c.get("op"),
                    device=c.get("device"),
                    source=c.get("source"),
                )
            )
    return out


def _render(results: list[CheckResult], summary: Any, defaults_used: bool, details: bool = False) -> None:
    """The verdict first, naming what failed; then one row per check, per-GPU rows that read the same
    grouped ("gpus 0-7"), with the message of what failed or was skipped (`details`: every row, every
    message)."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    from hwbench.check.summary import ResultGroup, counts_line, fmt_value, group_results
    from hwbench.console import stdout

    con = stdout()
    if not results:
        con.print("nothing to check (no expectation applied)")
        return
    verdict = Text("PASS", style="bold green") if summary.status == "pass" else Text("FAIL", style="bold red")
    con.print(
        Text.assemble(
            ("hwbench check: ", "bold"),
            verdict,
            "  " + counts_line(summary, results) + (" (--strict)" if summary.strict else ""),
        )
    )
    if defaults_used:
        con.print("no expectations given: ran the default health checks (see hwbench check --help)")
    style = {"pass": "green", "fail": "bold red", "skip": "yellow"}
    groups = (
        [ResultGroup(r.name.partition("@")[0], r.name.partition("@")[2], r, (r,)) for r in results]
        if details
        else group_results(results)
    )
    for g in groups:
        r = g.first
        exp = f"{r.op} {fmt_value(r.expected, r.unit)}" if r.op else fmt_value(r.expected, r.unit)
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_column(no_wrap=True, width=4)
        t.add_column()
        t.add_row(
            Text(r.status, style=style[r.status]),
            Text(
                f"{g.name}" + (f" on {g.where}" if g.where else "") + f": {fmt_value(r.measured, r.unit)}"
                f" (expected {exp})"
            ),
        )
        con.print(t)
        if details or r.status != "pass":
            con.print(Padding(Text(r.message, style="dim" if r.status == "pass" else ""), (0, 0, 0, 6)))
