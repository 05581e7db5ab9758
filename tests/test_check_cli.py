"""`hwbench check` end to end: exit codes, --json, --junit, baselines, replayed nvidia-smi outputs.

Measurements are replaced by fixed figures in-process (the measuring code has its own tests and a
benchmark script); one test runs the real CLI and a real CPU matmul.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

# the recorded flags of this VM, shared with the unit tests (tests/ is on sys.path under pytest)
from helpers import this_vm_cpu

import hwbench.check.measure as measure
import hwbench.detect
from hwbench.check.checks import Figure
from hwbench.cli import main
from hwbench.model import NA, System, TorchInfo

FIX = Path(__file__).parent / "fixtures" / "check"


VM = System(
    cpu=this_vm_cpu(),
    memory=None,
    gpus=(),
    torch=TorchInfo(installed=True, version="2.13.0+cpu", build="cpu", usable_devices=("cpu",)),
    source="recorded: this VM (no GPU)",
)


@pytest.fixture
def vm(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """This GPU-less VM as detect saw it, with a CPU fp32 matmul of `rate["fp32"]` TFLOP/s."""
    rate = {"fp32": 0.2}
    calls: list[str] = []

    def fake_matmul(device: str, dtype: str, level: str, threads: int | None = None) -> Figure:
        calls.append(device)
        if dtype not in rate:
            return Figure(device, f"{dtype}_tflops", None, "fake", error=f"{dtype} not measurable here")
        return Figure(device, f"{dtype}_tflops", rate[dtype], "fake matmul (test)")

    monkeypatch.setattr(hwbench.detect, "detect_system", lambda *a, **k: VM)
    monkeypatch.setattr(measure, "measure_matmul", fake_matmul)
    monkeypatch.setattr(measure, "cuda_devices", lambda: [])
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return rate


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["check", *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_min_gpus_fails_with_json_and_junit(vm: Any, capsys: Any, tmp_path: Path) -> None:
    junit = tmp_path / "check.xml"
    rc, out, _ = run(["--min-gpus", "1", "--json", "--junit", str(junit)], capsys)
    assert rc == 1
    doc = json.loads(out)
    assert doc["command"] == "check" and doc["schema_version"] == 1
    (c,) = doc["checks"]
    assert (c["name"], c["status"], c["measured"], c["expected"]) == ("min_gpus", "fail", 0, 1)
    assert c["message"] and doc["summary"]["failed"] == 1 and doc["summary"]["exit_code"] == 1
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None and case.get("name") == "min_gpus" and case.find("failure") is not None


def test_require_isa(vm: Any, capsys: Any) -> None:
    assert run(["--require-isa", "avx2"], capsys)[0] == 0
    rc, out, _ = run(["--require-isa", "avx2", "--require-isa", "avx512f", "--json"], capsys)
    assert rc == 1
    assert [(c["name"], c["status"]) for c in json.loads(out)["checks"]] == [
        ("require_isa[avx2]", "pass"),
        ("require_isa[avx512f]", "fail"),
    ]


def test_min_tflops_on_cpu(vm: Any, capsys: Any) -> None:
    assert run(["--device", "cpu", "--min-tflops", "fp32=0.05"], capsys)[0] == 0
    rc, out, _ = run(["--device", "cpu", "--min-tflops", "fp32=50", "--json"], capsys)
    assert rc == 1
    doc = json.loads(out)
    assert doc["checks"][0]["status"] == "fail" and doc["achieved_tflops"] == 0.2 and doc["device"] == "cpu"


def test_usage_errors_exit_2_with_one_line(vm: Any, capsys: Any, tmp_path: Path) -> None:
    rc, _, err = run(["--min-tflops", "fp33=1"], capsys)
    assert rc == 2 and err.startswith("error: --min-tflops: unknown dtype 'fp33'")
    bad = tmp_path / "bad.toml"
    bad.write_text("min-gpu = 1\n")
    rc, _, err = run(["--config", str(bad)], capsys)
    assert rc == 2 and "unknown key 'min-gpu'" in err and "Traceback" not in err
    assert run(["--level", "soak"], capsys)[0] == 2
    assert run(["--no-such-flag"], capsys)[0] == 2


def test_baseline_self_tripled_truncated(vm: Any, capsys: Any, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    rc, _, err = run(["--device", "cpu", "--save-baseline", str(base)], capsys)
    assert rc == 0 and base.exists()
    doc = json.loads(base.read_text())
    assert [f["name"] for f in doc["figures"]] == ["fp32_tflops"]
    assert doc["fingerprint"]["cpu_model"] == "AMD EPYC" and doc["fingerprint"]["hwbench_version"]
    assert run(["--baseline", str(base)], capsys)[0] == 0  # against itself
    for f in doc["figures"]:
        f["value"] *= 3
    tripled = tmp_path / "tripled.json"
    tripled.write_text(json.dumps(doc))
    rc, out, _ = run(["--baseline", str(tripled), "--json"], capsys)
    assert rc == 1
    (c,) = json.loads(out)["checks"]
    assert c["name"] == "baseline[fp32_tflops]@cpu" and c["status"] == "fail" and "regression" in c["message"]
    trunc = tmp_path / "trunc.json"
    trunc.write_text(base.read_text()[:40])
    rc, out, err = run(["--baseline", str(trunc)], capsys)
    assert rc == 2 and out == "" and err.splitlines()[0].startswith(f"error: baseline {trunc} is truncated")


def test_saved_baseline_is_the_better_of_two_runs(
    vm: Any, capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One stalled run must not become the bar: a baseline keeps the better of two matmul runs."""
    rates = iter([0.1, 0.2])
    calls: list[str] = []

    def stalled_then_fast(device: str, dtype: str, level: str, threads: int | None = None) -> Figure:
        calls.append(dtype)
        return Figure(device, f"{dtype}_tflops", next(rates), "fake matmul (test)")

    monkeypatch.setattr(measure, "measure_matmul", stalled_then_fast)
    base = tmp_path / "base.json"
    assert run(["--device", "cpu", "--save-baseline", str(base)], capsys)[0] == 0
    (fig,) = json.loads(base.read_text())["figures"]
    assert (fig["name"], fig["value"], calls) == ("fp32_tflops", 0.2, ["fp32", "fp32"])
    assert fig["source"].startswith("best of 2 runs; ")


def test_fingerprint_mismatch_warns(vm: Any, capsys: Any, tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    run(["--device", "cpu", "--save-baseline", str(base)], capsys)
    doc = json.loads(base.read_text())
    doc["fingerprint"]["cpu_model"] = "Intel(R) Xeon(R) Platinum 8480+"
    base.write_text(json.dumps(doc))
    rc, out, err = run(["--baseline", str(base), "--json"], capsys)
    assert rc == 0 and "cpu_model: Intel(R) Xeon(R) Platinum 8480+ -> AMD EPYC" in err
    assert json.loads(out)["baseline"]["fingerprint_differences"]


def test_replayed_nvidia_smi_outputs(vm: Any, capsys: Any) -> None:
    h100 = str(FIX / "h100x8_nvidia-smi-q.txt")
    args = ["--nvidia-smi-q", h100, "--min-gpus", "8", "--gpu-model", "*H100*", "--min-driver", "550"]
    assert run([*args, "--pcie-full", "--no-throttle", "--max-ecc-errors", "0"], capsys)[0] == 0
    rc, out, _ = run(
        ["--nvidia-smi-q", str(FIX / "a10g_x8_link_nvidia-smi-q.txt"), "--pcie-full", "--json"], capsys
    )
    assert rc == 1 and json.loads(out)["checks"][0]["measured"] == "gen4 x8"
    assert (
        run(["--nvidia-smi-q", str(FIX / "v100_power_brake_nvidia-smi-q.txt"), "--no-throttle"], capsys)[0]
        == 1
    )
    assert (
        run(["--nvidia-smi-q", str(FIX / "k80x4_azure_nvidia-smi.txt"), "--max-ecc-errors", "0"], capsys)[0]
        == 1
    )


def test_strict_fails_what_could_not_be_evaluated(vm: Any, capsys: Any) -> None:
    assert run(["--pcie-full"], capsys)[0] == 0  # a CPU-only machine: skipped, with the reason
    rc, out, _ = run(["--pcie-full", "--strict", "--json"], capsys)
    assert rc == 1 and "--strict" in json.loads(out)["checks"][0]["message"]


def test_github_step_summary(vm: Any, capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run(["--min-gpus", "1"], capsys)
    assert "| `min_gpus` | ❌ fail |" in summary.read_text()


def test_config_file_and_no_expectations(vm: Any, capsys: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "runner.toml"
    cfg.write_text('[check]\nrequire-isa = ["avx2", "fma"]\nmin-tflops = { fp32 = 0.05 }\ndevice = "cpu"\n')
    rc, out, _ = run(["--config", str(cfg), "--json"], capsys)
    assert rc == 0 and len(json.loads(out)["checks"]) == 3
    rc, out, _ = run(["--json"], capsys)  # no expectations: the default health checks
    doc = json.loads(out)
    assert rc == 0 and doc["defaults_used"] and doc["checks"][0]["name"] == "torch_can_use[cpu]"


def test_real_cli_real_matmul_and_truncated_baseline(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    env.pop("GITHUB_ACTIONS", None)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwbench",
            "check",
            "--device",
            "cpu",
            "--min-tflops",
            "fp32=0.0001",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["measurements"][0]["source"].startswith("measured: torch")
    bad = tmp_path / "b.json"
    bad.write_text('{"kind": "hwbench-check-baseline", "figures": [')
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "check", "--baseline", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("error: baseline")


def test_named_device_torch_cannot_use_fails(vm: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from hwbench.check.checks import TorchRuntime

    monkeypatch.setattr(
        measure, "torch_runtime", lambda d: TorchRuntime(d, False, 0, "torch 2.13.0+cpu is a CPU-only build")
    )
    rc, out, _ = run(["--device", "cuda", "--min-tflops", "bf16=100", "--json"], capsys)
    assert rc == 1
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["device[cuda]"]["status"] == "fail" and "CPU-only" in checks["device[cuda]"]["message"]
    assert checks["min_tflops[bf16]@cuda"]["status"] == "skip"


def test_gpu_paths_on_a_recorded_8_gpu_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live GPU path (devices, NVML sampling under load, straggler) with the machine replaced by
    recordings: the 8x H100 node's NVML fields, its GPU 3 link as the A10G's x8, GPU 6 throttling
    as the V100 did, and the constructed straggler figures."""
    import hwbench.check.load as load
    from hwbench.check.expectations import Expectations
    from hwbench.check.run import CheckOptions, replay_system, run_check
    from hwbench.check.smi import parse_nvidia_smi

    node = replay_system(FIX / "h100x8_nvidia-smi-q.txt")
    cuda_torch = TorchInfo(
        installed=True, version="2.4.0+cu124", build="cuda", usable_devices=("cpu", "cuda")
    )
    node = System(cpu=this_vm_cpu(), memory=None, gpus=node.gpus, torch=cuda_torch, source="recorded 8x H100")
    tflops = json.loads((FIX / "h100x8_matmul_tflops.json").read_text())["tflops"]
    buses = [g.pci_slot for g in node.gpus]
    a10g = parse_nvidia_smi((FIX / "a10g_x8_link_nvidia-smi-q.txt").read_text()).gpus[0][1]
    v100 = parse_nvidia_smi((FIX / "v100_power_brake_nvidia-smi-q.txt").read_text()).gpus[0][1]

    def sampler(bus: str) -> Any:
        f = next(g.nvml for g in node.gpus if g.pci_slot == bus and g.nvml is not None).as_fields()
        f["clock_event_reasons"] = ["sw_power_cap"]  # busy: the idle flag is gone
        if bus == buses[3]:
            f.update({k: a10g[k] for k in ("pcie_width_current", "pcie_width_max")})
        if bus == buses[6]:
            f["clock_event_reasons"] = v100["clock_event_reasons"]
        return lambda: f

    monkeypatch.setattr(measure, "cuda_devices", lambda: [f"cuda:{i}" for i in range(8)])
    monkeypatch.setattr(measure, "nvml_bus_id", lambda dev, gpus: buses[int(dev.split(":")[1])])
    monkeypatch.setattr(
        measure, "measure_matmul", lambda d, dt, lv, th=None: Figure(d, f"{dt}_tflops", tflops[d], "recorded")
    )
    monkeypatch.setattr(measure, "LOAD_SECONDS", {"quick": 0.0, "medium": 0.0, "long": 0.0})
    monkeypatch.setattr(load, "nvml_sampler", sampler)
    monkeypatch.setattr(load, "matmul_load", lambda dev, s: lambda: None)
    exp = Expectations(pcie_full=True, no_throttle=True, max_spread_pct=10, min_tflops={"bf16": 600})
    report = run_check(CheckOptions(exp), system=node)
    failed = sorted(r.name for r in report.results if r.status == "fail")
    assert failed == ["max_spread@cuda:5", "no_throttle@cuda:6", "pcie_full@cuda:3"]
    assert sum(r.status == "pass" for r in report.results) == 8 + 7 + 7 + 7  # tflops, spread, link, throttle
    assert report.summary.exit_code == 1


def test_live_ecc_reads_the_since_boot_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """detect reads the lifetime ECC count; the live gate reads the since-boot one beside it (here
    the GH200's recorded pair: 1 in its lifetime, 0 since the driver loaded)."""
    import hwbench.check.load as load
    from hwbench.check.expectations import Expectations
    from hwbench.check.run import CheckOptions, replay_system, run_check

    gh200 = replay_system(FIX / "gh200_nvidia-smi-q.txt").gpus[0]
    assert gh200.nvml is not None
    detect_like = dataclasses.replace(gh200.nvml, ecc_uncorrected_volatile=NA("not read at detect time"))
    gpu = dataclasses.replace(gh200, nvml=detect_like)
    node = System(cpu=this_vm_cpu(), memory=None, gpus=(gpu,), torch=VM.torch, source="recorded GH200")
    monkeypatch.setattr(load, "read_volatile_ecc", lambda bus: 0)
    (r,) = run_check(CheckOptions(Expectations(max_ecc_errors=0)), system=node).results
    assert r.status == "pass" and "lifetime: 1" in r.message
    monkeypatch.setattr(load, "read_volatile_ecc", lambda bus: NA("NVML: Not Supported"))
    (r,) = run_check(CheckOptions(Expectations(max_ecc_errors=0)), system=node).results
    assert r.status == "fail" and "aggregate" in r.message and "Not Supported" in r.message


def test_terminal_verdict_first_names_what_failed(vm: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    rc, out, _ = run(["--min-gpus", "1"], capsys)
    lines = out.splitlines()
    assert rc == 1 and lines[0] == "hwbench check: FAIL  0 passed, 1 failed (min_gpus), 0 skipped"
    assert lines[1].startswith("fail  min_gpus: 0 GPUs (expected >= 1 GPU)")
    assert "0 GPUs found, expected at least 1" in out  # the message of what failed, no "GPU(s)"
    assert all(len(ln) <= 80 and ln == ln.rstrip() for ln in lines)


def test_identical_per_gpu_rows_are_grouped(vm: Any, capsys: Any, monkeypatch: Any) -> None:
    """A recorded 8x H100 node: 25 results read as 4 lines, one per check, "on gpus 0-7"."""
    monkeypatch.setenv("COLUMNS", "80")
    h100 = str(FIX / "h100x8_nvidia-smi-q.txt")
    args = [
        "--nvidia-smi-q",
        h100,
        "--min-gpus",
        "8",
        "--pcie-full",
        "--no-throttle",
        "--max-ecc-errors",
        "0",
    ]
    rc, out, _ = run(args, capsys)
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "hwbench check: PASS  25 passed, 0 failed, 0 skipped"
    assert lines[1:] == [
        "pass  min_gpus: 8 GPUs (expected >= 8 GPUs)",
        "pass  max_ecc_errors on gpus 0-7: 0 errors (expected <= 0 errors)",
        "pass  pcie_full on gpus 0-7: gen5 x16 (expected == gen5 x16)",
        "pass  no_throttle on gpus 0-7: none (expected == none)",
    ]
    rc, out, _ = run([*args, "--details"], capsys)
    assert rc == 0 and out.count("pcie_full on gpu") == 8 and "PCIe link gen5 x16" in out


def test_grouping_keeps_a_gpu_that_differs_apart() -> None:
    from hwbench.check.results import CheckResult
    from hwbench.check.summary import group_results

    def r(i: int, measured: str) -> CheckResult:
        st = "pass" if measured == "gen5 x16" else "fail"
        return CheckResult(f"pcie_full@gpu{i}", st, measured, "gen5 x16", f"link {measured}", op="==")

    groups = group_results([r(0, "gen5 x16"), r(1, "gen5 x16"), r(2, "gen5 x8"), r(3, "gen5 x16")])
    assert [(g.where, len(g.members)) for g in groups] == [("gpus 0-1, 3", 3), ("gpu2", 1)]


def test_torchrun_ranks_that_read_the_same_are_one_row() -> None:
    """The fleet report names each rank's checks "rankN:..." and prefixes the host to the message:
    ranks of one host that agree are one row, the other host's another, and the counts name the
    check without its rank."""
    from hwbench.check.results import CheckResult, summarize
    from hwbench.check.summary import counts_line, group_results

    def r(rank: int, host: str, status: str = "pass") -> CheckResult:
        return CheckResult(
            f"rank{rank}:min_tflops[bf16]@cuda:{rank % 8}", status, 700.0 if status == "pass" else 400.0,
            600.0, f"{host}: bf16 matmul measured", unit="TFLOP/s", op=">=",
        )  # fmt: skip

    results = [r(i, "node-a") for i in range(8)] + [r(i, "node-b") for i in range(8, 15)]
    results.append(r(15, "node-b", "fail"))
    groups = group_results(results)
    assert [(g.name, g.where, len(g.members)) for g in groups] == [
        ("min_tflops[bf16]", "ranks 0-7", 8),
        ("min_tflops[bf16]", "ranks 8-14", 7),
        ("min_tflops[bf16]", "rank 15", 1),
    ]
    assert counts_line(summarize(results), results) == "15 passed, 1 failed (min_tflops[bf16]), 0 skipped"
