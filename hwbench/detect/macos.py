"""macOS: the CPU, memory and Apple GPU from `sysctl` and the IORegistry (there is no /proc, sysfs or lspci).

One `sysctl hw machdep kern.osproductversion` call (~5 ms) gives the chip's brand string, its performance
levels (P and E cores with their caches), the ARM features the kernel reports and the memory size; one
`ioreg -rc AGXAccelerator -d1` call gives the Apple GPU's core count ("gpu-core-count"), which tells binned
parts apart (an M3 Max has 30 or 40 GPU cores; its peak differs by a third). `detect --dump` records both
outputs as `sysctl.txt` and `ioreg.txt`; `--replay` reads them back through the same parsers.

What macOS does not publish: CPU and GPU clocks (only `powermetrics`, as root, samples them), so the CPU
peak has no clock and says so, and the GPU's figures are the table's.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from hwbench.detect.cpu import MAX_CPUS
from hwbench.model import APPLE_PCI_VENDOR, Cache, Cpu, Gpu, Memory

SYSCTL_FILE = "sysctl.txt"
IOREG_FILE = "ioreg.txt"
SYSCTL_COMMAND = ("sysctl", "hw", "machdep", "kern.osproductversion")
IOREG_COMMAND = ("ioreg", "-rc", "AGXAccelerator", "-d1")

CPU_TYPE_ARM64 = 0x0100000C  # mach/machine.h: CPU_TYPE_ARM | CPU_ARCH_ABI64
# The GPU of an Apple SoC has no PCI address; the JSON contract's pci_slot is 12 characters wide, and the
# one Apple GPU of a Mac gets this id in it (as a GPU seen by NVML only gets "nvml-index-N").
APPLE_GPU_SLOT = "apple-soc-00"

# hw.cpufamily -> the name xnu gives that core family (osfmk/mach/machine.h, CPUFAMILY_ARM_*, as of
# xnu-11215.41.3).
CPU_FAMILIES: dict[int, str] = {
    0x1B588BB3: "Firestorm + Icestorm",
    0xDA33D83D: "Avalanche + Blizzard",
    0x8765EDEA: "Everest + Sawtooth",
    0xFA33415E: "Ibiza",
    0x5F4DEA93: "Lobos",
    0x72015832: "Palma",
    0x2876F5B5: "Coll",
    0x6F5129AC: "Donan",
    0x17D5B93A: "Brava",
    0x75D4ACB9: "Tahiti",
    0x204526D0: "Tupai",
}

# hw.optional.arm.* features -> the flag names Linux's /proc/cpuinfo uses for them on arm64, so ISA checks
# (`check --require-isa bf16`) and the CPU peak read one vocabulary on every OS.
_ARM_FEATURES = {
    "AdvSIMD": "asimd",
    "FEAT_FP16": "asimdhp",
    "FEAT_DotProd": "asimddp",
    "FEAT_FHM": "asimdfhm",
    "FEAT_BF16": "bf16",
    "FEAT_I8MM": "i8mm",
    "FEAT_SME": "sme",
    "FEAT_SME2": "sme2",
    "FEAT_SVE": "sve",
    "FEAT_SVE2": "sve2",
}


@dataclass(frozen=True)
class MacInventory:
    cpu: Cpu | None
    memory: Memory | None
    gpu: Gpu | None
    os: str | None
    warnings: tuple[str, ...]


def is_macos(root: Path) -> bool:
    """This machine is a Mac (root "/"), or a recording of one (it holds sysctl.txt)."""
    return (sys.platform == "darwin" and Path(root) == Path("/")) or (Path(root) / SYSCTL_FILE).is_file()


def _run(command: tuple[str, ...]) -> str | None:
    import subprocess  # here: Linux runs of detect never need it, and its import costs ~3 ms

    try:
        out = subprocess.run(list(command), capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.stdout.strip() else None


def read_outputs(root: Path) -> tuple[str | None, str | None]:
    """(sysctl output, ioreg output): run here on a Mac, else read from a recording."""
    root = Path(root)
    if root == Path("/") and sys.platform == "darwin":
        return _run(SYSCTL_COMMAND), _run(IOREG_COMMAND)
    texts: list[str | None] = []
    for name in (SYSCTL_FILE, IOREG_FILE):
        try:
            texts.append((root / name).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            texts.append(None)
    return texts[0], texts[1]


def live_brand_string() -> str | None:
    """This Mac's chip ("Apple M2 Pro") from sysctl; None elsewhere or when unreadable."""
    text = _run(("sysctl", "-n", "machdep.cpu.brand_string")) if sys.platform == "darwin" else None
    return text.strip() if text else None


def live_gpu_core_count() -> int | None:
    """This Mac's GPU core count (ioreg), for the MPS device's peak; None elsewhere or when unreadable."""
    return gpu_core_count(_run(IOREG_COMMAND)) if sys.platform == "darwin" else None


def dump_macos(dest: Path) -> None:
    """Record this Mac's sysctl and ioreg outputs into dest (what `read_outputs` replays)."""
    sysctl_text, ioreg_text = read_outputs(Path("/"))
    if sysctl_text is not None:
        (Path(dest) / SYSCTL_FILE).write_text(sysctl_text, encoding="utf-8")
    if ioreg_text is not None:
        (Path(dest) / IOREG_FILE).write_text(ioreg_text, encoding="utf-8")


def parse_sysctl(text: str) -> dict[str, str]:
    """`name: value` lines (what `sysctl NAME...` prints) into a dict; other lines are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines()[:20_000]:
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            out[name.strip()] = value.strip()
    return out


def _int(values: dict[str, str], key: str) -> int | None:
    v = values.get(key, "")
    return int(v) if v.isdigit() and len(v) <= 24 else None


def _count(values: dict[str, str], key: str) -> int | None:
    """A CPU/core/level count, None unless sane (a corrupt file claiming 10^20 CPUs makes no 10^20 tuple)."""
    n = _int(values, key)
    return n if n is not None and 1 <= n <= MAX_CPUS else None


def gpu_core_count(ioreg_text: str | None) -> int | None:
    """The Apple GPU's core count from `ioreg -rc AGXAccelerator` ("gpu-core-count" = 10); None if absent."""
    if not ioreg_text:
        return None
    m = re.search(r'"gpu-core-count"\s*=\s*(\d{1,4})\b', ioreg_text)
    return int(m.group(1)) if m else None


def _caches(values: dict[str, str]) -> tuple[Cache, ...]:
    out: list[Cache] = []
    for level in range(_count(values, "hw.nperflevels") or 1):
        p = f"hw.perflevel{level}."
        l1d, l2 = _int(values, p + "l1dcachesize"), _int(values, p + "l2cachesize")
        if l1d:
            out.append(Cache(1, "Data", l1d, 1))
        if l2:
            out.append(Cache(2, "Unified", l2, _count(values, p + "cpusperl2")))
    return tuple(out)


def cpu_from_sysctl(values: dict[str, str]) -> Cpu | None:
    """The CPU as sysctl describes it: brand string, P/E core counts (performance levels 0 and 1), the ARM
    features under Linux's flag names, caches. No clock: macOS publishes none."""
    logical = _count(values, "hw.logicalcpu") or _count(values, "hw.ncpu")
    brand = values.get("machdep.cpu.brand_string")
    if not logical or not brand:
        return None
    arm = _int(values, "hw.cputype") == CPU_TYPE_ARM64 or values.get("hw.optional.arm64") == "1"
    family = _int(values, "hw.cpufamily")
    uarch = CPU_FAMILIES.get(family) if family is not None else None
    levels = _count(values, "hw.nperflevels") or 1
    p_cores = _count(values, "hw.perflevel0.physicalcpu") if levels > 1 else None
    e_cores = _count(values, "hw.perflevel1.physicalcpu") if levels > 1 else None
    if arm:
        isa = tuple(
            flag for feature, flag in _ARM_FEATURES.items() if values.get(f"hw.optional.arm.{feature}") == "1"
        )
        if not isa and values.get("hw.optional.neon") == "1":  # macOS 11-12 name the features otherwise
            isa = ("asimd",) + (("asimdhp",) if values.get("hw.optional.neon_fp16") == "1" else ())
    else:  # an Intel Mac: machdep.cpu.features / leaf7_features, upper case
        words = (
            values.get("machdep.cpu.features", "") + " " + values.get("machdep.cpu.leaf7_features", "")
        ).lower()
        isa = tuple(
            f
            for f in ("avx", "fma", "avx2", "avx512f", "avx512bw")
            if f in words.replace("avx1.0", "avx").split()
        )
    physical = _count(values, "hw.physicalcpu") or logical
    return Cpu(
        vendor="Apple" if arm else values.get("machdep.cpu.vendor", "GenuineIntel"),
        model=brand,
        microarchitecture=uarch,
        sockets=_count(values, "hw.packages") or 1,
        physical_cores=physical,
        logical_cpus=logical,
        usable_cpus=tuple(range(logical)),
        p_cores=p_cores,
        e_cores=e_cores,
        isa=isa,
        max_mhz=None,
        max_mhz_source="unknown: macOS publishes no CPU clock (powermetrics, as root, samples it)",
        virtualized=values.get("kern.hv_vmm_present") == "1",
        caches=_caches(values),
        # which CPU numbers are P or E cores: macOS's sysctl gives only the counts, so none are listed
        source="sysctl hw machdep",
    )


def apple_gpu(values: dict[str, str], ioreg_text: str | None) -> Gpu | None:
    """The GPU of an Apple silicon SoC: arm64 (hw.cputype, a number) with an Apple brand string. Intel Macs
    have PCI GPUs, which this reader does not list (no lspci there)."""
    brand = values.get("machdep.cpu.brand_string", "")
    if _int(values, "hw.cputype") != CPU_TYPE_ARM64 or not brand.startswith("Apple "):
        return None
    cores = gpu_core_count(ioreg_text)
    evidence = "Apple silicon: the GPU is part of the SoC (hw.cputype arm64, sysctl brand string)"
    evidence += (
        f"; {cores} GPU cores (ioreg gpu-core-count)" if cores else "; GPU core count not read (no ioreg)"
    )
    return Gpu(
        pci_slot=APPLE_GPU_SLOT,
        vendor="other",  # the contract's vendors are PCI vendors; vendor_id 0x106b says Apple
        kind="integrated",
        name=f"{brand} GPU",
        vendor_id=APPLE_PCI_VENDOR,
        device_id="none",
        pci_class="none (on the SoC)",
        kind_evidence=evidence,
        driver="AGX (Metal)",
        units=cores,
    )


def _live_available_bytes() -> int | None:
    """Memory available now (psutil's figure: macOS has no MemAvailable); None when it cannot say."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def read_macos(root: Path) -> MacInventory:
    """The Mac inventory from live commands (root "/") or a recording's sysctl.txt / ioreg.txt."""
    sysctl_text, ioreg_text = read_outputs(root)
    warnings: list[str] = []
    if sysctl_text is None:
        warnings.append("no sysctl output: CPU, memory and GPU not seen")
        return MacInventory(None, None, None, None, tuple(warnings))
    values = parse_sysctl(sysctl_text)
    cpu = cpu_from_sysctl(values)
    if cpu is None:
        warnings.append("sysctl gave no brand string or CPU count: CPU not shown")
    total = _int(values, "hw.memsize")
    memory = None
    if total:
        available = _live_available_bytes() if Path(root) == Path("/") else None
        memory = Memory(total, available, "sysctl hw.memsize" + (", psutil (available)" if available else ""))
    gpu = apple_gpu(values, ioreg_text)
    if gpu is not None and gpu.units is None:
        warnings.append("Apple GPU core count not read (ioreg): its peak assumes the table's full part")
    version = values.get("kern.osproductversion")
    return MacInventory(cpu, memory, gpu, f"macOS {version}" if version else "macOS", tuple(warnings))
