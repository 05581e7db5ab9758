"""Frozen records shared by every layer: what detect found. No I/O, no heavy imports.

Values that a source could not give are `NA(reason)` (rendered "n/a" on the terminal, null in JSON with
the reason beside it), never a crash and never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")

GpuVendor = Literal["intel", "nvidia", "amd", "aspeed", "matrox", "virtual", "other"]
GpuKind = Literal["integrated", "discrete", "virtual", "bmc"]
# Where a CPU's clock figure comes from, which decides what it may be used for: a cpufreq max is the
# boost max; a brand string's is the base clock (a floor); a VM's 'cpu MHz' is the TSC rate (not a max);
# "advertised" is py-cpuinfo's figure; "none": no figure.
ClockKind = Literal["cpufreq", "brand", "tsc", "advertised", "none"]
APPLE_PCI_VENDOR = (
    "0x106b"  # Apple's PCI-SIG vendor id (also the "vendor-id" of its SoC GPU's IORegistry entry)
)


@dataclass(frozen=True)
class NA:
    """A value that could not be read, with why (NVML NotSupported, no permission, no such file...)."""

    reason: str

    def __str__(self) -> str:
        return "n/a"


def value_or_none(v: T | NA | None) -> T | None:
    return None if isinstance(v, NA) else v


@dataclass(frozen=True)
class PciFunction:
    """One PCI function as read from sysfs or parsed from lspci text (ids are numbers, names decoration)."""

    slot: str  # full form, domain included: "0000:00:02.0"
    vendor_id: int | None  # None only when lspci text gave a name but no numeric id
    device_id: int | None
    pci_class: int | None  # 24-bit class code, e.g. 0x030000; None when only a class name was seen
    class_name: str | None = None  # "VGA compatible controller", as lspci prints it
    vendor_name: str | None = None  # as lspci or pci.ids name it
    device_name: str | None = None
    subsystem_vendor_id: int | None = None
    subsystem_device_id: int | None = None
    revision: int | None = None
    driver: str | None = None
    is_virtfn: bool = False  # an SR-IOV virtual function (sysfs `physfn` link)
    boot_vga: bool | None = None
    upstream_bridge: str | None = None  # slot of the parent bridge, when known (sysfs path)


@dataclass(frozen=True)
class Gpu:
    """A display/3D/processing-accelerator device, classified from numeric ids and evidence."""

    pci_slot: str
    vendor: GpuVendor
    kind: GpuKind
    name: str
    vendor_id: str  # "0x8086"
    device_id: str  # "0x46a6"
    pci_class: str  # "0x030000"
    kind_evidence: str  # why this kind: "Intel iGPU slot 00:02.0", "AMD APU device id table (Rembrandt)", ...
    driver: str | None = None
    functions: tuple[str, ...] = ()  # other functions of the same device folded into this one (e.g. 00:02.1)
    nvml: NvmlGpu | None = None  # what NVML (or a saved nvidia-smi output) said of it, joined by bus id
    telemetry: GpuTelemetry | None = None  # AMD: one amdgpu sysfs reading at detect time
    units: int | None = None  # compute units a platform source reported (Apple GPU cores, from ioreg)


@dataclass(frozen=True)
class Cache:
    level: int
    type: str  # Data, Instruction, Unified
    size_bytes: int
    shared_by_cpus: int | None = None


@dataclass(frozen=True)
class Cpu:
    vendor: str  # "GenuineIntel", "AuthenticAMD", "ARM", "Apple" ...
    model: str  # brand string, or what is known when the hypervisor masks it
    microarchitecture: str | None  # "Zen 5", "Golden Cove + Gracemont", "Neoverse-N1"; None when unknown
    sockets: int | None
    physical_cores: int | None
    logical_cpus: int
    usable_cpus: tuple[int, ...]  # what this process may run on (affinity / cgroup cpuset)
    p_cores: int | None  # hybrid Intel only, else None
    e_cores: int | None
    isa: tuple[str, ...]  # lower-case flags as the kernel names them
    max_mhz: float | None
    max_mhz_source: str  # "cpufreq cpuinfo_max_freq", "brand string", "TSC (not a real max)", "unknown"
    virtualized: bool
    hypervisor: str | None = None  # "KVM", "Microsoft Hyper-V", "WSL", ...
    family: int | None = None
    model_number: int | None = None
    stepping: int | None = None
    arm_implementer: int | None = None
    arm_part: int | None = None
    caches: tuple[Cache, ...] = ()
    numa_nodes: int | None = None
    cpu_quota: float | None = None  # cgroup CPU quota in CPUs (e.g. 1.5), None when unlimited
    p_core_cpus: tuple[int, ...] = ()  # logical CPU numbers of P-cores on hybrid Intel
    e_core_cpus: tuple[int, ...] = ()
    smt_siblings: tuple[tuple[int, ...], ...] = ()  # logical CPUs grouped by physical core
    # cpufreq cpuinfo_max_freq per logical CPU, kept only where CPUs differ (hybrid P/E cores, favoured
    # cores): the peak counts each core at its own max clock, not every core at the fastest one's.
    max_mhz_by_cpu: tuple[tuple[int, float], ...] = ()
    source: str = "/proc/cpuinfo"
    max_mhz_kind: ClockKind = "none"  # what `max_mhz` is (see ClockKind); `max_mhz_source` says it in words


@dataclass(frozen=True)
class Memory:
    total_bytes: int | None
    available_bytes: int | None = None
    source: str = "/proc/meminfo"


@dataclass(frozen=True)
class TorchInfo:
    """The installed torch build, read from package metadata (detect never imports torch)."""

    installed: bool
    version: str | None = None  # "2.13.0+cpu"
    build: str | None = None  # "cpu", "cuda", "rocm", "xpu", "mps" (macOS arm64 wheels)
    cuda_version: str | None = None  # "12.4" for cuda builds
    rocm_version: str | None = None
    usable_devices: tuple[str, ...] = ()  # what this build can use on this hardware: ("cpu", "cuda")
    messages: tuple[str, ...] = ()  # "NVIDIA GPU present but this torch is CPU-only", ...
    source: str = "package metadata"


@dataclass(frozen=True)
class System:
    cpu: Cpu | None
    memory: Memory | None
    gpus: tuple[Gpu, ...]
    torch: TorchInfo
    warnings: tuple[str, ...] = ()  # what could not be seen, and why
    source: str = "this machine"  # or "replay of DIR", "--lspci FILE"
    os: str | None = None  # "Linux 6.1.0 (WSL2)", ...


def _int_or_na(v: object, what: str) -> int | NA:
    if isinstance(v, NA):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return NA(f"no {what} in this reading" if v is None else f"unexpected {what} {v!r}")


def _float_or_na(v: object, what: str) -> float | NA:
    if isinstance(v, NA):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return NA(f"no {what} in this reading" if v is None else f"unexpected {what} {v!r}")


@dataclass(frozen=True)
class GpuTelemetry:
    """One reading of a GPU's live state (NVML on NVIDIA, amdsmi or amdgpu sysfs on AMD). Every field is a
    value or NA(reason): one unreadable field never hides the others."""

    t_s: float  # time.monotonic() of the reading
    source: str  # "NVML", "amdgpu sysfs", "amdsmi"
    utilization_pct: int | NA
    sm_clock_mhz: int | NA
    sm_clock_max_mhz: int | NA
    temperature_c: float | NA
    power_draw_w: float | NA
    pcie_gen_current: int | NA
    pcie_gen_max: int | NA
    pcie_width_current: int | NA
    pcie_width_max: int | NA
    clock_event_reasons: tuple[str, ...] | NA  # NVML's reason names; AMD has no such mask
    memory_total_bytes: int | NA = NA("not in this reading")
    memory_used_bytes: int | NA = NA("not in this reading")
    power_limit_w: float | NA = NA("not in this reading")

    @classmethod
    def from_fields(
        cls, fields: Mapping[str, object], t_s: float = 0.0, source: str = "NVML"
    ) -> GpuTelemetry:
        """From the field names detect uses for a GPU (`hwbench.detect.nvml`, `hwbench.detect.amdgpu`)."""
        reasons = fields.get("clock_event_reasons")
        return cls(
            t_s=t_s,
            source=source,
            utilization_pct=_int_or_na(fields.get("utilization_pct"), "utilization"),
            sm_clock_mhz=_int_or_na(fields.get("sm_clock_mhz"), "SM clock"),
            sm_clock_max_mhz=_int_or_na(fields.get("sm_clock_max_mhz"), "max SM clock"),
            temperature_c=_float_or_na(fields.get("temperature_c"), "temperature"),
            power_draw_w=_float_or_na(fields.get("power_draw_w"), "power draw"),
            pcie_gen_current=_int_or_na(fields.get("pcie_gen_current"), "PCIe generation"),
            pcie_gen_max=_int_or_na(fields.get("pcie_gen_max"), "max PCIe generation"),
            pcie_width_current=_int_or_na(fields.get("pcie_width_current"), "PCIe width"),
            pcie_width_max=_int_or_na(fields.get("pcie_width_max"), "max PCIe width"),
            clock_event_reasons=_reasons_or_na(reasons),
            memory_total_bytes=_int_or_na(fields.get("memory_total_bytes"), "memory total"),
            memory_used_bytes=_int_or_na(fields.get("memory_used_bytes"), "memory used"),
            power_limit_w=_float_or_na(fields.get("power_limit_w"), "power limit"),
        )

    def as_fields(self) -> dict[str, object]:
        """The same reading under detect's field names (what the checks under load read)."""
        out: dict[str, object] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        reasons = self.clock_event_reasons
        out["clock_event_reasons"] = list(reasons) if isinstance(reasons, tuple) else reasons
        return out


def _reasons_or_na(v: object) -> tuple[str, ...] | NA:
    if isinstance(v, (list, tuple)):
        return tuple(str(r) for r in v)
    return v if isinstance(v, NA) else NA("no clock-event reasons from this source")


def str_or_na(v: object, what: str) -> str | NA:
    """A non-empty string as read, else NA saying what was read instead."""
    if isinstance(v, NA):
        return v
    if isinstance(v, str) and v.strip():
        return v
    return NA(f"no {what} in this reading" if v is None or v == "" else f"unexpected {what} {v!r}")


def _num_or_na(v: object, what: str) -> float | NA:
    """A number as read (an int stays an int: NVML's 45 C prints as 45, not 45.0)."""
    if isinstance(v, NA):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    return NA(f"no {what} in this reading" if v is None else f"unexpected {what} {v!r}")


def _bool_or_na(v: object, what: str) -> bool | NA:
    if isinstance(v, (NA, bool)):
        return v
    if isinstance(v, int):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("yes", "no", "enabled", "disabled"):
        return v.strip().lower() in ("yes", "enabled")
    return NA(f"no {what} in this reading" if v is None else f"unexpected {what} {v!r}")


_NVML_STR = ("pci_bus_id", "pci_device_id", "name", "uuid", "driver_version", "cuda_driver_version")
_NVML_BOOL = ("ecc_mode_current", "ecc_mode_pending", "mig_mode_current", "mig_mode_pending")


@dataclass(frozen=True)
class NvmlGpu:
    """One NVIDIA GPU as its management interface described it: NVML at detect time (`hwbench.detect.nvml`,
    the one reader), or a saved `nvidia-smi` output (`hwbench.check.smi`). Every field is a value or
    NA(reason); a field one source does not give is NA saying so. `error` is set when NVML listed the index
    but gave no handle for it (then every field is NA)."""

    source: str  # "NVML", "nvidia-smi -q", "nvidia-smi table"
    index: int | NA
    pci_bus_id: str | NA
    pci_device_id: str | NA  # "0x2330"
    name: str | NA
    uuid: str | NA
    memory_total_bytes: int | NA
    memory_used_bytes: int | NA
    driver_version: str | NA
    cuda_driver_version: str | NA  # "12.4"
    sm_clock_mhz: int | NA
    sm_clock_max_mhz: int | NA
    memory_clock_mhz: int | NA
    memory_clock_max_mhz: int | NA
    power_draw_w: float | NA
    power_limit_w: float | NA
    temperature_c: float | NA
    pcie_gen_current: int | NA
    pcie_gen_max: int | NA
    pcie_width_current: int | NA
    pcie_width_max: int | NA
    clock_event_reasons: tuple[str, ...] | NA  # NVML's reason names (hwbench.detect.nvml.CLOCK_EVENTS)
    ecc_mode_current: bool | NA
    ecc_mode_pending: bool | NA
    ecc_uncorrected_aggregate: int | NA  # lifetime count
    ecc_uncorrected_volatile: int | NA  # since the last driver load (nvidia-smi; live, check reads it)
    mig_mode_current: bool | NA
    mig_mode_pending: bool | NA
    multiprocessor_count: int | NA
    compute_capability: str | NA  # "9.0"
    error: str | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, object], source: str = "NVML") -> NvmlGpu:
        """From the field names above (what the NVML reader and the nvidia-smi parsers collect), each
        coerced to its type; a missing field is NA naming the source that lacked it."""
        missing = NA(f"not given by {source}")
        error = fields.get("error")
        if isinstance(error, NA):
            missing = NA(error.reason)
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name in ("source", "error"):
                continue
            v = fields.get(name, missing)
            what = name.replace("_", " ")
            if name == "index":
                values[name] = _int_or_na(v, what)
            elif name == "clock_event_reasons":
                values[name] = _reasons_or_na(v)
            elif name in _NVML_STR or name == "compute_capability":
                values[name] = str_or_na(v, what)
            elif name in _NVML_BOOL:
                values[name] = _bool_or_na(v, what)
            elif name in ("power_draw_w", "power_limit_w", "temperature_c"):
                values[name] = _num_or_na(v, what)
            else:
                values[name] = _int_or_na(v, what)
        return cls(
            source=source,
            error=error.reason if isinstance(error, NA) else (str(error) if error else None),
            **values,
        )

    def as_fields(self) -> dict[str, object]:
        """The record under its field names, reasons as lists (what the data-driven checks look up)."""
        out: dict[str, object] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        reasons = self.clock_event_reasons
        out["clock_event_reasons"] = list(reasons) if isinstance(reasons, tuple) else reasons
        return out
