"""SIGINT and SIGTERM: the run stops within a chunk, prints what it measured (one JSON document marked
interrupted), and exits 130 / 143; an interrupted check never passes. Through real subprocesses, each
signalled once its progress line shows it is measuring (short runs: --quick, --no-advise)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwbench import interrupt


def signalled(args: list[str], marker: str, sig: int, delay: float = 0.0) -> tuple[int, str, str, float]:
    """Start `hwbench ARGS`, wait for `marker` on stderr (+ delay), send `sig`; (rc, out, err, s after)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "hwbench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert p.stderr is not None
    seen = []
    try:
        for line in p.stderr:
            seen.append(line)
            if marker in line:
                break
        else:
            pytest.fail(f"never saw {marker!r}: {''.join(seen)[-1500:]}")
        time.sleep(delay)
        t0 = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        return p.returncode, out, "".join(seen) + err, time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_check_never_passes(sig: int, code: int) -> None:
    rc, out, err, _ = signalled(
        ["check", "--level", "long", "--min-tflops", "fp32=0.001", "--json"],
        "measuring fp32 matmul",
        sig,
        0.5,
    )
    assert rc == code, err[-1500:]
    doc = json.loads(out)  # one document: what was checked before the signal, and a failed `interrupted`
    assert doc["interrupted"] is True and doc["summary"]["status"] == "fail"
    assert doc["summary"]["exit_code"] == code  # the code the process ends with, not 1
    stop = [c for c in doc["checks"] if c["name"] == "interrupted"]
    assert len(stop) == 1 and stop[0]["status"] == "fail" and signal.Signals(sig).name in stop[0]["message"]
    assert f"error: interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err


def test_sigterm_during_mfu_prints_what_was_measured() -> None:
    rc, out, err, _ = signalled(
        ["mfu", "--quick", "--json", "--no-advise", "--no-ceiling"], "training step", signal.SIGTERM, 1.0
    )
    assert rc == 143, err[-1500:]
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["command"] == "mfu"
    assert "advice" not in doc["phases_completed"]
    assert "Traceback" not in err


def test_a_remembered_interrupt_stops_the_next_chunk() -> None:
    """The reporter times in chunks; one that caught Ctrl-C to keep its samples must not start the next."""
    from hwbench.bench.config import GPTConfig
    from hwbench.bench.step import StepOptions, measure_step

    tiny = GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=2, vocab_size=40)

    def interrupt_after_one(done: int, total: int, dt: float) -> None:
        raise KeyboardInterrupt

    r = measure_step(tiny, StepOptions(device="cpu", warmup=0, steps=5), progress=interrupt_after_one)
    assert r.interrupted and r.timing.n == 1
    assert interrupt.received() == signal.SIGINT and interrupt.exit_code() == 130
    with pytest.raises(KeyboardInterrupt):
        measure_step(tiny, StepOptions(device="cpu", warmup=0, steps=5))


def test_sigterm_is_an_interrupt_with_its_own_code() -> None:
    interrupt.note(interrupt.Terminated())
    assert interrupt.exit_code() == 143 and interrupt.name() == "SIGTERM"
    with pytest.raises(interrupt.Terminated):
        interrupt.check()


def test_readme_exit_code_table_names_the_codes_the_cli_uses() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = {int(m) for m in re.findall(r"(?m)^\| (\d+) \| ", readme)}
    assert table >= {0, 1, 2, 128 + signal.SIGINT, 128 + signal.SIGTERM}
