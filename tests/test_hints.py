"""Every usage or input error says what to do: one `error:` line, then one `hint:` line, exit 2."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "tests" / "fixtures" / "fleet"

ERRORS = {"InputError", "HwbenchError", "UnknownPeakError", "DeviceUnavailableError", "FleetError"}


def _hintless(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERRORS):
            continue
        # the hint is the second positional argument or the `hint=` keyword
        if len(node.args) < 2 and not any(k.arg == "hint" for k in node.keywords):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_every_error_raised_has_a_hint() -> None:
    files = sorted((ROOT / "hwbench").rglob("*.py"))
    assert files
    # cli.py re-raises click's own usage errors; their hint comes from _usage_message
    missing = [line for f in files if f != ROOT / "hwbench" / "cli.py" for line in _hintless(f)]
    assert not missing, "errors without a hint=:\n" + "\n".join(missing)


def _hwbench(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWBENCH_")}
    p = subprocess.run(
        [sys.executable, "-m", "hwbench", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (("detect", "--lspci", "/nonexistent"), "cannot read --lspci file", "check the path"),
        (("detect", "--cpuinfo", "/etc"), "is a folder, not a file", "not of the folder"),
        (("mfu", "--block-size", "0"), "block-size must be a positive integer", "--block-size 64"),
        (("mfu", "--n-head", "3", "--n-embd", "128"), "not divisible by n_head (3)", "e.g. 4 for 128"),
        (
            ("merge", "--threshold", "2", str(FLEET / "mfu_2rank_cpu_gloo.json")),
            "straggler threshold '2' must be between 0 and 1",
            "10%",
        ),
        (("peaks", "--peak-tflops", "bf16=-1"), "bf16 must be a positive finite number", "bf16=989.4"),
    ],
)
def test_cli_error_then_hint(args: tuple[str, ...], message: str, hint: str) -> None:
    rc, out, err = _hwbench(*args)
    lines = err.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert rc == 2 and out == "", err
    assert len(errors) == 1 and "Traceback" not in err, err
    i = errors[0]
    assert message in lines[i], err
    hints = [line for line in lines if line.startswith("hint: ")]
    assert len(hints) == 1 and lines[i + 1] == hints[0] and hint in hints[0], err
