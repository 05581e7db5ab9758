"""Markdown for GitHub Actions' job summary ($GITHUB_STEP_SUMMARY), written when GITHUB_ACTIONS=true."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hwbench.check.results import CheckResult, Summary

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⚪ skip"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt_value(v: object, unit: str | None = None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        v = f"{v:.4g}"
    elif isinstance(v, list):
        v = ", ".join(map(str, v)) or "none"
    return f"{v} {unit}" if unit else str(v)


def markdown(results: Sequence[CheckResult], summary: Summary, warnings: Sequence[str] = ()) -> str:
    head = "passed" if summary.status == "pass" else "FAILED"
    lines = [
        f"### hwbench check: {head}",
        "",
        f"{summary.passed} passed, {summary.failed} failed, {summary.skipped} skipped"
        + (" (--strict: skips count as failures)" if summary.strict else ""),
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
