"""Parse saved `nvidia-smi -q` text into the same per-GPU NVML field dicts that detect reads live.

`nvidia-smi -q` is what people paste into bug reports and what a fleet's health scripts already log,
so `hwbench check --nvidia-smi-q FILE` can gate on it, and the tests replay real recordings of a
throttling card, a degraded link and ECC errors through the very checks a live run uses.
Pure functions of text; a field nvidia-smi prints as "N/A" becomes `NA(...)`, a missing one is absent.
Excerpts work too (a grep of one section, behind a shell prompt): whatever is there is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hwbench.detect.nvml import CLOCK_EVENTS, normalize_bus_id
from hwbench.errors import InputError
from hwbench.model import NA, Gpu, NvmlGpu

_GPU_HEADER = re.compile(r"^\s*GPU\s+([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])\s*$")
_KV = re.compile(r"^(\s*)([^:]+?)\s*:\s?(.*)$")

# nvidia-smi's labels (both the old "Clocks Throttle Reasons" and the newer "Clocks Event Reasons"
# sections) -> NVML's reason names, from the one clock-event table.
REASON_NAMES = {label: name for _, name, label, _ in CLOCK_EVENTS}


@dataclass
class _Node:
    value: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)

    def get(self, *path: str) -> _Node | None:
        node: _Node | None = self
        for p in path:
            if node is None:
                return None
            node = node.children.get(p.lower())
        return node

    def text(self, *path: str) -> str | None:
        n = self.get(*path)
        return None if n is None else n.value


@dataclass(frozen=True)
class SmiLog:
    """One `nvidia-smi -q` output: the global fields and one NVML-like dict per GPU, in order."""

    driver_version: str | None
    cuda_version: str | None
    gpus: tuple[tuple[str, dict[str, Any]], ...]  # (pci bus id "0000:18:00.0", fields)


def _tree(lines: list[str]) -> _Node:
    """Indentation -> nested nodes; a line without a value opens a section."""
    root = _Node()
    stack: list[tuple[int, _Node]] = [(-1, root)]
    for raw in lines:
        line = raw.rstrip()
        m = _KV.match(line)
        if m:
            indent, key, value = len(m.group(1)), m.group(2).strip(), m.group(3).strip()
        elif line.strip() in ("...", "[...]", "…"):
            continue  # an elision in a pasted excerpt, not a section
        elif line.strip():
            indent, key, value = len(line) - len(line.lstrip()), line.strip(), ""
        else:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else root
        node = _Node(value if value != "" else None)
        parent.children.setdefault(key.lower(), node)
        stack.append((indent, node))
    return root


def _na(value: str | None, what: str) -> Any:
    return NA(f"nvidia-smi printed N/A for {what}") if value is not None and value.upper() == "N/A" else None


def _int(value: str | None, what: str, suffix: str = "") -> Any:
    if value is None:
        return None
    na = _na(value, what)
    if na is not None:
        return na
    v = value.strip()
    if suffix and v.lower().endswith(suffix):
        v = v[: -len(suffix)].strip()
    try:
        return int(v, 0) if v.lower().startswith("0x") else int(float(v))
    except ValueError:
        return NA(f"nvidia-smi printed {value!r} for {what}")


def _float(value: str | None, what: str, unit: str) -> Any:
    if value is None:
        return None
    na = _na(value, what)
    if na is not None:
        return na
    v = value.strip()
    if v.endswith(unit):
        v = v[: -len(unit)].strip()
    try:
        return float(v)
    except ValueError:
        return NA(f"nvidia-smi printed {value!r} for {what}")


def _sum_counters(section: _Node | None, match: str, what: str) -> Any:
    """Sum the counters in an ECC section whose label contains `match` (SRAM + DRAM, old and new)."""
    if section is None:
        return None
    total, seen, na = 0, False, None
    for label, node in section.children.items():
        if node.children:  # old layout: Volatile > Double Bit > Total
            continue
        if match in label and "threshold" not in label:
            v = _int(node.value, what)
            if isinstance(v, int):
                total, seen = total + v, True
            elif isinstance(v, NA):
                na = v
    if seen:
        return total
    return na


def _ecc(gpu: _Node, timescale: str, kind: str) -> Any:
    section = gpu.get("ECC Errors", timescale)
    what = f"ECC {timescale.lower()} {'uncorrectable' if kind == 'uncorr' else 'correctable'} errors"
    if section is None:
        return None
    # Older drivers: "Single Bit" / "Double Bit" subsections each with a "Total".
    old = section.get("Double Bit" if kind == "uncorr" else "Single Bit", "Total")
    if old is not None:
        return _int(old.value, what)
    return _sum_counters(section, "uncorrectable" if kind == "uncorr" else " correctable", what)


def _reasons(gpu: _Node) -> Any:
    section = gpu.get("Clocks Event Reasons") or gpu.get("Clocks Throttle Reasons")
    if section is None:
        return None
    active: list[str] = []

    def walk(node: _Node) -> None:
        for label, child in node.children.items():
            if (child.value or "").strip().lower() == "active":
                active.append(REASON_NAMES.get(label, label.replace(" ", "_")))
            walk(child)

    walk(section)
    return active


def _gpu_fields(gpu: _Node, driver: str | None, cuda: str | None, bus_id: str) -> dict[str, Any]:
    f: dict[str, Any] = {"pci_bus_id": bus_id, "source": "nvidia-smi -q"}

    def put(key: str, value: Any) -> None:
        if value is not None:
            f[key] = value

    put("name", gpu.text("Product Name"))
    put("uuid", gpu.text("GPU UUID"))
    put("driver_version", driver)
    put("cuda_driver_version", cuda)
    dev = gpu.text("PCI", "Device Id")
    if dev and dev.lower().startswith("0x") and len(dev) == 10:
        put("pci_device_id", f"0x{dev[2:6].lower()}")
    put("memory_total_bytes", _mib(gpu.text("FB Memory Usage", "Total")))
    link = gpu.get("PCI", "GPU Link Info")
    if link is not None:
        put("pcie_gen_current", _int(link.text("PCIe Generation", "Current"), "PCIe generation"))
        put("pcie_gen_max", _int(link.text("PCIe Generation", "Max"), "PCIe max generation"))
        put("pcie_width_current", _int(link.text("Link Width", "Current"), "PCIe link width", "x"))
        put("pcie_width_max", _int(link.text("Link Width", "Max"), "PCIe max link width", "x"))
    put("clock_event_reasons", _reasons(gpu))
    put("performance_state", gpu.text("Performance State"))
    put("sm_clock_mhz", _int(gpu.text("Clocks", "SM"), "SM clock", "mhz"))
    put("sm_clock_max_mhz", _int(gpu.text("Max Clocks", "SM"), "SM max clock", "mhz"))
    put("temperature_c", _int(gpu.text("Temperature", "GPU Current Temp"), "GPU temperature", "c"))
    power = gpu.get("GPU Power Readings") or gpu.get("Power Readings")
    if power is not None:
        put("power_draw_w", _float(power.text("Power Draw"), "power draw", "W"))
        limit = power.text("Current Power Limit") or power.text("Power Limit")
        put("power_limit_w", _float(limit, "power limit", "W"))
    mode = gpu.text("ECC Mode", "Current")
    put(
        "ecc_mode_current",
        mode.lower() == "enabled" if mode and mode.upper() != "N/A" else _na(mode, "ECC mode"),
    )
    put("ecc_uncorrected_volatile", _ecc(gpu, "Volatile", "uncorr"))
    put("ecc_uncorrected_aggregate", _ecc(gpu, "Aggregate", "uncorr"))
    put("ecc_corrected_volatile", _ecc(gpu, "Volatile", "corr"))
    put(
        "remapped_rows_uncorrectable", _int(gpu.text("Remapped Rows", "Uncorrectable Error"), "remapped rows")
    )
    put("remapped_rows_pending", gpu.text("Remapped Rows", "Pending"))
    mig = gpu.text("MIG Mode", "Current")
    put(
        "mig_mode_current", mig.lower() == "enabled" if mig and mig.upper() != "N/A" else _na(mig, "MIG mode")
    )
    return f


def _mib(value: str | None) -> Any:
    if value is None:
        return None
    v = _int(value, "memory total", "mib")
    return v * 1024 * 1024 if isinstance(v, int) else v


def parse_nvidia_smi_q(text: str) -> SmiLog:
    """Parse `nvidia-smi -q` (whole or an excerpt). Raises InputError when no GPU section is found."""
    lines = text.splitlines()
    header = _tree([ln for ln in lines[:40] if not ln.startswith(" ") and ":" in ln])
    starts = [(i, m.group(1)) for i, ln in enumerate(lines) if (m := _GPU_HEADER.match(ln))]
    if not starts:
        raise InputError(
            "no 'GPU 00000000:xx:00.0' section found: is this `nvidia-smi -q` output?",
            hint="save it with: nvidia-smi -q > smi.txt",
        )
    driver = header.text("Driver Version")
    cuda = header.text("CUDA Version") or header.text("CUDA Driver Version")
    gpus: list[tuple[str, dict[str, Any]]] = []
    for n, (i, bus) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body = [ln for ln in lines[i + 1 : end]]
        tree = _tree(body)
        bus_id = normalize_bus_id(bus)
        gpus.append((bus_id, _gpu_fields(tree, driver, cuda, bus_id)))
    return SmiLog(driver, cuda, tuple(gpus))


def gpus_from_smi(log: SmiLog) -> tuple[Gpu, ...]:
    """Gpu records for the GPUs of a parsed log (vendor from the fact that nvidia-smi listed them)."""
    out: list[Gpu] = []
    for bus_id, f in log.gpus:
        nvml = NvmlGpu.from_fields(f, str(f.get("source", "nvidia-smi")))
        name = nvml.name if isinstance(nvml.name, str) else "NVIDIA GPU"
        out.append(
            Gpu(
                pci_slot=bus_id,
                vendor="nvidia",
                kind="discrete",
                name=str(name),
                vendor_id="0x10de",
                device_id=nvml.pci_device_id if isinstance(nvml.pci_device_id, str) else "0x0000",
                pci_class="0x030200",
                kind_evidence="listed by nvidia-smi -q",
                driver="nvidia",
                nvml=nvml,
            )
        )
    return tuple(out)


_BUS = re.compile(r"([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])")


def parse_nvidia_smi_table(text: str) -> SmiLog:
    """Parse the default `nvidia-smi` table (the one everyone pastes): per GPU its name (as truncated
    there), bus id, volatile uncorrectable ECC count, memory, temperature, P-state and power."""
    lines = [ln.strip() for ln in text.splitlines()]
    driver = cuda = None
    m = re.search(r"Driver Version:\s*([\d.]+)", text)
    if m:
        driver = m.group(1)
    m = re.search(r"CUDA Version:\s*([\d.]+)", text)
    if m:
        cuda = m.group(1)
    gpus: list[tuple[str, dict[str, Any]]] = []
    for i, ln in enumerate(lines):
        cells = [c.strip() for c in ln.strip("|").split("|")] if ln.startswith("|") else []
        if len(cells) < 3 or not (b := _BUS.search(cells[1])):
            continue
        head = re.match(r"^(\d+)\s+(.*?)\s+(On|Off)$", cells[0])
        if not head:
            continue
        bus_id = normalize_bus_id(b.group(1))
        f: dict[str, Any] = {"pci_bus_id": bus_id, "source": "nvidia-smi (table)"}
        f["index"] = int(head.group(1))
        f["name"] = head.group(2).strip()
        if driver:
            f["driver_version"] = driver
        if cuda:
            f["cuda_driver_version"] = cuda
        ecc = cells[2]
        f["ecc_uncorrected_volatile"] = (
            int(ecc) if ecc.isdigit() else NA(f"nvidia-smi printed {ecc!r} for Volatile Uncorr. ECC")
        )
        if ecc.upper() == "N/A":
            f["ecc_mode_current"] = NA(
                "nvidia-smi printed N/A for Volatile Uncorr. ECC (ECC off or unsupported)"
            )
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        cells2 = [c.strip() for c in nxt.strip("|").split("|")]
        if len(cells2) >= 2:
            t = re.search(r"(\d+)C\b", cells2[0])
            if t:
                f["temperature_c"] = int(t.group(1))
            p = re.search(r"\b(P\d+)\b", cells2[0])
            if p:
                f["performance_state"] = p.group(1)
            w = re.search(r"(\S+?)W?\s*/\s*(\d+)W", cells2[0])
            if w:
                draw = w.group(1).rstrip("W")
                f["power_draw_w"] = float(draw) if draw.replace(".", "").isdigit() else NA("N/A in table")
                f["power_limit_w"] = float(w.group(2))
            mem = re.search(r"(\d+)MiB\s*/\s*(\d+)MiB", cells2[1])
            if mem:
                f["memory_total_bytes"] = int(mem.group(2)) * 1024 * 1024
        gpus.append((bus_id, f))
    if not gpus:
        raise InputError(
            "no GPU rows found: is this the `nvidia-smi` table?",
            hint="save it with: nvidia-smi -q > smi.txt (or the plain `nvidia-smi` table)",
        )
    return SmiLog(driver, cuda, tuple(gpus))


def parse_nvidia_smi(text: str) -> SmiLog:
    """Either form: `nvidia-smi -q` sections when present, else the default table."""
    if any(_GPU_HEADER.match(ln) for ln in text.splitlines()):
        return parse_nvidia_smi_q(text)
    return parse_nvidia_smi_table(text)
