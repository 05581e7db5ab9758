"""`hwbench peaks` on recorded machines and the peak table: a binned or partitioned part is named as the
part that ran and never given the full part's memory bandwidth; detect's "(N-core)" Apple names and PCI
ids are looked up; impossible MIG profiles are refused; --promised-tflops alone is a usage error; an
interrupted measurement says so in its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwbench.errors import InputError
from hwbench.peaks import gpu_peak
from hwbench.peaks.gpu import parse_pci_id

MACHINES = Path(__file__).parent / "fixtures" / "machines"
M3_MAX = MACHINES / "macos-m3-max"  # a 30-core M3 Max (ioreg gpu-core-count = 30)


def hw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "peaks", *args], capture_output=True, text=True, timeout=120
    )


# -- a binned part is named as itself, without the full part's memory bandwidth -------------------------
def test_replayed_binned_m3_max_is_named_by_its_own_cores(capsys: pytest.CaptureFixture[str]) -> None:
    from hwbench.commands.peaks import run

    assert run([], None, [], json_out=True, replay=M3_MAX) == 0
    doc = json.loads(capsys.readouterr().out)
    (gpu,) = [d for d in doc["devices"] if d["device"].startswith("gpu:")]
    assert gpu["name"] == "Apple M3 Max GPU (30-core)"  # what `hwbench detect` calls it
    assert gpu["sm_count"] == 30 and gpu["peaks_tflops"]["fp32"] == pytest.approx(14.32 * 30 / 40)
    assert gpu["memory_bandwidth_gbps"] is None  # 400 GB/s is the 40-core part's
    assert any("memory bandwidth of this part not known" in n for n in gpu["notes"])
    assert "figures x 30/40" in gpu["source"]

    assert run([], None, [], json_out=False, replay=M3_MAX) == 0
    out = capsys.readouterr().out
    heading = next(ln for ln in out.splitlines() if ln.startswith("gpu:apple-soc-00"))
    assert "Apple M3 Max GPU (30-core)" in heading and len(heading) <= 80
    assert "memory bandwidth: 400" not in out


def test_partitioned_amd_gpu_is_named_by_its_cus() -> None:
    # an MI300X in CPX mode: each of 8 partitions has 38 of the 304 CUs
    p = gpu_peak("AMD Instinct MI300X", sm_count=38)
    assert p is not None and p.estimated
    assert p.name == "AMD Instinct MI300X (38 of 304 CUs)"
    assert p.peaks_tflops["bf16"] == pytest.approx(1307.4 * 38 / 304)
    assert p.memory_bandwidth_gbps is None
    whole = gpu_peak("AMD Instinct MI300X", sm_count=304)
    assert whole is not None and whole.name == "AMD Instinct MI300X" and whole.memory_bandwidth_gbps


def test_mig_slice_keeps_its_name_and_no_bandwidth() -> None:
    p = gpu_peak("NVIDIA A100-SXM4-40GB MIG 3g.20gb", sm_count=42)
    assert p is not None and p.name == "NVIDIA A100-SXM4-40GB MIG 3g.20gb"
    assert p.memory_bandwidth_gbps is None and p.peaks_tflops["bf16"] == pytest.approx(312 * 42 / 108)


# -- "(N-core)" names ------------------------------------------------------------------------------------
def test_detect_apple_names_are_known() -> None:
    binned = gpu_peak("Apple M3 Max GPU (30-core)")
    assert binned is not None and binned.name == "Apple M3 Max GPU (30-core)"
    assert binned.sm_count == 30 and binned.peaks_tflops["fp32"] == pytest.approx(14.32 * 30 / 40)
    full = gpu_peak("Apple M3 Max GPU (40-core)")
    assert full is not None and full.peaks_tflops["fp32"] == pytest.approx(14.32)
    assert full.memory_bandwidth_gbps == 400
    assert not any("core count not read" in n for n in full.notes)  # the name gave it
    assert gpu_peak("Apple M1 GPU (7-core)").peaks_tflops["fp32"] == pytest.approx(2.6 * 7 / 8)  # type: ignore[union-attr]


def test_peaks_cli_takes_detects_apple_name() -> None:
    r = hw("--gpu", "Apple M3 Max GPU (30-core)", "--json")
    assert r.returncode == 0, r.stderr
    (d,) = json.loads(r.stdout)["devices"]
    assert d["name"] == "Apple M3 Max GPU (30-core)" and d["peaks_tflops"]["fp32"] == pytest.approx(10.74)


# -- PCI ids ---------------------------------------------------------------------------------------------
def test_parse_pci_id() -> None:
    assert parse_pci_id("10de:2684") == (0x10DE, 0x2684)
    assert parse_pci_id(" 0x10de:0x2684 ") == (0x10DE, 0x2684)  # sysfs's vendor and device files
    assert parse_pci_id("10DE:2684") == (0x10DE, 0x2684)
    for name in ("NVIDIA L4", "10de:26840", "10de", "zzzz:2684", ""):
        assert parse_pci_id(name) is None, name


@pytest.mark.parametrize("pci", ["10de:2684", "0x10de:0x2684"])
def test_peaks_cli_takes_a_pci_id(pci: str) -> None:
    r = hw("--gpu", pci, "--json")
    assert r.returncode == 0, r.stderr
    (d,) = json.loads(r.stdout)["devices"]
    assert d["name"] == "NVIDIA GeForce RTX 4090" and d["peaks_tflops"]["bf16"] == 165.2
    assert any("by PCI device id" in n for n in d["notes"])


def test_peaks_cli_unknown_pci_id_is_exit_2() -> None:
    r = hw("--gpu", "10de:ffff")
    assert r.returncode == 2 and r.stderr.startswith("error: no peak known for '10de:ffff'")


# -- MIG profiles ----------------------------------------------------------------------------------------
def test_mig_profile_larger_than_the_gpu_is_refused() -> None:
    with pytest.raises(InputError, match="more than its 7 compute slices"):
        gpu_peak("NVIDIA A100-SXM4-40GB MIG 9g.99gb")
    with pytest.raises(InputError, match="does not fit"):
        gpu_peak("NVIDIA A100-SXM4-40GB MIG 4c.3g.20gb")
    r = hw("--gpu", "NVIDIA A100-SXM4-40GB MIG 9g.99gb")
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("error: ") and "9g is more than its 7 compute slices" in err[0]
    assert err[1].startswith("hint: ") and "3g.20gb" in err[1] and "7 compute slices" in err[1]


def test_mig_compute_instance_is_labelled_as_such() -> None:
    ci = gpu_peak("NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb")
    assert ci is not None and ci.peaks_tflops["bf16"] == pytest.approx(312 * 42 / 108 / 3)
    assert ci.dtype_sources["bf16"].endswith("MIG 1c.3g share")
    gi = gpu_peak("NVIDIA A100-SXM4-40GB MIG 3g.20gb")
    assert gi is not None and gi.dtype_sources["bf16"].endswith("MIG 3g share")


# -- --promised-tflops -----------------------------------------------------------------------------------
def test_promised_tflops_without_a_printed_mfu_is_a_usage_error() -> None:
    r = hw("--gpu", "NVIDIA GeForce RTX 4070 Ti", "--promised-tflops", "989")
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip().splitlines()
    assert err[0].startswith("error: --promised-tflops") and "--nanogpt-mfu" in err[0]
    assert err[1].startswith("hint: ")
    ok = hw("--gpu", "NVIDIA H100 80GB HBM3", "--promised-tflops", "989", "--nanogpt-mfu", "10%", "--json")
    assert ok.returncode == 0, ok.stderr
    (c,) = json.loads(ok.stdout)["conversions"]
    assert c["promised_tflops"] == 989 and c["achieved_tflops"] == pytest.approx(98.9)


# -- interrupts ------------------------------------------------------------------------------------------
def test_interrupted_cpu_measurement_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """A signal that arrived (as the CLI's handler records it) before --gemm/--measure: nothing more is
    measured, and the JSON and notes say it was the interrupt, not the GEMM."""
    from hwbench import interrupt
    from hwbench.commands.peaks import run

    assert run([], "cpu", [], json_out=True, measure=False) == 0
    assert json.loads(capsys.readouterr().out)["interrupted"] is False

    interrupt.note(KeyboardInterrupt())
    assert run([], "cpu", [], json_out=True, gemm=True, measure=True) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["interrupted"] is True
    (d,) = doc["devices"]
    notes = " | ".join(d["notes"])
    assert "fp32 GEMM not measured: interrupted by SIGINT" in notes
    assert "measurement interrupted by SIGINT" in notes
    assert "could be timed" not in notes and d["measured_fma_tflops"] is None


@pytest.mark.parametrize(
    ("name", "model"),
    [  # names `hwbench detect` and `hwbench peaks` print, fed back
        ("NVIDIA H100 80GB HBM3 (GH100)", "NVIDIA H100 SXM5"),
        ("NVIDIA GeForce RTX 4090 (AD102)", "NVIDIA GeForce RTX 4090"),
        ("Instinct MI300X (Aqua Vanjaram)", "AMD Instinct MI300X"),
        ("A10 (GA102GL)", "NVIDIA A10"),
    ],
)
def test_names_hwbench_prints_are_looked_up(name: str, model: str) -> None:
    p = gpu_peak(name)
    assert p is not None and p.name == model and not p.estimated


def test_a_named_unit_count_scales_down_never_up() -> None:
    part = gpu_peak("AMD Instinct MI300X (38 of 304 CUs)")
    assert part is not None and part.peaks_tflops["bf16"] == pytest.approx(1307.4 * 38 / 304)
    more = gpu_peak("Apple M3 Max GPU (50-core)")  # more cores than the listed 40-core part
    assert more is not None and more.peaks_tflops["fp32"] == pytest.approx(14.32)
    assert any("never estimated above the listed one" in n for n in more.notes)
    # an Apple-style "-core" count on another vendor's name counts nothing hwbench knows
    odd = gpu_peak("NVIDIA H100 80GB HBM3 (12-core)")
    assert odd is not None and odd.peaks_tflops["bf16"] == pytest.approx(989.4)


def test_only_a_die_or_a_unit_count_is_taken_off_a_name() -> None:
    """ "(Laptop)" or "(12GB)" names another card: looked up whole, it is not found, never answered
    with the desktop or 10GB card's figures."""
    assert gpu_peak("NVIDIA GeForce RTX 4060 (Laptop)") is None
    assert gpu_peak("NVIDIA GeForce RTX 3080 (12GB)") is None
    with pytest.raises(InputError, match="0 units"):
        gpu_peak("AMD Instinct MI300X (0 of 304 CUs)")


def test_a_mig_slice_never_has_more_sms_than_its_gpu() -> None:
    with pytest.raises(InputError, match="more than the whole"):
        gpu_peak("NVIDIA H100 80GB HBM3 MIG 1g.10gb", sm_count=200)


def test_a_capped_estimate_says_its_formula_was_capped() -> None:
    """An unlisted AD102 at full-rate datacenter arithmetic would beat the listed RTX 4090: its tensor
    figures are the 4090's, the formula note says it was capped, and no 'full-rate' note contradicts it."""
    p = gpu_peak("NVIDIA Foo AD102", sm_count=128, compute_capability=(8, 9), clock_mhz=2520, vendor="nvidia")
    assert p is not None and p.estimated
    assert any("capped at a listed part" in n for n in p.notes)
    assert not any("full-rate FP32 accumulate" in n for n in p.notes)


def test_a_figure_computed_from_a_spec_page_is_not_labelled_datasheet() -> None:
    p = gpu_peak("NVIDIA GeForce RTX 4070 SUPER")
    assert p is not None and p.computed and p.source.startswith("computed")
    assert p.clock_source == "boost clock the figures assume"
    apple = gpu_peak("Apple M3 Max GPU (40-core)")
    assert apple is not None and apple.clock_source == "the clock the estimate assumes"
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "peaks", "--gpu", "H100"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "hint: give the full name" in r.stderr  # ambiguous: fix the name


def test_every_flag_takes_the_dtype_names_the_api_takes() -> None:
    from hwbench.check.parse import parse_dtype_values
    from hwbench.peaks.overrides import parse_peak_overrides

    assert parse_peak_overrides(["bfloat16=70", "torch.float16=65"]) == {"bf16": 70.0, "fp16": 65.0}
    assert parse_dtype_values("--min-tflops", ["bfloat16=1"]) == {"bf16": 1.0}
