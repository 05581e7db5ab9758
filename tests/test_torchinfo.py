"""What PyTorch can use, from package metadata held against the hardware (never imports torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hwbench.detect.torchinfo import TorchMetadata, classify_build, read_torch_info, read_torch_metadata
from hwbench.model import Gpu, NvmlGpu


def gpu(vendor: str, kind: str, name: str) -> Gpu:
    return Gpu(
        pci_slot="0000:01:00.0", vendor=vendor, kind=kind, name=name,  # type: ignore[arg-type]
        vendor_id="0x0000", device_id="0x0000", pci_class="0x030000", kind_evidence="test",
    )  # fmt: skip


IRIS = gpu("intel", "integrated", "Alder Lake-P GT2 [Iris Xe Graphics]")
H100 = gpu("nvidia", "discrete", "NVIDIA H100 80GB HBM3")
MI300 = gpu("amd", "discrete", "Aqua Vanjaram [Instinct MI300X]")
ASPEED = gpu("aspeed", "bmc", "ASPEED Graphics Family")


@pytest.mark.parametrize(
    ("version", "packages", "machine", "expected"),
    [
        ("2.13.0+cpu", {}, "x86_64", ("cpu", None, None)),
        ("2.1.2+cu121", {}, "x86_64", ("cuda", "12.1", None)),
        ("2.0.1+cu118", {}, "x86_64", ("cuda", "11.8", None)),
        ("2.8.0+cu128", {}, "x86_64", ("cuda", "12.8", None)),
        ("2.5.1+rocm6.2", {}, "x86_64", ("rocm", None, "6.2")),
        ("2.7.0+xpu", {}, "x86_64", ("xpu", None, None)),
        ("2.5.1", {"nvidia-cuda-runtime-cu12": "12.4.127"}, "x86_64", ("cuda", "12.4", None)),
        ("2.9.0", {"nvidia-cuda-runtime": "13.0.48"}, "x86_64", ("cuda", "13.0", None)),
        ("2.5.1", {}, "aarch64", ("cpu", None, None)),
    ],
)
def test_classify_build(version: str, packages: dict[str, str], machine: str, expected: tuple) -> None:
    meta = TorchMetadata(version=version, packages=packages, system="linux", machine=machine)
    assert classify_build(meta) == expected


def test_cuda_version_from_requires_dist_pin() -> None:
    meta = TorchMetadata(
        version="2.4.0",
        requires=(
            "nvidia-cuda-runtime-cu12==12.1.105; platform_system == 'Linux' and platform_machine == 'x86_64'",
        ),
        machine="x86_64",
    )
    assert classify_build(meta) == ("cuda", "12.1", None)


def test_macos_arm64_plain_wheel_is_mps() -> None:
    meta = TorchMetadata(version="2.5.1", system="darwin", machine="arm64")
    info = read_torch_info([], {}, meta)
    assert info.build == "mps" and info.usable_devices == ("cpu", "mps")


def test_cpu_torch_with_nvidia_gpu() -> None:
    info = read_torch_info([H100], {}, TorchMetadata(version="2.13.0+cpu"))
    assert info.usable_devices == ("cpu",)
    assert any("NVIDIA GPU present but this torch is CPU-only" in m for m in info.messages)
    assert any("no accelerator PyTorch can use" in m for m in info.messages)


def test_driver_too_old_for_the_cuda_build() -> None:
    nvml = {"0000:01:00.0": NvmlGpu.from_fields({"cuda_driver_version": "12.2"})}
    info = read_torch_info([H100], nvml, TorchMetadata(version="2.5.1+cu124"))
    assert any("the driver supports CUDA 12.2 but this torch needs 12.4" in m for m in info.messages)
    old = read_torch_info(
        [H100],
        {"x": NvmlGpu.from_fields({"cuda_driver_version": "11.4"})},
        TorchMetadata(version="2.5.1+cu124"),
    )
    assert "cuda" not in old.usable_devices
    ok = read_torch_info(
        [H100],
        {"x": NvmlGpu.from_fields({"cuda_driver_version": "12.4"})},
        TorchMetadata(version="2.5.1+cu124"),
    )
    assert ok.usable_devices == ("cpu", "cuda")
    # the driver's CUDA version may also be given as a plain string
    assert read_torch_info([H100], "12.2", TorchMetadata(version="2.5.1+cu124")).messages == info.messages
    assert any("the driver supports CUDA 12.4: torch can use the GPU" in m for m in ok.messages)


def test_intel_igpu_needs_xpu_build() -> None:
    info = read_torch_info([IRIS], {}, TorchMetadata(version="2.13.0+cpu"))
    assert (
        "Alder Lake-P GT2 [Iris Xe Graphics] is integrated: PyTorch can use it only through an XPU build"
        in (info.messages)
    )
    xpu = read_torch_info([IRIS], {}, TorchMetadata(version="2.7.0+xpu"))
    assert "xpu" in xpu.usable_devices


def test_rocm_build_uses_amd_gpus_as_cuda_devices_and_bmc_is_ignored() -> None:
    info = read_torch_info([MI300, ASPEED], {}, TorchMetadata(version="2.5.1+rocm6.2"))
    assert info.usable_devices == ("cpu", "cuda") and info.rocm_version == "6.2"
    plain = read_torch_info([ASPEED], {}, TorchMetadata(version="2.13.0+cpu"))
    assert plain.messages == ("no accelerator PyTorch can use: training runs on the CPU",)


def test_torch_not_installed() -> None:
    info = read_torch_info([H100], {}, TorchMetadata(version=None))
    assert not info.installed and info.usable_devices == ()


def test_metadata_of_this_environment_without_importing_torch() -> None:
    code = (
        "import sys; from hwbench.detect.torchinfo import read_torch_metadata; "
        "m = read_torch_metadata(); print(m.version); print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout.split()
    assert out[-1] == "False"
    from importlib import metadata

    assert out[0] == metadata.version("torch")
    assert read_torch_metadata().version == metadata.version("torch")
