"""`hwbench mfu`: the run at tiny sizes, the three MFU figures, the JSON contract and its errors."""

from __future__ import annotations

import json

import pytest

from hwbench.bench.mfu import (
    MfuOptions,
    lookup_peak,
    mfu_against_peak,
    mfu_payload,
    run_mfu,
)
from hwbench.errors import HwbenchError, InputError
from hwbench.peaks import DevicePeak

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 2}
DESIGN_FIELDS = {
    "device",
    "dtype",
    "config",
    "flops_per_step",
    "step_time_s",
    "achieved_tflops",
    "peak_tflops",
    "mfu",
    "matmul_ceiling_tflops",
    "mfu_vs_ceiling",
    "mfu_nanogpt",
    "explanation",
    "suggestions",
}


def tiny_opts(**kw: object) -> MfuOptions:
    base: dict[str, object] = {
        "device": "cpu",
        "preset": "nanogpt-cpu",
        **TINY,
        "steps": 3,
        "warmup": 1,
        "threads": 1,
        "ceiling_squares": (32,),
        "ceiling_budget_s": 0.2,
        "quick": True,
    }
    base.update(kw)
    return MfuOptions(**base)  # type: ignore[arg-type]


def test_run_mfu_tiny_payload() -> None:
    run = run_mfu(tiny_opts(peak_overrides=("fp32=1000",)))
    assert run.step is not None and run.step.timing.n == 3
    p = mfu_payload(run)
    assert set(p) >= DESIGN_FIELDS
    assert set(p["config"]) >= {"n_layer", "n_head", "n_embd", "block_size", "batch_size", "vocab_size"}
    assert p["config"]["vocab_size"] == 65 and p["config"]["n_layer"] == 1
    assert p["achieved_tflops"] == pytest.approx(p["flops_per_step"] / p["step_time_s"] / 1e12)
    assert p["mfu_nanogpt"] == pytest.approx(p["achieved_tflops"] / 312)
    assert p["peak_tflops"] == 1000 and p["mfu"] == pytest.approx(p["achieved_tflops"] / 1000)
    assert p["matmul_ceiling_tflops"] > 0
    assert p["mfu_vs_ceiling"] == pytest.approx(p["achieved_tflops"] / p["matmul_ceiling_tflops"])
    # every model GEMM is either measured or named as skipped (the sweep is time-bounded)
    measured = {g["label"] for g in p["model_gemms"]}
    for name in ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj", "lm_head"):
        label = f"model {name}"
        assert label in measured or any(label in n for n in p["ceiling"]["notes"]), label
    assert p["explanation"] == [] and p["suggestions"] == []
    json.dumps(p)  # plain JSON types only


def test_mfu_never_above_100_percent() -> None:
    peak = DevicePeak(
        device="cpu",
        name="test CPU",
        peaks_tflops={"fp32": 0.05, "bf16": None},
        source="test table row",
        estimated=True,
    )
    mfu, why, warnings = mfu_against_peak(0.11, "fp32", peak)
    assert mfu is None and why and "exceeds" in why
    assert "wrong" in warnings[0] and "--peak-tflops" in warnings[0]
    assert mfu_against_peak(0.025, "fp32", peak)[0] == pytest.approx(0.5)
    assert mfu_against_peak(0.025, "bf16", peak)[0] is None  # no bf16 path: None with a reason
    assert mfu_against_peak(0.025, "fp32", None)[1] == "no peak known for this device"


def test_one_mfu_rule_for_the_run_and_its_explanation() -> None:
    """A recorded run whose measured rate is twice the peak: the run, the report's facts and their
    explanation all refuse an MFU over 100% (the table says n/a, so the text must not say 200%)."""
    import dataclasses
    import sys
    from pathlib import Path

    from hwbench.report.explain import nanogpt_denominator
    from hwbench.report.waterfall import build_waterfall

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import recorded

    facts, _, _ = recorded()
    half = facts.achieved_tflops / 2
    over = dataclasses.replace(
        facts, peak_tflops=half, peaks_tflops={**facts.peaks_tflops, facts.dtype: half}
    )
    peak = DevicePeak(
        device="cpu", name="test CPU", peaks_tflops=dict(over.peaks_tflops), source="t", estimated=True
    )
    assert mfu_against_peak(over.achieved_tflops, over.dtype, peak)[0] is None
    assert facts.peak_tflops and over.mfu is None
    assert facts.mfu == pytest.approx(facts.achieved_tflops / facts.peak_tflops)
    text = nanogpt_denominator(over).text  # type: ignore[union-attr]
    assert "200" not in text and "that peak is wrong" in text, text
    step = build_waterfall(over).level("step")
    assert step is not None and step.fraction_of_peak is None
    assert build_waterfall(facts).level("step").fraction_of_peak == pytest.approx(facts.mfu)  # type: ignore[union-attr]


def test_peak_override_without_peaks_module() -> None:
    peak, _ = lookup_peak("cpu", None, None, ("bf16=165", "fp32=0.5"))
    assert peak is not None and peak.peaks_tflops["bf16"] == 165 and peak.peaks_tflops["fp32"] == 0.5
    with pytest.raises(InputError):
        lookup_peak("cpu", None, None, ("bf16:165",))


def test_interrupted_step_is_a_partial_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import hwbench.bench.mfu as mfu_mod

    real = mfu_mod.measure_step

    def interrupted(cfg, opts, progress=None):  # type: ignore[no-untyped-def]
        def prog(done: int, total: int, dt: float) -> None:
            if done == 2:
                raise KeyboardInterrupt

        return real(cfg, opts, progress=prog)

    monkeypatch.setattr(mfu_mod, "measure_step", interrupted)
    run = run_mfu(tiny_opts(steps=20))
    assert run.interrupted and run.step is not None and run.step.timing.n == 2
    assert run.ceiling is None  # not started after Ctrl-C
    assert mfu_payload(run)["interrupted"] is True


@pytest.mark.parametrize(
    ("opts", "match"),
    [
        ({"preset": "gpt5"}, "unknown preset 'gpt5'"),
        ({"n_head": 3}, r"n_embd \(32\) is not divisible by n_head \(3\)"),
        ({"dtype": "fp8"}, "unknown dtype"),
        ({"dtype": "tf32"}, "tf32 is an NVIDIA tensor-core mode"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_bad_input(opts: dict[str, object], match: str) -> None:
    with pytest.raises(HwbenchError, match=match):
        run_mfu(tiny_opts(**opts))


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from hwbench.cli import main
    from hwbench.console import stdout

    stdout.cache_clear()  # a fresh console reads this test's COLUMNS, as a fresh process does

    with pytest.raises(SystemExit) as e:
        main(["mfu", *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_cli_cuda_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc, out, err = _cli(capsys, "--device", "cuda", "--no-advise")
    assert rc == 2 and out == ""
    # a timed progress line ("[  1.2 s] detecting hardware") may come first on a slow machine
    first = next(ln for ln in err.splitlines() if not ln.startswith("["))
    assert first.startswith("error: --device cuda: CUDA is not usable: torch ")
    assert torch.__version__ in first and "detect saw" in first


def test_cli_unknown_preset_and_bad_heads(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _cli(capsys, "--preset", "nope")
    assert rc == 2 and err.startswith("error: unknown preset 'nope'")
    rc, _, err = _cli(capsys, "--preset", "nanogpt-cpu", "--n-head", "5")
    assert rc == 2 and "not divisible by n_head (5)" in err
    rc, _, err = _cli(capsys, "--peak-tflops", "fp32")
    assert rc == 2 and err.startswith("error: --peak-tflops expects DTYPE=VALUE")


def test_cli_json_tiny(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import hwbench.bench.mfu as mfu_mod

    # keep the CLI run tiny: a short step plan and a one-size ceiling
    monkeypatch.setattr(mfu_mod, "step_plan", lambda device, quick: (1, 3, 1.0))
    monkeypatch.setattr("hwbench.bench.matmul.square_sizes", lambda device, quick: (32,))
    args = ["--device", "cpu", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "16"]
    rc, out, _ = _cli(
        capsys, *args, "--batch-size", "2", "--quick", "--json", "--no-advise", "--threads", "1"
    )
    assert rc == 0
    doc = json.loads(out)
    assert doc["command"] == "mfu" and doc["schema_version"] >= 1
    assert set(doc) >= DESIGN_FIELDS and doc["device"] == "cpu" and doc["threads"] == 1


def test_cli_terminal_shows_each_denominator(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import pathlib

    import hwbench.bench.mfu as mfu_mod

    monkeypatch.setattr(mfu_mod, "step_plan", lambda device, quick: (1, 3, 1.0))
    monkeypatch.setattr("hwbench.bench.matmul.square_sizes", lambda device, quick: (32,))
    monkeypatch.setenv("COLUMNS", "200")
    report = pathlib.Path(str(tmp_path)) / "r.json"
    args = ["--device", "cpu", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "16"]
    rc, out, err = _cli(
        capsys,
        *args,
        "--batch-size", "2", "--quick", "--no-advise", "--threads", "1",
        "--peak-tflops", "fp32=1000", "--save-report", str(report),
    )  # fmt: skip
    assert rc == 0, err
    peak_line = next(ln for ln in out.splitlines() if ln.startswith("peak "))
    assert "1000 TFLOP/s dense fp32" in peak_line and "fp32=1000" in peak_line  # the figure and its source
    mfu_line = next(ln for ln in out.splitlines() if ln.startswith("MFU"))
    assert "/ 1000 TFLOP/s: this device's dense fp32 peak" in mfu_line
    ceiling_line = next(ln for ln in out.splitlines() if ln.startswith("vs ceiling"))
    assert "TFLOP/s: best fp32 GEMM measured here (" in ceiling_line
    nano_line = next(ln for ln in out.splitlines() if ln.startswith("nanoGPT says"))
    assert "/ 312 TFLOP/s: an A100's bf16 peak, any device" in nano_line
    step_line = next(ln for ln in out.splitlines() if ln.startswith("step time"))
    assert "tokens/s" in step_line and "FLOP/s" in step_line
    assert all(ln == ln.rstrip() for ln in out.splitlines())  # piped: no padding to the width
    assert "GEMM ceiling" not in out and "--details: GEMM table" in out  # the summary only
    assert json.loads(report.read_text())["peak_tflops"] == 1000
    rc, out, err = _cli(capsys, *args, "--batch-size", "2", "--quick", "--no-advise", "--threads", "1",
                        "--details", "--quiet")  # fmt: skip
    assert rc == 0 and err == ""  # --quiet: no progress lines
    assert "GEMM ceiling" in out and "FLOPs/step" in out and "--details:" not in out


def test_cuda_oom_halves_the_batch_and_says_so() -> None:
    """The retry path, driven by the message torch raises (torch.OutOfMemoryError is a RuntimeError)."""
    from hwbench.bench.config import PRESETS
    from hwbench.bench.mfu import step_with_oom_retry
    from hwbench.bench.step import StepOptions

    seen: list[int] = []

    def measure(cfg, opts):  # type: ignore[no-untyped-def]
        seen.append(cfg.batch_size)
        if cfg.batch_size > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "result"

    warnings: list[str] = []
    res, cfg = step_with_oom_retry(PRESETS["gpt2-124m"], StepOptions(device="cuda:0"), warnings, measure)
    assert res == "result" and cfg.batch_size == 3 and seen == [12, 6, 3]
    assert warnings[0].startswith("out of memory on cuda:0 at batch size 12; retried with batch size 6")
    # not CUDA, or not an OOM: raised unchanged
    with pytest.raises(RuntimeError):
        step_with_oom_retry(PRESETS["gpt2-124m"], StepOptions(device="cpu"), [], measure)


def test_default_output_fits_one_screen_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny real run, advised from the recorded seed run with three measured gains (the longest
    summary: a command each): the whole stdout fits 40 lines of 80 columns."""
    import dataclasses
    import sys
    from pathlib import Path

    import hwbench.bench.mfu as mfu_mod
    import hwbench.commands.mfu as cmd_mod
    from hwbench.report import advise_facts

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import recorded

    facts, ex, prof = recorded()
    assert ex is not None
    speedups = {"dtype=bf16": 1.5, "batch=48": 1.3, "threads=1": 1.2}
    gains = tuple(
        dataclasses.replace(r, speedup=speedups[r.variant.key], verdict="gain")
        if r.variant.key in speedups
        else r
        for r in ex.results
    )
    zen5 = dataclasses.replace(facts, peaks_tflops={**facts.peaks_tflops, "bf16": 2 * facts.peak_tflops})
    advice = advise_facts(zen5, dataclasses.replace(ex, results=gains), prof)
    monkeypatch.setattr(cmd_mod, "_advise", lambda *a, **k: advice)
    monkeypatch.setattr(mfu_mod, "step_plan", lambda device, quick: (1, 3, 1.0))
    monkeypatch.setattr("hwbench.bench.matmul.square_sizes", lambda device, quick: (32,))
    monkeypatch.setenv("COLUMNS", "80")
    args = ["--device", "cpu", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "16"]
    rc, out, err = _cli(capsys, *args, "--batch-size", "2", "--quick", "--threads", "1", "-q")
    assert rc == 0, err
    lines = out.splitlines()
    commands = [ln for ln in lines if ln[:1].isdigit() and ln[1:3] == ". "]  # whole, for copying
    rows = sum(max(1, -(-len(ln) // 80)) for ln in lines)  # as an 80-column terminal wraps them
    assert rows <= 40 and all(ln == ln.rstrip() for ln in lines), out
    assert all(len(ln) <= 80 for ln in lines if ln not in commands), out
    assert sum(ln.startswith(("1. hwbench mfu", "2. hwbench mfu", "3. hwbench mfu")) for ln in lines) == 3
    assert lines[0].startswith("hwbench mfu  cpu") and any(ln.startswith("biggest loss") for ln in lines)
