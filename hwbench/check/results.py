"""The result of one check, and the summary and exit code of a run."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One check: what was measured, what was expected, and a one-line message saying why.

    `name` is stable for machines (`min_gpus`, `min_tflops[fp32]@cpu`, `pcie_full@gpu3`); `measured`
    and `expected` are plain JSON values (a number in `unit`, a string, a list) or None when nothing
    could be measured; `source` says where the measured value came from (NVML, /proc/cpuinfo, which
    benchmark), as every number hwbench shows does.
    """

    name: str
    status: Status
    measured: Any
    expected: Any
    message: str
    unit: str | None = None
    op: str | None = None  # ">=", "<=", "==", "matches", "has": how measured is held against expected
    device: str | None = None  # "cpu", "cuda:0", "gpu0 0000:18:00.0"
    source: str | None = None


@dataclass(frozen=True)
class Summary:
    total: int
    passed: int
    failed: int
    skipped: int
    strict: bool
    status: Literal["pass", "fail"]
    exit_code: int


def apply_strict(results: Iterable[CheckResult]) -> list[CheckResult]:
    """`--strict`: a check that could not be evaluated is a failure (the reason stays in the message)."""
    out: list[CheckResult] = []
    for r in results:
        if r.status == "skip":
            r = dataclasses.replace(r, status="fail", message=f"not evaluated (--strict): {r.message}")
        out.append(r)
    return out


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 when nothing failed, 1 when something did (usage errors exit 2 long before this)."""
    return 1 if any(r.status == "fail" for r in results) else 0


def summarize(results: Sequence[CheckResult], strict: bool = False) -> Summary:
    failed = sum(r.status == "fail" for r in results)
    rc = exit_code(results)
    return Summary(
        total=len(results),
        passed=sum(r.status == "pass" for r in results),
        failed=failed,
        skipped=sum(r.status == "skip" for r in results),
        strict=strict,
        status="fail" if failed else "pass",
        exit_code=rc,
    )
