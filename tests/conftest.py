"""Shared test setup: every test starts with no interrupt remembered (hwbench.interrupt is
process-wide state, and a test that injects Ctrl-C into a measurement sets it), and in an environment
where the shell that ran pytest cannot change what hwbench prints or measures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# What a user's shell or a CI runner may set that changes hwbench's output (terminal width, colour) or
# its figures (a peak override, a saved-run directory, distributed settings). Tests that need one set it.
_ENVIRONMENT = (
    "COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
    "HWBENCH_DIR", "HWBENCH_PEAK_TFLOPS", "HWBENCH_DIST_BACKEND", "HWBENCH_DIST_TIMEOUT_S",
    "HWBENCH_NO_AFFINITY", "HWBENCH_STRAGGLER_THRESHOLD",
    "HWBENCH_TEST_FAULT_AT", "HWBENCH_TEST_KILL_RANK", "HWBENCH_TEST_STALL_RANK",
)  # fmt: skip
for _name in _ENVIRONMENT:
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def _no_interrupt_remembered() -> Iterator[None]:
    from hwbench import interrupt

    interrupt.reset()
    yield
    interrupt.reset()
