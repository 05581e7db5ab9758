"""NVIDIA details from NVML, one field at a time (gpustat/nvitop style), recordable and replayable.

Every NVML call goes through one chokepoint, `_Reader.call`: any NVMLError (or any other exception) becomes
`NA(reason)` for that field alone; NotSupported reads "not supported by this GPU/driver". A missing
libnvidia-ml, a driver that is not loaded, or a driver/library version mismatch becomes one warning, never a
crash.

Recording format (`RECORDING_FORMAT`, JSON): what each call returned or raised, by name, so a fake module
(`FakeNvml`) can replay it through the same code path::

    {"format": "hwbench-nvml-recording/1", "source": "...",
     "init": {"error": 18} | {"result": null},
     "system": {"nvmlSystemGetDriverVersion": {"result": "535.104.05"}, ...},
     "devices": [{"nvmlDeviceGetName": {"result": "NVIDIA H100 80GB HBM3"},
                  "nvmlDeviceGetClockInfo:1": {"result": 1980},
                  "nvmlDeviceGetPowerUsage": {"error": 3}, ...}]}

Struct results (memory, PCI info) are recorded as objects of their fields; a call absent from a recording
(fixtures transcribed from partial nvidia-smi outputs) replays as an error "not in this recording".
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hwbench.errors import one_line
from hwbench.fmt import plural
from hwbench.model import NA, GpuTelemetry, NvmlGpu, str_or_na

RECORDING_FORMAT = "hwbench-nvml-recording/1"

# NVML ABI constants (nvml.h; stable across releases), so a fake module needs none of them.
CLOCK_GRAPHICS, CLOCK_SM, CLOCK_MEM = 0, 1, 2
TEMPERATURE_GPU = 0
MEMORY_ERROR_TYPE_UNCORRECTED = 1
VOLATILE_ECC, AGGREGATE_ECC = 0, 1
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_DRIVER_NOT_LOADED = 9
ERROR_LIBRARY_NOT_FOUND = 12
ERROR_FUNCTION_NOT_FOUND = 13
ERROR_GPU_IS_LOST = 15
ERROR_LIB_RM_VERSION_MISMATCH = 18

_ERROR_REASONS = {
    ERROR_NOT_SUPPORTED: "not supported by this GPU/driver",
    ERROR_NO_PERMISSION: "no permission (run as root or ask the admin)",
    ERROR_FUNCTION_NOT_FOUND: "this NVML/driver has no such query (driver too old)",
    ERROR_GPU_IS_LOST: "GPU is lost (fell off the bus: check dmesg for Xid 79)",
    2: "invalid argument",
    6: "not found",
    999: "unknown NVML error",
}

# The one clock-event table: nvmlClocksEventReason* bits (nvml.h; formerly nvmlClocksThrottleReason*), the
# name hwbench uses, the label nvidia-smi -q prints for it, and whether it slows a running job (idle, sync
# boost and the display clock do not).
CLOCK_EVENTS: tuple[tuple[int, str, str, bool], ...] = (
    (0x001, "gpu_idle", "idle", False),
    (0x002, "applications_clocks_setting", "applications clocks setting", True),
    (0x004, "sw_power_cap", "sw power cap", True),
    (0x008, "hw_slowdown", "hw slowdown", True),
    (0x010, "sync_boost", "sync boost", False),
    (0x020, "sw_thermal_slowdown", "sw thermal slowdown", True),
    (0x040, "hw_thermal_slowdown", "hw thermal slowdown", True),
    (0x080, "hw_power_brake_slowdown", "hw power brake slowdown", True),
    (0x100, "display_clock_setting", "display clock setting", False),
)
CLOCK_EVENT_REASONS: tuple[tuple[int, str], ...] = tuple((bit, name) for bit, name, _, _ in CLOCK_EVENTS)
SLOWING_REASONS = frozenset(name for _, name, _, slows in CLOCK_EVENTS if slows)
# Reasons that do not mean the card is held back: nothing to do (idle), clocks the operator set on purpose
# (application clocks), or the configured power limit being reached (a software power cap is how a busy
# GPU normally runs). detect warns about the other slowing reasons only; `check --no-throttle` fails on
# every other reason, sync boost and display clocks included.
NOT_HELD_BACK = frozenset({"gpu_idle", "applications_clocks_setting", "sw_power_cap"})
_SLOWDOWNS = SLOWING_REASONS - NOT_HELD_BACK
# Every spelling of a reason seen in the wild -> hwbench's name: the name itself, nvidia-smi's label
# ("sw power cap"), and NVML's enum without its prefix, lower-cased ("swpowercap").
_REASON_SPELLINGS: dict[str, str] = {
    spelling: name
    for _, name, label, _ in CLOCK_EVENTS
    for spelling in (name, label.replace(" ", "_"), name.replace("_", ""))
}


def clock_event_name(raw: str) -> str:
    """A clock-event reason as NVML, nvidia-smi or a recording spells it -> hwbench's name from
    `CLOCK_EVENTS` (an unknown reason is returned lower-cased, so it is still reported)."""
    r = str(raw).strip().lower()
    for prefix in (
        "nvmlclockseventreason",
        "nvmlclocksthrottlereason",
        "clocks_event_reason_",
        "clocks_throttle_reason_",
    ):
        if r.startswith(prefix):
            r = r[len(prefix) :]
    r = r.replace(" ", "_")
    return _REASON_SPELLINGS.get(r, r)


def decode_clock_event_reasons(mask: int) -> list[str]:
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    unknown = mask & ~sum(bit for bit, _ in CLOCK_EVENT_REASONS)
    if unknown:
        names.append(f"other(0x{unknown:x})")
    return names


def normalize_bus_id(bus_id: str | bytes) -> str:
    """NVML's "00000000:17:00.0" (8-digit domain, upper case) to sysfs form "0000:17:00.0"."""
    if isinstance(bus_id, bytes):
        bus_id = bus_id.decode("ascii", "replace")
    s = bus_id.strip().lower().rstrip("\x00")
    parts = s.split(":")
    if len(parts) == 3:
        dom = parts[0][-4:].rjust(4, "0")
        return f"{dom}:{parts[1].rjust(2, '0')}:{parts[2]}"
    if len(parts) == 2:
        return f"0000:{parts[0].rjust(2, '0')}:{parts[1]}"
    return s


def nvml_bus_id(slot: str) -> str:
    """hwbench's sysfs form "0000:17:00.0" to NVML's "00000000:17:00.0" (made here and nowhere else)."""
    s = normalize_bus_id(slot)
    dom, _, rest = s.partition(":")
    return f"{dom.rjust(8, '0')}:{rest}".upper()


def _error_value(e: BaseException) -> int | None:
    v = getattr(e, "value", None)
    return v if isinstance(v, int) else None


def _reason(e: BaseException) -> str:
    v = _error_value(e)
    if v is not None and v in _ERROR_REASONS:
        return _ERROR_REASONS[v]
    return one_line(e, 200)


def _jsonable(v: Any) -> Any:
    """A raw NVML result as JSON: bytes decoded, ctypes structs as objects of their fields."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    fields = getattr(v, "_fields_", None)
    if fields:
        return {f[0]: _jsonable(getattr(v, f[0])) for f in fields}
    if isinstance(v, SimpleNamespace):
        return {k: _jsonable(x) for k, x in vars(v).items()}
    return str(v)


class _Reader:
    """The chokepoint: every NVML call, its NA conversion and (optionally) its recording."""

    def __init__(self, nvml: Any, record: dict[str, Any] | None) -> None:
        self.nvml = nvml
        self.record = record

    def _slot(self, device: int | None) -> dict[str, Any] | None:
        if self.record is None:
            return None
        if device is None:
            return self.record.setdefault("system", {})
        devs = self.record.setdefault("devices", [])
        while len(devs) <= device:
            devs.append({})
        slot: dict[str, Any] = devs[device]
        return slot

    def call(self, device: int | None, name: str, *args: Any, key_args: tuple[Any, ...] = ()) -> Any:
        key = ":".join([name, *(str(a) for a in key_args)])
        slot = self._slot(device)
        fn = getattr(self.nvml, name, None)
        if fn is None:
            if slot is not None:
                slot[key] = {"error": ERROR_FUNCTION_NOT_FOUND}
            return NA(f"this pynvml has no {name}")
        try:
            value = fn(*args)
        except Exception as e:  # any failure is this field's alone
            if slot is not None:
                slot[key] = {"error": _error_value(e), "message": str(e)[:200]}
            return NA(_reason(e))
        if slot is not None:  # handles are pointers: a recording names them by device index
            slot[key] = {"result": args[0] if name == "nvmlDeviceGetHandleByIndex" else _jsonable(value)}
        return value


def _text(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").rstrip("\x00")
    return v


def _field(v: Any, attr: str) -> Any:
    if isinstance(v, NA):
        return v
    if isinstance(v, dict):
        return v.get(attr, NA(f"no {attr} in NVML result"))
    return getattr(v, attr, NA(f"no {attr} in NVML result"))


def _scaled(v: Any, factor: float) -> Any:
    if isinstance(v, NA):
        return v
    try:
        return round(float(v) * factor, 3)
    except (TypeError, ValueError):
        return NA(f"unexpected NVML value {v!r}")


def _cuda_version(v: Any) -> Any:
    """nvmlSystemGetCudaDriverVersion: 12020 -> "12.2"."""
    if isinstance(v, NA):
        return v
    try:
        n = int(v)
    except (TypeError, ValueError):
        return NA(f"unexpected NVML value {v!r}")
    return f"{n // 1000}.{(n % 1000) // 10}"


def _pair(v: Any, i: int) -> Any:
    if isinstance(v, NA):
        return v
    try:
        return v[i]
    except (TypeError, IndexError, KeyError):
        return NA(f"unexpected NVML value {v!r}")


def _clock_event_reasons(r: _Reader, i: int | None, handle: Any) -> Any:
    mask = r.call(i, "nvmlDeviceGetCurrentClocksEventReasons", handle)
    if (
        isinstance(mask, NA)
        and getattr(r.nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None) is not None
    ):
        mask = r.call(i, "nvmlDeviceGetCurrentClocksThrottleReasons", handle)  # the name before 12.535
    return mask if isinstance(mask, NA) else decode_clock_event_reasons(int(mask))


def _read_device(r: _Reader, i: int, system: dict[str, Any]) -> tuple[str | None, NvmlGpu]:
    handle = r.call(i, "nvmlDeviceGetHandleByIndex", i)
    if isinstance(handle, NA):
        return None, NvmlGpu.from_fields({"index": i, "error": handle})
    f: dict[str, Any] = {"index": i}
    pci = r.call(i, "nvmlDeviceGetPciInfo", handle)
    bus = _field(pci, "busId")
    bus_id = None if isinstance(bus, NA) else normalize_bus_id(_text(bus))
    pci_dev = _field(pci, "pciDeviceId")
    f["pci_bus_id"] = bus_id if bus_id else bus
    f["pci_device_id"] = (
        NA(pci_dev.reason) if isinstance(pci_dev, NA) else f"0x{(int(pci_dev) >> 16) & 0xFFFF:04x}"
    )
    f["name"] = _text(r.call(i, "nvmlDeviceGetName", handle))
    f["uuid"] = _text(r.call(i, "nvmlDeviceGetUUID", handle))
    mem = r.call(i, "nvmlDeviceGetMemoryInfo", handle)
    f["memory_total_bytes"] = _field(mem, "total")
    f["memory_used_bytes"] = _field(mem, "used")
    f["driver_version"] = system["driver_version"]
    f["cuda_driver_version"] = system["cuda_driver_version"]
    f["sm_clock_mhz"] = r.call(i, "nvmlDeviceGetClockInfo", handle, CLOCK_SM, key_args=(CLOCK_SM,))
    f["sm_clock_max_mhz"] = r.call(i, "nvmlDeviceGetMaxClockInfo", handle, CLOCK_SM, key_args=(CLOCK_SM,))
    f["memory_clock_mhz"] = r.call(i, "nvmlDeviceGetClockInfo", handle, CLOCK_MEM, key_args=(CLOCK_MEM,))
    f["memory_clock_max_mhz"] = r.call(
        i, "nvmlDeviceGetMaxClockInfo", handle, CLOCK_MEM, key_args=(CLOCK_MEM,)
    )
    f["power_draw_w"] = _scaled(r.call(i, "nvmlDeviceGetPowerUsage", handle), 1e-3)
    f["power_limit_w"] = _scaled(r.call(i, "nvmlDeviceGetEnforcedPowerLimit", handle), 1e-3)
    f["temperature_c"] = r.call(
        i, "nvmlDeviceGetTemperature", handle, TEMPERATURE_GPU, key_args=(TEMPERATURE_GPU,)
    )
    f["pcie_gen_current"] = r.call(i, "nvmlDeviceGetCurrPcieLinkGeneration", handle)
    f["pcie_gen_max"] = r.call(i, "nvmlDeviceGetMaxPcieLinkGeneration", handle)
    f["pcie_width_current"] = r.call(i, "nvmlDeviceGetCurrPcieLinkWidth", handle)
    f["pcie_width_max"] = r.call(i, "nvmlDeviceGetMaxPcieLinkWidth", handle)
    f["clock_event_reasons"] = _clock_event_reasons(r, i, handle)
    ecc = r.call(i, "nvmlDeviceGetEccMode", handle)
    f["ecc_mode_current"] = _bool(_pair(ecc, 0))
    f["ecc_mode_pending"] = _bool(_pair(ecc, 1))
    f["ecc_uncorrected_aggregate"] = r.call(
        i,
        "nvmlDeviceGetTotalEccErrors",
        handle,
        MEMORY_ERROR_TYPE_UNCORRECTED,
        AGGREGATE_ECC,
        key_args=(MEMORY_ERROR_TYPE_UNCORRECTED, AGGREGATE_ECC),
    )
    mig = r.call(i, "nvmlDeviceGetMigMode", handle)
    f["mig_mode_current"] = _bool(_pair(mig, 0))
    f["mig_mode_pending"] = _bool(_pair(mig, 1))
    attrs = r.call(i, "nvmlDeviceGetAttributes", handle)
    f["multiprocessor_count"] = _field(attrs, "multiprocessorCount")
    cc = r.call(i, "nvmlDeviceGetCudaComputeCapability", handle)
    f["compute_capability"] = cc if isinstance(cc, NA) else f"{_pair(cc, 0)}.{_pair(cc, 1)}"
    f["ecc_uncorrected_volatile"] = NA("detect reads the lifetime count; a live check reads this one")
    return bus_id, NvmlGpu.from_fields(f)


def _bool(v: Any) -> Any:
    return v if isinstance(v, NA) else bool(v)


def device_warnings(bus_id: str, f: NvmlGpu) -> list[str]:
    """What a user should hear about: a slowed clock, a degraded PCIe link, uncorrected ECC errors."""
    out = []
    reasons = f.clock_event_reasons
    if isinstance(reasons, tuple) and _SLOWDOWNS & set(reasons):
        out.append(f"GPU {bus_id}: clocks slowed by {', '.join(sorted(_SLOWDOWNS & set(reasons)))} (NVML)")
    gen, gmax = f.pcie_gen_current, f.pcie_gen_max
    wid, wmax = f.pcie_width_current, f.pcie_width_max
    if isinstance(wid, int) and isinstance(wmax, int) and wid < wmax:
        out.append(
            f"GPU {bus_id}: PCIe link x{wid} of x{wmax} (a degraded link: reseat the card or check the slot)"
        )
    elif isinstance(gen, int) and isinstance(gmax, int) and gen < gmax:
        out.append(
            f"GPU {bus_id}: PCIe Gen{gen} of Gen{gmax} now (idle GPUs downshift; a problem only under load)"
        )
    ecc = f.ecc_uncorrected_aggregate
    if isinstance(ecc, int) and ecc > 0:
        out.append(f"GPU {bus_id}: {plural(ecc, 'uncorrected ECC error')} (aggregate, NVML)")
    return out


def _pynvml() -> Any:
    """The one import of pynvml (nvidia-ml-py) in hwbench; lazy: only where an NVIDIA GPU may be present."""
    import pynvml

    return pynvml


def _open(bus_id: str, nvml_module: Any) -> tuple[_Reader, Any] | NA:
    """nvmlInit and a handle for the GPU at `bus_id` (sysfs form), or NA with why."""
    try:
        nv = nvml_module if nvml_module is not None else _pynvml()
        nv.nvmlInit()
    except Exception as e:
        return NA(f"no NVML ({_reason(e)})")
    r = _Reader(nv, None)
    handle = r.call(None, "nvmlDeviceGetHandleByPciBusId", nvml_bus_id(bus_id).encode())
    return handle if isinstance(handle, NA) else (r, handle)


def open_sampler(bus_id: str, nvml_module: Any = None) -> Callable[[], GpuTelemetry] | None:
    """A function reading one GPU's live telemetry (NA per field), for the run monitor and the checks under
    load; None without NVML or without that GPU."""
    opened = _open(bus_id, nvml_module)
    if isinstance(opened, NA):
        return None
    r, handle = opened

    def sample() -> GpuTelemetry:
        def clock(kind: int, fn: str = "nvmlDeviceGetClockInfo") -> Any:
            return r.call(None, fn, handle, kind)

        fields = {
            "utilization_pct": _field(r.call(None, "nvmlDeviceGetUtilizationRates", handle), "gpu"),
            "sm_clock_mhz": clock(CLOCK_SM),
            "sm_clock_max_mhz": clock(CLOCK_SM, "nvmlDeviceGetMaxClockInfo"),
            "temperature_c": r.call(None, "nvmlDeviceGetTemperature", handle, TEMPERATURE_GPU),
            "power_draw_w": _scaled(r.call(None, "nvmlDeviceGetPowerUsage", handle), 1e-3),
            "pcie_gen_current": r.call(None, "nvmlDeviceGetCurrPcieLinkGeneration", handle),
            "pcie_gen_max": r.call(None, "nvmlDeviceGetMaxPcieLinkGeneration", handle),
            "pcie_width_current": r.call(None, "nvmlDeviceGetCurrPcieLinkWidth", handle),
            "pcie_width_max": r.call(None, "nvmlDeviceGetMaxPcieLinkWidth", handle),
            "clock_event_reasons": _clock_event_reasons(r, None, handle),
        }
        return GpuTelemetry.from_fields(fields, time.monotonic(), "NVML")

    return sample


def read_volatile_ecc(bus_id: str, nvml_module: Any = None) -> Any:
    """Uncorrectable ECC errors since the driver loaded (NVML's volatile counter) for one GPU: an int, or NA
    with NVML's reason (no NVML, ECC off, a GeForce card)."""
    opened = _open(bus_id, nvml_module)
    if isinstance(opened, NA):
        return opened
    r, handle = opened
    v = r.call(None, "nvmlDeviceGetTotalEccErrors", handle, MEMORY_ERROR_TYPE_UNCORRECTED, VOLATILE_ECC)
    return v if isinstance(v, NA) else int(v)


@dataclass(frozen=True)
class NvmlIdentity:
    """What a fleet rank's fingerprint takes from NVML; NA per field it could not read."""

    driver_version: str | NA
    cuda_driver_version: str | NA
    gpu_uuid: str | NA


def read_identity(bus_id: str | None, nvml_module: Any = None) -> NvmlIdentity:
    """Driver version, the driver's CUDA version and (with a bus id) the GPU's UUID; NA per field."""
    try:
        nv = nvml_module if nvml_module is not None else _pynvml()
        nv.nvmlInit()
    except Exception as e:
        na = NA(f"no NVML ({_reason(e)})")
        return NvmlIdentity(na, na, na)
    r = _Reader(nv, None)
    uuid: Any = NA("no PCI bus id for this device")
    if bus_id is not None:
        handle = r.call(None, "nvmlDeviceGetHandleByPciBusId", nvml_bus_id(bus_id).encode())
        uuid = handle if isinstance(handle, NA) else _text(r.call(None, "nvmlDeviceGetUUID", handle))
    identity = NvmlIdentity(
        driver_version=str_or_na(_text(r.call(None, "nvmlSystemGetDriverVersion")), "driver version"),
        cuda_driver_version=str_or_na(
            _cuda_version(r.call(None, "nvmlSystemGetCudaDriverVersion")), "CUDA driver version"
        ),
        gpu_uuid=str_or_na(uuid, "UUID"),
    )
    with contextlib.suppress(Exception):
        nv.nvmlShutdown()
    return identity


@dataclass(frozen=True)
class NvmlReading:
    """What `read_nvml_reading` saw: the fields per GPU, warnings, and whether NVML started at all
    (False: pynvml missing or nvmlInit failed, and warnings[0] says why)."""

    fields: dict[str, NvmlGpu]
    warnings: list[str]
    started: bool
    # why no CUDA program can use the driver now (a driver/library mismatch, the kernel driver not
    # loaded): NVML fails the same way CUDA's own initialization would; None otherwise
    driver_unusable: str | None = None


def read_nvml(
    nvml_module: Any = None, record: dict[str, Any] | None = None
) -> tuple[dict[str, NvmlGpu], list[str]]:
    """NVML fields per GPU keyed by PCI bus id ("0000:17:00.0"), and warnings. Never raises.

    `nvml_module` is pynvml (imported here when None) or a `FakeNvml`; `record`, when given, is filled
    with a recording of every call (see the module docstring).
    """
    reading = read_nvml_reading(nvml_module, record)
    return reading.fields, reading.warnings


def read_nvml_reading(nvml_module: Any = None, record: dict[str, Any] | None = None) -> NvmlReading:
    """`read_nvml` with whether NVML started, for callers that word a missing NVML differently."""
    warnings: list[str] = []
    if nvml_module is None:
        try:
            nvml_module = _pynvml()
        except Exception as e:
            why = f"no NVML: the pynvml module (nvidia-ml-py) is not importable ({type(e).__name__})"
            return NvmlReading({}, [why], started=False)
    if record is not None:
        record.setdefault("format", RECORDING_FORMAT)
    try:
        nvml_module.nvmlInit()
    except Exception as e:
        v = _error_value(e)
        if record is not None:
            record["init"] = {"error": v, "message": str(e)[:200]}
        unusable = None
        if v == ERROR_LIB_RM_VERSION_MISMATCH:
            msg = "no NVML: driver/library version mismatch (the driver was upgraded: reboot or reload it)"
            unusable = "the NVIDIA driver and its user-space library differ (the driver was upgraded)"
        elif v == ERROR_LIBRARY_NOT_FOUND:
            msg = "no NVML: libnvidia-ml.so not found (no NVIDIA driver installed here)"
        elif v == ERROR_DRIVER_NOT_LOADED:
            msg = "no NVML: the NVIDIA kernel driver is not loaded"
            unusable = "the NVIDIA kernel driver is not loaded"
        else:
            msg = f"no NVML: nvmlInit failed ({_reason(e)})"
        return NvmlReading({}, [msg], started=False, driver_unusable=unusable)
    if record is not None:
        record["init"] = {"result": None}
    r = _Reader(nvml_module, record)
    out: dict[str, NvmlGpu] = {}
    try:
        system = {
            "driver_version": _text(r.call(None, "nvmlSystemGetDriverVersion")),
            "cuda_driver_version": _cuda_version(r.call(None, "nvmlSystemGetCudaDriverVersion")),
        }
        count = r.call(None, "nvmlDeviceGetCount")
        if isinstance(count, NA):
            return NvmlReading({}, [f"NVML could not count GPUs: {count.reason}"], started=True)
        for i in range(int(count)):
            bus_id, fields = _read_device(r, i, system)
            key = bus_id or f"nvml-index-{i}"
            out[key] = fields
            warnings.extend(device_warnings(key, fields))
    finally:
        with contextlib.suppress(Exception):
            nvml_module.nvmlShutdown()
    return NvmlReading(out, warnings, started=True)


# --------------------------------------------------------------------------------------------- replay
class NVMLError(Exception):
    """What FakeNvml raises: carries `.value` like pynvml.NVMLError."""

    def __init__(self, value: int | None, message: str = "") -> None:
        super().__init__(message or f"NVML error {value}")
        self.value = value


def _to_result(v: Any) -> Any:
    if isinstance(v, dict):
        return SimpleNamespace(**{k: _to_result(x) for k, x in v.items()})
    if isinstance(v, list):
        return tuple(_to_result(x) for x in v)
    return v


class FakeNvml:
    """A pynvml stand-in that replays a recording (JSON dict) through read_nvml's code path."""

    NVMLError = NVMLError

    def __init__(self, recording: dict[str, Any]) -> None:
        self._rec = recording

    @classmethod
    def from_file(cls, path: Path) -> FakeNvml:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @staticmethod
    def _answer(entry: dict[str, Any] | None) -> Any:
        if entry is None:
            raise NVMLError(None, "not in this recording")
        if "error" in entry:
            raise NVMLError(entry["error"], entry.get("message", ""))
        return _to_result(entry.get("result"))

    def _index_of_bus(self, bus_id: str | bytes) -> int:
        want = normalize_bus_id(bus_id)
        for i, dev in enumerate(self._rec.get("devices", [])):
            pci = (dev.get("nvmlDeviceGetPciInfo") or {}).get("result") or {}
            if isinstance(pci, dict) and normalize_bus_id(str(pci.get("busId", ""))) == want:
                return i
        raise NVMLError(6, "Not Found")

    def nvmlInit(self) -> None:
        self._answer(self._rec.get("init", {"result": None}))

    def nvmlShutdown(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("nvml"):
            raise AttributeError(name)
        rec = self._rec

        def fn(*args: Any) -> Any:
            if name.startswith("nvmlSystem") or name == "nvmlDeviceGetCount":
                return self._answer(rec.get("system", {}).get(name))
            if name == "nvmlDeviceGetHandleByPciBusId":
                return self._index_of_bus(args[0])
            if name == "nvmlDeviceGetHandleByIndex":
                idx = int(args[0])
                if idx >= len(rec.get("devices", [])):
                    raise NVMLError(2, "Invalid Argument")
                return self._answer(rec["devices"][idx].get(name, {"result": idx}))
            idx = int(args[0])  # handles are device indices in a replay
            key = ":".join([name, *(str(a) for a in args[1:])])
            return self._answer(rec.get("devices", [])[idx].get(key))

        return fn
