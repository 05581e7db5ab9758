"""hwbench.fmt (how numbers read) and hwbench.console (piped stdout, progress phases)."""

from __future__ import annotations

import io
import sys
import time

import pytest

from hwbench import fmt
from hwbench.console import phases


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (3.97e9, "FLOP", "3.97 GFLOP"),  # the seed model's FLOPs per step
        (15.8e15, "FLOP/s", "15.8 PFLOP/s"),
        (1.583e16, "FLOP/s", "15.8 PFLOP/s"),  # was printed "1.583e+04 TFLOP/s"
        (101e6, "FLOP", "101 MFLOP"),
        (9.996e9, "FLOP", "10.0 GFLOP"),  # rounding up adds no fourth digit
        (512, "B", "512 B"),
    ],
)
def test_si_units(value: float, unit: str, text: str) -> None:
    assert fmt.si(value, unit) == text


def test_rates_percentages_plurals_and_lists() -> None:
    assert fmt.flop_rate(0.0561) == "56.1 GFLOP/s" and fmt.flop_rate(None) == "n/a"
    assert fmt.pct(0.2987) == "30%" and fmt.pct(0.031) == "3.1%" and fmt.pct(0.00018) == "0.018%"
    assert fmt.tf(0.0561) == "0.0561" and fmt.tf(15.83) == "15.8" and fmt.tf(1000) == "1000"
    assert fmt.plural(1, "thread") == "1 thread" and fmt.plural(2, "thread") == "2 threads"
    assert fmt.plural(1, "GPU") == "1 GPU" and fmt.plural(0, "GPU") == "0 GPUs"
    assert fmt.cpu_list((0, 1, 2, 3, 8)) == "0-3,8" and fmt.ranges([0, 1, 2, 5]) == "0-2, 5"
    assert fmt.ms(0.0707) == "70.7 ms" and fmt.count(795904) == "0.80 M"
    assert fmt.count(1.2800008e12) == "1.28 T" and fmt.count(124e9) == "124 B" and fmt.count(2304) == "2,304"
    assert fmt.count(999.7e9) == "1 T" and fmt.count(1e15) == "1,000 T"  # no exponents at the boundaries


def test_piped_stdout_has_no_trailing_padding(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.table import Table

    from hwbench.console import stdout

    t = Table(title="a title wider than the cells")
    t.add_column("check")
    t.add_row("min_gpus")
    stdout().print(t)
    out = capsys.readouterr().out
    assert "min_gpus" in out and all(ln == ln.rstrip() for ln in out.splitlines())


def test_plain_phases_are_timed_and_repeat_while_a_phase_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with phases(heartbeat_s=0.2, grace_s=0.0) as phase:
        phase("measuring the matmul ceiling", None)
        phase("measuring the matmul ceiling", 0.5)  # a fraction alone writes no new line
        time.sleep(0.9)
        phase("training step 1/300", None)
        phase("training step 2/300", None)  # a counter's steps are one phase: no line each
    lines = err.getvalue().splitlines()
    assert lines[0].endswith("] measuring the matmul ceiling") and lines[0].startswith("[")
    assert any(ln.endswith("measuring the matmul ceiling (still running)") for ln in lines[1:-1])
    assert lines[-1].endswith("] training step 1/300")


def test_quiet_and_fast_failures_print_no_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with phases(quiet=True) as phase:
        phase("detecting hardware", None)
    with pytest.raises(ValueError), phases(grace_s=5.0) as phase:
        phase("detecting hardware", None)
        raise ValueError("bad input")  # its error line comes first: no phase was printed
    assert err.getvalue() == ""
