"""`hwbench check` on recorded machines (tests/fixtures/machines/*, tests/fixtures/nvml/*,
tests/fixtures/check/*): what a recording can and cannot judge, skip reasons that say what is there,
counts held to sane bounds, repeated GPU names counted once, and a hint with every usage error."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from hwbench.check import checks as C
from hwbench.check.expectations import from_mapping, load_config
from hwbench.cli import main
from hwbench.detect.nvml import FakeNvml, read_nvml
from hwbench.errors import InputError

TESTS = Path(__file__).parent
MACHINES = TESTS / "fixtures" / "machines"
NVML = TESTS / "fixtures" / "nvml"
CHECK_FIX = TESTS / "fixtures" / "check"
SRC = TESTS.parent / "hwbench"


@pytest.fixture(autouse=True)
def _columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["check", *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def recorded_link(name: str) -> dict:
    fields, _ = read_nvml(FakeNvml.from_file(NVML / name))
    return next(iter(fields.values())).as_fields()


# --- a recorded snapshot and the PCIe link --------------------------------------------------------------


def test_replayed_idle_gen1_link_is_a_skip_saying_why(capsys: pytest.CaptureFixture[str]) -> None:
    """The A10 recorded idle at Gen1 of Gen4, full x16: the downshift detect calls harmless, not a fault."""
    replay = ["--replay", str(MACHINES / "a10-vm-cpu-torch")]
    rc, out, _ = run([*replay, "--pcie-full", "--json"], capsys)
    (c,) = json.loads(out)["checks"]
    assert rc == 0 and c["status"] == "skip" and c["measured"] == "gen1 x16" and c["expected"] == "gen4 x16"
    assert "idle GPU drops its link generation" in c["message"] and "run the check live" in c["message"]
    assert run([*replay, "--pcie-full", "--strict"], capsys)[0] == 1  # a skip still fails --strict
    rc, out, _ = run([*replay, "--pcie-full", "--no-throttle"], capsys)
    assert rc == 0 and "\nfail " not in out and "pass  no_throttle on gpu0" in out  # gpu_idle is no throttle


@pytest.mark.parametrize(
    ("recording", "measured"),
    [("a10g-x8-of-x16.json", "gen4 x8"), ("quadro-rtx8000-degraded-link.json", "gen2 x1")],
)
def test_a_recorded_narrow_link_still_fails(recording: str, measured: str) -> None:
    r = C.check_pcie_full("gpu0", [recorded_link(recording)], "in the recorded snapshot", snapshot=True)
    assert r.status == "fail" and r.measured == measured and "degraded" in r.message


def test_idle_gen1_recording_skips_only_as_a_snapshot() -> None:
    idle = recorded_link("a10-idle-gen1-of-gen4.json")
    assert C.check_pcie_full("gpu0", [idle], "in the recorded snapshot", snapshot=True).status == "skip"
    assert C.check_pcie_full("gpu0", [idle]).status == "fail"  # under hwbench's own load: never ramped up


def test_replayed_nvidia_smi_x8_link_fails(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        ["--nvidia-smi-q", str(CHECK_FIX / "a10g_x8_link_nvidia-smi-q.txt"), "--pcie-full"], capsys
    )
    assert rc == 1 and "fail  pcie_full on gpu0: gen4 x8 (expected == gen4 x16)" in out


# --- why nothing was sampled -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "said", "not_said"),
    [
        ("rocm-8xmi300x", "8x Instinct MI300X (Aqua Vanjaram): AMD GPUs are not sampled", "CPU-only"),
        ("a10-vm-driver-mismatch", "A10 (GA102GL): no NVML fields", "CPU-only"),
        ("alder-lake-p-laptop", "Intel GPUs are not sampled", "CPU-only"),
        ("this-kvm-epyc", "no GPU found: nothing to put under load and sample (CPU-only machine?)", "AMD"),
    ],
)
def test_skip_reason_says_what_gpus_are_there(
    machine: str, said: str, not_said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run(["--replay", str(MACHINES / machine), "--pcie-full", "--no-throttle", "--json"], capsys)
    checks = json.loads(out)["checks"]
    assert rc == 0 and [c["status"] for c in checks] == ["skip", "skip"]
    for c in checks:
        assert said in c["message"] and not_said not in c["message"]


# --- counts within bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--min-gpus", "99999999999999999999999"],
            "error: --min-gpus: 99999999999999999999999 is above 4096",
        ),
        (["--min-gpus", "-1"], "error: --min-gpus: -1 is below 0"),
        (["--max-ecc-errors", "1000000001"], "error: --max-ecc-errors: 1000000001 is above 1000000000"),
    ],
)
def test_counts_out_of_range_are_usage_errors(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(["--replay", str(MACHINES / "this-kvm-epyc"), *args], capsys)
    assert rc == 2 and out == "" and said in err and "\nhint: a whole number of " in err


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("min-gpus = 99999999999999999999999", "is above 4096"),
        ("max-ecc-errors = 10000000000", "is above 1000000000"),
        ("min-gpus = 8.5", "expected a whole number"),
        ('min-gpus = "x"', "'x' is not a number"),
        ("min-gpus = -3", "is below 0"),
        ("max-ecc-errors = inf", "not a finite number"),
    ],
)
def test_config_counts_out_of_range_are_usage_errors(line: str, said: str, tmp_path: Path) -> None:
    cfg = tmp_path / "typ.toml"
    cfg.write_text(line + "\n")
    with pytest.raises(InputError) as e:
        load_config(cfg)
    assert said in e.value.message and e.value.hint


def test_counts_within_bounds_are_exact() -> None:
    assert from_mapping({"min-gpus": 4096, "max-ecc-errors": 10**9}, "flags") == {
        "min_gpus": 4096,
        "max_ecc_errors": 10**9,
    }
    assert from_mapping({"min-gpus": 8.0, "max-ecc-errors": "0"}) == {"min_gpus": 8, "max_ecc_errors": 0}


# --- repeated GPU names ------------------------------------------------------------------------------------


def test_eight_identical_gpu_names_read_once(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["--replay", str(MACHINES / "ngc-8xh100"), "--gpu-model", "*H100*"], capsys)
    assert rc == 0 and out.splitlines()[1:] == [
        "pass  gpu_model: 8x NVIDIA H100 80GB HBM3 (GH100) (expected matches *H100*)"
    ]
    rc, out, _ = run(["--replay", str(MACHINES / "ngc-8xh100"), "--gpu-model", "*H100*", "--json"], capsys)
    assert json.loads(out)["checks"][0]["measured"] == ["NVIDIA H100 80GB HBM3 (GH100)"] * 8  # JSON: each GPU


def test_gpu_model_failure_counts_names_and_agrees_in_number(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["--replay", str(MACHINES / "rocm-8xmi300x"), "--gpu-model", "*H100*"], capsys)
    assert rc == 1 and out.splitlines()[1:] == [
        "fail  gpu_model: 8x Instinct MI300X (Aqua Vanjaram) (expected matches *H100*)",
        "      8 of 8 GPUs do not match '*H100*': 8x Instinct MI300X (Aqua Vanjaram)",
    ]
    rc, out, _ = run(["--replay", str(MACHINES / "a10-vm-cpu-torch"), "--gpu-model", "*H100*"], capsys)
    assert rc == 1 and "the GPU does not match '*H100*': NVIDIA A10 (GA102GL)" in out


# --- a hint with every usage error --------------------------------------------------------------------------


def test_usage_errors_come_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    typ = tmp_path / "typ.toml"
    typ.write_text('min-gpus = "x"\n')
    cases = [
        ["--level", "xyz"],
        ["--min-gpus", "-1"],
        ["--max-regression", "-5"],
        ["--max-regression", "100"],
        ["--config", str(deep)],
        ["--config", str(typ)],
    ]
    for args in cases:
        rc, out, err = run(args, capsys)
        lines = err.strip().splitlines()
        assert rc == 2 and out == "", args
        assert lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), (args, err)


@pytest.mark.parametrize("module", ["check/parse.py", "check/expectations.py"])
def test_every_input_error_raised_has_a_hint(module: str) -> None:
    tree = ast.parse((SRC / module).read_text())
    calls = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "InputError"
    ]
    bare = [n.lineno for n in calls if not any(k.arg == "hint" for k in n.keywords) and len(n.args) < 2]
    assert calls and bare == []


def test_min_gpus_failure_names_each_kind_of_gpu_once() -> None:
    from hwbench.check.expectations import Expectations
    from hwbench.check.run import CheckOptions, run_check

    ngc = Path(__file__).parent / "fixtures" / "machines" / "ngc-8xh100"
    (r,) = run_check(CheckOptions(Expectations(min_gpus=9), replay_dir=ngc)).results
    assert r.status == "fail" and "8x NVIDIA H100 80GB HBM3 (GH100) (discrete, 0000:18:00.0 ..." in r.message
    assert r.message.count("HBM3") == 1  # the name once, not eight times


def test_gpu_model_matches_the_product_not_the_die_beside_it() -> None:
    """'*H100*' must not pass a GH200 shown as "NVIDIA GH200 480GB (GH100)" (nor '*A100*' an A30,
    "A30 PCIe (GA100GL)"); another parenthetical stays part of the name."""
    assert C.product_name("NVIDIA GH200 480GB (GH100)") == "NVIDIA GH200 480GB"
    assert C.product_name("A30 PCIe (GA100GL)") == "A30 PCIe"
    assert C.product_name("NVIDIA GeForce RTX 4060 (Laptop)") == "NVIDIA GeForce RTX 4060 (Laptop)"
    from hwbench.detect import replay

    gh200 = replay(Path(__file__).parent / "fixtures" / "machines" / "gh200-grace-hopper")
    assert C.check_gpu_model(gh200, "*H100*").status == "fail"
    assert C.check_gpu_model(gh200, "*GH200*").status == "pass"


def test_a_measurement_cut_short_by_a_signal_judges_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matmul or a training step during which SIGINT arrived (it returns what it timed) is not a
    figure: its row is a skip saying so."""
    from types import SimpleNamespace

    import hwbench.bench.matmul as matmul
    import hwbench.bench.mfu as mfu
    from hwbench import interrupt
    from hwbench.check import measure

    def partial(*args: object, **kwargs: object) -> object:
        interrupt.note(KeyboardInterrupt())  # the signal arrives while measuring
        return SimpleNamespace(tflops=0.0014, timing=None, library="torch", m=512, n=512, k=512)

    monkeypatch.setattr(measure, "warm_up", lambda device: None)
    monkeypatch.setattr(matmul, "best_gemm", partial)
    fig = measure.measure_matmul("cpu", "fp32", "quick", threads=1)
    assert fig.value is None and fig.error == "interrupted by SIGINT: the measurement did not finish"
    monkeypatch.setattr(mfu, "run_mfu", partial)
    value, why = measure.measure_mfu("cpu", "nanogpt-cpu", "quick", None)
    assert value is None and why == "interrupted by SIGINT: the training step did not finish"


def test_ecc_skip_names_the_gpus_that_are_there() -> None:
    from hwbench.check.expectations import Expectations
    from hwbench.check.run import CheckOptions, run_check

    mi300x = Path(__file__).parent / "fixtures" / "machines" / "rocm-8xmi300x"
    (r,) = run_check(CheckOptions(Expectations(max_ecc_errors=0), replay_dir=mi300x)).results
    assert r.status == "skip" and "8x Instinct MI300X" in r.message and "AMD GPUs are not read" in r.message
    assert "no NVIDIA GPU" not in r.message
