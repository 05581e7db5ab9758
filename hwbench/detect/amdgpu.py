"""AMD GPU telemetry: the one place hwbench reads it, from amdsmi where installed, else from the amdgpu
driver's sysfs files under /sys/bus/pci/devices/<slot>/ (what /sys/class/drm/card*/device/ links to).

Fields use the NVML names (`sm_clock_mhz`, `power_draw_w`, `pcie_gen_current`...) so the run monitor and the
checks read both vendors alike; a file that is absent or unreadable is NA(reason) for that field alone.
`dump_amdgpu` records the files (detect --dump); `read_amdgpu(root=dump)` replays them.

Files (Documentation/gpu/amdgpu/thermal.rst and driver-misc.rst in the Linux tree):
  gpu_busy_percent "87" -> utilization_pct
  pp_dpm_sclk "0: 500Mhz\\n1: 2100Mhz *" (the starred level is current) -> sm_clock_mhz, sm_clock_max_mhz
  hwmon/hwmon*/power1_average or power1_input (µW), power1_cap (µW) -> power_draw_w, power_limit_w
  hwmon/hwmon*/temp1_input (m°C, "edge"; without it temp2, "junction") -> temperature_c
  mem_info_vram_total, mem_info_vram_used (bytes) -> memory_total_bytes, memory_used_bytes
  current_link_speed "32.0 GT/s PCIe", current_link_width "16", max_link_speed, max_link_width -> pcie_*
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwbench.errors import one_line
from hwbench.model import NA, GpuTelemetry

SYSFS_PCI = "sys/bus/pci/devices"
FILES = (
    "gpu_busy_percent",
    "pp_dpm_sclk",
    "mem_info_vram_total",
    "mem_info_vram_used",
    "current_link_speed",
    "current_link_width",
    "max_link_speed",
    "max_link_width",
)
HWMON_FILES = ("power1_average", "power1_input", "power1_cap", "temp1_input", "temp2_input", "name")

# PCIe transfer rate per lane -> generation (PCI Express Base Specification)
_GT_PER_GEN = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}


def parse_dpm(text: str) -> tuple[int | NA, int | NA]:
    """pp_dpm_sclk -> (current MHz, highest level MHz). The current level carries a '*'."""
    levels: list[tuple[int, bool]] = []
    for line in text.splitlines():
        m = re.match(r"\s*\d+:\s*(\d+)\s*mhz\s*(\*)?", line, re.IGNORECASE)
        if m:
            levels.append((int(m.group(1)), m.group(2) is not None))
    if not levels:
        return NA("pp_dpm_sclk has no levels"), NA("pp_dpm_sclk has no levels")
    current = next((mhz for mhz, star in levels if star), None)
    top = max(mhz for mhz, _ in levels)
    return (current if current is not None else NA("no level marked current in pp_dpm_sclk")), top


def link_gen(text: str) -> int | NA:
    """ "32.0 GT/s PCIe" -> 5."""
    m = re.match(r"\s*([\d.]+)\s*GT/s", text)
    if m is None:
        return NA(f"unreadable link speed {text.strip()!r}")
    gen = _GT_PER_GEN.get(float(m.group(1)))
    return gen if gen is not None else NA(f"unknown PCIe rate {m.group(1)} GT/s")


def _read(path: Path) -> str | NA:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return NA(f"{path.name}: {e.strerror or 'unreadable'}")


def _int(text: str | NA, scale: float = 1.0) -> Any:
    if isinstance(text, NA):
        return text
    try:
        v = int(text.strip())
    except ValueError:
        return NA(f"not a number: {text.strip()[:40]!r}")
    return v if scale == 1.0 else round(v * scale, 3)


def _hwmon(dev: Path) -> Path | None:
    try:
        return next(iter(sorted((dev / "hwmon").glob("hwmon*"))), None)
    except OSError:
        return None


def read_amdgpu(slot: str, root: Path = Path("/")) -> GpuTelemetry:
    """One reading of the sysfs telemetry of the amdgpu device at `slot` ("0000:0c:00.0"), as detect
    records it (t_s 0: a snapshot, not a sample in a series); NA per unreadable field."""
    f = _sysfs_fields(slot, root)
    return GpuTelemetry.from_fields(f, 0.0, str(f["source"]))


def _sysfs_fields(slot: str, root: Path) -> dict[str, Any]:
    """amdgpu's sysfs files under detect's field names; NA per unreadable file."""
    dev = Path(root) / SYSFS_PCI / slot
    f: dict[str, Any] = {"source": "amdgpu sysfs"}
    f["utilization_pct"] = _int(_read(dev / "gpu_busy_percent"))
    dpm = _read(dev / "pp_dpm_sclk")
    f["sm_clock_mhz"], f["sm_clock_max_mhz"] = (dpm, dpm) if isinstance(dpm, NA) else parse_dpm(dpm)
    f["memory_total_bytes"] = _int(_read(dev / "mem_info_vram_total"))
    f["memory_used_bytes"] = _int(_read(dev / "mem_info_vram_used"))
    for key, name in (("pcie_gen_current", "current_link_speed"), ("pcie_gen_max", "max_link_speed")):
        text = _read(dev / name)
        f[key] = text if isinstance(text, NA) else link_gen(text)
    f["pcie_width_current"] = _int(_read(dev / "current_link_width"))
    f["pcie_width_max"] = _int(_read(dev / "max_link_width"))
    hw = _hwmon(dev)
    if hw is None:
        na = NA("no hwmon directory (amdgpu not bound, or a container without it)")
        f["power_draw_w"] = f["power_limit_w"] = f["temperature_c"] = na
        return f
    power = _read(hw / "power1_average")
    if isinstance(power, NA):  # newer kernels on RDNA3/CDNA3 offer power1_input only
        power = _read(hw / "power1_input")
    f["power_draw_w"] = _int(power, 1e-6)
    f["power_limit_w"] = _int(_read(hw / "power1_cap"), 1e-6)
    temp = _int(_read(hw / "temp1_input"), 1e-3)
    if isinstance(temp, NA):
        temp = _int(_read(hw / "temp2_input"), 1e-3)
    f["temperature_c"] = temp
    return f


def _amdsmi() -> Any:
    """amdsmi (ROCm's Python bindings), the one import of it in hwbench; None when not installed."""
    try:
        import amdsmi

        amdsmi.amdsmi_init()
    except Exception:
        return None
    return amdsmi


def _amdsmi_fields(smi: Any, slot: str) -> dict[str, Any] | None:
    """What amdsmi gives for the GPU at `slot`, NA per failing call; None when it does not list the GPU."""
    try:
        handle = smi.amdsmi_get_processor_handle_from_bdf(slot)
    except Exception:
        return None

    def call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as e:  # one field, never the run
            return NA(f"amdsmi: {one_line(e, 152)}")

    f: dict[str, Any] = {"source": "amdsmi"}
    act = call(lambda: smi.amdsmi_get_gpu_activity(handle))
    f["utilization_pct"] = act if isinstance(act, NA) else act.get("gfx_activity", NA("no gfx_activity"))
    clk = call(lambda: smi.amdsmi_get_clock_info(handle, smi.AmdSmiClkType.GFX))
    f["sm_clock_mhz"] = clk if isinstance(clk, NA) else clk.get("clk", NA("no clk"))
    f["sm_clock_max_mhz"] = clk if isinstance(clk, NA) else clk.get("max_clk", NA("no max_clk"))
    power = call(lambda: smi.amdsmi_get_power_info(handle))
    if isinstance(power, NA):
        f["power_draw_w"] = power
    else:  # cards without a current reading give "N/A" there and the average beside it
        f["power_draw_w"] = next(
            (v for k in ("current_socket_power", "average_socket_power") if _number(v := power.get(k))),
            NA("amdsmi: no socket power"),
        )
    return f


def merge_readings(sysfs: dict[str, Any], smi: dict[str, Any] | None) -> dict[str, Any]:
    """amdsmi's answers over sysfs's, field by field, but never its "N/A" (or an error) over a reading
    sysfs has; the source names both when amdsmi gave anything."""
    answered = {k: v for k, v in (smi or {}).items() if k != "source" and _number(v)}
    if not answered:
        return sysfs
    return {**sysfs, **answered, "source": "amdsmi + amdgpu sysfs"}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def open_sampler(slot: str, root: Path = Path("/")) -> Callable[[], GpuTelemetry] | None:
    """A function reading one AMD GPU's live telemetry: amdsmi's fields over sysfs ones where it answers;
    None when neither knows the GPU."""
    dev = Path(root) / SYSFS_PCI / slot
    if not (dev / "pp_dpm_sclk").exists() and not (dev / "gpu_busy_percent").exists():
        return None
    smi = _amdsmi() if root == Path("/") else None

    def sample() -> GpuTelemetry:
        f = merge_readings(_sysfs_fields(slot, root), _amdsmi_fields(smi, slot) if smi is not None else None)
        return GpuTelemetry.from_fields(f, time.monotonic(), str(f["source"]))

    return sample


def dump_amdgpu(root: Path, dest: Path, slots: list[str]) -> None:
    """Copy the telemetry files of the AMD GPUs at `slots` from root into dest (same layout)."""
    for slot in slots:
        src = Path(root) / SYSFS_PCI / slot
        out = Path(dest) / SYSFS_PCI / slot
        for name in FILES:
            text = _read(src / name)
            if not isinstance(text, NA):
                out.mkdir(parents=True, exist_ok=True)
                (out / name).write_text(text, encoding="utf-8")
        hw = _hwmon(src)
        if hw is None:
            continue
        for name in HWMON_FILES:
            text = _read(hw / name)
            if not isinstance(text, NA):
                (out / "hwmon" / hw.name).mkdir(parents=True, exist_ok=True)
                (out / "hwmon" / hw.name / name).write_text(text, encoding="utf-8")
