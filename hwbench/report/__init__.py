"""The reporter: where the MFU gap goes, why, and which fixes measurably help on this machine.

    advice = advise(run)          # run: bench.mfu.MfuRun; profiles and runs A/B experiments
    payload.update(advice.to_json())   # explanation, suggestions, waterfall, profile, experiments
    render(advice)                # rich, on stdout
    save_report(advice, "r.svg")  # or .html

`advise_facts(facts, experiments=..., profile=...)` is the pure core: recorded measurements in,
the same Advice out (tests/fixtures/report/ holds recordings of real runs).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hwbench.bench.config import GPTConfig
from hwbench.errors import one_line
from hwbench.report.experiments import ESTIMATOR, ExperimentsReport, plan_variants
from hwbench.report.explain import Explanation, explain
from hwbench.report.export import save_report
from hwbench.report.facts import RunFacts, facts_from_run
from hwbench.report.planner import compile_not_measured
from hwbench.report.profile import ProfileResult
from hwbench.report.render import render
from hwbench.report.runner import run_experiments
from hwbench.report.suggest import Suggestion, suggestions
from hwbench.report.waterfall import Waterfall, build_waterfall, describe

if TYPE_CHECKING:
    from hwbench.bench.mfu import MfuRun
    from hwbench.model import System

DEFAULT_BUDGET_S = 30.0

__all__ = [
    "DEFAULT_BUDGET_S",
    "Advice",
    "advise",
    "advise_facts",
    "render",
    "save_report",
]


@dataclass
class Advice:
    facts: RunFacts
    waterfall: Waterfall
    explanation_items: list[Explanation]
    suggestion_items: list[Suggestion]
    experiments: ExperimentsReport | None = None
    profile: ProfileResult | None = None
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def explanation(self) -> list[str]:
        """The sentences, in reading order (the `explanation` JSON field)."""
        return [e.text for e in self.explanation_items]

    @property
    def suggestions(self) -> list[dict[str, Any]]:
        """Ranked suggestions as JSON-ready dicts: change, measured_speedup, command, ..."""
        return [s.as_dict() for s in self.suggestion_items]

    def to_json(self) -> dict[str, Any]:
        """The fields `hwbench mfu --json` merges into its document."""
        from hwbench.jsonout import to_jsonable

        ex = self.experiments
        return {
            "explanation": self.explanation,
            "explanation_ids": [e.id for e in self.explanation_items],
            "suggestions": self.suggestions,
            "waterfall": {
                "levels": to_jsonable(self.waterfall.levels),
                "categories": to_jsonable(self.waterfall.categories),
                "note": self.waterfall.note,
                "sentences": describe(self.waterfall),
            },
            "profile": to_jsonable(self.profile) if self.profile else None,
            "experiments": (
                {
                    "rounds": ex.rounds,
                    "wall_s": ex.wall_s,
                    "budget_s": ex.budget_s,
                    "baseline_chunk_s": list(ex.baseline_chunk_s),
                    "run_to_run_spread_pct": ex.run_to_run_spread_pct,
                    "steal_pct": ex.steal_pct,
                    "skipped": list(ex.skipped),
                    "compile_not_measured": ex.compile_not_measured,
                    "method": f"{ex.method}; {ESTIMATOR}",
                    "compiled": ex.compiled,
                    "chunks": to_jsonable(ex.chunks),
                }
                if ex
                else None
            ),
            "report_notes": list(self.notes),
            "report_wall_s": self.wall_s,
        }


def advise_facts(
    facts: RunFacts,
    experiments: ExperimentsReport | None = None,
    profile: ProfileResult | None = None,
    notes: list[str] | None = None,
) -> Advice:
    """The pure core: measurements in, waterfall + explanations + ranked suggestions out."""
    return Advice(
        facts=facts,
        waterfall=build_waterfall(facts, profile),
        explanation_items=explain(facts, experiments, profile),
        suggestion_items=suggestions(facts, experiments),
        experiments=experiments,
        profile=profile,
        notes=list(notes or []),
    )


@contextlib.contextmanager
def _quiet_stderr_fd() -> Iterator[None]:
    """Silence C-level writes to fd 2 (the profiler's USDT start/stop lines) for the block."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def advise(
    run: MfuRun,
    experiments: bool = True,
    budget_s: float = DEFAULT_BUDGET_S,
    *,
    system: System | None = None,
    advise_compile: bool = False,
    profile: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Advice:
    """Explain `run` (a bench.mfu.MfuRun) and, unless experiments=False, measure the fixes.

    The profile (a few steps) and the experiments share `budget_s` seconds; torch.compile is only
    measured with advise_compile=True. `system` (default: the one the run carries) describes the machine.
    """
    from dataclasses import replace

    from hwbench.report.monitor import Monitor

    t0 = time.perf_counter()
    facts = facts_from_run(run if system is None else replace(run, system=system))
    notes: list[str] = []
    step = run.step
    cfg = run.config
    prof: ProfileResult | None = None
    report: ExperimentsReport | None = None
    if step is None or run.interrupted:
        notes.append("no profile or experiments: the training step was not fully measured")
        return _finish(advise_facts(facts, notes=notes), t0)
    opts = step.options
    if facts.threads and opts.threads is None and facts.is_cpu:
        opts = replace(opts, threads=facts.threads)  # pin the baseline's thread count explicitly
    if opts.compile:
        # every chunk builds a fresh model: compiled, each would compile again (~40 s on a GPU, ~26 s
        # on a small CPU). The A/B pairs run eager, both arms alike, and the report says so.
        opts = replace(opts, compile=False)
        notes.append(
            "the run was compiled; the profile and the A/B experiments ran eager (both arms alike), "
            "because every chunk would compile again: their ratios are eager-mode ratios"
        )
    if experiments:
        from hwbench.report.runner import start_fork_server

        start_fork_server()  # the experiments' chunk processes fork from it; it loads during the profile
    with Monitor(device=facts.device) as mon:
        if profile and isinstance(cfg, GPTConfig):  # the op profile rebuilds the GPT
            try:
                if progress:
                    progress("profiling the training step")
                from hwbench.report.profile import profile_step

                with _quiet_stderr_fd():
                    # about a tenth of the budget: 1 to 3 steps after one warm-up
                    n = max(1, min(3, int(0.1 * budget_s / max(facts.step_time_s, 1e-3)) - 1))
                    prof = profile_step(cfg, opts, steps=n, warmup=1)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                notes.append(f"profile not taken ({one_line(e)})")
        elif profile:
            notes.append("profile not taken: the op profile rebuilds the GPT, and this is a user's model")
        if experiments:
            spent = time.perf_counter() - t0
            variants, skipped = plan_variants(facts, include_compile=advise_compile, budget_s=budget_s)
            no_compile = compile_not_measured(facts, advise_compile, budget_s)
            try:
                report = run_experiments(
                    cfg,  # type: ignore[arg-type]  # a ModelConfig is measured too (bench.step takes both)
                    opts,
                    variants,
                    baseline_step_s=facts.step_time_s,
                    budget_s=max(5.0, budget_s - spent),
                    skipped=skipped,
                    compile_not_measured=no_compile,
                    progress=progress,
                )
            except KeyboardInterrupt:
                notes.append("experiments interrupted: suggestions not measured")
        else:
            notes.append("experiments skipped (--no-advise): suggestions are not measured")
    events, pcie = mon.nvml_summary()
    facts = replace(
        facts,
        steal_pct=mon.steal,
        others_busy_pct=mon.others_busy,
        loadavg=mon.loadavg,
        nvml_events=tuple(events),
        pcie=pcie,
    )
    if report is not None:
        report = replace(report, steal_pct=mon.steal)
    return _finish(advise_facts(facts, report, prof, notes), t0)


def _finish(advice: Advice, t0: float) -> Advice:
    advice.wall_s = time.perf_counter() - t0
    return advice
