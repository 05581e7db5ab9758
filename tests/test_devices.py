"""The device layer (hwbench.devices) and the environments it makes right, on recorded inputs: the device
grammar, native dtypes per architecture, NGC/ROCm builds read from torch/version.py, the GPU nodes of
tests/fixtures/machines replayed by detect/peaks/check, MIG shares, same-silicon estimates, AMD sysfs
telemetry, the one NVML module and the GPU profile's kernel-name rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from hwbench.detect import replay
from hwbench.detect.amdgpu import link_gen, parse_dpm, read_amdgpu
from hwbench.detect.nvml import FakeNvml, open_sampler, read_volatile_ecc
from hwbench.detect.torchinfo import TorchMetadata, classify_build, parse_version_py
from hwbench.devices import CpuDevice, CudaDevice, mig_profile, parse, recorded, resolve
from hwbench.devices.cuda import cuda_native_dtypes
from hwbench.devices.mps import mps_native_dtypes
from hwbench.devices.rocm import rocm_native_dtypes
from hwbench.devices.xpu import xpu_native_dtypes
from hwbench.errors import HwbenchError, InputError
from hwbench.model import NA
from hwbench.peaks import gpu_peak
from hwbench.report.profile import categorize, sdpa_backend

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
MACHINES = FIX / "machines"


# -- the device grammar ---------------------------------------------------------------------------------
def test_parse_and_resolve() -> None:
    assert str(parse("CUDA:1")) == "cuda:1" and parse("xpu").index is None
    assert resolve("cpu").is_host and not resolve("cuda:0").is_host
    assert resolve("xpu:1").torch_name == "xpu:1" and resolve("mps").torch_name == "mps"
    assert resolve("cuda:3").numbered and not resolve("mps").numbered
    for bad in ("gpu", "cuda:x", "cuda:-1", "tpu:0", ""):
        with pytest.raises(InputError):
            resolve(bad)
    assert recorded("gpu:0000:17:00.0") is None and recorded("cpu") == CpuDevice(None)


def test_nothing_outside_the_device_layer_compares_device_strings() -> None:
    pattern = re.compile(r'startswith\("(cuda|cpu|mps|xpu)|[=!]= "(cuda|cpu|mps|xpu)"|\.type ==')
    hits = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in (ROOT / "hwbench").rglob("*.py")
        if "devices" not in p.parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_pynvml_is_imported_in_one_module() -> None:
    importers = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "hwbench").rglob("*.py")
        if re.search(r"^\s*(import pynvml|from pynvml)", p.read_text(), re.MULTILINE)
    ]
    assert importers == ["hwbench/detect/nvml.py"]


def test_import_hwbench_devices_imports_no_torch() -> None:
    code = "import hwbench.devices, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- native dtypes: bf16 only where the hardware has it -------------------------------------------------
@pytest.mark.parametrize(
    ("cc", "default"),
    [
        ((7, 0), "fp16"),
        ((7, 5), "fp16"),
        ((8, 0), "bf16"),
        ((8, 9), "bf16"),
        ((9, 0), "bf16"),
        ((6, 1), "fp32"),
    ],
)
def test_cuda_native_dtypes_by_compute_capability(cc: tuple[int, int], default: str) -> None:
    """V100 (7.0), T4/RTX 20xx (7.5) have fp16 tensor cores only; bf16 arrived with Ampere (8.0)."""
    assert cuda_native_dtypes(cc)[0] == default


class _RecordedCuda(CudaDevice):
    """A CudaDevice answering from recorded torch properties (name, SMs, cc, bus id, memory)."""

    def __init__(self, props: tuple[str, int, tuple[int, int], str, int]) -> None:
        super().__init__(0)
        self._props = props

    def properties(self) -> tuple[str, int, tuple[int, int], str | NA, int]:
        return self._props


def test_t4_defaults_to_fp16_with_a_note_not_emulated_bf16() -> None:
    # NVIDIA T4 data sheet: Turing, 40 SMs, 16 GB; compute capability 7.5 (CUDA GPUs list)
    t4 = _RecordedCuda(("Tesla T4", 40, (7, 5), "0000:00:1e.0", 16 * 2**30))
    choice = t4.default_dtype()
    assert choice.dtype == "fp16" and choice.note is not None and "Tesla T4" in choice.note
    h100 = _RecordedCuda(("NVIDIA H100 80GB HBM3", 132, (9, 0), "0000:18:00.0", 80 * 2**30))
    assert h100.default_dtype().dtype == "bf16" and h100.default_dtype().note is None


def test_rocm_mps_xpu_native_dtypes() -> None:
    assert rocm_native_dtypes("gfx942:sramecc+:xnack-")[0] == "bf16"  # MI300X (CDNA3)
    assert rocm_native_dtypes("gfx90a")[0] == "bf16"  # MI250X (CDNA2)
    assert rocm_native_dtypes("gfx1100")[0] == "bf16"  # RX 7900 XTX (RDNA3 WMMA)
    assert rocm_native_dtypes("gfx1030")[0] == "fp16"  # RX 6900 XT (RDNA2): no bf16 matrix path
    assert rocm_native_dtypes("gfx906")[0] == "fp16"  # MI50 (Vega 20)
    assert mps_native_dtypes("Apple M1 Pro", macos_14=True)[0] == "fp16"
    assert mps_native_dtypes("Apple M2 Max", macos_14=True)[0] == "bf16"
    assert mps_native_dtypes("Apple M3", macos_14=False)[0] == "fp16"
    assert xpu_native_dtypes(True)[0] == "bf16" and xpu_native_dtypes(False)[0] == "fp16"


def test_mps_trains_fp16_by_default_whose_peak_is_published() -> None:
    """An M2+ runs bf16, but Apple publishes no bf16 rate: a bf16 default would print MFU n/a."""
    from hwbench.devices.mps import MpsDevice
    from hwbench.peaks.gpu import gpu_peak

    choice = MpsDevice.__new__(MpsDevice).default_dtype()
    assert choice.dtype == "fp16" and choice.note is not None and "no bf16 rate" in choice.note
    m2 = gpu_peak("Apple M2 Max")
    assert m2 is not None and m2.peaks_tflops["fp16"] and m2.peaks_tflops["bf16"] is None


def test_the_cpu_backend_on_this_machine() -> None:
    cpu = resolve("cpu")
    assert cpu.default_dtype().dtype == "fp32" and cpu.available()
    peak_mem = cpu.peak_memory_bytes()
    assert isinstance(peak_mem, int) and peak_mem > 10 * 2**20  # this process holds torch/pytest
    cpu.synchronize()  # nothing to wait for, and no error


# -- torch builds from torch/version.py ------------------------------------------------------------------
def test_ngc_build_is_read_from_version_py_not_the_tag() -> None:
    # what NGC 24.08's torch/version.py holds (release notes: PyTorch 2.5.0a0+872d972e41, CUDA 12.6)
    version_py = ("__version__ = '2.5.0a0+872d972e41.nv24.08'", "cuda: Optional[str] = '12.6'", "hip = None")
    text = "\n".join(version_py) + "\n"
    strings = parse_version_py(text)
    assert strings == {"cuda": "12.6", "hip": None, "xpu": None}
    meta = TorchMetadata(version="2.5.0a0+872d972e41.nv24.08", build_strings=strings)
    assert classify_build(meta) == ("cuda", "12.6", None)
    # without version.py (an older dump) the tag alone cannot say: the old guess stays the fallback
    assert classify_build(TorchMetadata(version="2.5.0a0+872d972e41.nv24.08"))[0] != "cuda"
    rocm = TorchMetadata(version="2.5.1+rocm6.2", build_strings={"hip": "6.2.41133-dd7f95766"})
    assert classify_build(rocm) == ("rocm", None, "6.2")
    source = TorchMetadata(version="2.6.0a0+gitabc1234", build_strings={"hip": "6.3.42131-fa1d09cbd"})
    assert classify_build(source) == ("rocm", None, "6.3")


# -- the recorded GPU nodes --------------------------------------------------------------------------------
def test_ngc_8xh100_node() -> None:
    system = replay(MACHINES / "ngc-8xh100")
    gpus = [g for g in system.gpus if g.vendor == "nvidia"]
    assert len(gpus) == 8 and all("H100" in g.name for g in gpus)
    assert system.torch.build == "cuda" and system.torch.cuda_version == "12.6"
    assert "cuda" in system.torch.usable_devices


def test_wsl2_gpu_is_seen_through_nvml() -> None:
    system = replay(MACHINES / "wsl2-geforce-rtx4070s")
    (card,) = [g for g in system.gpus if g.vendor == "nvidia"]
    assert card.name == "NVIDIA GeForce RTX 4070 SUPER" and card.kind == "discrete"
    assert "cuda" in system.torch.usable_devices
    assert system.os is not None and "WSL2" in system.os


def test_mi300x_node_names_and_amd_telemetry() -> None:
    system = replay(MACHINES / "rocm-8xmi300x")
    amd = [g for g in system.gpus if g.vendor == "amd"]
    assert len(amd) == 8 and all("MI300X" in g.name for g in amd)
    assert system.torch.build == "rocm" and "cuda" in system.torch.usable_devices
    first = amd[0].telemetry
    assert first is not None and first.source == "amdgpu sysfs"
    assert (first.temperature_c, first.power_draw_w, first.power_limit_w) == (39.0, 134.0, 750.0)
    assert (first.sm_clock_mhz, first.sm_clock_max_mhz) == (132, 2100)
    assert isinstance(first.pcie_gen_current, NA)  # not in that rocm-smi output: NA, not a guess
    assert amd[7].telemetry is None  # GPUs 5-7: the public output ends at GPU 4


@pytest.mark.parametrize(
    ("machine", "name", "bf16"),
    [
        ("ngc-8xh100", "NVIDIA H100 SXM5", 989.4),
        ("rocm-8xmi300x", "AMD Instinct MI300X", 1307.4),
        ("wsl2-geforce-rtx4070s", "NVIDIA GeForce RTX 4070 SUPER", 71.0),
    ],
)
def test_peaks_replay_lists_every_device(
    machine: str, name: str, bf16: float, capsys: pytest.CaptureFixture[str]
) -> None:
    from hwbench.commands.peaks import run

    run([], None, [], json_out=True, replay=MACHINES / machine)
    devices = json.loads(capsys.readouterr().out)["devices"]
    assert devices[0]["device"] == "cpu"
    gpus = devices[1:]
    assert gpus and all(d["name"] == name and d["peaks_tflops"]["bf16"] == bf16 for d in gpus)
    assert len(gpus) == (1 if "wsl2" in machine else 8)


def test_check_replay_judges_the_recording() -> None:
    from hwbench.check.expectations import Expectations
    from hwbench.check.run import CheckOptions, run_check

    exp = Expectations(min_gpus=8, torch_can_use=("cuda",), require_isa=("avx512_bf16",))
    report = run_check(CheckOptions(exp, replay_dir=MACHINES / "rocm-8xmi300x"))
    assert {r.name: r.status for r in report.results} == {
        "min_gpus": "pass",
        "require_isa[avx512_bf16]": "pass",
        "torch_can_use[cuda]": "pass",
    }


# -- MIG and estimates ----------------------------------------------------------------------------------
def test_mig_slice_gets_its_share() -> None:
    assert mig_profile("NVIDIA A100-SXM4-40GB MIG 1g.5gb") == "1g.5gb"
    whole = gpu_peak("NVIDIA A100-SXM4-40GB")
    slice_ = gpu_peak("NVIDIA A100-SXM4-40GB MIG 1g.5gb")
    assert whole is not None and slice_ is not None and slice_.estimated
    # `nvidia-smi mig -lgip` on an A100-SXM4-40GB: 1g.5gb has 14 of the 108 SMs (not 1/7: MIG mode
    # leaves SMs unused), so its share is 14/108 of 312, and a live slice reporting 14 SMs agrees
    assert slice_.peaks_tflops["bf16"] == pytest.approx(312 * 14 / 108)
    live = gpu_peak("NVIDIA A100-SXM4-40GB MIG 3g.20gb", sm_count=42)  # what torch reports for a 3g slice
    assert live is not None and live.peaks_tflops["bf16"] == pytest.approx(312 * 42 / 108)
    assert gpu_peak("NVIDIA A100-SXM4-40GB MIG 3g.20gb").peaks_tflops["bf16"] == pytest.approx(  # type: ignore[union-attr]
        312 * 42 / 108
    )
    # H100 80GB: 1g.20gb has 26 SMs (more than a plain 1g's 16); a compute instance 1c of a 3g (60 SMs)
    # gets a third of it
    h = gpu_peak("NVIDIA H100 80GB HBM3 MIG 1g.20gb")
    assert h is not None and h.peaks_tflops["bf16"] == pytest.approx(989.4 * 26 / 132)
    ci = gpu_peak("NVIDIA H100 80GB HBM3 MIG 1c.3g.40gb")
    assert ci is not None and ci.peaks_tflops["bf16"] == pytest.approx(989.4 * 60 / 132 / 3)
    # a profile whose SM count is not listed: N of the compute slices, said to be an upper bound
    pcie = gpu_peak("NVIDIA H100 PCIe MIG 2g.20gb")
    assert pcie is not None and any("upper bound" in n for n in pcie.notes)


def test_every_mig_profile_fits_in_its_gpu() -> None:
    from hwbench.peaks.gpu import gpu_table, mig_profiles

    units = {r.model: r.units for r in gpu_table()}
    for (model, profile), p in mig_profiles().items():
        assert model in units, model
        total = units[model]
        if profile != "*" and total is not None:
            assert 0 < p.sms <= total, (model, profile)


def test_unlisted_variant_never_above_its_listed_sibling() -> None:
    # NVML reports a max SM clock of 1980 MHz on H100-class silicon (tests/fixtures/nvml/h100-sxm-80gb.json);
    # the datasheet rates tensor math at 1830 MHz: an unlisted 132-SM Hopper must come out at 989.4, not 1070
    p = gpu_peak(
        "NVIDIA H100 Unlisted Variant",
        sm_count=132,
        compute_capability=(9, 0),
        clock_mhz=1980,
        vendor="nvidia",
    )
    assert p is not None and p.estimated
    assert p.peaks_tflops["bf16"] == pytest.approx(989.4) and p.clock_mhz == 1830


# -- telemetry ------------------------------------------------------------------------------------------
def test_nvml_sampler_and_volatile_ecc_replay_a_recording() -> None:
    fake = FakeNvml.from_file(FIX / "nvml" / "h100-sxm-80gb.json")
    sampler = open_sampler("0000:18:00.0", fake)
    assert sampler is not None
    s = sampler()
    assert (s.sm_clock_mhz, s.pcie_gen_current, s.clock_event_reasons) == (345, 5, ("gpu_idle",))
    assert s.power_draw_w == 100.89 and isinstance(s.utilization_pct, NA) and s.source == "NVML"
    assert s.as_fields()["clock_event_reasons"] == ["gpu_idle"]  # what the checks under load read
    assert open_sampler("0000:99:00.0", fake) is None  # no such GPU
    assert isinstance(read_volatile_ecc("0000:18:00.0", fake), NA)  # not in that nvidia-smi output


def test_amdgpu_sysfs_parsers() -> None:
    # pp_dpm_sclk as the amdgpu driver documents it (Documentation/gpu/amdgpu/thermal.rst)
    assert parse_dpm("0: 500Mhz\n1: 800Mhz *\n2: 2100Mhz\n") == (800, 2100)
    assert isinstance(parse_dpm("0: 500Mhz\n1: 2100Mhz\n")[0], NA)
    assert link_gen("32.0 GT/s PCIe\n") == 5 and link_gen("16.0 GT/s PCIe") == 4
    f = read_amdgpu("0000:00:00.0", MACHINES / "rocm-8xmi300x")  # no such device: every field NA
    assert all(isinstance(v, NA) for k, v in f.as_fields().items() if k not in ("source", "t_s"))


# -- the GPU profile's kernel names ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kernel", "category"),
    [
        # Hopper cuBLASLt (names as nsys/torch.profiler print them in public traces)
        ("nvjet_hsh_128x256_64x4_2x1_v_bz_coopA_TNN", "matmul"),
        ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute", "matmul"),
        ("ampere_bf16_s16816gemm_bf16_128x128_ldg8_f2f_stages_64x3_tn", "matmul"),
        (
            "void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>",
            "matmul",
        ),
        ("Cijk_Ailk_Bljk_BBS_BH_Bias_HA_S_SAV_UserArgs_MT256x208x64", "matmul"),  # hipBLASLt/Tensile
        ("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4>, true>", "attention"),
        ("fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel)", "attention"),
        ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x128", "attention"),
        (
            "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamMathFunctor>",
            "optimizer",
        ),
        ("void at::native::vectorized_layer_norm_kernel<c10::BFloat16, float>", "layernorm"),
    ],
)
def test_gpu_kernel_names(kernel: str, category: str) -> None:
    assert categorize(kernel, []) == category


def test_which_sdpa_backend_ran() -> None:
    assert sdpa_backend(
        ["aten::scaled_dot_product_attention", "aten::_scaled_dot_product_efficient_attention"]
    ) == ("mem-efficient")
    assert sdpa_backend(["aten::_scaled_dot_product_flash_attention_for_cpu"]) == "flash (CPU)"
    assert sdpa_backend(["aten::_scaled_dot_product_cudnn_attention"]) == "cuDNN"
    assert sdpa_backend(["aten::mm"]) is None


def test_dump_records_amd_telemetry_and_dxg(tmp_path: Path) -> None:
    """detect --dump copies the amdgpu files and WSL2's /dev/dxg marker; --replay reads them back."""
    from hwbench.detect import dump

    amd = dump(tmp_path / "amd", root=MACHINES / "rocm-8xmi300x")
    again = [g.telemetry for g in replay(amd).gpus]
    assert again == [g.telemetry for g in replay(MACHINES / "rocm-8xmi300x").gpus]
    assert again[0] is not None and again[0].power_draw_w == 134.0
    wsl = dump(tmp_path / "wsl", root=MACHINES / "wsl2-geforce-rtx4070s")
    assert (wsl / "dev" / "dxg").exists()


def test_xpu_synchronizes_its_own_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    seen: list[object] = []
    monkeypatch.setattr(torch.xpu, "synchronize", lambda device=None: seen.append(device))
    resolve("xpu:1").synchronize()
    assert seen == [1]  # not the current device


def test_mps_and_xpu_peaks_come_from_the_table_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import hwbench.devices.mps as mps

    monkeypatch.setattr(mps, "apple_chip", lambda: "Apple M2 Pro")  # sysctl's brand string on that Mac
    with pytest.raises(HwbenchError, match="MPS is not available"):  # not on this Linux machine
        resolve("mps").peak()
    monkeypatch.setattr(mps.MpsDevice, "available", classmethod(lambda cls: True))
    import hwbench.devices.xpu as xpu

    monkeypatch.setattr(xpu.XpuDevice, "available", classmethod(lambda cls: True))
    import hwbench.detect.macos as macos

    monkeypatch.setattr(macos, "live_gpu_core_count", lambda: None)  # ioreg unreadable: the full part's
    p = resolve("mps").peak()
    assert p is not None and p.peaks_tflops["fp32"] == 6.8
    assert p.name == "Apple M2 Pro GPU (GPU cores not read: the 19-core part's figures)"
    assert p.estimated and any("GPU core count not read" in n for n in p.notes)
    monkeypatch.setattr(macos, "live_gpu_core_count", lambda: 16)  # the M2 Pro sold with a 16-core GPU
    p = resolve("mps").peak()
    assert p is not None and p.peaks_tflops["fp32"] == pytest.approx(6.8 * 16 / 19)
    monkeypatch.setattr(torch.xpu, "get_device_name", lambda i=None: "Intel(R) Arc(TM) A770 Graphics")
    x = resolve("xpu:0").peak()
    assert x is not None and x.name == "Intel Arc A770" and x.device == "xpu:0"


def test_loss_scaler_on_a_torch_without_torch_amp_gradscaler(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch 2.1/2.2 (NGC 23.x) have torch.cuda.amp.GradScaler only."""
    import torch

    monkeypatch.delattr(torch.amp, "GradScaler")
    with warnings.catch_warnings():  # torch.cuda.amp's scaler is deprecated on new torch
        warnings.simplefilter("ignore")
        scaler = resolve("cpu").grad_scaler(enabled=False)
    assert not scaler.is_enabled()


def test_nvml_is_read_with_a_cuda_build_when_sys_shows_no_gpu(tmp_path: Path) -> None:
    """A container whose /sys lists the host bridge but hides the GPUs, with NGC's CUDA torch: NVML is
    asked anyway and finds the 8 H100s (the ngc-8xh100 recording without its GPU sysfs entries)."""
    import shutil

    src = MACHINES / "ngc-8xh100"
    for rel in ("proc/cpuinfo", "nvml.json", "torch.json", "hwbench-dump.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, tmp_path / rel)
    bridge = tmp_path / "sys/bus/pci/devices/0000:00:00.0"
    bridge.mkdir(parents=True)
    for name, value in (("vendor", "0x8086"), ("device", "0x09a2"), ("class", "0x060000")):
        (bridge / name).write_text(value + "\n")
    system = replay(tmp_path)
    assert sum(g.vendor == "nvidia" for g in system.gpus) == 8
    assert "cuda" in system.torch.usable_devices


@pytest.mark.parametrize(
    "args",
    [
        ["peaks", "--replay", "/nonexistent-dump"],
        ["peaks", "--replay", str(MACHINES / "ngc-8xh100"), "--gpu", "H100"],
        [
            "check",
            "--replay",
            str(MACHINES / "ngc-8xh100"),
            "--nvidia-smi-q",
            str(FIX / "check/h100x8_nvidia-smi-q.txt"),
        ],
    ],
)
def test_replay_bad_input_is_one_error_line(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "hwbench", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr


def test_device_as_a_training_script_names_it() -> None:
    from hwbench.devices import parse

    assert [parse(s).as_script_flag() for s in ("cpu", "cuda", "cuda:0", "cuda:3", "xpu:0", "mps")] == [
        "cpu", "cuda", "cuda", "cuda:3", "xpu", "mps",
    ]  # fmt: skip


def test_hip_counts_wgps_on_rdna_and_the_peak_counts_cus() -> None:
    """An RX 7900 XT's HIP multiProcessorCount is 42 for 84 CUs (ROCm/hip issue 3198: rocminfo says 84);
    taken as CUs, the 7900 XTX would read as half its card."""
    from hwbench.devices.rocm import cus_from_hip_count
    from hwbench.peaks.gpu import gpu_peak

    assert cus_from_hip_count("gfx1100", 42) == 84 and cus_from_hip_count("gfx1201", 32) == 64
    assert cus_from_hip_count("gfx1100", 42, {"GPU_ENABLE_WGP_MODE": "0"}) == 42  # CU mode
    assert cus_from_hip_count("gfx942:sramecc+:xnack-", 304) == 304  # CDNA counts CUs
    xtx = gpu_peak("AMD Radeon RX 7900 XTX", sm_count=cus_from_hip_count("gfx1100", 48), vendor="amd")
    assert xtx is not None and xtx.peaks_tflops["fp16"] == pytest.approx(122.8) and not xtx.estimated


def test_amdsmi_na_never_hides_a_sysfs_reading() -> None:
    """amdsmi answers "N/A" where a card has no such reading (current_socket_power on cards that give only
    the average): the sysfs value stays, and amdsmi's numbers win where it has them."""
    from types import SimpleNamespace

    from hwbench.detect.amdgpu import _amdsmi_fields, _sysfs_fields, merge_readings

    class FakeSmi:
        AmdSmiClkType = SimpleNamespace(GFX="gfx")

        def amdsmi_get_processor_handle_from_bdf(self, bdf: str) -> str:
            return bdf

        def amdsmi_get_gpu_activity(self, h: str) -> dict[str, object]:
            return {"gfx_activity": "N/A"}

        def amdsmi_get_clock_info(self, h: str, kind: str) -> dict[str, object]:
            return {"clk": 1900, "max_clk": 2100}

        def amdsmi_get_power_info(self, h: str) -> dict[str, object]:
            return {"current_socket_power": "N/A", "average_socket_power": 612}

    slot = "0000:1b:00.0"
    sysfs = _sysfs_fields(slot, MACHINES / "rocm-8xmi300x")
    merged = merge_readings(sysfs, _amdsmi_fields(FakeSmi(), slot))
    assert merged["power_draw_w"] == 612 and merged["sm_clock_mhz"] == 1900  # amdsmi's numbers
    assert merged["utilization_pct"] == sysfs["utilization_pct"] == 0  # not amdsmi's "N/A"
    assert merged["temperature_c"] == 39.0 and merged["source"] == "amdsmi + amdgpu sysfs"
    assert merge_readings(sysfs, None) is sysfs


def test_the_rocm_device_reports_cus(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the peak reads from a ROCm device is in CUs, whatever HIP counted."""
    from hwbench.devices.cuda import CudaDevice
    from hwbench.devices.rocm import RocmDevice

    monkeypatch.setattr(
        CudaDevice, "properties", lambda self: ("AMD Radeon RX 7900 XTX", 48, (11, 0), NA("-"), 1)
    )
    monkeypatch.setattr(RocmDevice, "gfx_arch", lambda self: "gfx1100")
    dev = RocmDevice.__new__(RocmDevice)
    assert dev.properties()[1] == 96
