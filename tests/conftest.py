"""Shared test setup: every test starts with no interrupt remembered (hwbench.interrupt is
process-wide state, and a test that injects Ctrl-C into a measurement sets it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_interrupt_remembered() -> Iterator[None]:
    from hwbench import interrupt

    interrupt.reset()
    yield
    interrupt.reset()
