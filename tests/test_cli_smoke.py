"""The CLI's shared contract: --version, one-line errors with exit 2."""

from __future__ import annotations

import subprocess
import sys

from hwbench import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", *args], capture_output=True, text=True, timeout=120
    )


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"hwbench {__version__}"


def test_unknown_option_exits_2() -> None:
    r = run("peaks", "--no-such-option")
    assert r.returncode == 2
