"""The GPU peak table (hwbench/peaks/data/gpus.csv) against cited datasheet figures, and its rules:
dense everywhere, the GeForce FP32-accumulate rule, exact-name identification (L4 is never L40S)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwbench.peaks import gpu_peak, identify, normalize_name
from hwbench.peaks.gpu import arch_rates, gpu_table

# (model row, dtype, figure as printed, printed "with sparsity"?, where it is printed)
# A sparse figure must appear in the table halved; a dense one as is (within 0.6% for rounding).
DATASHEET = [
    (
        "NVIDIA H100 SXM5",
        "bf16",
        1979,
        True,
        "NVIDIA H100 Tensor Core GPU datasheet, SXM column, BF16 Tensor Core*",
    ),
    ("NVIDIA H100 SXM5", "tf32", 989, True, "NVIDIA H100 datasheet, SXM column, TF32 Tensor Core*"),
    ("NVIDIA H100 SXM5", "fp8", 3958, True, "NVIDIA H100 datasheet, SXM column, FP8 Tensor Core*"),
    ("NVIDIA H100 SXM5", "fp32", 67, False, "NVIDIA H100 datasheet, SXM column, FP32"),
    ("NVIDIA H100 SXM5", "fp64", 67, False, "NVIDIA H100 datasheet, SXM column, FP64 Tensor Core"),
    ("NVIDIA H100 PCIe", "bf16", 1513, True, "NVIDIA H100 datasheet, PCIe column, BF16 Tensor Core*"),
    ("NVIDIA H100 PCIe", "fp32", 51, False, "NVIDIA H100 datasheet, PCIe column, FP32"),
    ("NVIDIA H100 NVL", "bf16", 1671, True, "NVIDIA H100 datasheet (2024), H100 NVL column, BF16*"),
    ("NVIDIA H200 SXM", "bf16", 1979, True, "NVIDIA H200 datasheet, H200 SXM column, BF16*"),
    ("NVIDIA H200 NVL", "fp8", 3341, True, "NVIDIA H200 datasheet, H200 NVL column, FP8*"),
    ("NVIDIA A100 SXM4 80GB", "bf16", 624, True, "NVIDIA A100 datasheet, BF16 Tensor Core 312 | 624*"),
    ("NVIDIA A100 SXM4 80GB", "tf32", 156, False, "NVIDIA A100 datasheet, TF32 Tensor Core 156 | 312*"),
    ("NVIDIA A100 SXM4 40GB", "fp64", 19.5, False, "NVIDIA A100 datasheet, FP64 Tensor Core"),
    ("NVIDIA A100 PCIe 80GB", "int8", 1248, True, "NVIDIA A100 datasheet, INT8 Tensor Core 624 | 1248*"),
    ("NVIDIA A10", "bf16", 125, False, "NVIDIA A10 datasheet, BF16 Tensor Core 125 | 250*"),
    ("NVIDIA A30", "bf16", 165, False, "NVIDIA A30 datasheet, BF16 Tensor Core 165 | 330*"),
    ("NVIDIA A40", "bf16", 149.7, False, "NVIDIA A40 datasheet, Peak BF16 Tensor TFLOPS 149.7 | 299.4*"),
    ("NVIDIA A40", "tf32", 74.8, False, "NVIDIA A40 datasheet, Peak TF32 Tensor 74.8 | 149.6*"),
    ("NVIDIA L4", "bf16", 242, True, "NVIDIA L4 datasheet, BF16 Tensor Core 242*"),
    ("NVIDIA L4", "fp8", 485, True, "NVIDIA L4 datasheet, FP8 Tensor Core 485*"),
    ("NVIDIA L40", "bf16", 362.1, True, "NVIDIA L40 datasheet, BF16 181.05 | 362.1*"),
    ("NVIDIA L40S", "bf16", 362.05, False, "NVIDIA L40S datasheet, BF16 Tensor Core 362.05 | 733*"),
    ("NVIDIA L40S", "fp8", 1466, True, "NVIDIA L40S datasheet, FP8 Tensor Core 733 | 1466*"),
    ("NVIDIA L40S", "fp32", 91.6, False, "NVIDIA L40S datasheet, FP32"),
    ("NVIDIA T4", "fp16", 65, False, "NVIDIA T4 datasheet, Mixed Precision (FP16/FP32) 65"),
    ("NVIDIA T4", "int8", 130, False, "NVIDIA T4 datasheet, INT8 130 TOPS"),
    ("NVIDIA V100 SXM2", "fp16", 125, False, "NVIDIA V100 datasheet, SXM2 Tensor Performance 125"),
    ("NVIDIA B200", "bf16", 4500, True, "NVIDIA Blackwell datasheet, HGX B200 per GPU FP16/BF16 4.5 PF*"),
    ("NVIDIA GB200", "bf16", 5000, True, "NVIDIA GB200 NVL72 datasheet, per GPU FP16/BF16 5 PF*"),
    ("NVIDIA RTX 6000 Ada Generation", "fp8", 1457.0, True, "RTX 6000 Ada datasheet, Tensor Perf 1457.0*"),
    ("NVIDIA RTX A6000", "fp16", 309.7, True, "RTX A6000 datasheet, Tensor Performance 309.7*"),
    (
        "NVIDIA GeForce RTX 4090",
        "bf16",
        165.2,
        False,
        "Ada whitepaper appendix, RTX 4090, FP16/BF16 FP32-acc",
    ),
    ("NVIDIA GeForce RTX 4090", "fp32", 82.6, False, "Ada whitepaper appendix, RTX 4090, Peak FP32 TFLOPS"),
    ("NVIDIA GeForce RTX 4070 Ti", "bf16", 80.2, False, "Ada whitepaper appendix, RTX 4080 12GB (= 4070 Ti)"),
    ("NVIDIA GeForce RTX 3090", "fp16", 71, False, "Ampere GA102 whitepaper, RTX 3090, FP16 Tensor FP32-acc"),
    (
        "NVIDIA GeForce RTX 2080 Ti",
        "fp16",
        53.8,
        False,
        "Turing whitepaper, RTX 2080 Ti, FP16 Tensor FP32-acc",
    ),
    ("NVIDIA GeForce RTX 5090", "fp32", 104.8, False, "RTX Blackwell whitepaper appendix, RTX 5090 FP32"),
    ("AMD Instinct MI300X", "bf16", 1307.4, False, "AMD Instinct MI300X datasheet, Peak BF16 1307.4"),
    ("AMD Instinct MI300X", "fp8", 5229.8, True, "AMD Instinct MI300X datasheet, Peak FP8 with sparsity"),
    ("AMD Instinct MI210", "bf16", 181, False, "AMD Instinct MI210 datasheet, Peak BF16 181"),
    ("AMD Instinct MI250X (per GCD)", "bf16", 383 / 2, False, "AMD MI250X datasheet 383 (OAM), per GCD"),
    ("AMD Radeon RX 7900 XTX", "fp16", 122.8, False, "AMD RX 7900 XTX product page, Peak Half Precision"),
    ("Apple M1 Max GPU (32-core)", "fp32", 10.4, False, "Apple M1 Pro/Max press release, 10.4 TFLOPS"),
    ("NVIDIA H800 SXM5", "bf16", 1979, True, "NVIDIA H800 datasheet, SXM column, BF16 Tensor Core*"),
    ("NVIDIA H800 SXM5", "fp64", 1, False, "NVIDIA H800 datasheet, SXM column, FP64 / FP64 Tensor Core 1"),
    ("NVIDIA H800 SXM5", "fp8", 3958, True, "NVIDIA H800 datasheet, SXM column, FP8 Tensor Core*"),
    ("NVIDIA H800 PCIe", "bf16", 1513, True, "NVIDIA H800 PCIe datasheet, BF16 Tensor Core*"),
    ("NVIDIA H20", "bf16", 148, False, "NVIDIA H20 specification (partner listings), BF16 148 dense"),
    ("NVIDIA H20", "fp8", 296, False, "NVIDIA H20 specification (partner listings), FP8 296 dense"),
    ("NVIDIA A800 SXM4 80GB", "bf16", 312, False, "NVIDIA A800 datasheet, BF16 Tensor Core 312 | 624*"),
    (
        "NVIDIA A800 40GB",
        "tf32",
        156,
        False,
        "NVIDIA A800 40GB Active datasheet, TF32 Tensor Core 156 | 312*",
    ),
    ("NVIDIA Tesla P100 SXM2", "fp16", 21.2, False, "NVIDIA Tesla P100 datasheet, SXM2 column, FP16 21.2"),
    ("NVIDIA Tesla P100 PCIe", "fp32", 9.3, False, "NVIDIA Tesla P100 datasheet, PCIe column, FP32 9.3"),
    ("NVIDIA RTX A4000", "fp16", 153.4, True, "NVIDIA RTX A4000 datasheet, Tensor Performance 153.4*"),
    ("NVIDIA RTX A4000", "fp32", 19.2, False, "NVIDIA RTX A4000 datasheet, Single-precision 19.2"),
    ("NVIDIA RTX A5000", "fp16", 222.2, True, "NVIDIA RTX A5000 datasheet, Tensor Performance 222.2*"),
    (
        "NVIDIA GeForce RTX 2080",
        "fp16",
        40.3,
        False,
        "Turing whitepaper appendix, RTX 2080, FP16 Tensor FP32-acc",
    ),
    (
        "NVIDIA GeForce RTX 2080",
        "int8",
        161.1,
        False,
        "Turing whitepaper appendix, RTX 2080, INT8 Tensor TOPS",
    ),
    ("AMD Instinct MI300A", "bf16", 980.6, False, "AMD Instinct MI300A datasheet, Peak BF16 980.6"),
    ("AMD Instinct MI300A", "fp64", 122.6, False, "AMD Instinct MI300A datasheet, Peak FP64 Matrix 122.6"),
    ("AMD Instinct MI325X", "bf16", 1307.4, False, "AMD Instinct MI325X datasheet, Peak BF16 1307.4"),
    (
        "Intel Data Center GPU Max 1550 (per stack)",
        "bf16",
        839 / 2,
        False,
        "Intel Max 1550 product brief, BF16 839 for the 2-stack card, per stack",
    ),
    ("NVIDIA RTX PRO 6000 Blackwell", "fp32", 125, False, "RTX PRO 6000 Blackwell datasheet, FP32 125"),
    (
        "NVIDIA Jetson AGX Orin 64GB",
        "int8",
        170,
        True,
        "Jetson AGX Orin technical brief, GPU 170 sparse INT8 TOPS",
    ),
    (
        "NVIDIA Jetson AGX Orin 64GB",
        "fp32",
        5.3,
        False,
        "Jetson AGX Orin technical brief, GPU 5.3 FP32 TFLOPS",
    ),
]

# Rows computed from a spec page's units, clock and "AI TOPS" (no dense tensor figure printed): the figure the
# spec page prints, and what it is in the table's terms. (model, dtype, spec-page figure, divisor, where)
SPEC_PAGE = [
    ("NVIDIA GeForce RTX 4060 Ti", "fp8", 353, 4, "RTX 4060 Ti spec page, 353 AI TOPS (FP8 sparse FP16-acc)"),
    ("NVIDIA GeForce RTX 4060 Ti", "fp32", 4352 * 2 * 2.535 / 1000, 1, "4352 CUDA cores x 2.535 GHz"),
    ("NVIDIA GeForce RTX 4070 SUPER", "fp8", 568, 4, "RTX 4070 SUPER spec page, 568 AI TOPS"),
    ("NVIDIA GeForce RTX 4070 SUPER", "fp32", 7168 * 2 * 2.475 / 1000, 1, "7168 CUDA cores x 2.475 GHz"),
    ("NVIDIA GeForce RTX 4070 Ti SUPER", "fp8", 706, 4, "RTX 4070 Ti SUPER spec page, 706 AI TOPS"),
    ("NVIDIA GeForce RTX 4070 Ti SUPER", "fp32", 8448 * 2 * 2.61 / 1000, 1, "8448 CUDA cores x 2.61 GHz"),
    ("NVIDIA GeForce RTX 4080 SUPER", "fp8", 836, 4, "RTX 4080 SUPER spec page, 836 AI TOPS"),
    ("NVIDIA GeForce RTX 4080 SUPER", "fp32", 10240 * 2 * 2.55 / 1000, 1, "10240 CUDA cores x 2.55 GHz"),
    (
        "NVIDIA GeForce RTX 3080 Ti",
        "fp32",
        10240 * 2 * 1.665 / 1000,
        1,
        "RTX 3080 Ti spec page, 10240 x 1.665 GHz",
    ),
    ("NVIDIA GeForce RTX 3050", "fp32", 2560 * 2 * 1.777 / 1000, 1, "RTX 3050 spec page, 2560 x 1.777 GHz"),
    (
        "NVIDIA GeForce GTX 1080 Ti",
        "fp32",
        3584 * 2 * 1.582 / 1000,
        1,
        "GTX 1080 Ti spec page, 3584 x 1.582 GHz",
    ),
    (
        "NVIDIA RTX PRO 6000 Blackwell",
        "bf16",
        4000,
        8,
        "RTX PRO 6000 Blackwell datasheet, 4000 AI TOPS (FP4 sparse)",
    ),
    # FP4 sparse / 8 = the FP16-accumulate rate; the fp16 column holds half (FP32 accumulate, as on GeForce)
    ("NVIDIA GB10", "fp16", 1000, 16, "DGX Spark spec page, 1 PFLOP FP4 sparse"),
]

ROWS = {r.model: r for r in gpu_table()}


def test_enough_citations() -> None:
    assert len(DATASHEET) >= 25
    assert len({(m, d) for m, d, *_ in DATASHEET}) == len(DATASHEET)


@pytest.mark.parametrize(("model", "dtype", "figure", "sparse", "where"), DATASHEET)
def test_table_matches_datasheet_dense(
    model: str, dtype: str, figure: float, sparse: bool, where: str
) -> None:
    dense = figure / 2 if sparse else figure
    value = ROWS[model].peaks[dtype]
    assert value is not None, where
    assert value == pytest.approx(dense, rel=0.006), f"{model} {dtype}: table {value}, {where} -> {dense}"
    # Dense everywhere: never the 2:4-sparse figure (H100 bf16 is 989.4, never 1979).
    assert value < 1.2 * dense


@pytest.mark.parametrize(("model", "dtype", "figure", "divisor", "where"), SPEC_PAGE)
def test_computed_rows_match_their_spec_page(
    model: str, dtype: str, figure: float, divisor: float, where: str
) -> None:
    value = ROWS[model].peaks[dtype]
    assert value is not None, where
    # spec pages round their AI TOPS and clocks: 2% covers "4000" for 4030 and "1 PFLOP" for 999
    assert value == pytest.approx(figure / divisor, rel=0.02), f"{model} {dtype}: table {value}, {where}"


def test_every_row_has_a_source_and_sane_units() -> None:
    for r in gpu_table():
        assert r.source, r.model
        assert r.peaks["fp32"] is not None and r.peaks["fp32"] > 0, r.model
        assert r.vendor in ("nvidia", "amd", "intel", "apple")


def test_fp64_source_column_drives_the_fp64_source_text() -> None:
    """The fp64 figure's source comes from the typed fp64_source column: the FP64 Tensor Core rate on
    A100/H100 (datasheet), computed from fp32 on GeForce-class parts (no datasheet figure)."""
    assert ROWS["NVIDIA A100 SXM4 40GB"].fp64_source == "tensor"
    assert ROWS["NVIDIA GeForce RTX 4090"].fp64_source == "computed"
    assert ROWS["NVIDIA V100 SXM2"].fp64_source == ""
    h100 = gpu_peak("NVIDIA H100 80GB HBM3")
    rtx = gpu_peak("NVIDIA GeForce RTX 4090")
    v100 = gpu_peak("Tesla V100-SXM2-16GB")
    assert h100 is not None and h100.dtype_sources["fp64"] == "datasheet, dense: FP64 Tensor Core"
    assert (
        rtx is not None and rtx.dtype_sources["fp64"] == "computed from the fp32 rate (not on the datasheet)"
    )
    assert v100 is not None and v100.dtype_sources["fp64"] == "datasheet, dense: non-tensor"


def test_dense_ratios_hold_on_every_row() -> None:
    """The tensor rates of one GPU stand in fixed ratios: tf32 = bf16/2, fp8 = 2 x bf16, fp16 = bf16. A
    sparse figure slipped into one column breaks them."""
    for r in gpu_table():
        p = r.peaks
        if p["bf16"] is not None and p["tf32"] is not None:
            assert p["tf32"] == pytest.approx(p["bf16"] / 2, rel=0.03), r.model
        if p["bf16"] is not None and p["fp8"] is not None:
            # the L40S datasheet prints BF16 at 2490 MHz (362.05) and FP8 at 2520 MHz (733): 1.2% apart
            tol = 0.015 if r.model == "NVIDIA L40S" else 0.01
            assert p["fp8"] == pytest.approx(2 * p["bf16"], rel=tol), r.model
        if p["bf16"] is not None:
            assert p["fp16"] == pytest.approx(p["bf16"], rel=0.001), r.model


def test_geforce_rule_bf16_is_the_fp32_accumulate_rate() -> None:
    geforce = [r for r in gpu_table() if r.consumer and r.vendor == "nvidia"]
    assert len(geforce) >= 15
    for r in geforce:
        assert r.fp16_acc16 is not None, r.model
        assert r.peaks["fp16"] == pytest.approx(r.fp16_acc16 / 2, rel=0.01), r.model
        if r.peaks["bf16"] is not None:
            assert r.peaks["bf16"] == pytest.approx(r.fp16_acc16 / 2, rel=0.01), r.model
    # the motivating user's card: 80.2, not 160.4; and the 4090: 165.2, not 330.3
    assert gpu_peak("NVIDIA GeForce RTX 4070 Ti").peaks_tflops["bf16"] == 80.2  # type: ignore[union-attr]
    assert gpu_peak("NVIDIA GeForce RTX 4090").peaks_tflops["bf16"] == 165.2  # type: ignore[union-attr]


def test_no_bf16_before_ampere() -> None:
    for name in ("Tesla T4", "Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 2080 Ti"):
        p = gpu_peak(name)
        assert p is not None and p.peaks_tflops["bf16"] is None and p.peaks_tflops["tf32"] is None


def test_arch_rates_rederive_their_rows() -> None:
    """Each per-SM rate used for estimates reproduces the datasheet row it was derived from."""
    for rate in arch_rates():
        model = rate.derived_from.split(" (")[0]
        row = ROWS[model]
        assert row.units is not None and row.clock_mhz is not None
        for dtype, per in rate.per_unit.items():
            table = row.peaks[dtype]
            if per is None or table is None or (dtype == "fp64" and per <= 8):
                continue  # fp64 on consumer parts is computed, not a datasheet figure
            est = row.units * per * row.clock_mhz * 1e6 / 1e12
            tol = 0.12 if model in ("NVIDIA B200", "NVIDIA H100 SXM5") and dtype in ("fp32", "fp64") else 0.03
            assert est == pytest.approx(table, rel=tol), (model, dtype, est, table)


# --------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("printed", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5"),  # what nvidia-smi prints for the SXM part
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
        ("NVIDIA H100 NVL", "NVIDIA H100 NVL"),
        ("Tesla T4", "NVIDIA T4"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 SXM4 40GB"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 SXM4 80GB"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 PCIe 80GB"),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 PCIe 40GB"),
        ("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090"),
        ("NVIDIA GeForce RTX 4090 D", "NVIDIA GeForce RTX 4090 D"),
        ("NVIDIA GeForce RTX 4070 Laptop GPU", "NVIDIA GeForce RTX 4070 Laptop GPU"),
        ("NVIDIA L4", "NVIDIA L4"),
        ("NVIDIA L40", "NVIDIA L40"),
        ("NVIDIA L40S", "NVIDIA L40S"),
        ("NVIDIA A10", "NVIDIA A10"),
        ("NVIDIA A10G", "NVIDIA A10G"),
        ("Tesla V100-SXM2-32GB", "NVIDIA V100 SXM2"),
        ("NVIDIA RTX 6000 Ada Generation", "NVIDIA RTX 6000 Ada Generation"),
        ("AMD Instinct MI300X", "AMD Instinct MI300X"),
        ("Radeon RX 7900 XTX", "AMD Radeon RX 7900 XTX"),
        ("Intel(R) Data Center GPU Max 1550", "Intel Data Center GPU Max 1550 (per stack)"),
        ("Intel(R) Arc(TM) A770 Graphics", "Intel Arc A770"),
        ("nvidia geforce rtx 4070 ti", "NVIDIA GeForce RTX 4070 Ti"),  # case and spacing do not matter
        ("RTX 4070 Ti", "NVIDIA GeForce RTX 4070 Ti"),
        # common short spellings
        ("A100 40GB PCIe", "NVIDIA A100 PCIe 40GB"),
        ("H100 80GB", "NVIDIA H100 SXM5"),  # nvidia-smi's "H100 80GB HBM3" shortened; the PCIe is "H100 PCIe"
        ("Apple M2 GPU", "Apple M2 GPU (10-core)"),
        ("M3 Max GPU", "Apple M3 Max GPU (40-core)"),
        # the rows added for GPUs users run, as NVML / torch print them
        ("NVIDIA GeForce RTX 4060 Ti", "NVIDIA GeForce RTX 4060 Ti"),
        ("NVIDIA GeForce RTX 4070 SUPER", "NVIDIA GeForce RTX 4070 SUPER"),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", "NVIDIA GeForce RTX 4070 Ti SUPER"),
        ("NVIDIA GeForce RTX 4080 SUPER", "NVIDIA GeForce RTX 4080 SUPER"),
        ("NVIDIA GeForce RTX 3080 Ti", "NVIDIA GeForce RTX 3080 Ti"),
        ("NVIDIA GeForce RTX 3050", "NVIDIA GeForce RTX 3050"),
        ("NVIDIA GeForce RTX 2080", "NVIDIA GeForce RTX 2080"),
        ("NVIDIA GeForce GTX 1080 Ti", "NVIDIA GeForce GTX 1080 Ti"),
        ("NVIDIA RTX A4000", "NVIDIA RTX A4000"),
        ("NVIDIA RTX A5000", "NVIDIA RTX A5000"),
        ("NVIDIA RTX A1000 Laptop GPU", "NVIDIA RTX A1000 Laptop GPU"),
        ("NVIDIA RTX A2000 8GB Laptop GPU", "NVIDIA RTX A2000 Laptop GPU"),
        ("Tesla P100-PCIE-16GB", "NVIDIA Tesla P100 PCIe"),
        ("Tesla P100-SXM2-16GB", "NVIDIA Tesla P100 SXM2"),
        ("NVIDIA A800-SXM4-80GB", "NVIDIA A800 SXM4 80GB"),
        ("NVIDIA A800 80GB PCIe", "NVIDIA A800 PCIe 80GB"),
        ("NVIDIA H800", "NVIDIA H800 SXM5"),
        ("NVIDIA H800 PCIe", "NVIDIA H800 PCIe"),
        ("NVIDIA H20", "NVIDIA H20"),
        ("AMD Instinct MI300A", "AMD Instinct MI300A"),
        ("AMD Instinct MI325X", "AMD Instinct MI325X"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "NVIDIA RTX PRO 6000 Blackwell"),
        ("NVIDIA GB10", "NVIDIA GB10"),
        ("Orin", "NVIDIA Jetson AGX Orin 64GB"),  # what torch.cuda.get_device_name() prints on a Jetson
        ("Apple M3", "Apple M3 GPU (10-core)"),
        ("Apple M4 Max", "Apple M4 Max GPU (40-core)"),
    ],
)
def test_names_nvml_and_torch_print(printed: str, model: str) -> None:
    lookup = identify(printed)
    assert lookup.row is not None, lookup.reason
    assert lookup.row.model == model


def test_l4_never_catches_l40s() -> None:
    assert identify("NVIDIA L4").row.model == "NVIDIA L4"  # type: ignore[union-attr]
    assert identify("NVIDIA L40S").row.model == "NVIDIA L40S"  # type: ignore[union-attr]
    assert identify("NVIDIA L40").row.model == "NVIDIA L40"  # type: ignore[union-attr]
    l4, l40s = gpu_peak("NVIDIA L4"), gpu_peak("NVIDIA L40S")
    assert l4 is not None and l40s is not None
    assert l4.peaks_tflops["bf16"] == 121 and l40s.peaks_tflops["bf16"] == 362.05
    assert identify("NVIDIA L4 something").row is None  # whole names only


def test_h100_variants_by_device_id_when_the_name_is_ambiguous() -> None:
    amb = identify("H100")
    assert amb.row is None and amb.reason is not None and "ambiguous" in amb.reason
    assert identify("H100", device_id=0x2330).row.model == "NVIDIA H100 SXM5"  # type: ignore[union-attr]
    assert identify("H100", device_id=0x2331).row.model == "NVIDIA H100 PCIe"  # type: ignore[union-attr]
    assert identify("H100", device_id=0x2321).row.model == "NVIDIA H100 NVL"  # type: ignore[union-attr]
    assert identify(None, device_id=0x2330, vendor_id=0x10DE).row.model == "NVIDIA H100 SXM5"  # type: ignore[union-attr]


def test_4090_vs_4090d_by_name_and_device_id() -> None:
    assert gpu_peak("NVIDIA GeForce RTX 4090").peaks_tflops["bf16"] == 165.2  # type: ignore[union-attr]
    assert gpu_peak("NVIDIA GeForce RTX 4090 D").peaks_tflops["bf16"] == 147.1  # type: ignore[union-attr]
    assert identify(None, device_id=0x2684).row.model == "NVIDIA GeForce RTX 4090"  # type: ignore[union-attr]
    assert identify(None, device_id=0x2685).row.model == "NVIDIA GeForce RTX 4090 D"  # type: ignore[union-attr]
    # the SM count NVML/torch report settles a name that lost its suffix
    assert identify("RTX 4090", sm_count=114).row.model == "NVIDIA GeForce RTX 4090"  # type: ignore[union-attr]


def test_mi250x_vs_mi250_by_cu_count() -> None:
    assert identify("AMD Instinct MI250X/MI250").row is None
    assert identify("AMD Instinct MI250X/MI250", sm_count=110).row.model == "AMD Instinct MI250X (per GCD)"  # type: ignore[union-attr]
    assert identify("AMD Instinct MI250X/MI250", sm_count=104).row.model == "AMD Instinct MI250 (per GCD)"  # type: ignore[union-attr]


def test_compute_capability_contradiction_rejects_the_row() -> None:
    assert identify("NVIDIA H100 PCIe", compute_capability=(8, 0)).row is None


def test_binned_part_scales_by_units_and_says_estimated() -> None:
    p = gpu_peak("Apple M1", sm_count=7)
    assert p is not None and p.estimated
    assert p.peaks_tflops["fp32"] == pytest.approx(2.6 * 7 / 8)


def test_unknown_name_is_none_never_an_a100_default() -> None:
    assert gpu_peak("NVIDIA Made Up 9000") is None
    assert gpu_peak("Intel(R) Iris(R) Xe Graphics") is None


def test_unknown_name_estimated_from_sm_count_cc_and_clock() -> None:
    p = gpu_peak(
        "NVIDIA Future GPU", sm_count=132, compute_capability=(9, 0), clock_mhz=1830, vendor="nvidia"
    )
    assert p is not None and p.estimated
    assert p.peaks_tflops["bf16"] == pytest.approx(989.4, rel=0.01)
    assert "132" in p.source and "1830 MHz" in p.source
    g = gpu_peak(
        "NVIDIA GeForce RTX 4075", sm_count=60, compute_capability=(8, 9), clock_mhz=2610, vendor="nvidia"
    )
    assert g is not None and g.peaks_tflops["bf16"] == pytest.approx(80.2, rel=0.01)  # GeForce half rate
    # no clock, no estimate
    assert gpu_peak("NVIDIA Future GPU", sm_count=132, compute_capability=(9, 0), vendor="nvidia") is None


def test_name_keys_collide_only_where_meant_to() -> None:
    from hwbench.peaks.gpu import _name_index

    ambiguous = {k for k, rows in _name_index().items() if len(rows) > 1}
    assert ambiguous == {
        "h100",
        "a100",
        "a100 40gb",
        "a100 80gb",
        "a100 pcie",
        "v100",
        "p100",
        "a800",
        "amd instinct mi250x mi250",
        "instinct mi250x mi250",
    }


def test_pci_ids_are_unique_except_shared_dies() -> None:
    seen: dict[tuple[int, int], str] = {}
    for r in gpu_table():
        for pid in r.pci_ids:
            if pid in seen:
                assert pid == (0x1002, 0x740C), (pid, seen[pid], r.model)  # MI250X and MI250 share 740c
            seen[pid] = r.model


@given(st.text(max_size=40))
def test_identification_is_whole_name_only(text: str) -> None:
    lookup = identify(text)
    if lookup.row is not None:
        keys = {normalize_name(n) for n in (lookup.row.model, *lookup.row.names, *lookup.row.aliases)}
        n = normalize_name(text)
        assert n in keys or n.partition(" ")[2] in keys


@given(st.sampled_from([r for r in gpu_table() if r.names]), st.booleans(), st.booleans())
def test_case_and_separators_do_not_matter(row: object, upper: bool, dashes: bool) -> None:
    name = row.names[0]  # type: ignore[attr-defined]
    variant = name.upper() if upper else name.lower()
    if dashes:
        variant = variant.replace(" ", "-")
    found = identify(variant, sm_count=row.units)  # type: ignore[attr-defined]
    assert found.row is row


def _recorded_nvml_devices() -> list[tuple[str, str, int | None, tuple[int, int] | None]]:
    """Every GPU in the NVML recordings of tests/fixtures (sources in each file's "source")."""
    import json
    from pathlib import Path

    fix = Path(__file__).parent / "fixtures"
    out = []
    for f in sorted([*fix.glob("nvml/*.json"), *fix.glob("machines/*/nvml.json")]):
        for dev in json.loads(f.read_text()).get("devices", []):
            name = dev.get("nvmlDeviceGetName", {}).get("result")
            pci = dev.get("nvmlDeviceGetPciInfo", {}).get("result") or {}
            did = pci.get("pciDeviceId")
            cc = dev.get("nvmlDeviceGetCudaComputeCapability", {}).get("result")
            out.append(
                (f.parent.name + "/" + f.name, name, did >> 16 if did else None, tuple(cc) if cc else None)
            )
    return out


def test_every_recorded_nvml_gpu_is_identified() -> None:
    """Real nvidia-smi/NVML names, PCI ids and compute capabilities, as recorded in tests/fixtures."""
    expected = {
        "NVIDIA A10": "NVIDIA A10",
        "NVIDIA GH200 480GB": "NVIDIA GH200 (Hopper GPU)",
        "A100-SXM4-40GB": "NVIDIA A100 SXM4 40GB",  # driver 450 prints no "NVIDIA " prefix
        "NVIDIA A10G": "NVIDIA A10G",
        "NVIDIA H100 80GB HBM3": "NVIDIA H100 SXM5",
        "Quadro RTX 8000": "NVIDIA Quadro RTX 8000 / 6000",
        "Tesla V100-SXM2-32GB": "NVIDIA V100 SXM2",
        "GeForce GT 730": None,  # Kepler, not in the table: no peak, never a default
        "NVIDIA GeForce RTX 4070 SUPER": "NVIDIA GeForce RTX 4070 SUPER",  # the WSL2 machine (no PCI id)
    }
    devices = _recorded_nvml_devices()
    assert len(devices) >= 9
    for where, name, device_id, cc in devices:
        lookup = identify(name, device_id=device_id, compute_capability=cc)
        got = lookup.row.model if lookup.row else None
        assert got == expected[name], (where, name, lookup.reason)
        if device_id is not None and lookup.row is not None:  # the recorded PCI id is the table's
            assert identify(None, device_id=device_id, vendor_id=0x10DE).row is lookup.row, where
