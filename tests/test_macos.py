"""macOS: CPU, memory and the Apple GPU from recorded `sysctl hw machdep` and `ioreg` outputs
(tests/fixtures/macos, tests/fixtures/machines/macos-m3-max): there is no /proc, sysfs or lspci on a Mac."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwbench.detect import dump, macos, replay
from hwbench.detect.macos import apple_gpu, cpu_from_sysctl, gpu_core_count, parse_sysctl

FIX = Path(__file__).parent / "fixtures"
MAC = FIX / "macos"
M3_MAX = FIX / "machines" / "macos-m3-max"


def sysctl(name: str) -> dict[str, str]:
    return parse_sysctl((MAC / name).read_text())


def test_m3_max_cpu_from_sysctl() -> None:
    cpu = cpu_from_sysctl(sysctl("darwin-sequoia-m3-max.txt"))
    assert cpu is not None
    assert (cpu.vendor, cpu.model, cpu.microarchitecture) == ("Apple", "Apple M3 Max", "Palma")
    assert (cpu.p_cores, cpu.e_cores, cpu.physical_cores, cpu.logical_cpus) == (10, 4, 14, 14)
    assert cpu.p_core_cpus == cpu.e_core_cpus == ()  # sysctl gives counts, not which CPU is which
    # the kernel's feature names become Linux's arm64 flag names; SME is 0 on an M3
    assert {"asimd", "asimdhp", "asimddp", "asimdfhm", "bf16", "i8mm"} <= set(cpu.isa)
    assert "sme" not in cpu.isa
    assert cpu.max_mhz is None and "publishes no CPU clock" in cpu.max_mhz_source
    l2 = sorted(c.size_bytes for c in cpu.caches if c.level == 2)
    assert l2 == [4 * 2**20, 16 * 2**20]


def test_m4_max_has_sme2_and_its_own_family() -> None:
    values = sysctl("darwin-sequoia-m4-max.txt")
    cpu = cpu_from_sysctl(values)
    assert cpu is not None and cpu.microarchitecture == "Brava" and (cpu.p_cores, cpu.e_cores) == (12, 4)
    assert {"sme", "sme2", "bf16"} <= set(cpu.isa)
    gpu = apple_gpu(values, None)  # no ioreg: the GPU is still there, its core count unknown
    assert gpu is not None and gpu.name == "Apple M4 Max GPU" and gpu.units is None
    assert (gpu.vendor, gpu.vendor_id) == (
        "other",
        "0x106b",
    )  # Apple's PCI vendor id; no "apple" vendor in JSON
    assert gpu.kind == "integrated" and "not read" in gpu.kind_evidence


def test_intel_mac_excerpt_gives_no_apple_gpu_and_no_crash() -> None:
    values = sysctl("darwin-mojave-skylake.txt")  # machdep.cpu only: no hw.ncpu, no hw.cputype
    assert cpu_from_sysctl(values) is None
    assert apple_gpu(values, None) is None


def test_gpu_core_count_from_ioreg() -> None:
    assert gpu_core_count((M3_MAX / "ioreg.txt").read_text()) == 30
    # the ioreg -c IOAccelerator header of an M1 Pro/Max MacBook Pro as posted in
    # https://github.com/exelban/stats/issues/1094 (that excerpt stops before the core count)
    excerpt = (
        "+-o AGXAcceleratorG13X  <class AGXAcceleratorG13X, id 0x10000087c, registered, matched, active, "
        "busy 0 (17 ms), retain 24>\n"
        '    {\n      "IOMatchedAtBoot" = Yes\n      "vendor-id" = <6b100000>\n'
    )
    assert gpu_core_count(excerpt) is None
    assert gpu_core_count(None) is None and gpu_core_count('"gpu-core-count" = lots') is None


def test_replay_of_a_mac_lists_cpu_memory_gpu_and_mps() -> None:
    system = replay(M3_MAX)
    assert system.cpu is not None and system.cpu.model == "Apple M3 Max"
    assert system.memory is not None and system.memory.total_bytes == 36 * 2**30
    (gpu,) = system.gpus
    assert (gpu.vendor_id, gpu.kind, gpu.units, gpu.pci_slot) == ("0x106b", "integrated", 30, "apple-soc-00")
    assert system.torch.build == "mps" and system.torch.usable_devices == ("cpu", "mps")
    assert system.os == "macOS"
    # nothing about sysfs or NVML: a Mac has neither, and that is not a finding
    assert not any("sysfs" in w or "NVML" in w for w in system.warnings), system.warnings


def test_replay_json_and_terminal_name_the_core_count(capsys: pytest.CaptureFixture[str]) -> None:
    from hwbench.commands.detect import fast_main

    assert fast_main(["--replay", str(M3_MAX), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (g,) = doc["gpus"]
    assert g["vendor_id"] == "0x106b" and g["units"] == 30 and g["name"] == "Apple M3 Max GPU"
    assert doc["cpu"]["p_cores"] == 10 and doc["os"] == "macOS"
    assert fast_main(["--replay", str(M3_MAX)]) == 0
    out = capsys.readouterr().out
    assert "GPUs: Apple M3 Max GPU (30-core); PyTorch 2.5.1 can use cpu, mps" in " ".join(out.split())


def test_peak_scales_with_the_gpu_cores_and_says_when_it_could_not(tmp_path: Path) -> None:
    from hwbench.peaks.device import gpu_for_system

    (gpu,) = replay(M3_MAX).gpus
    p = gpu_for_system(gpu, "mps")
    assert p is not None and p.peaks_tflops["fp32"] == pytest.approx(14.32 * 30 / 40, rel=1e-3)
    assert p.estimated and "scaled to 30 units" in p.dtype_sources["fp32"]
    no_ioreg = tmp_path / "mac"
    shutil.copytree(M3_MAX, no_ioreg)
    (no_ioreg / "ioreg.txt").unlink()
    system = replay(no_ioreg)
    assert any("core count not read" in w for w in system.warnings)
    (gpu,) = system.gpus
    p = gpu_for_system(gpu, "mps")
    assert p is not None and p.peaks_tflops["fp32"] == pytest.approx(14.32)
    assert p.estimated and any("GPU core count not read" in n for n in p.notes)


def test_peaks_replay_command_on_a_mac() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hwbench", "peaks", "--replay", str(M3_MAX), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    devices = json.loads(r.stdout)["devices"]
    gpu = next(d for d in devices if d["device"] != "cpu")
    assert gpu["peaks_tflops"]["fp16"] == pytest.approx(10.74, abs=0.01)


def test_dump_on_a_mac_records_sysctl_and_ioreg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `detect --dump` writes on a Mac (the two command outputs) replays through the same parsers."""
    outputs = {
        macos.SYSCTL_COMMAND: (MAC / "darwin-sequoia-m4-max.txt").read_text(),
        macos.IOREG_COMMAND: '    {\n      "model" = "Apple M4 Max"\n      "gpu-core-count" = 40\n    }\n',
    }
    monkeypatch.setattr(macos, "sys", SimpleNamespace(platform="darwin"))
    monkeypatch.setattr(macos, "_run", lambda command: outputs.get(command))
    out = dump(tmp_path / "mac")
    assert (out / "sysctl.txt").read_text() == outputs[macos.SYSCTL_COMMAND]
    monkeypatch.undo()
    system = replay(out)
    assert system.cpu is not None and system.cpu.model == "Apple M4 Max"
    (gpu,) = system.gpus
    assert gpu.units == 40 and gpu.name == "Apple M4 Max GPU"


def test_cpu_peak_counts_p_and_e_cores_at_their_own_rates() -> None:
    """macOS names the core pair by hw.cpufamily; an M1-family pair is rated per role (4 vs 2 128-bit FMA
    pipes). Here the M3 Max recording with M1's family id, to exercise that table row; the M3's own
    family falls back to the flag-only rate and says so."""
    from hwbench.peaks.cpu import cpu_peak

    values = sysctl("darwin-sequoia-m3-max.txt")
    m3 = cpu_from_sysctl(values)
    assert m3 is not None
    fallback = cpu_peak(m3, clock_mhz=3000)
    assert "by ISA flags" in fallback.dtype_sources["fp32"] or "assumed" in fallback.dtype_sources["fp32"]
    values["hw.cpufamily"] = str(0x1B588BB3)
    m1_pair = cpu_from_sysctl(values)
    assert m1_pair is not None and m1_pair.microarchitecture == "Firestorm + Icestorm"
    p = cpu_peak(m1_pair, clock_mhz=3000)
    assert p.peaks_tflops["fp32"] == pytest.approx((10 * 32 + 4 * 16) * 3.0e9 / 1e12)
    # no clock on macOS: the peak says so rather than guess one
    assert cpu_peak(m3).peaks_tflops["fp32"] is None


def test_hostile_sysctl_counts_are_capped() -> None:
    text = (MAC / "darwin-sequoia-m3-max.txt").read_text()
    for line, bad in (
        ("hw.logicalcpu: 14", "hw.logicalcpu: 100000000000000000000"),
        ("hw.ncpu: 14", "hw.ncpu: 99999999999"),
        ("hw.nperflevels: 2", "hw.nperflevels: 1000000000"),
        ("hw.perflevel0.physicalcpu: 10", "hw.perflevel0.physicalcpu: 123456789012"),
    ):
        text = text.replace(line, bad)
    cpu = cpu_from_sysctl(parse_sysctl(text))
    assert cpu is None or len(cpu.usable_cpus) <= 16384


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_sysctl_and_ioreg_never_raise(seed: int) -> None:
    """Lines of the real recording shuffled, cut and garbled: each parser answers or says it could not."""
    import random

    rng = random.Random(seed)
    lines = (MAC / "darwin-sequoia-m4-max.txt").read_text().splitlines()
    for _ in range(200):
        sample = rng.sample(lines, rng.randint(0, len(lines)))
        garbled = [
            ln
            if rng.random() < 0.8
            else ln[: rng.randint(0, len(ln))] + rng.choice(["", ":", "\x00", " 1e999"])
            for ln in sample
        ]
        values = parse_sysctl("\n".join(garbled))
        cpu_from_sysctl(values)
        apple_gpu(values, "\n".join(garbled))


def test_on_a_mac_the_cpu_alone_comes_from_sysctl(monkeypatch: pytest.MonkeyPatch) -> None:
    """peak_flops("cpu") and the CPU device's name on a Mac: sysctl's chip, not platform's "arm"."""
    from hwbench.detect import this_cpu
    from hwbench.devices.cpu import cpu_model

    text = (MAC / "darwin-sequoia-m4-max.txt").read_text()
    outputs = {macos.SYSCTL_COMMAND: text, ("sysctl", "-n", "machdep.cpu.brand_string"): "Apple M4 Max\n"}
    monkeypatch.setattr(macos, "sys", SimpleNamespace(platform="darwin"))
    monkeypatch.setattr(macos, "_run", lambda command: outputs.get(command))
    cpu = this_cpu()
    assert cpu.model == "Apple M4 Max" and (cpu.p_cores, cpu.e_cores) == (12, 4)
    import builtins

    real_open = builtins.open

    def no_proc(path: object, *a: object, **k: object) -> object:
        if str(path) == "/proc/cpuinfo":
            raise FileNotFoundError(path)
        return real_open(path, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", no_proc)
    assert cpu_model() == "Apple M4 Max"


def test_detect_knows_a_mac_recording_without_importing_the_mac_reader() -> None:
    import hwbench.detect as detect

    assert detect.MAC_SYSCTL_FILE == macos.SYSCTL_FILE
