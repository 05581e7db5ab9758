"""Drawing the report with rich: the waterfall as bars, time vs FLOPs per category, explanations,
and the ranked, measured suggestions with their exact commands. Presentation only."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from hwbench.fmt import pct, plural, tf

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from hwbench.report import Advice
    from hwbench.report.facts import RunFacts
    from hwbench.report.suggest import Suggestion

BLOCKS = " ▏▎▍▌▋▊▉█"
VERDICT_STYLE = {
    "inconclusive": "magenta",
    "gain": "bold green",
    "likely gain": "green",
    "no change": "yellow",
    "no measurable change": "yellow",
    "likely slower": "red",
    "slower": "red",
    "failed": "red",
    "not measured": "dim",
}


def bar(fraction: float, width: int, style: str = "cyan") -> RenderableType:
    """A horizontal bar `fraction` of `width` cells long, in eighths of a cell; never empty above 0."""
    from rich.text import Text

    f = max(0.0, min(1.0, fraction))
    eighths = round(f * width * 8)
    if f > 0 and eighths == 0:
        eighths = 1
    full, part = divmod(eighths, 8)
    s = "█" * full + (BLOCKS[part] if part else "")
    return Text(s.ljust(width), style=style)


def waterfall_table(advice: Advice, width: int = 36) -> RenderableType:
    from rich.table import Table

    w = advice.waterfall
    top = max((lv.tflops for lv in w.levels), default=0.0) or 1.0
    t = Table(
        title=f"Where the {w.dtype} FLOP/s go on {w.device}",
        title_justify="left",
        box=None,
        pad_edge=False,
        show_edge=False,
    )
    t.add_column("level", style="bold", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("TFLOP/s", justify="right")
    t.add_column("of peak", justify="right")
    t.add_column("vs above", justify="right")
    prev = None
    styles = {
        "peak": "bright_black",
        "best_gemm": "blue",
        "torch_gemm": "cyan",
        "model_gemms": "magenta",
        "step": "green",
    }
    for lv in w.levels:
        rel = f"{lv.tflops / prev.tflops:.2f}x" if prev is not None and prev.tflops > 0 else ""
        t.add_row(
            lv.label,
            bar(lv.tflops / top, width, styles.get(lv.key, "cyan")),
            tf(lv.tflops),
            pct(lv.fraction_of_peak),
            rel,
        )
        prev = lv
    return t


def waterfall_notes(advice: Advice) -> list[str]:
    lines = []
    prev = None
    for lv in advice.waterfall.levels:
        s = f"[bold]{lv.label}[/]: {lv.source}"
        if prev is not None:
            s += f"\n    [dim]lost vs above: {lv.lost}[/]"
        lines.append(s)
        prev = lv
    if advice.waterfall.note:
        lines.append(f"[yellow]{advice.waterfall.note}[/]")
    return lines


def category_table(advice: Advice, width: int = 24) -> RenderableType | None:
    from rich.table import Table

    cats = [c for c in advice.waterfall.categories if c.share_time > 0 or c.share_flops > 0]
    if not cats:
        return None
    prof = advice.profile
    t = Table(
        title=f"Training step by op category (torch.profiler, {prof.steps if prof else '?'} "
        f"step{'' if prof and prof.steps == 1 else 's'}): "
        "share of time vs share of the FLOPs MFU counts",
        title_justify="left",
        box=None,
        pad_edge=False,
        show_edge=False,
    )
    t.add_column("category", style="bold", no_wrap=True)
    t.add_column("time", no_wrap=True)
    t.add_column("", justify="right")
    t.add_column("FLOPs", no_wrap=True)
    t.add_column("", justify="right")
    t.add_column("ms/step", justify="right")
    for c in sorted(cats, key=lambda c: -c.share_time):
        t.add_row(
            c.category,
            bar(c.share_time, width, "yellow"),
            pct(c.share_time),
            bar(c.share_flops, width, "green"),
            pct(c.share_flops),
            f"{c.time_s_per_step * 1e3:.1f}",
        )
    if prof is not None and prof.sdpa_backend:
        t.caption = f"attention ran SDPA's {prof.sdpa_backend} backend; times: {prof.source}"
        t.caption_justify = "left"
    return t


def suggestion_table(advice: Advice) -> RenderableType | None:
    from rich.table import Table
    from rich.text import Text

    from hwbench.report.suggest import mfu_scale

    if not advice.suggestion_items:
        return None
    scale = mfu_scale(advice.facts, advice.experiments)
    t = Table(
        title="Measured suggestions (A/B against the same baseline, interleaved; ranked by gain)"
        + (f"; MFU against {scale.source}" if scale.peak_tflops else f"; {scale.source}"),
        title_justify="left",
        box=None,
        pad_edge=False,
        show_edge=False,
    )
    t.add_column("#", justify="right")
    t.add_column("change")
    t.add_column("speedup", justify="right", no_wrap=True)
    t.add_column("verdict", no_wrap=True)
    t.add_column(_rate_unit(advice.facts), justify="right", no_wrap=True)
    t.add_column("new MFU", justify="right", no_wrap=True)
    for i, s in enumerate(advice.suggestion_items, 1):
        t.add_row(
            str(i),
            s.change,
            s.claim,  # a number only when its interval is precise, else the interval alone
            Text(s.verdict, style=VERDICT_STYLE.get(s.verdict, "")),
            f"{s.new_tokens_per_s:,.0f}" if s.new_tokens_per_s is not None else "-",
            pct(s.new_mfu) if s.new_mfu is not None else "-",
        )
    return t


def biggest_loss(advice: Advice) -> str | None:
    """One line for the waterfall step that loses the most (the smallest ratio to the level above),
    with its reason: "GEMMs at the model's shapes -> training step (0.52x): time outside the GEMMs ..."."""
    levels = advice.waterfall.levels
    pairs = [(b.tflops / a.tflops, a, b) for a, b in itertools.pairwise(levels) if a.tflops > 0]
    if not pairs:
        return None
    ratio, above, lv = min(pairs, key=lambda p: p[0])
    if ratio >= 1.0:
        return None
    return f"{above.label} -> {lv.label} ({ratio:.2f}x): {lv.lost}"


def top_fixes(advice: Advice, n: int = 3) -> list[Suggestion]:
    """The first `n` measured suggestions, as ranked (gains first, largest speedup first)."""
    return [s for s in advice.suggestion_items if s.measured_speedup is not None][:n]


def summary(advice: Advice, console: Console | None = None, top: int = 3) -> None:
    """The answer in one screen: the biggest loss and why, the top measured fixes on one scale with
    their commands, and where the rest is (`--details`)."""
    from rich.table import Table
    from rich.text import Text

    from hwbench.report.suggest import mfu_scale

    if console is None:
        from hwbench.console import stdout

        console = stdout()
    f = advice.facts
    loss = biggest_loss(advice)
    if loss:
        console.print(Text.assemble(("biggest loss  ", "bold"), loss))
    fixes = top_fixes(advice, top)
    if fixes:
        scale = mfu_scale(f, advice.experiments)
        gains = [s for s in fixes if s.verdict in ("gain", "likely gain")]
        title = (
            "Top measured fixes, A/B against this run"
            if gains
            else "No measured change beat this run beyond its noise"
        ) + (f"; MFU against {scale.source}" if scale.peak_tflops else "")
        console.print()
        t = Table(title=title, title_justify="left", box=None, pad_edge=False, show_edge=False)
        t.add_column("#", justify="right")
        t.add_column("change")
        t.add_column("speedup", justify="right", no_wrap=True)
        t.add_column(_rate_unit(f), justify="right", no_wrap=True)
        if scale.peak_tflops:
            t.add_column("MFU", justify="right", no_wrap=True)
        t.add_column("verdict", no_wrap=True)
        tokens_per_s = f.tokens_per_step / f.step_time_s if f.step_time_s > 0 else None

        def row(*cells: str | Text, mfu: float | None) -> None:
            mid = [pct(mfu)] if scale.peak_tflops else []
            t.add_row(*cells[:4], *mid, *cells[4:])

        row(
            "",
            "this run (baseline)",
            "1.00x",
            f"{tokens_per_s:,.0f}" if tokens_per_s else "-",
            "",
            mfu=scale.mfu(f.achieved_tflops),
        )
        for i, s in enumerate(fixes, 1):
            row(
                str(i),
                s.change,
                s.claim,
                f"{s.new_tokens_per_s:,.0f}" if s.new_tokens_per_s is not None else "-",
                Text(s.verdict, style=VERDICT_STYLE.get(s.verdict, "")),
                mfu=s.new_mfu,
            )
        console.print(t)
        if not scale.peak_tflops:
            console.print(f"[dim]{scale.source}[/]", highlight=False)
        for i, s in enumerate(fixes, 1):
            # a fix as the hwbench command that re-measures it: exact for every change (nanoGPT's
            # train.py ignores --dtype on CPU); the train.py commands are in --details. Whole (soft
            # wrap), never cropped: commands are meant to be copied.
            if s.verdict in ("gain", "likely gain") and s.hwbench_command:
                console.print(f"{i}. [cyan]{s.hwbench_command}[/]", highlight=False, soft_wrap=True)
    elif advice.suggestion_items:
        why = next((s.note for s in advice.suggestion_items if s.note and s.kind != "compile"), "")
        why = why.removeprefix("not measured: ")
        console.print(
            "no suggestion was measured in this run" + (f": {why}" if why else ""),
            style="dim",
            highlight=False,
        )


def render(advice: Advice, console: Console | None = None) -> None:
    """Print the whole report to `console` (default: hwbench's stdout console)."""
    from rich.padding import Padding
    from rich.rule import Rule

    if console is None:
        from hwbench.console import stdout

        console = stdout()
    f = advice.facts
    c = f.config
    model = (
        f"{c.get('name')}" + (f" B{c['batch_size']}" if c.get("batch_size") else "")
        if f.model is not None
        else f"{c.get('n_layer')}L {c.get('n_embd')}C T{c.get('block_size')} B{c.get('batch_size')}"
    )
    console.print(Rule(f"[bold]hwbench report[/]: {f.device_name}, {f.dtype}, {model}"))
    console.print(waterfall_table(advice, width=max(10, min(40, console.width - 62))))
    for line in waterfall_notes(advice):
        console.print(Padding(line, (0, 0, 0, 2)), highlight=False)
    cats = category_table(advice, width=max(6, min(24, (console.width - 48) // 2)))
    if cats is not None:
        console.print()
        console.print(cats)
    console.print()
    console.print("[bold]Why[/]")
    for e in advice.explanation_items:
        console.print(Padding(f"- {e.text}", (0, 0, 0, 2)), highlight=False)
    table = suggestion_table(advice)
    if table is not None:
        console.print()
        console.print(table)
        for i, s in enumerate(advice.suggestion_items, 1):
            if s.verdict == "not measured":
                console.print(Padding(f"{i}. [dim]{s.note}[/]", (0, 0, 0, 2)), highlight=False)
                continue
            console.print(Padding(f"{i}. [bold]{s.change}[/]", (0, 0, 0, 2)), highlight=False)
            # commands are printed whole (soft wrap), never cropped: they are meant to be copied
            if s.command != s.hwbench_command:  # a user's model has no train.py: the one command is hwbench's
                console.print(f"     nanoGPT: [cyan]{s.command}[/]", highlight=False, soft_wrap=True)
            if s.hwbench_command:
                console.print(f"     hwbench: [cyan]{s.hwbench_command}[/]", highlight=False, soft_wrap=True)
            else:
                console.print("     hwbench: no flag for this change (the script's own)", highlight=False)
            detail = []
            if s.step_time_s is not None and s.baseline_step_time_s is not None:
                detail.append(
                    f"median step {s.step_time_s * 1e3:.1f} ms vs baseline "
                    f"{s.baseline_step_time_s * 1e3:.1f} ms"
                )
            if s.method:
                detail.append(f"measured: {s.method}")
            if s.note:
                detail.append(s.note)
            if detail:
                console.print(Padding(f"[dim]{'; '.join(detail)}[/]", (0, 0, 0, 5)), highlight=False)
    ex = advice.experiments
    if ex is not None:
        spread = (
            f"±{ex.run_to_run_spread_pct:.1f}%"
            if ex.run_to_run_spread_pct is not None
            else "not known (one round)"
        )
        console.print(
            f"[dim]Experiments: {plural(ex.rounds, 'interleaved round')} in {ex.wall_s:.1f} s "
            f"(budget {ex.budget_s:.0f} s); "
            f"baseline run-to-run spread {spread}; a speedup is the median over rounds of sustained "
            f"throughput (median step) with its 90% interval, printed as a number only when that spans "
            f"at most 1.2x.[/]",
            highlight=False,
        )
        for note in ex.skipped:
            if note != ex.compile_not_measured:  # shown as the compile suggestion's row instead
                console.print(f"[dim]{note}[/]", highlight=False)
    for note in advice.notes:
        console.print(f"[dim]{note}[/]", highlight=False)


def _rate_unit(facts: RunFacts) -> str:
    """The throughput column's unit: a user's model processes samples, the GPT tokens."""
    return "samples/s" if facts.model is not None else "tokens/s"
