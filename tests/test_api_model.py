"""`hwbench mfu --model FILE.py:FACTORY`: the user's own model measured like the built-in GPT, FLOPs by
FlopCounterMode, and errors in the user's code reported with the user's own file and line (exit 2)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hwbench
from hwbench.bench.step import StepOptions, measure_step
from hwbench.bench.usermodel import batch_dim, build, describe, with_batch
from hwbench.errors import HwbenchError

ROOT = Path(__file__).resolve().parents[1]
CNN = str(ROOT / "examples" / "small_cnn.py") + ":make"
MLP = str(ROOT / "examples" / "mlp.py") + ":make"

BROKEN = """\
import torch


def shapes():
    return torch.nn.Linear(4, 4), torch.randn(3, 5)


def crash():
    raise ValueError("no data directory")


def not_a_tuple():
    return torch.nn.Linear(2, 2)


class Net(torch.nn.Module):
    def forward(self, x):
        return x.view(-1, 7)  # the user's own bug, in the user's own forward


def bad_forward():
    return Net(), torch.randn(2, 3)
"""


def hw(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "mfu", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_describe_the_examples() -> None:
    cnn = describe(CNN)
    assert (cnn.name, cnn.batch_size, cnn.factory_batch_size) == ("SmallCNN", 32, 32)
    assert cnn.inputs == ("float32[32, 3, 32, 32]", "int64[32]")
    assert cnn.loss == "the model's scalar output"
    assert cnn.n_params == sum(p.numel() for p in build(CNN).model.parameters())
    mlp = describe(MLP, batch_size=64)
    assert (mlp.batch_size, mlp.factory_batch_size, mlp.loss) == (64, 256, "loss_fn from the factory")
    assert mlp.as_dict()["batch_size"] == 64 and mlp.as_dict()["model"] == MLP


def test_batch_dimension_and_scaling() -> None:
    x, y = torch.randn(4, 3), torch.arange(4)
    assert batch_dim((x, y)) == 4 and batch_dim({"x": x, "y": y}) == 4
    assert batch_dim((x, torch.arange(5))) is None  # they disagree: no batch dimension
    assert batch_dim((x, torch.tensor(1.0))) is None  # a scalar input has no dim 0
    bigger = with_batch((x, y, "flag"), 10)
    assert isinstance(bigger, tuple) and bigger[2] == "flag"
    assert bigger[0].shape == (10, 3) and bigger[1].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_measured_step_uses_flopcountermode_count() -> None:
    cfg = describe(MLP)
    r = measure_step(cfg, StepOptions(warmup=0, steps=2, min_steps=1))
    built = build(MLP)
    assert r.flops_per_step == hwbench.flops_per_step(built.model, built.inputs, built.loss_fn)
    assert r.timing.n >= 1 and r.achieved_tflops > 0 and r.config is cfg
    # the MLP by hand: 3x the forward's 2*B*(512*1024 + 1024*1024 + 1024), less the input's gradient
    fwd = 2 * 256 * (512 * 1024 + 1024 * 1024 + 1024)
    assert r.flops_per_step == 3 * fwd - 2 * 256 * 512 * 1024


def test_batch_cannot_change_without_a_batch_dimension(tmp_path: Path) -> None:
    f = tmp_path / "nobatch.py"
    f.write_text(
        "import torch\n\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(3, 3)\n\n"
        "    def forward(self, x, offsets):\n"
        "        return self.lin(x) + offsets.sum()\n\n"
        "def make():\n"
        "    return M(), (torch.randn(4, 3), torch.randn(5))\n"
    )
    cfg = describe(f"{f}:make")
    assert cfg.batch_size is None and "batch_size" not in cfg.as_dict()
    with pytest.raises(HwbenchError, match="needs a batch dimension"):
        describe(f"{f}:make", batch_size=8)
    # what a batch experiment would ask: it fails with the reason, rather than guessing a dimension
    with pytest.raises(HwbenchError, match="no batch dimension"):
        measure_step(dataclasses.replace(cfg, batch_size=8), StepOptions(warmup=0, steps=1, min_steps=1))


@pytest.mark.parametrize(
    ("factory", "message", "hint"),
    [
        ("crash", "the factory raised ValueError: no data directory", 'broken.py", line 9, in crash'),
        ("not_a_tuple", "the factory returned Linear, not (model, inputs)", None),
        ("bad_forward", "the model's forward raised RuntimeError", 'broken.py", line 18, in forward'),
        ("shapes", "the model's forward raised RuntimeError: mat1 and mat2 shapes", "linear.py"),
        ("missing", "has no function 'missing'", "FILE.py:FACTORY"),
    ],
)
def test_user_errors_name_the_users_line(
    tmp_path: Path, factory: str, message: str, hint: str | None
) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    with pytest.raises(HwbenchError) as e:
        describe(f"{tmp_path / 'broken.py'}:{factory}")
    assert e.value.message.startswith("--model ") and message in e.value.message
    if hint is not None:
        assert e.value.hint is not None and hint in e.value.hint


def test_syntax_error_and_bad_specs(tmp_path: Path) -> None:
    (tmp_path / "syntax.py").write_text("def make(:\n    pass\n")
    with pytest.raises(HwbenchError) as e:
        describe(f"{tmp_path / 'syntax.py'}:make")
    assert "SyntaxError" in e.value.message and e.value.hint is not None
    assert 'syntax.py", line 1: def make(:' in e.value.hint
    for spec in ("examples/small_cnn.py", "nowhere.py:make", "no_such_package.mod:make"):
        with pytest.raises(HwbenchError, match=r"^--model"):
            describe(spec)


def test_cli_user_error_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    r = hw("--model", f"{tmp_path / 'broken.py'}:crash", "--quick", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"error: --model {tmp_path / 'broken.py'}:crash: the factory raised ValueError: no data directory",
        f'hint: File "{tmp_path / "broken.py"}", line 9, in crash: raise ValueError("no data directory")',
    ]
    r = hw("--model", CNN, "--n-layer", "4", "-q")
    assert r.returncode == 2 and "--n-layer" in r.stderr


def test_mfu_model_json_quick() -> None:
    """The CLI end to end on the shipped MLP (module form, as `package.module:FACTORY`)."""
    r = hw(
        "--model",
        "examples.mlp:make",
        "--quick",
        "--no-advise",
        "--no-ceiling",
        "--batch-size",
        "64",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["model"] == "examples.mlp:make" and doc["config"]["batch_size"] == 64
    assert doc["flops_per_step"] == 3 * 2 * 64 * (512 * 1024 + 1024 * 1024 + 1024) - 2 * 64 * 512 * 1024
    assert "FlopCounterMode" in doc["flops_convention"]
    assert doc["mfu"] is not None and 0 < doc["mfu"] <= 1
    assert doc["samples_per_s"] > 0 and doc["tokens_per_s"] is None
    assert doc["mfu_nanogpt"] == pytest.approx(doc["achieved_tflops"] / 312)


def test_reporter_skips_batch_experiments_without_a_batch_dimension() -> None:
    from hwbench.report.facts import RunFacts
    from hwbench.report.planner import plan_variants

    base = {
        "device": "cpu",
        "device_name": "a CPU",
        "dtype": "fp32",
        "n_params": 10,
        "flops_per_step": 1e9,
        "step_time_s": 0.1,
        "achieved_tflops": 0.01,
        "threads": 2,
        "model": "m.py:make",
    }
    no_batch = RunFacts(config={"model": "m.py:make", "name": "M"}, **base)  # type: ignore[arg-type]
    variants, skipped = plan_variants(no_batch)
    assert not [v for v in variants if v.kind == "batch"]
    assert any(
        s.startswith("batch size: not tried: the model's inputs have no batch dimension") for s in skipped
    )
    batched = RunFacts(config={"model": "m.py:make", "name": "M", "batch_size": 32}, **base)  # type: ignore[arg-type]
    assert {v.key for v in plan_variants(batched)[0] if v.kind == "batch"} == {"batch=64", "batch=128"}


def test_suggested_command_for_a_users_model_is_hwbench_with_the_model() -> None:
    from hwbench.report.facts import RunFacts
    from hwbench.report.planner import batch_variant
    from hwbench.report.suggest import nanogpt_command

    facts = RunFacts(
        device="cpu",
        device_name="a CPU",
        dtype="fp32",
        config={"model": "m.py:make", "name": "M", "batch_size": 32},
        n_params=10,
        flops_per_step=1e9,
        step_time_s=0.1,
        achieved_tflops=0.01,
        threads=2,
        model="m.py:make",
    )
    cmd, env, note = nanogpt_command(facts, batch_variant(32, 64))
    assert cmd == "hwbench mfu --device cpu --model m.py:make --batch-size 64 --dtype fp32 --threads 2"
    assert (env, note) == ({}, "")
    assert facts.tokens_per_step == 32  # samples stand in for tokens
