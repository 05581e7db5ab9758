"""`hwbench peaks`: JSON shape (docs/peaks.md), one-line errors with exit 2, overrides, the sources shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwbench.errors import HwbenchError, InputError
from hwbench.peaks import DTYPES, parse_peak_overrides


def hw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "peaks", *args], capture_output=True, text=True, timeout=120
    )


def test_gpu_json_shape_and_dense_figures() -> None:
    r = hw("--gpu", "NVIDIA H100 80GB HBM3", "--gpu", "Tesla T4", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["command"] == "peaks" and "schema_version" in doc
    h100, t4 = doc["devices"]
    for d in (h100, t4):
        assert set(d["peaks_tflops"]) == set(DTYPES)
        assert {"device", "name", "source", "estimated", "notes"} <= set(d)
    assert h100["peaks_tflops"]["bf16"] == 989.4 and "datasheet" in h100["source"]
    assert t4["peaks_tflops"]["bf16"] is None  # Turing: no bf16 path -> null


def test_unknown_gpu_one_line_error_exit_2() -> None:
    r = hw("--gpu", "NVIDIA Made Up 9000")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0] == (
        "error: no peak known for 'NVIDIA Made Up 9000' (an estimate needs --sm-count, --cc and --clock-mhz)"
    )
    assert lines[1].startswith("hint: pass --peak-tflops bf16=")


def test_unknown_gpu_json_null_and_reason() -> None:
    r = hw("--gpu", "NVIDIA Made Up 9000", "--json")
    assert r.returncode == 2
    (d,) = json.loads(r.stdout)["devices"]
    assert d["peaks_tflops"] is None and "no peak known" in d["reason"]


def test_bad_override_exit_2() -> None:
    r = hw("--gpu", "NVIDIA L4", "--peak-tflops", "bf16=fast")
    assert r.returncode == 2
    assert r.stderr.startswith("error: --peak-tflops: 'fast' is not a number")


def test_override_replaces_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from hwbench.commands.peaks import run

    assert run(["NVIDIA GeForce RTX 4070 Ti"], None, ["bf16=70"], json_out=True) == 0
    (d,) = json.loads(capsys.readouterr().out)["devices"]
    assert d["peaks_tflops"]["bf16"] == 70 and d["peaks_tflops"]["fp32"] == 40.1
    assert d["source"].startswith("user override (bf16=70)")
    assert d["dtype_sources"]["bf16"] == "user override (--peak-tflops)"


def test_override_gives_an_unknown_gpu_a_peak(capsys: pytest.CaptureFixture[str]) -> None:
    from hwbench.commands.peaks import run

    assert run(["NVIDIA Made Up 9000"], None, ["bf16=500"], json_out=True) == 0
    (d,) = json.loads(capsys.readouterr().out)["devices"]
    assert d["peaks_tflops"]["bf16"] == 500 and d["peaks_tflops"]["fp32"] is None


def test_l4_and_l40s_terminal_output_names_the_source(capsys: pytest.CaptureFixture[str]) -> None:
    from hwbench.commands.peaks import run

    run(["NVIDIA L4", "NVIDIA L40S"], None, [], json_out=False)
    out = capsys.readouterr().out
    assert "NVIDIA L4 Tensor Core GPU datasheet" in out and "NVIDIA L40S GPU datasheet" in out
    assert "121.0 TFLOP/s" in out and "362.05 TFLOP/s" in out  # the L40S datasheet's dense BF16


def test_cpu_device_json_says_where_the_clock_came_from(capsys: pytest.CaptureFixture[str]) -> None:
    from hwbench.commands.peaks import run

    assert run([], "cpu", [], json_out=True, measure=False) == 0
    (d,) = json.loads(capsys.readouterr().out)["devices"]
    assert d["device"] == "cpu" and d["clock_source"]
    assert d["peaks_tflops"]["fp32"] > 0


def test_cuda_without_cuda_is_exit_2() -> None:
    """Recorded: this KVM guest (tests/fixtures/machines/this-kvm-epyc), no GPU, CPU-only torch."""
    from hwbench.detect import replay
    from hwbench.peaks import peak_for_device

    system = replay(Path(__file__).parent / "fixtures" / "machines" / "this-kvm-epyc", nvml=False)
    with pytest.raises(HwbenchError, match="CUDA is not usable here"):
        peak_for_device("cuda:0", system)


@pytest.mark.parametrize("bad", ["bf16", "=3", "bf17=3", "bf16=-1", "bf16=nan", "bf16=inf", "fp32=0"])
def test_parse_overrides_rejects(bad: str) -> None:
    with pytest.raises(InputError):
        parse_peak_overrides([bad])


def test_parse_overrides_accepts() -> None:
    assert parse_peak_overrides(["bf16=989.4", " FP32 = 67 ", "int8=1979"]) == {
        "bf16": 989.4,
        "fp32": 67.0,
        "int8": 1979.0,
    }


@pytest.mark.parametrize(
    ("machine", "model", "bf16"),
    [("a10-vm-cpu-torch", "NVIDIA A10", 125.0), ("gh200-grace-hopper", "NVIDIA GH200 (Hopper GPU)", 989.4)],
)
def test_recorded_machines_get_their_gpu_peak(machine: str, model: str, bf16: float) -> None:
    """Recorded machines (tests/fixtures/machines, see assemble.py there): the NVML name finds the row."""
    from hwbench.commands.peaks import Unknown, collect
    from hwbench.detect import replay

    system = replay(Path(__file__).parent / "fixtures" / "machines" / machine)
    entries = collect([], None, {}, system=system, measure=False)
    gpus = [e for e in entries if e.device.startswith("gpu:")]
    assert len(gpus) == 1 and not isinstance(gpus[0], Unknown)
    assert gpus[0].name == model and gpus[0].peaks_tflops["bf16"] == bf16


def test_recorded_intel_igpu_has_no_peak_and_says_so() -> None:
    from hwbench.commands.peaks import Unknown, collect
    from hwbench.detect import replay

    system = replay(Path(__file__).parent / "fixtures" / "machines" / "alder-lake-p-laptop")
    entries = collect([], None, {}, system=system, measure=False)
    (igpu,) = [e for e in entries if e.device.startswith("gpu:")]
    assert isinstance(igpu, Unknown) and "no peak known" in igpu.reason
    cpu = next(e for e in entries if e.device == "cpu")
    assert not isinstance(cpu, Unknown) and "4 P-cores" in cpu.source


def test_identical_devices_read_as_one_table_and_notes_wait_for_details(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Eight GPUs of one model are one table ("cuda:0-7"); one whose figures differ keeps its own."""
    import dataclasses

    from hwbench.commands.peaks import collect, group_devices, render
    from hwbench.peaks.types import DevicePeak

    (h100,) = collect(["NVIDIA H100 80GB HBM3"], None, {}, None, None, None, False, False)
    assert isinstance(h100, DevicePeak)
    node = [dataclasses.replace(h100, device=f"cuda:{i}") for i in range(8)]
    node[5] = dataclasses.replace(node[5], clock_mhz=1500.0)  # a GPU held at a lower clock
    assert [label for label, _ in group_devices(node)] == ["cuda:0-4, 6-7", "cuda:5"]
    noted = dataclasses.replace(h100, device="cuda:0", notes=("a note only --details shows",))
    render([noted])
    out = capsys.readouterr().out
    assert "1 note: --details" in out and "a note only --details shows" not in out
    render([noted], details=True)
    assert "note: a note only --details shows" in capsys.readouterr().out


def test_unknown_device_says_no_peak_known_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The Alder Lake replay's Iris Xe: the reason already says "no peak known", the line must not repeat it;
    a reason that doesn't (an ambiguous name) still gets the heading."""
    from hwbench.commands.peaks import Unknown, render

    render([Unknown("gpu:0000:00:02.0", "Iris Xe", "no peak known for 'Iris Xe'")])
    out = capsys.readouterr().out
    assert out.count("no peak known") == 1 and "'Iris Xe'" in out
    render([Unknown("gpu", "A100", "'A100' is ambiguous: A100 SXM4 40GB, A100 PCIe 40GB")])
    out = capsys.readouterr().out
    assert "no peak known — 'A100' is ambiguous" in " ".join(out.split())
