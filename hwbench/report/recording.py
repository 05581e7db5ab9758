"""Recordings: one run's facts, profile and experiments as JSON, and back (for fixtures and bug reports).

`record(advice)` writes what the report was computed from (never the sentences themselves), so a
recording replays through `advise_facts` into the same report with the code of the day.
"""

from __future__ import annotations

from typing import Any

from hwbench.errors import InputError
from hwbench.report.experiments import ChunkRecord, ExperimentResult, ExperimentsReport, Variant
from hwbench.report.facts import RunFacts, facts_from_dict, facts_to_dict
from hwbench.report.profile import CategoryShare, ProfileResult

RECORD_VERSION = 1


def record(
    facts: RunFacts,
    experiments: ExperimentsReport | None,
    profile: ProfileResult | None,
    source: str,
) -> dict[str, Any]:
    from hwbench.jsonout import to_jsonable

    return {
        "record_version": RECORD_VERSION,
        "source": source,
        "facts": facts_to_dict(facts),
        "profile": to_jsonable(profile) if profile else None,
        "experiments": to_jsonable(experiments) if experiments else None,
    }


def _variant(d: dict[str, Any]) -> Variant:
    return Variant(
        key=d["key"],
        kind=d["kind"],
        change=d["change"],
        config=dict(d.get("config") or {}),
        options=dict(d.get("options") or {}),
        cpus=tuple(d.get("cpus") or ()),
        parts=tuple(d.get("parts") or ()),
    )


def experiments_from_dict(d: dict[str, Any]) -> ExperimentsReport:
    results = []
    for r in d.get("results", ()):
        r = dict(r)
        r["variant"] = _variant(r["variant"])
        r["ratios"] = tuple(r.get("ratios") or ())
        if r.get("interval") is not None:
            lo, hi = r["interval"]
            r["interval"] = (float(lo), float(hi))
        results.append(ExperimentResult(**r))
    return ExperimentsReport(
        results=tuple(results),
        baseline_chunk_s=tuple(d.get("baseline_chunk_s") or ()),
        run_to_run_spread_pct=d.get("run_to_run_spread_pct"),
        rounds=int(d.get("rounds", 0)),
        wall_s=float(d.get("wall_s", 0.0)),
        budget_s=float(d.get("budget_s", 0.0)),
        skipped=tuple(d.get("skipped") or ()),
        compile_not_measured=_compile_not_measured(d),
        steal_pct=d.get("steal_pct"),
        method=str(d.get("method", "")),
        compiled=bool(d.get("compiled", False)),
        chunks=tuple(
            ChunkRecord(str(c["key"]), int(c["round"]), float(c["flops_per_step"]), tuple(c["step_times_s"]))
            for c in d.get("chunks") or ()
        ),
    )


def profile_from_dict(d: dict[str, Any]) -> ProfileResult:
    return ProfileResult(
        steps=int(d["steps"]),
        step_time_s=float(d["step_time_s"]),
        categories=tuple(CategoryShare(**c) for c in d.get("categories", ())),
        top_ops=tuple((str(a), str(b), float(c)) for a, b, c in d.get("top_ops", ())),
        source=str(d.get("source", "torch.profiler")),
        sdpa_backend=d.get("sdpa_backend"),
    )


def load(d: dict[str, Any]) -> tuple[RunFacts, ExperimentsReport | None, ProfileResult | None]:
    """A recording (as written by `record`) back into the report's inputs."""
    try:
        facts = facts_from_dict(d["facts"])
        ex = experiments_from_dict(d["experiments"]) if d.get("experiments") else None
        prof = profile_from_dict(d["profile"]) if d.get("profile") else None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(
            f"not a hwbench report recording: {e}",
            hint="pass a file hwbench.report.recording.record wrote (record it again with this version)",
        ) from e
    return facts, ex, prof


def _compile_not_measured(d: dict[str, Any]) -> str | None:
    if "compile_not_measured" in d:
        value = d["compile_not_measured"]
        return str(value) if value is not None else None
    # Recordings written before the field existed kept the sentence only among the skipped notes.
    return next(
        (str(n) for n in d.get("skipped") or () if str(n).startswith("torch.compile: not measured")), None
    )
