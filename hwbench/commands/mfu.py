"""`hwbench mfu`: matmul ceiling + a real GPT training step, MFU three ways, then the reporter's advice.

Presentation only: the measuring lives in hwbench.bench.mfu (run_mfu, mfu_payload). Hooks:
- fleet: `hwbench.fleet.init_from_env()` at the start, `hwbench.fleet.finish(ctx, "mfu", doc, rc)` at
  the end (torchrun ranks; a no-op outside torchrun);
- reporter: unless --no-advise, `hwbench.report.advise(run)` fills `explanation` and `suggestions`,
  `hwbench.report.render(advice)` prints them; without hwbench.report both lists stay empty.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hwbench.errors import HwbenchError, InputError, one_line
from hwbench.peaks.types import DTYPE_ALIASES

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from hwbench.bench.mfu import MfuOptions, MfuRun
    from hwbench.fleet.dist import FleetContext
    from hwbench.report import Advice


# Reads best whole: most of its length is the option declarations typer needs in the signature.
def command(
    device: str | None = typer.Option(
        None,
        "--device",
        metavar="DEV",
        help="cpu, cuda, cuda:N, mps or xpu (default: the best one torch can use).",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        metavar="FILE.py:FACTORY",
        help="Your own model instead of the GPT: FACTORY() returns (model, inputs[, loss_fn]); also "
        "package.module:FACTORY. See examples/.",
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        metavar="NAME",
        help="nanogpt-cpu (nanoGPT README CPU run), shakespeare-char, gpt2-124m (default: fits the device).",
    ),
    n_layer: int | None = typer.Option(
        None, "--n-layer", metavar="N", help="Override the preset's layer count."
    ),
    n_head: int | None = typer.Option(
        None, "--n-head", metavar="N", help="Override the preset's head count."
    ),
    n_embd: int | None = typer.Option(
        None, "--n-embd", metavar="N", help="Override the preset's embedding width."
    ),
    block_size: int | None = typer.Option(None, "--block-size", metavar="T", help="Sequence length T."),
    batch_size: int | None = typer.Option(None, "--batch-size", metavar="B", help="Sequences per step B."),
    vocab_size: int | None = typer.Option(None, "--vocab-size", metavar="V", help="Vocabulary size."),
    bias: bool | None = typer.Option(
        None, "--bias/--no-bias", help="Linear/LayerNorm biases (nanoGPT: off)."
    ),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        metavar="DTYPE",
        help="fp32, tf32 (CUDA), bf16 or fp16 (default: what nanoGPT uses on the device).",
    ),
    compile_: bool | None = typer.Option(
        None, "--compile/--no-compile", help="torch.compile the model (default: on for CUDA, off on CPU)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", metavar="N", help="torch (and numpy BLAS) threads on CPU."
    ),
    quick: bool = typer.Option(False, "--quick", help="A short run (~10-20 s on a small CPU)."),
    peak_tflops: list[str] | None = typer.Option(
        None,
        "--peak-tflops",
        metavar="DTYPE=TFLOPS",
        help="Override a peak, DTYPE=TFLOPS (dense), e.g. bf16=165. Repeatable.",
    ),
    no_ceiling: bool = typer.Option(False, "--no-ceiling", help="Skip the matmul ceiling sweep."),
    no_advise: bool = typer.Option(
        False, "--no-advise", help="Skip the explanation and measured suggestions."
    ),
    advise_compile: bool = typer.Option(
        False, "--advise-compile", help="Also measure torch.compile as a suggestion (slow to compile)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    save_report: Path | None = typer.Option(
        None, "--save-report", metavar="FILE", help="Also write the report (with --details) to FILE."
    ),
    details: bool = typer.Option(
        False,
        "--details",
        help="After the summary: the GEMM table, the waterfall, the op profile, every explanation and "
        "suggestion.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
) -> None:
    """Measure a GPT training step and the matmul ceiling; MFU against the device's own peak."""
    from hwbench.bench.mfu import MfuOptions

    if peak_tflops:
        from hwbench.peaks import parse_peak_overrides

        parse_peak_overrides(list(peak_tflops))  # a bad value fails before any measuring
    from hwbench.outputs import check_writable

    check_writable(save_report, "--save-report")  # not after a minute of measuring
    if save_report is not None and save_report.suffix.lower() not in REPORT_SUFFIXES:
        raise InputError(
            f"--save-report {save_report}: cannot write a report as "
            f"{save_report.suffix or 'a file without a suffix'}",
            hint="use a .json, .svg or .html file name",
        )

    ctx = _fleet_init()
    if ctx is not None:
        # Under torchrun every rank measures its own GPU: `--device cuda` (or none, where CUDA is usable)
        # becomes cuda:LOCAL_RANK; `--device cpu` stays, each rank pinned to its share of the cores.
        if device is not None:
            device = ctx.device_for(device)
        elif _cuda_available():
            device = ctx.device_for("cuda")

    opts = MfuOptions(
        device=device,
        model=model,
        preset=preset,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        block_size=block_size,
        batch_size=batch_size,
        vocab_size=vocab_size,
        bias=bias,
        # bfloat16, torch.bfloat16, half...: the names the API and `peaks --dtype` take
        dtype=DTYPE_ALIASES.get(dtype.lower().removeprefix("torch."), dtype.lower()) if dtype else None,
        compile=compile_,
        threads=threads,
        quick=quick,
        with_ceiling=not no_ceiling,
        peak_overrides=tuple(peak_tflops or ()),
    )
    # under torchrun only rank 0 shows progress: eight ranks' phase lines would interleave
    quiet = quiet or (ctx is not None and ctx.rank != 0)
    doc, rc, run, advice = run_command(opts, advise=not no_advise, advise_compile=advise_compile, quiet=quiet)
    if ctx is not None:
        from hwbench.fleet import finish, render_fleet

        fdoc, rc = finish(ctx, "mfu", doc, rc)
        if fdoc is None:
            raise typer.Exit(rc)
        if fdoc is not doc:
            if as_json:
                from hwbench import jsonout

                jsonout.emit(fdoc)
            else:
                render_fleet(fdoc)
            raise typer.Exit(rc)
    if as_json:
        from hwbench import jsonout

        jsonout.emit(doc)
    else:
        render(run, doc, advice, details=details)
    if save_report is not None:
        _save(save_report, doc, run, advice)
    if rc:
        raise typer.Exit(rc)


def run_command(
    opts: MfuOptions, advise: bool = True, advise_compile: bool = False, quiet: bool = False
) -> tuple[dict[str, Any], int, MfuRun, Advice | None]:
    """Run, then advise; returns (JSON document, exit code, MfuRun, advice or None)."""
    from hwbench import jsonout
    from hwbench.bench.mfu import mfu_payload, run_mfu
    from hwbench.console import phases

    with phases(quiet) as phase:
        run = run_mfu(opts, progress=phase)
        payload = mfu_payload(run)
        advice = None
        if advise and run.step is not None and not run.interrupted:
            phase("explaining the gap (reporter)", None)
            # the experiments get what is left of the run's time goal (60 s, --quick 20 s), less
            # start-up (~3 s: python, torch) and the reporter's own overshoot (its profile, last chunk)
            budget_s = max(3.0, (15.0 if run.options.quick else 45.0) - run.elapsed_s)
            advice = _advise(run, budget_s, lambda what: phase(what, None), advise_compile)
            if advice is not None:
                payload.update(advice.to_json())
    from hwbench.bench.mfu import completed_phases
    from hwbench.interrupt import received

    # a signal during the reporter leaves the step and ceiling whole: the report still says it stopped
    payload["interrupted"] = bool(run.interrupted or received())
    payload["phases_completed"] = completed_phases(run, advised=advice is not None and not received())
    doc = jsonout.document("mfu", payload)
    rc = 130 if run.interrupted and run.step is None else 0
    return doc, rc, run, advice


# ---------------------------------------------------------------------------------------------
# hooks


def _fleet_init() -> FleetContext | None:
    """This rank's place under torchrun; None in a single process."""
    from hwbench.fleet import init_from_env

    return init_from_env()


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _advise(
    run: MfuRun, budget_s: float, progress: Callable[[str], None], advise_compile: bool = False
) -> Advice | None:
    from hwbench.bench.config import ModelConfig
    from hwbench.report import advise

    try:
        return advise(
            run,
            system=run.system,
            budget_s=budget_s,
            progress=progress,
            advise_compile=advise_compile,
            # the op profile rebuilds the GPT; a user's model is explained and measured without it
            profile=not isinstance(run.config, ModelConfig),
        )
    except KeyboardInterrupt:
        return None
    except HwbenchError:
        raise
    except Exception as e:  # the measurement stands even if the explanation fails
        run.warnings.append(f"the reporter failed ({one_line(e)}); no explanation")
        return None


REPORT_SUFFIXES = (".json", ".svg", ".html")


def _save(path: Path, doc: dict[str, Any], run: MfuRun, advice: Advice | None) -> None:
    """.json: the JSON document; .svg/.html: the terminal report (tables, advice) as rendered."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            path.write_text(json.dumps(doc, indent=2) + "\n")
        elif suffix in REPORT_SUFFIXES:
            import io

            from rich.console import Console

            con = Console(record=True, width=120, file=io.StringIO(), force_terminal=True)
            render(run, doc, advice, console=con, details=True)
            text = con.export_svg(title="hwbench mfu") if suffix == ".svg" else con.export_html()
            path.write_text(text, encoding="utf-8")
        else:
            raise HwbenchError(
                f"cannot write a report as {suffix or 'a file without a suffix'}: {path}",
                hint="use a .json, .svg or .html file name",
            )
    except OSError as e:
        raise HwbenchError(
            f"cannot write report {path}: {e.strerror or e}",
            hint="check the folder exists and is writable, and that its file system has space",
        ) from e
    sys.stderr.write(f"report written to {path}\n")


# ---------------------------------------------------------------------------------------------
# terminal


def render(
    run: MfuRun,
    doc: dict[str, Any],
    advice: Advice | None = None,
    console: Console | None = None,
    details: bool = False,
) -> None:
    """The answer first (one screen at 80 columns): device, peak and its source, step time and
    tokens/s, MFU three ways, the biggest loss and the top measured fixes. `details` adds the GEMM
    table, the ceiling's notes and the whole report (waterfall, profile, explanations, suggestions)."""
    from rich.table import Table

    from hwbench.bench.flops import NANOGPT_PEAK_TFLOPS
    from hwbench.bench.mfu import flops_line, throughput_line
    from hwbench.console import stdout
    from hwbench.fmt import flop_rate, ms, pct, tf

    con = console or stdout()
    st = run.step
    con.print(_head_line(run), highlight=False)
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    peak = run.peak_tflops
    if run.peak is not None and peak:
        t.add_row(
            "peak",
            f"{tf(peak)} TFLOP/s dense {run.dtype}"
            + (" (estimated)" if run.peak.estimated else "")
            + f": {run.peak.source}",
        )
    if st is None:
        t.add_row("step time", "not measured: interrupted before the first timed step")
    else:
        tm = st.timing
        step = f"{ms(tm.median_s)} median of {tm.n} steps (IQR {tm.spread_pct:.0f}%)"
        if details:
            step += f", min {ms(tm.min_s)}, max {ms(tm.max_s)}" + (
                f"; compile {st.compile_time_s:.1f} s apart" if st.compile_time_s else ""
            )
        t.add_row("step time", f"{step}: {throughput_line(run)}, {flop_rate(st.achieved_tflops)}")
        if details:
            t.add_row("FLOPs/step", flops_line(run, doc["flops_per_step"], doc["n_params"]))
        if run.mfu is not None and run.peak is not None:
            t.add_row(
                "MFU",
                f"[bold]{pct(run.mfu)}[/bold] = {tf(st.achieved_tflops)} / {tf(peak)} TFLOP/s: this "
                f"device's dense {run.dtype} peak",
            )
        else:
            t.add_row("MFU", f"n/a: {run.mfu_reason}")
        cp = run.ceiling_point
        if cp is not None:
            # the summary names the library without its build ("torch", not "torch (Intel MKL 2024.2)")
            lib = (
                f"{cp.library}, {cp.label}, {cp.shape}"
                if details
                else f"{cp.library.split(' (')[0]}, {cp.label}"
            )
            t.add_row(
                "vs ceiling",
                f"[bold]{pct(run.mfu_vs_ceiling)}[/bold] = {tf(st.achieved_tflops)} / {tf(cp.tflops)} "
                f"TFLOP/s: best {run.dtype} GEMM measured here ({lib})",
            )
        t.add_row(
            "nanoGPT says",
            f"{pct(run.mfu_nanogpt)} = {tf(st.achieved_tflops)} / {NANOGPT_PEAK_TFLOPS:.0f} TFLOP/s: "
            "an A100's bf16 peak, any device"
            + (" (nanoGPT's estimate_mfu divides by it everywhere)" if details else ""),
        )
        if details and st.peak_memory_bytes:
            t.add_row("peak memory", f"{st.peak_memory_bytes / 2**20:,.0f} MiB ({st.peak_memory_source})")
    con.print(t)
    if details:
        _render_ceiling(run, con)
    for w in run.warnings:
        con.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    if advice is not None:
        from hwbench.report.render import render as render_report
        from hwbench.report.render import summary

        if details:
            con.print()
            render_report(advice, con)
        else:
            summary(advice, con)
    if not details and (more := _behind_details(run, advice)):
        con.print(f"[dim]--details: {', '.join(more)}[/dim]", highlight=False)
    if run.interrupted:
        con.print("[yellow]interrupted:[/yellow] the figures above are from what was measured before it")


def _head_line(run: MfuRun) -> str:
    """Device, its name and threads, the model, the dtype, compiled or eager."""
    from hwbench.bench.mfu import model_line
    from hwbench.fmt import plural

    return (
        f"[bold]hwbench mfu[/bold]  {run.device}"
        + (f" ({run.device_name})" if run.device_name else "")
        + (f", {plural(run.threads, 'thread')}" if run.threads else "")
        + f"; {model_line(run)}; {run.dtype}"
        + (", compiled" if run.step and run.step.options.compile else ", eager")
    )


def _behind_details(run: MfuRun, advice: Advice | None) -> list[str]:
    """What --details would add to the summary."""
    from hwbench.fmt import plural

    more = ["GEMM table"] if run.ceiling is not None and run.ceiling.points else []
    if advice is not None:
        user_model = advice.facts.model is not None  # no op profile, no nanoGPT command line
        more += [
            "waterfall" if user_model else "waterfall, op profile",
            plural(len(advice.explanation_items), "explanation"),
            plural(len(advice.suggestion_items), "suggestion")
            + (" with hwbench commands" if user_model else " with nanoGPT commands"),
        ]
    return more


def _render_ceiling(run: MfuRun, con: Console) -> None:
    """The GEMM ceiling as a table grouped by library and dtype, largest shapes last."""
    from rich.table import Table

    from hwbench.fmt import tf

    if run.ceiling is None or not run.ceiling.points:
        return
    g = Table(
        title="GEMM ceiling (median TFLOP/s; bold: the best per dtype)",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    for col in ("library", "dtype", "shape", "TFLOP/s", "min-max", "IQR"):
        g.add_column(col, justify="right" if col in ("TFLOP/s", "min-max", "IQR") else "left")
    legend: dict[str, str] = {}
    group: tuple[str, str] | None = None
    for p in sorted(run.ceiling.points, key=lambda p: (p.library, p.dtype, p.m * p.n * p.k, p.label)):
        best = run.ceiling.best.get(p.dtype) is p
        short = p.library.split(" ", 1)[0]
        if legend.setdefault(short, p.library) != p.library:
            short = p.library  # two builds of one library: show both in full
        first = group != (p.library, p.dtype)
        if first and group is not None:
            g.add_section()
        group = (p.library, p.dtype)
        g.add_row(
            short if first else "",
            p.dtype if first else "",
            p.label if p.model_shape is None else f"{p.model_shape} {p.m}x{p.k}@{p.k}x{p.n}",
            f"[bold]{tf(p.tflops)}[/bold]" if best else tf(p.tflops),
            f"{tf(p.tflops_min)}-{tf(p.tflops_max)}",
            f"{p.timing.spread_pct:.0f}%",
        )
    con.print()
    con.print(g)
    con.print("; ".join(f"{k} = {v}" for k, v in legend.items()), highlight=False)
    if run.ceiling.env_overrides:
        con.print(
            "BLAS environment: " + ", ".join(f"{k}={v}" for k, v in run.ceiling.env_overrides.items()),
            highlight=False,
        )
    for note in run.ceiling.notes:
        con.print(f"[dim]note: {note}[/dim]", highlight=False)
