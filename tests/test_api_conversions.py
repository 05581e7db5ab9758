"""`hwbench peaks --nanogpt-mfu/--achieved-tflops/--promised-tflops`: a printed MFU re-expressed against
the true dense peak of the GPU that ran (nanoGPT divides by the A100's 312 TFLOP/s on every device)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwbench.commands.peaks import conversions, parse_percent
from hwbench.errors import InputError
from hwbench.peaks import gpu_peak


def hw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "peaks", *args], capture_output=True, text=True, timeout=120
    )


def test_rtx_4070_ti_nanogpt_10_percent_is_38_9_percent() -> None:
    """The motivating report: nanoGPT printed 10% on an RTX 4070 Ti; 31.2 of its 80.2 TFLOP/s is 38.9%."""
    r = hw("--gpu", "NVIDIA GeForce RTX 4070 Ti", "--nanogpt-mfu", "10%")
    assert r.returncode == 0, r.stderr
    assert "38.9% MFU" in " ".join(r.stdout.split())
    r = hw(
        "--gpu", "NVIDIA GeForce RTX 4070 Ti", "--nanogpt-mfu", "10%", "--achieved-tflops", "40.1", "--json"
    )
    doc = json.loads(r.stdout)
    first, second = doc["conversions"]
    assert {"achieved_tflops", "dtype", "mfu"} <= set(first)
    assert first["achieved_tflops"] == pytest.approx(31.2) and first["dtype"] == "bf16"
    assert first["mfu"] == pytest.approx(31.2 / 80.2) and round(first["mfu"] * 100, 1) == 38.9
    assert second["achieved_tflops"] == 40.1 and second["mfu"] == pytest.approx(0.5)


def test_nanochat_promised_989_on_an_h100() -> None:
    r = hw("--gpu", "NVIDIA H100 80GB HBM3", "--nanogpt-mfu", "45", "--promised-tflops", "989", "--json")
    (c,) = json.loads(r.stdout)["conversions"]
    assert c["achieved_tflops"] == pytest.approx(445.05) and c["mfu"] == pytest.approx(445.05 / 989.4)


def test_no_conversions_key_without_the_flags() -> None:
    doc = json.loads(hw("--gpu", "NVIDIA H100 80GB HBM3", "--json").stdout)
    assert "conversions" not in doc


def test_above_the_peak_or_no_dtype_path_gives_no_mfu() -> None:
    rtx = gpu_peak("NVIDIA GeForce RTX 4070 Ti")
    t4 = gpu_peak("Tesla T4")
    assert rtx is not None and t4 is not None
    over, t4c = conversions([rtx, t4], "bf16", ["40%"], [], 312.0)
    assert over.mfu is None and over.reason is not None and "above" in over.reason  # 124.8 > 80.2
    assert t4c.mfu is None and t4c.reason is not None and "no dense bf16 peak" in t4c.reason
    (fp16,) = conversions([t4], "fp16", [], [32.5], 312.0)
    assert fp16.mfu == pytest.approx(0.5)


@pytest.mark.parametrize(("text", "value"), [("10%", 0.10), ("10", 0.10), ("38.94 %", 0.3894)])
def test_parse_percent(text: str, value: float) -> None:
    assert parse_percent(text) == pytest.approx(value)


def test_bad_values_exit_2_with_one_line() -> None:
    with pytest.raises(InputError):
        parse_percent("ten")
    r = hw("--gpu", "NVIDIA H100 80GB HBM3", "--nanogpt-mfu", "-5%")
    assert r.returncode == 2 and r.stderr.startswith("error: --nanogpt-mfu")
    r = hw("--gpu", "NVIDIA H100 80GB HBM3", "--achieved-tflops", "1", "--dtype", "float13")
    assert r.returncode == 2 and "unknown dtype" in r.stderr
