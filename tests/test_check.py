"""hwbench check: every check on recorded GPU/CPU data (tests/fixtures/check/README.md says where
each recording came from), shown to fail when it should and pass when it should."""

from __future__ import annotations

import contextlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import this_vm_cpu
from hypothesis import given, settings
from hypothesis import strategies as st

from hwbench.check import checks as C
from hwbench.check.baseline import fingerprint_differences, load_baseline, save_baseline
from hwbench.check.expectations import (
    KEYS,
    Expectations,
    from_mapping,
    load_config,
    merge,
    parse_dtype_values,
)
from hwbench.check.junit import to_junit
from hwbench.check.results import CheckResult, apply_strict, exit_code, summarize
from hwbench.check.run import replay_system
from hwbench.check.smi import gpus_from_smi, parse_nvidia_smi, parse_nvidia_smi_q
from hwbench.check.summary import markdown, write_step_summary
from hwbench.errors import InputError
from hwbench.model import NA, System, TorchInfo

FIX = Path(__file__).parent / "fixtures" / "check"


def smi(name: str) -> System:
    return replay_system(FIX / name)


def nvml(name: str, i: int = 0) -> dict:
    return parse_nvidia_smi((FIX / name).read_text()).gpus[i][1]


# --- parsing the recordings -------------------------------------------------------------------------


def test_h100x8_recording_parses_to_eight_distinct_gpus() -> None:
    log = parse_nvidia_smi_q((FIX / "h100x8_nvidia-smi-q.txt").read_text())
    assert log.driver_version == "565.57.01" and log.cuda_version == "12.7"
    assert len(log.gpus) == 8
    assert [b for b, _ in log.gpus][:2] == ["0000:18:00.0", "0000:2a:00.0"]
    assert len({f["uuid"] for _, f in log.gpus}) == 8
    f = log.gpus[0][1]
    assert f["name"] == "NVIDIA H100 80GB HBM3" and f["pci_device_id"] == "0x2330"
    assert (f["pcie_gen_current"], f["pcie_gen_max"], f["pcie_width_current"], f["pcie_width_max"]) == (
        5,
        5,
        16,
        16,
    )
    assert f["memory_total_bytes"] == 81559 * 2**20
    assert f["clock_event_reasons"] == ["gpu_idle"]


def test_table_form_reads_volatile_ecc_and_na() -> None:
    log = parse_nvidia_smi((FIX / "k80x4_azure_nvidia-smi.txt").read_text())
    assert [f["ecc_uncorrected_volatile"] for _, f in log.gpus[:3]] == [0, 1, 0]
    assert isinstance(log.gpus[3][1]["ecc_uncorrected_volatile"], NA)
    assert log.gpus[1][0] == "83d4:00:00.0" and log.driver_version == "384.111"


def test_excerpt_with_elisions_still_reads_throttle_reasons() -> None:
    f = nvml("v100_power_brake_nvidia-smi-q.txt")
    assert f["name"] == "Tesla V100-SXM2-32GB"
    assert f["clock_event_reasons"] == ["hw_slowdown", "hw_power_brake_slowdown"]
    assert f["sm_clock_mhz"] == 382


def test_not_nvidia_smi_output_is_input_error() -> None:
    with pytest.raises(InputError):
        parse_nvidia_smi("Linux vm 6.1.0 #1 SMP\nno gpus here\n")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parsers_never_crash_on_arbitrary_text(text: str) -> None:
    try:
        log = parse_nvidia_smi(text)
    except InputError:
        return
    assert all(isinstance(b, str) for b, _ in log.gpus)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "GPU 00000000:18:00.0",
                "    Product Name : X",
                "    PCI",
                "        Bus Id : 0",
                "    Clocks Event Reasons",
                "        Idle : Active",
                "...",
                "",
                "  : :",
                "            Max : 16x",
                "    ECC Errors",
                "        Volatile",
            ]
        ),
        max_size=30,
    )
)
def test_q_parser_survives_shuffled_sections(lines: list[str]) -> None:
    with contextlib.suppress(InputError):
        parse_nvidia_smi_q("\n".join(lines))


# --- inventory checks -------------------------------------------------------------------------------


def test_min_gpus_on_the_8_gpu_node() -> None:
    s = smi("h100x8_nvidia-smi-q.txt")
    assert C.check_min_gpus(s, 8).status == "pass"
    r = C.check_min_gpus(s, 9)
    assert r.status == "fail" and r.measured == 8 and "expected at least 9" in r.message


def test_min_gpus_fails_on_a_gpu_less_machine() -> None:
    s = System(cpu=this_vm_cpu(), memory=None, gpus=(), torch=TorchInfo(installed=True))
    r = C.check_min_gpus(s, 1)
    assert r.status == "fail" and r.measured == 0


def test_gpu_model_glob_and_whole_name() -> None:
    s = smi("h100x8_nvidia-smi-q.txt")
    assert C.check_gpu_model(s, "*H100*").status == "pass"
    assert C.check_gpu_model(s, "nvidia h100 80gb hbm3").status == "pass"  # case-insensitive, whole name
    bad = C.check_gpu_model(s, "*A100*")
    assert bad.status == "fail" and "8 of 8" in bad.message
    part = C.check_gpu_model(s, "H100")  # no wildcard: not a substring match
    assert part.status == "fail" and "whole name" in part.message


def test_min_gpu_memory_uses_decimal_gb() -> None:
    s = smi("h100x8_nvidia-smi-q.txt")  # 81559 MiB = 85.5e9 bytes: an "80GB" card
    assert {r.status for r in C.check_min_gpu_memory(s, 80)} == {"pass"}
    rs = C.check_min_gpu_memory(s, 90)
    assert len(rs) == 8 and {r.status for r in rs} == {"fail"} and rs[0].measured == 85.52
    a10g = smi("a10g_x8_link_nvidia-smi-q.txt")
    assert C.check_min_gpu_memory(a10g, 24)[0].status == "pass"
    assert C.check_min_gpu_memory(a10g, 40)[0].status == "fail"
    assert C.check_min_gpu_memory(smi("v100_power_brake_nvidia-smi-q.txt"), 16)[0].status == "skip"


def test_min_driver_compares_numerically() -> None:
    s = smi("h100x8_nvidia-smi-q.txt")  # 565.57.01
    assert C.check_min_driver(s, "550.54.15").status == "pass"
    assert C.check_min_driver(s, "565.57.1").status == "pass"
    assert C.check_min_driver(s, "565.100").status == "fail"
    assert C.check_min_driver(smi("v100_power_brake_nvidia-smi-q.txt"), "470").status == "skip"


def test_require_isa_on_this_vm() -> None:
    cpu = this_vm_cpu()
    assert C.check_isa(cpu, "avx2").status == "pass"
    r = C.check_isa(cpu, "avx512f")
    assert r.status == "fail" and "lacks avx512f" in r.message
    assert C.check_isa(None, "avx2").status == "skip"


def test_torch_can_use_from_build_and_runtime() -> None:
    cpu_build = TorchInfo(
        installed=True,
        version="2.13.0+cpu",
        build="cpu",
        usable_devices=("cpu",),
        messages=("NVIDIA GPU present but this torch is CPU-only",),
    )
    assert C.check_torch_can_use(cpu_build, "cpu").status == "pass"
    r = C.check_torch_can_use(cpu_build, "cuda")
    assert r.status == "fail" and "CPU-only" in r.message
    rt = C.TorchRuntime("cuda", False, 0, "torch 2.4.0+cu124 (CUDA 12.4) sees no usable GPU")
    cuda_build = TorchInfo(
        installed=True, version="2.4.0+cu124", build="cuda", usable_devices=("cpu", "cuda")
    )
    assert C.check_torch_can_use(cuda_build, "cuda", rt).status == "fail"
    assert C.check_torch_can_use(TorchInfo(installed=False), "cpu").status == "fail"


# --- measured figures -------------------------------------------------------------------------------


def fig(value: float | None, device: str = "cpu", name: str = "fp32_tflops") -> C.Figure:
    return C.Figure(
        device, name, value, "test figure", error=None if value is not None else "not measured here"
    )


def test_min_tflops_pass_fail_skip() -> None:
    assert C.check_min_tflops(fig(0.21), "fp32", 0.05).status == "pass"
    assert C.check_min_tflops(fig(0.21), "fp32", 50).status == "fail"
    assert C.check_min_tflops(fig(None), "fp32", 0.05).status == "skip"


def test_fraction_of_peak() -> None:
    f = fig(700.0, "cuda:0", "bf16_tflops")
    assert C.check_fraction_of_peak(f, "bf16", 989.0, "H100 SXM datasheet", 0.6).status == "pass"
    r = C.check_fraction_of_peak(f, "bf16", 989.0, "H100 SXM datasheet", 0.8)
    assert r.status == "fail" and r.measured == pytest.approx(0.7078, abs=1e-4)
    assert C.check_fraction_of_peak(f, "bf16", None, "no peak known", 0.5).status == "skip"


def test_min_mfu_and_busbw() -> None:
    assert C.check_min_mfu("cpu", 0.25, 0.2, "x").status == "pass"
    assert C.check_min_mfu("cpu", 0.15, 0.2, "x").status == "fail"
    assert C.check_min_mfu("cpu", None, 0.2, "no peak").status == "skip"
    assert C.check_min_busbw(180.0, 150.0, "x").status == "pass"
    assert C.check_min_busbw(90.0, 150.0, "x").status == "fail"
    assert C.check_min_busbw(None, 150.0, "not under torchrun").status == "skip"


def test_straggler_among_8_h100s() -> None:
    data = json.loads((FIX / "h100x8_matmul_tflops.json").read_text())
    figs = [fig(v, d, "bf16_tflops") for d, v in data["tflops"].items()]
    rs = {r.device: r for r in C.check_max_spread(figs, 10)}
    assert [d for d, r in rs.items() if r.status == "fail"] == ["cuda:5"]
    assert rs["cuda:5"].measured == pytest.approx(20.03, abs=0.01) and "straggler" in rs["cuda:5"].message
    assert {r.status for r in C.check_max_spread(figs, 25)} == {"pass"}


def test_straggler_in_a_real_gpu_burn_line() -> None:
    line = (FIX / "gpuburn_issue110.txt").read_text()
    rates = [float(x) / 1000 for x in re.findall(r"\((\d+) ?Gflop/s\)", line)]
    assert len(rates) == 6
    rs = C.check_max_spread([fig(v, f"cuda:{i}", "fp32_tflops") for i, v in enumerate(rates)], 10)
    assert [r.device for r in rs if r.status == "fail"] == ["cuda:0"]  # 20000 vs a peer median of 31108


def test_spread_needs_two_gpus() -> None:
    assert C.check_max_spread([fig(700.0, "cuda:0")], 10)[0].status == "skip"


# --- health under load ------------------------------------------------------------------------------


def test_pcie_degraded_link_fails() -> None:
    r = C.check_pcie_full("gpu0", [nvml("a10g_x8_link_nvidia-smi-q.txt")])
    assert r.status == "fail" and r.measured == "gen4 x8" and r.expected == "gen4 x16"
    assert "width x8 of x16" in r.message


def test_pcie_full_link_passes_and_ramp_up_is_not_a_failure() -> None:
    h100 = nvml("h100x8_nvidia-smi-q.txt", 3)
    assert C.check_pcie_full("gpu3", [h100]).status == "pass"
    idle = {**h100, "pcie_gen_current": 1}  # the first sample, before the link trained up
    assert C.check_pcie_full("gpu3", [idle, h100]).status == "pass"
    assert C.check_pcie_full("gpu3", [idle]).status == "fail"


def test_pcie_skips_without_samples_or_fields() -> None:
    assert C.check_pcie_full("gpu0", []).status == "skip"
    na = {
        "pcie_gen_current": NA("NVML: Not Supported"),
        "pcie_gen_max": 4,
        "pcie_width_current": 16,
        "pcie_width_max": 16,
    }
    r = C.check_pcie_full("gpu0", [na])
    assert r.status == "skip" and "Not Supported" in r.message


def test_throttling_gpu_fails_no_throttle() -> None:
    r = C.check_no_throttle("gpu0", [nvml("v100_power_brake_nvidia-smi-q.txt")])
    assert r.status == "fail" and r.measured == ["hw_power_brake_slowdown", "hw_slowdown"]


def test_idle_and_power_cap_are_not_throttling() -> None:
    assert C.check_no_throttle("gpu0", [nvml("h100x8_nvidia-smi-q.txt")]).status == "pass"  # gpu_idle
    assert C.check_no_throttle("gpu0", [nvml("a10g_x8_link_nvidia-smi-q.txt")]).status == "pass"  # none
    capped = {"clock_event_reasons": ["sw_power_cap", "applications_clocks_setting"]}
    assert C.check_no_throttle("gpu0", [capped]).status == "pass"
    thermal = {"clock_event_reasons": ["sw_thermal_slowdown"]}
    r = C.check_no_throttle("gpu0", [capped, thermal, capped])
    assert r.status == "fail" and "1/3 samples" in r.message


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("nvmlClocksEventReasonGpuIdle", "gpu_idle"),  # nvml.h's enum names, new and old
        ("nvmlClocksThrottleReasonSwThermalSlowdown", "sw_thermal_slowdown"),
        ("clocks_event_reason_sw_power_cap", "sw_power_cap"),
        ("Idle", "gpu_idle"),  # nvidia-smi -q's labels
        ("HW Power Brake Slowdown", "hw_power_brake_slowdown"),
        ("hw_slowdown", "hw_slowdown"),  # hwbench's own name (a recording)
        ("other(0x400)", "other(0x400)"),  # an unknown bit stays, to be reported
    ],
)
def test_clock_event_spellings_map_onto_the_one_table(raw: str, name: str) -> None:
    from hwbench.detect.nvml import clock_event_name

    assert clock_event_name(raw) == name
    held_back = C.check_no_throttle("gpu0", [{"clock_event_reasons": [raw]}]).status == "fail"
    assert held_back == (name not in {"gpu_idle", "sw_power_cap", "applications_clocks_setting"})


def test_ecc_errors_volatile_count() -> None:
    s = smi("k80x4_azure_nvidia-smi.txt")
    rs = [C.check_max_ecc_errors(f"gpu{i}", g.nvml, 0) for i, g in C.nvml_gpus(s)]
    assert [r.status for r in rs] == ["pass", "fail", "pass", "skip"]
    assert rs[1].measured == 1
    assert C.check_max_ecc_errors("gpu1", s.gpus[1].nvml, 1).status == "pass"


def test_ecc_lifetime_error_is_shown_not_failed() -> None:
    r = C.check_max_ecc_errors("gpu0", nvml("gh200_nvidia-smi-q.txt"), 0)
    assert r.status == "pass" and r.measured == 0 and "lifetime: 1" in r.message


def test_ecc_falls_back_to_the_aggregate_count_detect_reads() -> None:
    live = {"ecc_uncorrected_aggregate": 1, "ecc_mode_current": True}  # detect/nvml.py reads only this
    r = C.check_max_ecc_errors("gpu0", live, 0)
    assert r.status == "fail" and "lifetime" in r.message
    off = {"ecc_uncorrected_aggregate": NA("NVML: Not Supported"), "ecc_mode_current": False}
    assert "disabled" in C.check_max_ecc_errors("gpu0", off, 0).message


# --- results, strict, exit codes --------------------------------------------------------------------


def test_strict_turns_skips_into_failures() -> None:
    rs = [CheckResult("a", "pass", 1, 1, "ok"), CheckResult("b", "skip", None, 1, "NVML not supported")]
    assert exit_code(rs) == 0
    strict = apply_strict(rs)
    assert strict[1].status == "fail" and "NVML not supported" in strict[1].message
    s = summarize(strict, strict=True)
    assert (s.failed, s.exit_code, s.status) == (1, 1, "fail")


# --- expectations -----------------------------------------------------------------------------------


def test_dtype_values_and_errors() -> None:
    assert parse_dtype_values("min-tflops", ["fp32=0.05", "BF16 = 600"]) == {"fp32": 0.05, "bf16": 600.0}
    assert parse_dtype_values("min-tflops", {"fp16": 300}) == {"fp16": 300.0}
    for bad in (["fp33=1"], ["fp32"], ["fp32=abc"], ["fp32=-1"], ["fp32=nan"]):
        with pytest.raises(InputError):
            parse_dtype_values("min-tflops", bad)
    with pytest.raises(InputError):
        parse_dtype_values("min-fraction-of-peak", ["bf16=1.5"], fraction=True)


def test_toml_config_same_keys_and_flags_win(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        'min-gpus = 8\ngpu_model = "*H100*"\nmin-tflops = { bf16 = 600 }\nrequire-isa = ["avx2"]\n'
        'no-throttle = true\nlevel = "medium"\n'
    )
    exp = merge(load_config(cfg), from_mapping({"min_gpus": 4, "min_tflops": ["fp32=1"]}, where="flags"))
    assert exp.min_gpus == 4 and exp.gpu_model == "*H100*" and exp.no_throttle and exp.level == "medium"
    assert exp.min_tflops == {"bf16": 600.0, "fp32": 1.0} and exp.require_isa == ("avx2",)
    table = tmp_path / "t.toml"
    table.write_text("[check]\nmax-ecc-errors = 0\n")
    assert load_config(table)["max_ecc_errors"] == 0


@pytest.mark.parametrize(
    "text",
    [
        "min-gpu = 8\n",
        "min-gpus = 'eight'\n",
        "min-gpus = [\n",
        "level = 'soak'\n",
        "pcie-full = 1\n",
        "[check]\nmin-gpus = 1\n[other]\nx = 1\n",
        "max-spread = 150\n",
        "device = 'tpu'\n",
    ],
)
def test_bad_config_is_input_error(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(InputError):
        load_config(cfg)


def test_empty_expectations() -> None:
    assert Expectations().is_empty()
    assert not Expectations(pcie_full=True).is_empty()


# --- baselines --------------------------------------------------------------------------------------


def test_baseline_roundtrip_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    fp = {
        "cpu_model": "AMD EPYC",
        "gpus": [],
        "driver_version": None,
        "torch_version": "2.13.0+cpu",
        "hwbench_version": "0.1.0",
    }
    save_baseline(path, [fig(0.21), fig(None, "cuda:0", "bf16_tflops")], fp, "quick")
    assert [p.name for p in tmp_path.iterdir()] == ["base.json"]  # no temp file left behind
    b = load_baseline(path)
    assert [(f.device, f.name, f.value) for f in b.figures] == [("cpu", "fp32_tflops", 0.21)]
    assert b.level == "quick" and fingerprint_differences(b.fingerprint, fp) == []
    other = {**fp, "torch_version": "2.14.0+cpu"}
    assert fingerprint_differences(b.fingerprint, other) == ["torch_version: 2.13.0+cpu -> 2.14.0+cpu"]


def test_baseline_regression_self_and_tripled() -> None:
    base = 0.21
    assert C.check_regression(fig(0.205), base, 10).status == "pass"
    r = C.check_regression(fig(0.205), base * 3, 10)
    assert r.status == "fail" and "regression" in r.message
    assert C.check_regression(fig(None), base, 10).status == "fail"


@pytest.mark.parametrize(
    ("content", "word"),
    [
        ("", "truncated"),
        ('{"kind": "hwbench-check-baseline", "figures": [{"dev', "truncated"),
        ('{"kind": "other"}', "not an hwbench"),
        ('{"kind": "hwbench-check-baseline", "format_version": 1}', "no figures"),
        (
            '{"kind": "hwbench-check-baseline", "format_version": 1, '
            '"figures": [{"device": "cpu", "name": "x", "value": -1}]}',
            "positive",
        ),
        ("\x00\x01garbage}", "corrupt"),
    ],
)
def test_broken_baselines_are_one_line_input_errors(tmp_path: Path, content: str, word: str) -> None:
    p = tmp_path / "b.json"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        load_baseline(p)
    assert word in e.value.message and "\n" not in e.value.message


# --- JUnit and the step summary ---------------------------------------------------------------------


def _results() -> list[CheckResult]:
    return [
        CheckResult("min_gpus", "fail", 0, 1, "0 GPU(s) found <&> \x07", unit="GPUs", op=">="),
        CheckResult("require_isa[avx2]", "pass", "avx2", "avx2", "has avx2", op="has"),
        CheckResult("pcie_full", "skip", None, None, "no NVIDIA GPU with NVML"),
    ]


def test_junit_is_valid_xml_with_failure_and_skipped() -> None:
    root = ET.fromstring(to_junit(_results(), 1.5, {"level": "quick"}))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["min_gpus", "require_isa[avx2]", "pcie_full"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "0 GPU(s) found <&> "
    assert cases[1].find("failure") is None and cases[2].find("skipped") is not None


def test_step_summary_only_under_github_actions(tmp_path: Path) -> None:
    md = markdown(_results(), summarize(_results()))
    assert "| `min_gpus` | ❌ fail |" in md and "FAILED" in md
    out = tmp_path / "summary.md"
    assert write_step_summary(md, {"GITHUB_STEP_SUMMARY": str(out)}) is None
    assert write_step_summary(md, {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(out)}) == out
    assert out.read_text().startswith("### hwbench check: FAILED")


def test_gpus_from_smi_are_nvidia_discrete() -> None:
    gpus = gpus_from_smi(parse_nvidia_smi((FIX / "a10g_x8_link_nvidia-smi-q.txt").read_text()))
    assert gpus[0].vendor == "nvidia" and gpus[0].device_id == "0x2237" and gpus[0].pci_slot == "0000:00:1e.0"


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*KEYS, "min_gpus", "nonsense"]),
        _ANY,
        max_size=4,
    )
)
def test_any_config_value_is_accepted_or_an_input_error(values: dict) -> None:
    """A TOML file can hold any value under any key: the answer is Expectations or InputError, never
    a TypeError or a traceback."""
    with contextlib.suppress(InputError):
        merge(from_mapping(values), {})
