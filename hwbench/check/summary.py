"""What a check run says in brief: per-GPU results grouped, the counts naming what failed, and the
Markdown for GitHub Actions' job summary ($GITHUB_STEP_SUMMARY), written when GITHUB_ACTIONS=true."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hwbench.check.results import CheckResult, Summary
from hwbench.fmt import ranges

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⚪ skip"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# units that are counts of things: "1 GPU", "2 GPUs"
_COUNT_UNITS = {"GPUs": "GPU", "errors": "error"}


def tally(items: Sequence[object]) -> str:
    """Identical items counted once, in first-seen order: eight H100s read "8x NVIDIA H100 ...", not
    the name eight times."""
    counts: dict[str, int] = {}
    for item in items:
        counts[str(item)] = counts.get(str(item), 0) + 1
    return ", ".join(f"{n}x {text}" if n > 1 else text for text, n in counts.items())


def fmt_value(v: object, unit: str | None = None) -> str:
    if v is None:
        return "n/a"
    if unit in _COUNT_UNITS and v == 1:
        unit = _COUNT_UNITS[unit]
    if isinstance(v, float):
        v = f"{v:.4g}"
    elif isinstance(v, list):
        v = tally(v) or "none"
    return f"{v} {unit}" if unit else str(v)


@dataclass(frozen=True)
class ResultGroup:
    """Results of one check that read the same on several devices ("gpus 0-7: pass"), or one result."""

    name: str  # the check without its device: "min_gpu_memory_gb", "min_tflops[fp32]"
    where: str  # "gpus 0-7", "cuda:0", "cpu", "" for a machine-wide check
    first: CheckResult  # status, measured, expected, message: the same for every member
    members: tuple[CheckResult, ...]


_GPU_INDEX = re.compile(r"^(?:gpu|cuda:)(\d+)$")
_RANK = re.compile(r"^rank(\d+):(.*)$")  # a torchrun rank's check, as the fleet report names it


def _split(name: str) -> tuple[str, str]:
    """("min_tflops[bf16]", "cuda:3") from "rank3:min_tflops[bf16]@cuda:3" or "min_tflops[bf16]@cuda:3"."""
    m = _RANK.match(name)
    base, _, where = (m.group(2) if m else name).partition("@")
    return base, where


def _index(name: str) -> tuple[str, int] | None:
    """("ranks", 3) for a rank's check, ("gpus", 3) for one GPU's, None for a machine-wide one."""
    if m := _RANK.match(name):
        return "ranks", int(m.group(1))
    if m := _GPU_INDEX.match(_split(name)[1]):
        return "gpus", int(m.group(1))
    return None


def group_results(results: Sequence[CheckResult]) -> list[ResultGroup]:
    """Results of one check that differ only in their GPU (or torchrun rank) collapse into one row,
    "gpus 0-7" / "ranks 0-7", in first-seen order."""
    groups: dict[tuple[object, ...], list[CheckResult]] = {}
    for r in results:
        at = _index(r.name)
        key: tuple[object, ...] = (
            (_split(r.name)[0], at[0], r.status, repr(r.measured), repr(r.expected), r.unit, r.op, r.message)
            if at
            else (r.name, id(r))
        )
        groups.setdefault(key, []).append(r)
    out: list[ResultGroup] = []
    for members in groups.values():
        base, where = _split(members[0].name)
        at = _index(members[0].name)
        if at is not None and (len(members) > 1 or at[0] == "ranks"):
            idx = [x[1] for r in members if (x := _index(r.name))]
            where = f"{at[0] if len(idx) > 1 else at[0][:-1]} {ranges(idx)}"
        out.append(ResultGroup(base, where, members[0], tuple(members)))
    return out


def failing_names(results: Sequence[CheckResult], status: str = "fail") -> list[str]:
    """The checks (without their device) that have a result of `status`, in first-seen order."""
    return list(dict.fromkeys(_split(r.name)[0] for r in results if r.status == status))


def counts_line(summary: Summary, results: Sequence[CheckResult]) -> str:
    """ "3 passed, 1 failed (min_gpus), 0 skipped": the counts, naming what failed or was skipped."""
    failed = failing_names(results)
    skipped = failing_names(results, "skip")
    return (
        f"{summary.passed} passed, {summary.failed} failed" + (f" ({', '.join(failed)})" if failed else "")
        + f", {summary.skipped} skipped" + (f" ({', '.join(skipped)})" if skipped else "")
    )  # fmt: skip


def markdown(results: Sequence[CheckResult], summary: Summary, warnings: Sequence[str] = ()) -> str:
    head = "passed" if summary.status == "pass" else "FAILED"
    lines = [
        f"### hwbench check: {head}",
        "",
        counts_line(summary, results) + (" (--strict: skips count as failures)" if summary.strict else ""),
        "",
        "| check | status | measured | expected | message |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        exp = f"{r.op} {fmt_value(r.expected, r.unit)}" if r.op else fmt_value(r.expected, r.unit)
        lines.append(
            f"| `{_cell(r.name)}` | {_ICON[r.status]} | {_cell(fmt_value(r.measured, r.unit))} "
            f"| {_cell(exp)} | {_cell(r.message)} |"
        )
    for w in warnings:
        lines.append(f"\n> warning: {_cell(w)}")
    return "\n".join(lines) + "\n"


def write_step_summary(text: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to $GITHUB_STEP_SUMMARY under GitHub Actions; None elsewhere (or if it cannot be written)."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") != "true" or not env.get("GITHUB_STEP_SUMMARY"):
        return None
    path = Path(env["GITHUB_STEP_SUMMARY"])
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError:
        return None  # a summary is a courtesy: never fail the gate over it
    return path
