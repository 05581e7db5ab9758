"""GPU peaks: the table in data/gpus.csv, identification from the names NVML and torch print, and an
estimate (units x per-unit rate x clock) for GPUs the table does not know.

Identification never uses substring matches: a name is normalised and compared whole against every row's
names and aliases ("L4" can never catch "L40S"); ambiguity is settled by PCI device id, then SM/CU count,
then compute capability, and if it is still ambiguous no row is chosen.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from hwbench.datafile import read_table
from hwbench.errors import InputError
from hwbench.peaks.types import DTYPES, DevicePeak

_DATA = Path(__file__).with_name("data")
Fp64Source = Literal["tensor", "computed", ""]  # gpus.csv fp64_source
FP64_SOURCES: tuple[Fp64Source, ...] = ("tensor", "computed", "")


@dataclass(frozen=True)
class GpuRow:
    model: str
    names: tuple[str, ...]
    aliases: tuple[str, ...]
    vendor: str
    arch: str
    cc: tuple[int, int] | None
    pci_ids: tuple[tuple[int, int], ...]  # (vendor_id, device_id)
    units: int | None
    clock_mhz: float | None
    peaks: dict[str, float | None]
    fp16_acc16: float | None
    mem_bw_gbps: float | None
    consumer: bool
    estimated: bool
    source: str
    notes: tuple[str, ...]
    # dtypes the hardware cannot run ("-" cells); a dtype with no figure and not here is unpublished
    no_path: tuple[str, ...] = ()
    fp64_source: Fp64Source = ""  # "tensor": FP64 Tensor Core rate; "computed": from fp32, not datasheet


@dataclass(frozen=True)
class ArchRate:
    vendor: str
    cc: tuple[int, int]
    arch: str
    segment: str  # "datacenter" | "consumer"
    per_unit: dict[str, float | None]  # FLOP per clock per SM/CU
    derived_from: str


@dataclass(frozen=True)
class Lookup:
    """What identification found: exactly one row, or why not."""

    row: GpuRow | None
    how: str  # "name", "name + device id", "device id", ...
    candidates: tuple[GpuRow, ...] = ()
    reason: str | None = None  # why no row (unknown / ambiguous / mismatch)


def _float(cell: str) -> float | None:
    """A figure; "" (no published figure) and "-" (no path in the hardware) are both None."""
    cell = cell.strip()
    return float(cell) if cell and cell != "-" else None


def _cc(cell: str) -> tuple[int, int] | None:
    cell = cell.strip()
    if not cell:
        return None
    major, _, minor = cell.partition(".")
    return int(major), int(minor or 0)


def _csv_rows(filename: str) -> list[dict[str, str]]:
    return read_table(_DATA / filename)


def _fp64_source(cell: str, model: str) -> Fp64Source:
    value = cell.strip()
    for known in FP64_SOURCES:
        if value == known:
            return known
    raise ValueError(f"gpus.csv {model}: fp64_source {value!r} is not tensor, computed or empty")


def _split(cell: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in cell.split("|") if p.strip())


@lru_cache(maxsize=1)
def gpu_table() -> tuple[GpuRow, ...]:
    rows = []
    for r in _csv_rows("gpus.csv"):
        pci = []
        for item in _split(r["pci_ids"]):
            v, _, d = item.partition(":")
            pci.append((int(v, 16), int(d, 16)))
        rows.append(
            GpuRow(
                model=r["model"],
                names=_split(r["names"]),
                aliases=_split(r["aliases"]),
                vendor=r["vendor"],
                arch=r["arch"],
                cc=_cc(r["cc"]),
                pci_ids=tuple(pci),
                units=int(r["units"]) if r["units"].strip() else None,
                clock_mhz=_float(r["clock_mhz"]),
                peaks={d: _float(r[d]) for d in DTYPES},
                fp16_acc16=_float(r["fp16_acc16"]),
                mem_bw_gbps=_float(r["mem_bw_gbps"]),
                consumer=r["consumer"].strip() == "yes",
                estimated=r["estimated"].strip() == "yes",
                source=r["source"].strip(),
                notes=tuple(n.strip() for n in r["notes"].split(";") if n.strip()),
                no_path=tuple(d for d in DTYPES if r[d].strip() == "-"),
                fp64_source=_fp64_source(r["fp64_source"], r["model"]),
            )
        )
    return tuple(rows)


@lru_cache(maxsize=1)
def arch_rates() -> tuple[ArchRate, ...]:
    out = []
    for r in _csv_rows("gpu_arch_rates.csv"):
        cc = _cc(r["cc"])
        assert cc is not None
        out.append(
            ArchRate(
                vendor=r["vendor"],
                cc=cc,
                arch=r["arch"],
                segment=r["segment"],
                per_unit={d: _float(r[d]) for d in DTYPES},
                derived_from=r["derived_from"],
            )
        )
    return tuple(out)


_VENDOR_WORDS = ("nvidia", "amd", "intel", "apple")
_DECORATION = re.compile(r"\((?:tm|r)\)")


def normalize_name(name: str) -> str:
    """Lower-case, drop (TM)/(R), treat '-', '_' and runs of spaces alike: 'NVIDIA A100-SXM4-40GB' ->
    'nvidia a100 sxm4 40gb'. Whole-string comparison only; never used for substring tests."""
    s = _DECORATION.sub(" ", name.lower())
    s = re.sub(r"[-_/,]+", " ", s)
    return " ".join(s.split())


def _keys(name: str) -> set[str]:
    """The normalised name, and the same without a leading vendor word ('nvidia h100 pcie' -> 'h100 pcie')."""
    n = normalize_name(name)
    keys = {n}
    first, _, rest = n.partition(" ")
    if first in _VENDOR_WORDS and rest:
        keys.add(rest)
    return keys


@lru_cache(maxsize=1)
def _name_index() -> dict[str, tuple[GpuRow, ...]]:
    index: dict[str, list[GpuRow]] = {}
    for row in gpu_table():
        keys: set[str] = set()
        for n in (row.model, *row.names, *row.aliases):
            keys |= _keys(n)
        for k in keys:
            index.setdefault(k, []).append(row)
    return {k: tuple(v) for k, v in index.items()}


def identify(
    name: str | None,
    device_id: int | None = None,
    sm_count: int | None = None,
    compute_capability: tuple[int, int] | None = None,
    vendor_id: int | None = None,
) -> Lookup:
    """Find the table row for a GPU: exact name/alias first, then PCI device id, each candidate checked
    against SM count and compute capability where those are known."""
    candidates: tuple[GpuRow, ...] = ()
    how = ""
    if name:
        index = _name_index()
        found: dict[str, GpuRow] = {}
        for k in _keys(name):
            for row in index.get(k, ()):
                found[row.model] = row
        candidates = tuple(found.values())
        how = "name"
    if not candidates and device_id is not None:
        candidates = tuple(
            row
            for row in gpu_table()
            if any(d == device_id and (vendor_id is None or v == vendor_id) for v, d in row.pci_ids)
        )
        how = "PCI device id"
    if not candidates:
        what = f"'{name}'" if name else f"device id 0x{device_id:04x}" if device_id is not None else "?"
        return Lookup(None, how, reason=f"no peak known for {what}")

    def narrow(rows: tuple[GpuRow, ...], keep: list[GpuRow], label: str) -> tuple[tuple[GpuRow, ...], str]:
        """Keep the matching rows; a hint that matches none is ignored rather than emptying the set."""
        return (tuple(keep), label) if keep else (rows, "")

    steps = [how]
    if len(candidates) > 1 and device_id is not None:
        keep = [r for r in candidates if any(d == device_id for _, d in r.pci_ids)]
        candidates, s = narrow(candidates, keep, "PCI device id")
        steps.append(s)
    if len(candidates) > 1 and sm_count is not None:
        keep = [r for r in candidates if r.units == sm_count]
        candidates, s = narrow(candidates, keep, "SM/CU count")
        steps.append(s)
    if len(candidates) > 1 and compute_capability is not None:
        keep = [r for r in candidates if r.cc == compute_capability]
        candidates, s = narrow(candidates, keep, "compute capability")
        steps.append(s)
    how = " + ".join(s for s in steps if s)
    if len(candidates) > 1:
        models = ", ".join(r.model for r in candidates)
        what = f"'{name}'" if name else f"device id 0x{device_id:04x}" if device_id is not None else "?"
        return Lookup(None, how, candidates, reason=f"{what} is ambiguous: {models}")
    row = candidates[0]
    # A named row whose compute capability contradicts the device is not that device.
    if compute_capability is not None and row.cc is not None and row.cc != compute_capability:
        return Lookup(
            None,
            how,
            candidates,
            reason=f"'{name}' matches {row.model} (cc {row.cc[0]}.{row.cc[1]}) but the device reports "
            f"cc {compute_capability[0]}.{compute_capability[1]}",
        )
    return Lookup(row, how, candidates)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


# What a row's `units` count, by vendor (the word a scaled part's name and notes use).
_UNIT_WORDS = {"nvidia": "SMs", "amd": "CUs", "intel": "Xe-cores", "apple": "GPU cores"}
# A unit count in a name: Apple's "(40-core)" (the table), "(30-core)" (detect), a partition's
# "(38 of 304 CUs)" (peaks).
_SUFFIX = re.compile(r"^(.*?)\s*\(([^()]*)\)$")
_NAMED_UNITS = re.compile(
    r"^(\d+)(?:(?P<core>[- ]core)| of \d+ (?:SMs|CUs|Xe-cores|GPU cores))$", re.IGNORECASE
)


def _split_suffix(name: str) -> tuple[str, int | None, bool]:
    """(the name without a trailing die or unit count, that count if any, whether it was an Apple-style
    "N-core"). Only those two are taken off: "(Laptop)" or "(12GB)" names another card, so such a name
    is looked up whole. A count of 0 is an InputError (no part has none)."""
    m = _SUFFIX.match(name.strip())
    c = _NAMED_UNITS.match(m.group(2).strip()) if m is not None and m.group(1) else None
    if m is None or c is None:
        from hwbench.detect.pciids import split_die

        return split_die(name)[0], None, False
    n = int(c.group(1))
    if n <= 0:
        raise InputError(
            f"{name!r}: a part with {n} units has no peak", hint="give the unit count the device reports"
        )
    return m.group(1), n, c.group("core") is not None


def scaled_name(row: GpuRow, units: int) -> str:
    """The name of a part with `units` of the row's units: 'Apple M3 Max GPU (30-core)' for a binned Apple
    GPU (as `hwbench detect` names it), 'AMD Instinct MI300X (38 of 304 CUs)' for a partition."""
    base, _, apple_form = _split_suffix(row.model)
    if apple_form:
        return f"{base} ({units}-core)"
    return f"{row.model} ({units} of {row.units} {_UNIT_WORDS.get(row.vendor, 'units')})"


def _row_peak(row: GpuRow, lookup: Lookup, sm_count: int | None, device: str) -> DevicePeak:
    peaks = dict(row.peaks)
    notes = list(row.notes)
    estimated = row.estimated
    source = row.source
    notes.insert(0, f"identified as {row.model} by {lookup.how}")
    if row.consumer and row.fp16_acc16 is not None:
        notes.append(
            f"bf16/fp16 = FP32-accumulate tensor rate {_fmt(row.peaks['bf16'] or 0)} "
            f"(FP16-accumulate rate {_fmt(row.fp16_acc16)} is not what training uses)"
        )
    units = row.units
    name = row.model
    mem_bw = row.mem_bw_gbps
    if sm_count is not None and row.units is not None and sm_count > row.units:
        # more units than the listed part: nothing is scaled up (never above a listed sibling)
        notes.append(
            f"{sm_count} {_UNIT_WORDS.get(row.vendor, 'units')} given, more than the {row.model}'s "
            f"{row.units}: its figures are kept (a part is never estimated above the listed one)"
        )
    elif sm_count is not None and row.units is not None and sm_count != row.units:
        # A binned or partitioned part (30-core M3 Max, 7-core M1, a CU partition of an AMD GPU): same
        # per-unit rate, fewer units. The row's name and memory bandwidth are the full part's, not this
        # one's: the binned M3 Max has fewer memory channels too.
        scale = sm_count / row.units
        peaks = {d: (v * scale if v is not None else None) for d, v in peaks.items()}
        estimated = True
        word = _UNIT_WORDS.get(row.vendor, "SMs/CUs")
        notes.append(
            f"device reports {sm_count} {word}, the table row has {row.units}: figures scaled by "
            f"{sm_count}/{row.units} (estimated)"
        )
        if mem_bw is not None:
            notes.append(
                f"memory bandwidth of this part not known: the table's {mem_bw:g} GB/s is the {row.model}'s"
            )
            mem_bw = None
        name = scaled_name(row, sm_count)
        source = (
            f"{source}; figures x {sm_count}/{row.units}: this part has {sm_count} of the {row.units} {word}"
        )
        units = sm_count
    elif sm_count is None and row.vendor == "apple":
        # Apple sells each chip with fewer GPU cores too (a 30-core M3 Max): unread, the count is the row's
        estimated = True
        name = f"{_split_suffix(row.model)[0]} (GPU cores not read: the {row.units}-core part's figures)"
        notes.append(
            f"GPU core count not read (ioreg gpu-core-count): figures are the {row.units}-core part's; "
            "a part with fewer cores has a proportionally lower peak"
        )
    dtype_sources: dict[str, str] = {}
    base = (
        "estimated (no vendor datasheet)"
        if row.estimated
        else "computed from the spec page, dense"
        if row.source.startswith("computed")
        else "datasheet, dense"
    )
    for d, v in peaks.items():
        if v is None:
            dtype_sources[d] = "no path on this hardware" if d in row.no_path else "not published"
        elif d == "fp64" and row.fp64_source == "computed":
            dtype_sources[d] = "computed from the fp32 rate (not on the datasheet)"
        elif d == "fp64" and row.fp64_source == "tensor":
            dtype_sources[d] = f"{base}: FP64 Tensor Core"
        elif row.consumer and row.fp16_acc16 is not None and d in ("bf16", "fp16", "fp8"):
            dtype_sources[d] = f"{base}: FP32-accumulate tensor rate (GeForce half rate)"
        elif d in ("fp32", "fp64"):
            dtype_sources[d] = f"{base}: non-tensor" if row.vendor == "nvidia" else base
        else:
            dtype_sources[d] = f"{base}: tensor/matrix" if row.vendor != "apple" else base
        if units != row.units and v is not None:
            dtype_sources[d] += f", scaled to {units} units"
    return DevicePeak(
        device=device,
        name=name,
        peaks_tflops=peaks,
        source=source,
        estimated=estimated,
        notes=tuple(notes),
        clock_mhz=row.clock_mhz,
        clock_source=(
            None
            if not row.clock_mhz
            else "the clock the estimate assumes"
            if row.estimated
            else "boost clock the figures assume"
            if row.source.startswith("computed")
            else "boost clock the datasheet figures assume"
        ),
        memory_bandwidth_gbps=mem_bw,
        sm_count=units,
        dtype_sources=dtype_sources,
        computed=row.source.startswith("computed"),  # from a spec page's cores and clock, not a figure
    )


def _has_word(name: str, word: str) -> bool:
    return word in normalize_name(name).split()


def estimate_gpu_peak(
    name: str,
    vendor: str | None,
    sm_count: int | None,
    compute_capability: tuple[int, int] | None,
    clock_mhz: float | None,
    device: str = "gpu",
    clock_source: str = "reported by the device (NVML max SM clock)",
) -> DevicePeak | None:
    """units x per-unit rate of the architecture x clock; None when any of the three is unknown."""
    if vendor is None or sm_count is None or compute_capability is None or not clock_mhz:
        return None
    rates = [r for r in arch_rates() if r.vendor == vendor and r.cc == compute_capability]
    if not rates:
        return None
    # GeForce/Radeon cards run fp32-accumulate tensor math at half rate; the product line is read from the
    # name as a whole word (the vendor never is).
    consumer = _has_word(name, "geforce") or _has_word(name, "radeon")
    segment = "consumer" if consumer else "datacenter"
    rate = next((r for r in rates if r.segment == segment), rates[0])
    # NVML's max SM clock is above the clock datasheets rate tensor math at (H100 SXM: 1980 vs 1830 MHz).
    # A listed part of the same silicon (architecture and unit count) has that datasheet boost clock: an
    # unlisted variant (H800, a China SKU) is estimated at it and never above that part's figures.
    siblings = [
        r
        for r in gpu_table()
        if r.vendor == vendor and r.cc == compute_capability and r.units == sm_count and r.clock_mhz
    ]
    sibling_note = None
    if siblings:
        top = max(siblings, key=lambda r: r.clock_mhz or 0.0)
        if top.clock_mhz is not None and top.clock_mhz < clock_mhz:
            sibling_note = (
                f"clock {clock_mhz:.0f} MHz ({clock_source}) lowered to {top.clock_mhz:.0f} MHz, the "
                f"datasheet boost clock of {top.model}, a listed part of the same silicon ({sm_count} units)"
            )
            clock_mhz = top.clock_mhz
            clock_source = f"datasheet boost clock of {top.model} (same silicon)"
    peaks: dict[str, float | None] = {}
    dtype_sources: dict[str, str] = {}
    for d in DTYPES:
        per = rate.per_unit.get(d)
        peaks[d] = sm_count * per * clock_mhz * 1e6 / 1e12 if per is not None else None
        dtype_sources[d] = (
            f"estimated: {sm_count} x {per:g} FLOP/clk x {clock_mhz:.0f} MHz"
            if per is not None
            else "no path on this architecture"
        )
    formula = (
        f"{sm_count} units x per-unit rate of {rate.arch} cc {compute_capability[0]}.{compute_capability[1]} "
        f"({rate.segment}; derived from {rate.derived_from}) x {clock_mhz:.0f} MHz"
    )
    bf = rate.per_unit.get("bf16")
    notes = [
        f"'{name}' is not in the peak table: estimated",
        f"bf16 = {sm_count} x {bf:g} FLOP/clk x {clock_mhz:.0f} MHz" if bf else "no bf16 tensor path",
    ]
    if sibling_note:
        notes.append(sibling_note)
    capped = False
    for d in DTYPES:  # never above a listed part of the same silicon
        listed = [v for r in siblings if (v := r.peaks.get(d)) is not None]
        value = peaks.get(d)
        if listed and value is not None and value > max(listed):
            peaks[d] = max(listed)
            if value > max(listed) * 1.001:  # not just the rounding of the table's rate
                dtype_sources[d] += f" (capped at the listed same-silicon figure {max(listed):g})"
                capped = capped or d in ("bf16", "fp16", "fp8")
    if rate.segment == "datacenter" and vendor == "nvidia" and not capped:
        notes.append("assumes full-rate FP32 accumulate (a GeForce-class part runs tensor math at half this)")
    elif capped:  # the formula above gave more than a listed part of the same silicon: that part's figures
        notes.append(
            "the tensor figures are capped at a listed part of the same silicon (the formula above gave "
            "more): an unlisted part is never estimated above a listed one"
        )
    return DevicePeak(
        device=device,
        name=name,
        peaks_tflops=peaks,
        source=f"estimated: {formula}",
        estimated=True,
        notes=tuple(notes),
        clock_mhz=clock_mhz,
        clock_source=clock_source,
        sm_count=sm_count,
        dtype_sources=dtype_sources,
    )


def gpu_peak(
    name: str,
    device_id: int | None = None,
    sm_count: int | None = None,
    compute_capability: tuple[int, int] | None = None,
    clock_mhz: float | None = None,
    *,
    vendor: str | None = None,
    vendor_id: int | None = None,
    device: str = "gpu",
    clock_source: str = "reported by the device (NVML max SM clock)",
) -> DevicePeak | None:
    """The dense peak of a GPU from its name (as NVML/torch print it) and whatever else is known.

    Table row when identified; else an estimate when vendor, SM count, compute capability and clock are all
    known; else None (the caller says "no peak known" -- never an A100 default)."""
    mig = _MIG_NAME.match(name.strip())
    if mig is not None:
        compute = int(mig.group(2)) if mig.group(2) else None
        return mig_peak(
            mig.group(1), int(mig.group(3)), mig.group(4), name, device_id, sm_count, device, compute
        )
    # Names hwbench itself prints: "Apple M3 Max GPU (30-core)" (detect, a binned Apple part), "AMD
    # Instinct MI300X (38 of 304 CUs)" (peaks, a partition), "NVIDIA H100 80GB HBM3 (GH100)" (detect, the
    # die). The row is found without the parenthetical; a count in it is the unit count, unless the
    # device reported its own (and an Apple "-core" count only for an Apple row).
    base, named_units, core_form = _split_suffix(name)
    units = sm_count if sm_count is not None else named_units
    lookup = identify(name, device_id, units, compute_capability, vendor_id)
    if lookup.row is None and not lookup.candidates and base != name:
        lookup = identify(base, device_id, units, compute_capability, vendor_id)
    if lookup.row is not None:
        if sm_count is None and core_form and lookup.row.vendor != "apple":
            units = None  # "(12-core)" on an NVIDIA name counts nothing hwbench knows
        return _row_peak(lookup.row, lookup, units, device)
    return estimate_gpu_peak(name, vendor, sm_count, compute_capability, clock_mhz, device, clock_source)


_PCI_ID = re.compile(r"^(?:0x)?([0-9a-f]{4}):(?:0x)?([0-9a-f]{4})$", re.IGNORECASE)


def parse_pci_id(text: str) -> tuple[int, int] | None:
    """A PCI vendor:device id as lspci prints it ("10de:2684") or as sysfs writes each half
    ("0x10de:0x2684") -> (vendor_id, device_id); None for anything else (a GPU name)."""
    m = _PCI_ID.match(text.strip())
    return (int(m.group(1), 16), int(m.group(2), 16)) if m else None


# "NVIDIA A100-SXM4-40GB MIG 1g.5gb", "NVIDIA H100 80GB HBM3 MIG 1c.3g.40gb": the parent's name, a compute
# instance's share of its GPU instance (optional), the GPU instance's compute slices, its memory (NVML and
# torch name a MIG device so).
_MIG_NAME = re.compile(r"^(.*?)\s+MIG\s+(?:(\d+)c\.)?(\d+)g\.(\d+gb)(?:\+me)?$", re.IGNORECASE)


@dataclass(frozen=True)
class MigProfile:
    sms: int  # the slice's SMs; for profile "*", the product's compute slices
    source: str


@lru_cache(maxsize=1)
def mig_profiles() -> dict[tuple[str, str], MigProfile]:
    """(gpus.csv model, profile such as "1g.5gb" or "*") -> SMs and source, from data/mig_slices.csv."""
    return {
        (r["model"], r["profile"].strip().lower()): MigProfile(int(r["sms"]), r["source"].strip())
        for r in _csv_rows("mig_slices.csv")
    }


def _check_mig_profile(row: GpuRow, slices: int, compute_slices: int | None, name: str) -> None:
    """A profile the GPU cannot have (more compute slices than it has, 0g, a compute instance larger than
    its GPU instance) is bad input: scaled, it would come out above the whole GPU."""
    total = mig_profiles().get((row.model, "*"))
    listed = [p for (m, p) in mig_profiles() if m == row.model and p != "*"]
    valid = f"{row.model} has {total.sms} compute slices" if total is not None else ""
    if listed:
        valid += ("; " if valid else "") + "its profiles: " + ", ".join(listed)
    why = None
    if slices < 1:
        why = f"{slices}g has no compute slice"
    elif total is not None and slices > total.sms:
        why = f"{slices}g is more than its {total.sms} compute slices"
    elif compute_slices is not None and not 0 < compute_slices <= slices:
        why = f"compute instance {compute_slices}c does not fit in a {slices}g GPU instance"
    if why is not None:
        raise InputError(
            f"'{name}': no such MIG profile on {row.model} ({why})",
            hint=valid or "check `nvidia-smi mig -lgip`",
        )


def mig_peak(
    parent: str,
    slices: int,
    memory: str,
    name: str,
    device_id: int | None = None,
    sm_count: int | None = None,
    device: str = "gpu",
    compute_slices: int | None = None,
) -> DevicePeak | None:
    """A MIG slice's share of its GPU, by the SMs it really has: its own SM count when the device reports
    one, else the profile's SM count (data/mig_slices.csv, from `nvidia-smi mig -lgip`), else N of the
    GPU's compute slices as an upper bound. A compute instance `Cc.Ng` gets C/N of its GPU instance.
    None when the parent GPU is not known."""
    lookup = identify(parent, device_id)
    row = lookup.row
    if row is None:
        return None
    profile = f"{slices}g.{memory.lower()}"
    label = f"{compute_slices}c.{slices}g" if compute_slices is not None else f"{slices}g"
    _check_mig_profile(row, slices, compute_slices, name)
    whole = _row_peak(row, lookup, None, device)
    known = mig_profiles().get((row.model, profile))
    notes = [f"the slice has {memory} of the GPU's memory"]
    if sm_count is not None and row.units is not None and sm_count > row.units:
        raise InputError(
            f"{name!r}: a MIG slice of {sm_count} SMs, more than the whole {row.model}'s {row.units}",
            hint=f"give the SM count the slice reports (at most {row.units})",
        )
    if sm_count is not None and row.units is not None:
        share = sm_count / row.units
        share_note = (
            f"MIG slice {profile}: its {sm_count} SMs (as the device reports) of the GPU's {row.units}"
        )
        compute_slices = None  # the device's own count already is the compute instance's
    elif known is not None and row.units is not None:
        share = known.sms / row.units
        share_note = f"MIG slice {profile}: {known.sms} of the GPU's {row.units} SMs ({known.source})"
    else:
        total = mig_profiles().get((row.model, "*"))
        if total is None:
            return None
        share = slices / total.sms
        share_note = (
            f"MIG slice {profile}: {slices}/{total.sms} of the GPU's compute slices ({total.source}); "
            "the profile's SM count is not in the table, so this is an upper bound "
            "(MIG mode leaves SMs unused)"
        )
    if compute_slices is not None and compute_slices < slices:
        share *= compute_slices / slices
        notes.append(
            f"compute instance {compute_slices}c of the {slices}g GPU instance: {compute_slices}/{slices}"
        )
    peaks = {d: (v * share if v is not None else None) for d, v in whole.peaks_tflops.items()}
    return dataclasses.replace(
        whole,
        name=name,
        peaks_tflops=peaks,
        estimated=True,
        notes=(*whole.notes, share_note, *notes),
        memory_bandwidth_gbps=None,  # a slice has its share of the memory controllers, not the whole
        sm_count=sm_count if sm_count is not None else (known.sms if known is not None else None),
        dtype_sources={
            d: (f"{s}, MIG {label} share" if peaks.get(d) is not None else s)
            for d, s in whole.dtype_sources.items()
        },
    )
