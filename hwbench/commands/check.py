"""`hwbench check`: a CI and fleet gate. Expectations in (flags and/or --config TOML), pass/fail out.

Exit 0 when nothing failed, 1 when a check failed (the report is still written: terminal or --json,
--junit, $GITHUB_STEP_SUMMARY), 2 for usage errors, a bad config, an unreadable replay file or a
corrupt baseline. Under torchrun every rank checks its own GPU and rank 0 prints one fleet report.
"""

from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from hwbench.check.registry import SPECS, Spec
from hwbench.check.results import CheckResult, Summary
from hwbench.errors import HwbenchError, InputError

if TYPE_CHECKING:
    from hwbench.check.payload import CheckDocument
    from hwbench.check.registry import Expectations
    from hwbench.check.run import CheckOptions, CheckReport
    from hwbench.fleet import FleetContext


def command(
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
    **flags: object,  # one per expectation, declared in hwbench.check.registry (see `_signature`)
) -> None:
    """Gate a CI runner or a cluster node on its hardware: exit 0 ok, 1 a check failed, 2 usage error."""
    import hwbench.fleet as fleet
    from hwbench.check import expectations as E
    from hwbench.check.run import CheckOptions
    from hwbench.console import log

    ctx = fleet.init_from_env()
    given = {name: v for name, v in flags.items() if v is not None and v is not False and v != []}
    exp = E.merge(E.load_config(config) if config is not None else {}, E.from_mapping(given, where="flags"))
    if "max_regression" in given and baseline is None:
        log("warning: --max-regression has no effect without --baseline FILE")

    from hwbench.bench.step import check_threads
    from hwbench.outputs import check_writable

    check_threads(threads)
    # Told at once, but the checks still run: the verdict, not a typo in an output path, decides whether
    # a node is drained. The write is tried again after the verdict and reported there.
    for target, flag, replaced in ((junit, "--junit", False), (save_baseline, "--save-baseline", True)):
        try:
            check_writable(target, flag, replaced=replaced)
        except HwbenchError as e:
            from hwbench.console import error_line

            error_line(f"{e.message} (the checks run anyway; the exit code is theirs if one fails)", e.hint)
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
    from hwbench.check.payload import check_document

    report = _run(opts, ctx, quiet)
    doc = check_document(report, exp, ctx)
    if doc is None:
        raise typer.Exit(0)  # not rank 0 under torchrun: rank 0 prints the fleet report
    raise typer.Exit(_present(doc, report, exp, junit=junit, json_out=json_out, details=details))


def _present(
    doc: CheckDocument,
    report: CheckReport,
    exp: Expectations,
    *,
    junit: Path | None,
    json_out: bool,
    details: bool,
) -> int:
    """JUnit, the GitHub step summary, then the verdict on stdout (tables or --json); the exit code.
    Outputs that could not be written are said after the verdict, which they never replace."""
    from hwbench import jsonout
    from hwbench.check.summary import markdown, write_step_summary
    from hwbench.console import error_line, log

    write_errors = list(report.write_errors)
    if junit is not None:
        from hwbench.check.junit import to_junit, write_junit

        props = {"level": exp.level, "strict": str(exp.strict).lower()}
        try:
            write_junit(junit, to_junit(doc.results, report.elapsed_s, props))
        except HwbenchError as e:
            write_errors.append(e)
    write_step_summary(markdown(doc.results, doc.summary, report.warnings))
    for w in report.warnings:
        log(f"warning: {w}")
    if json_out:
        jsonout.emit(doc.json)
    else:
        if doc.fleet:
            from hwbench.fleet import render_fleet

            render_fleet(doc.json)
        _render(doc.results, doc.summary, report.defaults_used, details)
    for err in write_errors:
        error_line(err.message, err.hint)
    return doc.exit_code or (2 if write_errors else 0)  # a failed check stays 1: the node is still drained


def _run(opts: CheckOptions, ctx: FleetContext | None, quiet: bool) -> CheckReport:
    """run_check with its progress on stderr: phases timed live on a terminal, other lines as they come."""
    from hwbench.check.run import run_check
    from hwbench.console import log, phases

    # under torchrun only rank 0 shows progress: eight ranks' phase lines would interleave
    with phases(quiet or (ctx is not None and ctx.rank != 0)) as phase:

        def say(message: str) -> None:
            # "measuring ...": a progress phase (timed, live on a terminal); anything else a message
            if message.endswith("..."):
                phase(message.rstrip("."), None)
            else:
                log(message)

        return run_check(opts, ctx=ctx, log=say)


def _flag(spec: Spec) -> inspect.Parameter:
    """The typer option of one expectation: a list when repeatable, a switch when boolean."""
    annotation: object
    default: object
    if spec.repeatable:
        annotation, default = types.GenericAlias(list, (spec.cli,)), []  # list[str], built at run time
    elif spec.cli is bool:
        annotation, default = bool, False
    else:
        annotation, default = Optional[spec.cli], None  # noqa: UP045 - built at run time, not an annotation
    option = typer.Option(default, spec.flag, metavar=spec.metavar, help=spec.help)
    return inspect.Parameter(
        spec.name.replace("-", "_"), inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
    )


def _signature() -> inspect.Signature:
    """`command`'s own options, then one per expectation of the registry: the flags are generated, so
    a new expectation is a flag (and a TOML key) with nothing to add here."""
    own = inspect.signature(command, eval_str=True).parameters.values()
    keyword = [p.replace(kind=p.KEYWORD_ONLY) for p in own if p.kind is not p.VAR_KEYWORD]
    return inspect.Signature([*(_flag(s) for s in SPECS), *keyword])


command.__signature__ = _signature()  # type: ignore[attr-defined]


def _render(results: list[CheckResult], summary: Summary, defaults_used: bool, details: bool = False) -> None:
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
