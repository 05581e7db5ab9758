"""`hwbench detect` end to end on recorded machines (fixtures/machines/README.md): JSON contract, exit codes,
and the cases where a source is missing (no sysfs, no NVML, no torch) still answering with warnings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hwbench.commands.detect import fast_main, payload
from hwbench.detect import detect_system, dump, replay
from hwbench.errors import InputError

FIX = Path(__file__).parent / "fixtures"
MACHINES = FIX / "machines"

# JSON field names that other tools rely on
CPU_FIELDS = {"vendor", "model", "microarchitecture", "sockets", "physical_cores", "logical_cpus", "p_cores",
              "e_cores", "isa", "max_mhz", "virtualized"}  # fmt: skip
GPU_FIELDS = {"pci_slot", "vendor", "kind", "name", "vendor_id", "device_id", "pci_class"}


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert fast_main(["--json", *args]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwbench", "detect", *args], capture_output=True, text=True, timeout=120
    )


def check_contract(doc: dict[str, Any]) -> None:
    assert {
        "schema_version",
        "hwbench_version",
        "command",
        "cpu",
        "memory",
        "gpus",
        "torch",
        "warnings",
    } <= set(doc)
    assert doc["command"] == "detect"
    if doc["cpu"] is not None:
        assert set(doc["cpu"]) >= CPU_FIELDS
        assert all(isinstance(f, str) and f == f.lower() for f in doc["cpu"]["isa"])
    if doc["memory"] is not None:
        assert "total_bytes" in doc["memory"]
    for g in doc["gpus"]:
        assert set(g) >= GPU_FIELDS
        assert g["vendor"] in {"intel", "nvidia", "amd", "aspeed", "matrox", "virtual", "other"}
        assert g["kind"] in {"integrated", "discrete", "virtual", "bmc"}
        assert len(g["pci_slot"]) == len("0000:00:02.0")
    assert isinstance(doc["warnings"], list)
    assert {"installed", "build", "usable_devices", "messages"} <= set(doc["torch"])


@pytest.mark.parametrize("machine", sorted(p.name for p in MACHINES.iterdir() if p.is_dir()))
def test_every_recorded_machine_replays_to_the_contract(
    machine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = run_json(capsys, "--replay", str(MACHINES / machine))
    check_contract(doc)
    assert doc["source"] == f"replay of {MACHINES / machine}"


def test_motivating_laptop(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--replay", str(MACHINES / "alder-lake-p-laptop"))
    cpu = doc["cpu"]
    assert cpu["microarchitecture"] == "Alder Lake (Golden Cove + Gracemont)"
    assert (cpu["p_cores"], cpu["e_cores"], cpu["physical_cores"], cpu["logical_cpus"]) == (4, 8, 12, 16)
    (g,) = doc["gpus"]
    assert (g["pci_slot"], g["vendor"], g["kind"], g["device_id"]) == (
        "0000:00:02.0",
        "intel",
        "integrated",
        "0x46a6",
    )
    assert doc["torch"]["usable_devices"] == ["cpu"]
    assert any("only through an XPU build" in m for m in doc["torch"]["messages"])
    assert any("meminfo" in w for w in doc["warnings"])


def test_gh200_joins_nvml_by_bus_id_and_reports_na_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--replay", str(MACHINES / "gh200-grace-hopper"))
    assert doc["cpu"]["microarchitecture"] == "Neoverse-V2" and doc["cpu"]["logical_cpus"] == 72
    (g,) = doc["gpus"]
    # NVML's product name, with the die from the PCI id (the shipped pci.ids subset: "GH200 120GB / 480GB")
    assert g["name"] == "NVIDIA GH200 480GB (GH100)" and g["vendor"] == "nvidia"
    nv = g["nvml"]
    assert nv["pci_bus_id"] == g["pci_slot"] == "0000:dd:00.0"
    assert nv["ecc_uncorrected_aggregate"] == 1 and nv["compute_capability"] == "9.0"
    assert nv["multiprocessor_count"] is None
    assert nv["na_reasons"]["multiprocessor_count"] == "not supported by this GPU/driver"
    assert doc["torch"]["build"] == "cuda" and doc["torch"]["cuda_version"] == "12.4"
    assert doc["torch"]["usable_devices"] == ["cpu", "cuda"]
    assert any("uncorrected ECC" in w for w in doc["warnings"])


def test_cpu_torch_beside_an_nvidia_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--replay", str(MACHINES / "a10-vm-cpu-torch"))
    assert any("NVIDIA GPU present but this torch is CPU-only" in m for m in doc["torch"]["messages"])
    assert doc["gpus"][0]["nvml"]["pcie_gen_current"] == 1


def test_no_nvml_no_sysfs_no_torch_still_answer(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--replay", str(MACHINES / "a10-vm-driver-mismatch"))
    g = doc["gpus"][0]
    assert g["vendor"] == "nvidia" and g["nvml"] is None
    assert any("driver/library version mismatch" in w for w in doc["warnings"])
    # CUDA's own initialization fails the same way NVML's did: torch cannot use the GPU until a reboot
    assert doc["torch"]["usable_devices"] == ["cpu"]
    assert any(m.startswith("CUDA cannot start here: the NVIDIA driver and its user-space library differ")
               for m in doc["torch"]["messages"])  # fmt: skip
    doc = run_json(capsys, "--replay", str(MACHINES / "container-no-sysfs-no-torch"))
    assert doc["gpus"] == [] and doc["cpu"]["microarchitecture"] == "Zen 3"
    assert any(w.startswith("no sysfs: GPUs not seen") for w in doc["warnings"])
    assert any(w.startswith("torch not installed") for w in doc["warnings"])
    assert doc["torch"]["installed"] is False


def test_no_nvml_flag_skips_nvml(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--no-nvml", "--replay", str(MACHINES / "gh200-grace-hopper"))
    assert doc["gpus"][0]["nvml"] is None


def test_this_machine_and_its_dump_agree(tmp_path: Path) -> None:
    live = detect_system()
    dump(tmp_path / "d")
    again = replay(tmp_path / "d")
    assert live.cpu is not None and again.cpu is not None
    assert (again.cpu.model, again.cpu.microarchitecture, again.cpu.isa, again.cpu.usable_cpus) == (
        live.cpu.model, live.cpu.microarchitecture, live.cpu.isa, live.cpu.usable_cpus
    )  # fmt: skip
    assert [g.pci_slot for g in again.gpus] == [g.pci_slot for g in live.gpus]
    assert again.torch.version == live.torch.version
    assert again.memory is not None and again.memory.total_bytes == live.memory.total_bytes  # type: ignore[union-attr]


def test_this_machine_json(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys)
    check_contract(doc)
    assert doc["source"] == "this machine" and doc["cpu"]["logical_cpus"] >= 1


def test_saved_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(
        capsys,
        "--lspci", str(FIX / "lspci" / "nixos-hardware" / "dell-precision-5570.txt"),
        "--cpuinfo", str(FIX / "cpu" / "lscpu" / "i7-12700k-alder-lake.txt"),
    )  # fmt: skip
    check_contract(doc)
    assert doc["memory"] is None and doc["cpu"]["source"].endswith("(lscpu)")
    assert any(g["vendor"] == "intel" and g["kind"] == "integrated" for g in doc["gpus"])
    assert doc["source"].startswith("saved outputs")


def test_bad_inputs_exit_2_with_one_line() -> None:
    missing = cli("--lspci", "/nonexistent/lspci.txt")
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot read --lspci file")
    not_lspci = cli("--lspci", str(FIX / "cpu" / "cpuinfo" / "this-kvm-epyc-zen3.txt"))
    assert not_lspci.returncode == 2 and not_lspci.stderr.startswith("error:")
    assert len(not_lspci.stderr.strip().splitlines()) <= 2  # error + optional hint
    not_cpu = cli("--cpuinfo", str(FIX / "nvml" / "README.md"))
    assert not_cpu.returncode == 2 and "neither a /proc/cpuinfo nor an lscpu output" in not_cpu.stderr
    not_dump = cli("--replay", str(FIX / "cpu"))
    assert not_dump.returncode == 2 and "not an hwbench dump" in not_dump.stderr
    with pytest.raises(InputError):
        replay(FIX / "nvml")


def test_help_and_unknown_options_go_to_typer() -> None:
    assert fast_main(["--help"]) is None
    assert fast_main(["--no-such-option"]) is None
    assert fast_main(["--lspci"]) is None
    r = cli("--no-such-option")
    assert r.returncode == 2
    h = cli("--help")
    assert h.returncode == 0 and "--replay" in h.stdout and "--cpuinfo" in h.stdout


def test_terminal_tables_render(capsys: pytest.CaptureFixture[str]) -> None:
    assert fast_main(["--replay", str(MACHINES / "gh200-grace-hopper")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # the heading names the replayed directory on one line, however long the checkout's path is
    assert lines[0].startswith("hwbench detect: replay of ") and lines[0].endswith("gh200-grace-hopper")
    # then the answer: one line with the CPU, its cores, the GPUs and what PyTorch can use
    assert lines[1].startswith(
        "ARM Neoverse-V2, 72 cores; GPUs: "
    ) and "PyTorch 2.5.1 can use cpu, cuda" in " ".join(out.split())
    assert "1 socket, 72 cores, 72 logical CPUs" in out and "NVML: " not in out  # NVML with --details
    assert fast_main(["--replay", str(MACHINES / "gh200-grace-hopper"), "--details"]) == 0
    out = capsys.readouterr().out
    assert "Neoverse-V2" in out and "NVML: 0000:dd:00.0" in out and "can use: cpu, cuda" in out
    assert "n/a (not supported by this GPU/driver)" in out


def test_a_vm_clock_is_not_labelled_max(capsys: pytest.CaptureFixture[str]) -> None:
    assert fast_main(["--replay", str(MACHINES / "this-kvm-epyc"), "--details"]) == 0
    out = capsys.readouterr().out
    clock = next(ln for ln in out.splitlines() if "MHz" in ln)
    assert clock.startswith("clock ") and "not a max" in out and "max clock" not in out
    assert "socket(s)" not in out and "per 1 CPUs" not in out and "per CPU" in out


def test_detect_never_imports_torch() -> None:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hwbench", "detect", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0
    modules = [
        line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    ]
    assert modules and not [m for m in modules if m == "torch" or m.startswith("torch.")]
    assert "typer" not in modules and "rich" not in modules and "pynvml" not in modules


def test_payload_na_reasons_shape() -> None:
    system = replay(MACHINES / "a10-vm-cpu-torch")
    doc = payload(system)
    nv = doc["gpus"][0]["nvml"]
    assert nv["mig_mode_current"] is None and nv["na_reasons"]["mig_mode_current"].startswith("not supported")
    json.dumps(doc)  # plain JSON all the way down


def test_every_json_document_keeps_na_reasons() -> None:
    """One serialiser: a check or mfu payload holding detect's records keeps the same reasons."""
    from hwbench.jsonout import document

    system = replay(MACHINES / "a10-vm-cpu-torch")
    doc = document("check", {"system": system})
    nv = doc["system"]["gpus"][0]["nvml"]
    assert nv == payload(system)["gpus"][0]["nvml"]
    assert nv["mig_mode_current"] is None and nv["na_reasons"]["mig_mode_current"].startswith("not supported")


def test_memory_from_meminfo_and_psutil_only_without_proc(tmp_path: Path) -> None:
    from hwbench.detect.memory import parse_meminfo, read_memory

    mem = read_memory(MACHINES / "this-kvm-epyc")
    text = (MACHINES / "this-kvm-epyc" / "proc" / "meminfo").read_text()
    assert (
        mem.total_bytes == parse_meminfo(text).total_bytes and mem.total_bytes and mem.total_bytes > 1 << 30
    )
    assert (
        parse_meminfo("MemTotal:       16117872 kB\nMemAvailable:    1000 kB\n").total_bytes
        == 16117872 * 1024
    )
    with pytest.raises(OSError):
        read_memory(tmp_path)  # a recorded tree without meminfo: detect turns this into a warning


def test_a_clock_that_is_not_a_max_is_not_labelled_max_clock(capsys: pytest.CaptureFixture[str]) -> None:
    """Bare metal without cpufreq (the NGC node recording): cpuinfo's 'cpu MHz' is one CPU's current clock."""
    assert fast_main(["--replay", str(Path(__file__).parent / "fixtures/machines/ngc-8xh100")]) in (0, None)
    lines = capsys.readouterr().out.splitlines()
    clock = next(ln for ln in lines if "not a max" in ln or ln.startswith(("clock", "max clock")))
    assert clock.startswith("clock ") and not clock.startswith("max clock")


def test_isa_line_reads_flags_in_their_architecture(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """x86's "sme" is AMD's Secure Memory Encryption, not Arm's matrix extension: not an ML ISA there."""
    monkeypatch.setenv("COLUMNS", "300")  # the whole flag list on one line

    def isa(machine: str) -> str:
        assert fast_main(["--replay", str(MACHINES / machine)]) == 0
        return next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("ISA"))

    x86 = isa("rocm-8xmi300x")  # an EPYC 9654 whose cpuinfo has AMD's "sme"
    assert "avx512_bf16" in x86 and "sme" not in x86.replace(",", " ").split()
    arm = isa("gh200-grace-hopper")
    assert "sve2" in arm and "bf16" in arm
