"""Usage errors from click itself read as every other bad input does: `error:` + `hint:`, exit 2."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from hwbench.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (("mfu", "--bogus"), "error: no such option: --bogus", "`hwbench mfu --help` lists the options"),
        (("mfu", "--jsn"), "error: no such option: --jsn", "did you mean --json?"),
        (("mfu", "--threads", "x"), "error: invalid value for '--threads'", "hwbench mfu --help"),
        (("merge",), "error: missing argument", "`hwbench merge --help` lists the options"),
        (("check", "--min-tflops"), "error: option '--min-tflops' requires an argument", "hwbench check"),
        (("bogus",), "error: no such command 'bogus'", "`hwbench --help` lists the commands"),
        (("detect", "--bogus"), "error: no such option: --bogus", "hwbench detect --help"),
    ],
)
def test_click_usage_errors_are_one_error_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str, hint: str
) -> None:
    rc, out, err = cli(capsys, *args)
    lines = err.splitlines()
    assert rc == 2 and out == "" and len(lines) == 2, err
    assert lines[0].startswith(message) and lines[1].startswith("hint: ") and hint in lines[1]
    assert "╭" not in err and "Usage:" not in err  # no boxed panel, no usage block


def test_check_value_hint_names_the_flag_once(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(capsys, "check", "--min-tflops", "5")
    assert rc == 2 and err.splitlines() == [
        "error: --min-tflops: expected DTYPE=VALUE, got '5'",
        "hint: e.g. --min-tflops fp32=0.05",
    ]


@pytest.mark.parametrize("command", ["", "detect", "peaks", "mfu", "check", "comm", "merge"])
def test_help_reads_at_80_columns(command: str) -> None:
    args = [sys.executable, "-m", "hwbench", *([command] if command else []), "--help"]
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout.startswith("Usage: hwbench")
    assert all(len(ln) <= 80 for ln in r.stdout.splitlines())
    assert "╭" not in r.stdout and not re.search(r"^  -.*<", r.stdout, re.M)  # no "--json <bool>"
    assert not re.search(r"^  \S+ .*\.\.\.$", r.stdout, re.M)  # no short help cut with "..."


def test_argument_help_names_the_value_not_its_python_type() -> None:
    import os

    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "merge", "--help"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert r.returncode == 0 and "Usage: hwbench merge [OPTIONS] FILE..." in r.stdout
    assert "<list" not in r.stdout and "{" not in r.stdout
