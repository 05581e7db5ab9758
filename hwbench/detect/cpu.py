"""CPU: parse /proc/cpuinfo and lscpu text (pure), read sysfs topology under a root (collect).

`parse_cpuinfo(text)` and `parse_lscpu(text)` are pure functions of text that never raise on odd input
(they return what they could read); `read_cpu(root)` reads `root/proc/cpuinfo` and the sysfs topology
under `root/sys/devices/system/cpu`, so a recorded tree replays exactly like a live machine.
Micro-architectures come from `data/cpu_uarch.csv` (a source per row), never from an if-chain.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import cast

from hwbench.datafile import read_table
from hwbench.errors import InputError
from hwbench.model import Cache, ClockKind, Cpu

_DATA = Path(__file__).with_name("data")


# --------------------------------------------------------------------------------------------- tables
class UarchRow:
    """One row of data/cpu_uarch.csv (a plain class: NamedTuple/dataclass creation costs import time)."""

    __slots__ = (
        "arch",
        "codename",
        "core_types",
        "family",
        "implementer",
        "microarchitecture",
        "model_max",
        "model_min",
        "part",
        "source",
        "stepping_max",
        "stepping_min",
        "vendor",
    )  # fmt: skip

    def __init__(self, r: dict[str, str]) -> None:
        self.arch = r["arch"]
        self.vendor = r["vendor"]
        self.family = _int_or_none(r["family"])
        self.model_min = _int_or_none(r["model_min"])
        self.model_max = _int_or_none(r["model_max"])
        self.stepping_min = _int_or_none(r["stepping_min"])
        self.stepping_max = _int_or_none(r["stepping_max"])
        self.implementer = _int_or_none(r["implementer"], 16)
        self.part = _int_or_none(r["part"], 16)
        self.microarchitecture = r["microarchitecture"]
        self.core_types = r["core_types"]
        self.codename = r["codename"]
        self.source = r["source"]

    def __repr__(self) -> str:
        return f"UarchRow({self.microarchitecture!r}, {self.codename!r})"


def _int_or_none(s: str, base: int = 10) -> int | None:
    s = s.strip()
    return int(s, base) if s else None


def _csv_rows(name: str) -> list[dict[str, str]]:
    return read_table(_DATA / name)


@lru_cache(maxsize=1)
def uarch_table() -> tuple[UarchRow, ...]:
    """Rows of data/cpu_uarch.csv, typed."""
    return tuple(UarchRow(r) for r in _csv_rows("cpu_uarch.csv"))


@lru_cache(maxsize=1)
def arm_implementers() -> dict[int, str]:
    return {int(r["implementer"], 16): r["name"] for r in _csv_rows("arm_implementers.csv")}


def lookup_x86(vendor: str, family: int | None, model: int | None, stepping: int | None) -> UarchRow | None:
    """The narrowest row of cpu_uarch.csv matching an x86 vendor/family/model(/stepping)."""
    if family is None or model is None:
        return None
    best: UarchRow | None = None
    best_width = 1 << 30
    for r in uarch_table():
        if r.arch != "x86" or r.vendor != vendor or r.family != family:
            continue
        if r.model_min is None or r.model_max is None or not r.model_min <= model <= r.model_max:
            continue
        width = (r.model_max - r.model_min) * 1000
        if r.stepping_min is not None and r.stepping_max is not None:
            if stepping is None or not r.stepping_min <= stepping <= r.stepping_max:
                continue
            width += r.stepping_max - r.stepping_min
        else:
            width += 999
        if width < best_width:
            best, best_width = r, width
    return best


def lookup_arm(implementer: int | None, part: int | None) -> UarchRow | None:
    for r in uarch_table():
        if r.arch == "arm" and r.implementer == implementer and r.part == part:
            return r
    return None


def lookup_arm_name(name: str) -> UarchRow | None:
    """lscpu prints the Arm part by name ("Neoverse-N1"): find its row."""
    key = name.strip().lower()
    for r in uarch_table():
        if r.arch == "arm" and (r.microarchitecture.lower() == key or r.core_types.lower() == key):
            return r
    return None


# --------------------------------------------------------------------------------------------- helpers
def parse_cpulist(text: str) -> tuple[int, ...]:
    """Kernel cpulist ("0-3,8,10-11") to sorted CPU numbers; junk parts are skipped."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi.split(":")[0])
                if 0 <= a <= b < MAX_CPUS:
                    cpus.update(range(a, b + 1))
            elif 0 <= int(lo) < MAX_CPUS:
                cpus.add(int(lo))
        except ValueError:
            continue
    return tuple(sorted(c for c in cpus if c >= 0))


# Counts read from files (siblings, cpu cores, CPU(s), sockets) are capped: the kernel's largest
# NR_CPUS is 8192 (x86-64 MAXSMP), and a corrupt or hostile file claiming 10^20 CPUs must not
# become a 10^20-element tuple (a MemoryError, or megabytes of JSON from a 5-line file).
MAX_CPUS = 16384


def _count(s: str | None) -> int | None:
    """A CPU/core/socket count from a file, None unless 1 <= n <= MAX_CPUS."""
    n = _to_int(s)
    return n if n is not None and 1 <= n <= MAX_CPUS else None


def _to_int(s: str | None) -> int | None:
    if s is None:
        return None
    s = s.strip()
    try:
        return int(s, 0) if s.lower().startswith("0x") else int(s)
    except ValueError:
        return None


def _to_float(s: str | None) -> float | None:
    if s is None:
        return None
    s = s.strip().replace(",", ".")
    try:
        v = float(s)
    except ValueError:
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


# patterns as strings: re caches them on first use, so importing this module compiles nothing
_SIZE_RE = r"(?i)^\s*([0-9]+(?:[.,][0-9]+)?)\s*([KMGT]?)(?:i?B)?"
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int | None:
    """ "48K", "1280 KiB", "32 MiB (1 instance)" to bytes."""
    m = re.match(_SIZE_RE, text)
    if not m:
        return None
    v = _to_float(m.group(1))
    if v is None:
        return None
    return int(v * _UNITS[m.group(2).upper()])


_BRAND_GHZ = r"(?i)@\s*([0-9]+(?:\.[0-9]+)?)\s*GHz"


def _brand_mhz(model: str) -> float | None:
    if "@" not in model:  # skip the regex (compiling one costs a detect run ~0.3 ms)
        return None
    m = re.search(_BRAND_GHZ, model)
    return float(m.group(1)) * 1000.0 if m else None


_X86_VENDORS = {
    "GenuineIntel": "GenuineIntel",
    "AuthenticAMD": "AuthenticAMD",
    "HygonGenuine": "HygonGenuine",
}


def _hybrid(row: UarchRow | None) -> bool:
    return row is not None and "+" in row.core_types


def _uarch_name(rows: Iterable[UarchRow]) -> str | None:
    """One name for all cores; big.LITTLE Arm / Apple as "Cortex-A76 + Cortex-A55" (biggest first by id)."""
    names: list[str] = []
    for r in rows:
        if r.microarchitecture not in names:
            names.append(r.microarchitecture)
    if not names:
        return None
    return " + ".join(sorted(names, reverse=True)) if len(names) > 1 else names[0]


# --------------------------------------------------------------------------------------------- /proc/cpuinfo
def _cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per block (blank-line separated), keys lower-cased and stripped."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "processor" and "processor" in cur:
            blocks.append(cur)
            cur = {}
        cur.setdefault(key, value.strip())
    if cur:
        blocks.append(cur)
    return blocks


def looks_like_cpuinfo(text: str) -> bool:
    # "processor\t: 0" / "vendor_id" / "CPU implementer" (lscpu says "Vendor ID", never these)
    return bool(re.search(r"^[ \t>]*(processor|vendor_id|CPU implementer)[ \t]*:", text, re.M))


def parse_cpuinfo(text: str) -> Cpu:
    """A Cpu from /proc/cpuinfo text alone (x86 or Arm). Never raises; unknown parts are None/empty.

    Sockets and cores come from `physical id`/`core id` (x86); a pasted single block falls back to
    `siblings`/`cpu cores`. The `cpu MHz` line is the current (in a VM: TSC) clock, never called a max.
    """
    blocks = _cpuinfo_blocks(text)
    procs = [b for b in blocks if "processor" in b and _to_int(b["processor"]) is not None]
    info: dict[str, str] = {}
    for b in blocks:  # first value of each key across blocks (Arm puts "Hardware"/"Model" in a tail block)
        for k, v in b.items():
            info.setdefault(k, v)
    vendor_id = info.get("vendor_id", "")
    implementer = _to_int(info.get("cpu implementer"))
    isa = _common_flags(procs or blocks)

    family = _to_int(info.get("cpu family"))
    model_number = _to_int(info.get("model")) if vendor_id else None
    stepping = _to_int(info.get("stepping"))
    arm_part: int | None = None
    row: UarchRow | None = None
    uarch: str | None = None
    if vendor_id:
        vendor = _X86_VENDORS.get(vendor_id, vendor_id)
        model = info.get("model name") or vendor_id
        row = lookup_x86(vendor, family, model_number, stepping)
        uarch = row.microarchitecture if row else None
    elif implementer is not None:
        vendor = arm_implementers().get(implementer, f"Arm implementer 0x{implementer:02x}")
        parts = []
        for b in procs or blocks:
            p = _to_int(b.get("cpu part"))
            if p is not None and p not in parts:
                parts.append(p)
        arm_part = parts[0] if parts else None
        rows = [
            r for r in (lookup_arm(_to_int(b.get("cpu implementer")) or implementer, p) for p in parts) if r
        ]
        uarch = _uarch_name(rows)
        row = rows[0] if len(rows) == 1 else None
        stepping = _to_int(info.get("cpu revision"))
        board = info.get("model") if info.get("model") and not info["model"].isdigit() else None
        model = " ".join(x for x in (vendor, uarch or "", f"({board})" if board else "") if x)
        if info.get("model name") and not uarch:
            model = info["model name"]
    else:
        vendor = info.get("vendor") or "unknown"
        model = info.get("model name") or info.get("cpu model") or info.get("cpu") or "unknown"

    logical = len(procs)
    if logical <= 1 and _count(info.get("siblings")):
        logical = _count(info.get("siblings")) or logical  # a pasted single block
    logical = max(logical, 1)

    sockets, physical, smt = _cpuinfo_topology(procs, info)
    p_cores, e_cores, p_cpus, e_cpus = _hybrid_from_smt(row, smt)

    max_mhz, mhz_source, mhz_kind = _clock_from_text(model, info.get("cpu mhz"), "hypervisor" in isa)
    virt = "hypervisor" in isa
    return Cpu(
        vendor=vendor,
        model=model,
        microarchitecture=uarch,
        sockets=sockets,
        physical_cores=physical,
        logical_cpus=logical,
        usable_cpus=tuple(range(logical)),
        p_cores=p_cores,
        e_cores=e_cores,
        isa=isa,
        max_mhz=max_mhz,
        max_mhz_source=mhz_source,
        max_mhz_kind=mhz_kind,
        virtualized=virt,
        hypervisor=None,
        family=family if vendor_id else None,
        model_number=model_number,
        stepping=stepping,
        arm_implementer=implementer,
        arm_part=arm_part,
        p_core_cpus=p_cpus,
        e_core_cpus=e_cpus,
        smt_siblings=smt,
        source="/proc/cpuinfo"
        if len(procs) != 1
        else "/proc/cpuinfo (one processor block: counts per socket)",
    )


def _cpuinfo_topology(
    procs: list[dict[str, str]], info: dict[str, str]
) -> tuple[int | None, int | None, tuple[tuple[int, ...], ...]]:
    """(sockets, physical cores, SMT sibling groups) from `physical id`/`core id`, else `cpu cores`."""
    sockets: int | None = None
    physical: int | None = None
    groups: dict[tuple[str, str], list[int]] = {}
    if procs and all("physical id" in b and "core id" in b for b in procs):
        for b in procs:
            groups.setdefault((b["physical id"], b["core id"]), []).append(_to_int(b["processor"]) or 0)
        sockets = len({k[0] for k in groups})
        physical = len(groups)
        if len(procs) == 1:
            # one pasted block: 'siblings'/'cpu cores' count one package; how many packages is unknown
            sockets = None
            physical = _count(info.get("cpu cores")) or physical
    elif _count(info.get("cpu cores")):
        physical = _count(info.get("cpu cores"))
    return sockets, physical, tuple(tuple(sorted(v)) for v in sorted(groups.values()))


def _hybrid_from_smt(
    row: UarchRow | None, smt: tuple[tuple[int, ...], ...]
) -> tuple[int | None, int | None, tuple[int, ...], tuple[int, ...]]:
    """(P-cores, E-cores, P-core CPUs, E-core CPUs) of a hybrid part read from SMT groups alone."""
    if _hybrid(row) and smt and len({len(g) for g in smt}) == 2:
        # no sysfs: on hybrid Intel with SMT on, the 2-thread cores are the P-cores (E-cores have no SMT)
        p_cpus = tuple(sorted(c for g in smt if len(g) > 1 for c in g))
        e_cpus = tuple(sorted(c for g in smt if len(g) == 1 for c in g))
        return sum(1 for g in smt if len(g) > 1), sum(1 for g in smt if len(g) == 1), p_cpus, e_cpus
    return None, None, (), ()


def _common_flags(blocks: list[dict[str, str]]) -> tuple[str, ...]:
    """ISA flags every CPU has (x86 `flags`, Arm `Features`), as whole lower-case tokens, kernel order."""
    order: list[str] = []
    common: set[str] | None = None
    for b in blocks:
        line = b.get("flags") or b.get("features")
        if line is None:
            continue
        toks = [t.lower() for t in line.split()]
        if common is None:
            order = list(dict.fromkeys(toks))
            common = set(toks)
        else:
            common &= set(toks)
    if common is None:
        return ()
    return tuple(t for t in order if t in common)


def _clock_from_text(
    model: str, cpu_mhz: str | None, virtualized: bool
) -> tuple[float | None, str, ClockKind]:
    brand = _brand_mhz(model)
    if brand is not None:
        return brand, "brand string (base clock, not the boost max)", "brand"
    mhz = _to_float(cpu_mhz)
    if mhz is not None and mhz > 0:
        if virtualized:  # a guest sees no cpufreq; its 'cpu MHz' is the TSC rate, about the nominal clock
            return mhz, "cpuinfo 'cpu MHz' in a VM: the TSC/current clock, not a max", "tsc"
        return None, f"unknown (cpuinfo 'cpu MHz' {mhz:g} is the current clock of one CPU, not a max)", "none"
    return None, "unknown", "none"


# --------------------------------------------------------------------------------------------- lscpu
# lscpu labels in every language util-linux translates them to (data/lscpu_keys.csv, generated from its
# po files), mapped to the English label; loaded only when lscpu text is parsed.
@lru_cache(maxsize=1)
def _lscpu_lookup() -> dict[str, str]:
    return {r["label"]: r["canonical"] for r in _csv_rows("lscpu_keys.csv")}


_LSCPU_LINE = r"^\s*([^:：]{1,80}?)\s*[:：]\s*(.*?)\s*$"


def _norm_key(k: str) -> str:
    return re.sub(r"\s+", " ", k.replace("\u00a0", " ")).strip().casefold()


def _lscpu_lines(text: str) -> list[tuple[str, str]]:
    """(label, value) pairs; quote/prompt prefixes ("> ", "$ ") dropped, wrapped Flags lines re-joined.

    lscpu wraps long values at the terminal width, even inside a word ("sysc" / "all"): a continuation
    line aligned with the value column continues the word, one indented further starts a new word.
    """
    out: list[tuple[str, str]] = []
    col = -1
    trailing_space = False  # a wrapped line that ended in a space ended a word
    for raw in text.splitlines():
        line = raw.replace("\u00a0", " ").rstrip()
        ended_in_space, trailing_space = trailing_space, raw[-1:].isspace()
        stripped = line.lstrip()
        while stripped.startswith(">"):
            stripped = stripped[1:].lstrip()
        line = line[: len(line) - len(stripped)].replace(">", " ") + stripped if stripped else ""
        m = re.match(_LSCPU_LINE, line)
        has_colon = ":" in stripped or "：" in stripped
        if m:
            out.append((m.group(1), m.group(2)))
            col = m.start(2) if m.group(2) else -1
            continue
        if out and col >= 0 and stripped and not has_colon:
            indent = len(line) - len(stripped)
            sep = "" if indent <= col and not ended_in_space else " "
            label, value = out[-1]
            out[-1] = (label, value + sep + stripped)
        else:
            col = -1
    return out


def _lscpu_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    lookup = _lscpu_lookup()
    for label, value in _lscpu_lines(text):
        canon = lookup.get(_norm_key(label))
        if canon is None:
            # unknown locale: recognise a few lines by their value
            toks = value.split()
            if len(toks) > 15 and ("fpu" in toks or "fp" in toks or "asimd" in toks):
                canon = "flags"
            elif value in _X86_VENDORS or value in {
                "ARM",
                "Apple",
                "Ampere",
                "HiSilicon",
                "Qualcomm",
                "NVIDIA",
            }:
                canon = "vendor id"
            elif value in {"x86_64", "aarch64", "i686", "armv7l", "riscv64", "ppc64le", "s390x"}:
                canon = "architecture"
            else:
                continue
        fields.setdefault(canon, value)
    return fields


def looks_like_lscpu(text: str) -> bool:
    f = _lscpu_fields(text)
    return "architecture" in f or ("cpu(s)" in f and ("model name" in f or "vendor id" in f))


def parse_lscpu(text: str) -> Cpu:
    """A Cpu from `lscpu` output in any locale we know (and, by value shape, some we don't). Never raises."""
    f = _lscpu_fields(text)
    vendor_raw = f.get("vendor id", "unknown")
    model_name = f.get("model name", "")
    family = _to_int(f.get("cpu family"))
    model_number = _to_int(f.get("model"))
    stepping = _to_int(f.get("stepping"))
    isa = tuple(dict.fromkeys(t.lower() for t in f.get("flags", "").split()))
    row: UarchRow | None = None
    if vendor_raw in _X86_VENDORS:
        row = lookup_x86(vendor_raw, family, model_number, stepping)
        vendor = vendor_raw
        uarch = row.microarchitecture if row else None
        model = model_name or vendor
    else:
        names = (
            [n.strip() for n in model_name.split(",")] if model_name else []
        )  # rare; lscpu prints one per line
        rows = [r for r in (lookup_arm_name(n) for n in names) if r]
        # newer lscpu prints one "Model name:" per core type; gather them all
        extra = [
            value.strip()
            for label, value in _lscpu_lines(text)
            if _lscpu_lookup().get(_norm_key(label)) == "model name"
        ]
        for n in extra:
            r = lookup_arm_name(n)
            if r and r not in rows:
                rows.append(r)
        uarch = _uarch_name(rows)
        row = rows[0] if len(rows) == 1 else None
        vendor = vendor_raw
        model = " ".join(
            x for x in (vendor_raw if vendor_raw != "unknown" else "", " + ".join(extra) or model_name) if x
        )
        model = model or "unknown"
        family = None
        if rows:
            model_number = None
    logical = _count(f.get("cpu(s)")) or len(parse_cpulist(f.get("on-line cpu(s) list", ""))) or 1
    sockets = _count(f.get("socket(s)"))
    cps = _count(f.get("core(s) per socket"))
    cpc, clusters = _count(f.get("core(s) per cluster")), _count(f.get("cluster(s)"))
    tpc = _count(f.get("thread(s) per core"))
    physical = None
    if cps and sockets:
        physical = cps * sockets
    elif cpc and clusters:
        physical = cpc * clusters
    elif tpc and logical:
        physical = logical // tpc
    if len(_lscpu_model_names(text)) > 1 and tpc and logical:
        physical = logical // tpc  # one block per core type (big.LITTLE): per-socket counts are per type
    virt = bool(f.get("hypervisor vendor")) or "hypervisor" in isa
    max_mhz = _to_float(f.get("cpu max mhz"))
    src, kind = "lscpu 'CPU max MHz' (cpufreq)", cast(ClockKind, "cpufreq")
    if max_mhz is None:
        max_mhz, src, kind = _clock_from_text(model, f.get("cpu mhz"), virt)
    online = parse_cpulist(f.get("on-line cpu(s) list", ""))
    caches = []
    for key, level, ctype in (
        ("l1d cache", 1, "Data"),
        ("l1i cache", 1, "Instruction"),
        ("l2 cache", 2, "Unified"),
        ("l3 cache", 3, "Unified"),
    ):
        if key in f and (size := parse_size(f[key])):
            caches.append(Cache(level=level, type=ctype, size_bytes=size))
    return Cpu(
        vendor=vendor,
        model=model,
        microarchitecture=uarch,
        sockets=sockets,
        physical_cores=physical,
        logical_cpus=logical,
        usable_cpus=online or tuple(range(logical)),
        p_cores=None,
        e_cores=None,
        isa=isa,
        max_mhz=max_mhz,
        max_mhz_source=src,
        max_mhz_kind=kind,
        virtualized=virt,
        hypervisor=f.get("hypervisor vendor") or None,
        family=family,
        model_number=model_number if vendor_raw in _X86_VENDORS else None,
        stepping=stepping,
        caches=tuple(caches),
        numa_nodes=_to_int(f.get("numa node(s)")),
        source="lscpu",
    )


def _lscpu_model_names(text: str) -> list[str]:
    lookup = _lscpu_lookup()
    return [v.strip() for k, v in _lscpu_lines(text) if lookup.get(_norm_key(k)) == "model name"]


def parse_cpu_text(text: str, name: str = "file") -> Cpu:
    """A saved /proc/cpuinfo or lscpu output (decided by content); InputError when it is neither."""
    if "architecture" in _lscpu_fields(text):
        cpu = parse_lscpu(text)
        return dataclasses.replace(cpu, source=f"--cpuinfo {name} (lscpu)")
    if looks_like_cpuinfo(text):
        cpu = parse_cpuinfo(text)
        return dataclasses.replace(cpu, source=f"--cpuinfo {name} (/proc/cpuinfo)")
    if looks_like_lscpu(text):
        cpu = parse_lscpu(text)
        return dataclasses.replace(cpu, source=f"--cpuinfo {name} (lscpu)")
    raise InputError(
        f"{name} is neither a /proc/cpuinfo nor an lscpu output",
        hint="save it with `cat /proc/cpuinfo > cpu.txt` or `LC_ALL=C lscpu > cpu.txt`",
    )


# --------------------------------------------------------------------------------------------- sysfs
def _read(path: Path | str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:  # plain open: Path.read_text costs more
            return f.read()
    except OSError:
        return None


def _cgroup_limits(root: Path) -> tuple[float | None, tuple[int, ...] | None]:
    """cgroup v2 cpu.max quota (in CPUs) and cpuset.cpus.effective of this process's cgroup and parents."""
    text = _read(root / "proc/self/cgroup")
    if not text:
        return None, None
    rel = None
    for line in text.splitlines():
        if line.startswith("0::"):
            rel = line[3:].strip()
    if rel is None:
        return None, None
    quota: float | None = None
    cpuset: tuple[int, ...] | None = None
    parts = [p for p in rel.split("/") if p and p != ".."]
    for depth in range(len(parts), -1, -1):
        d = root / "sys/fs/cgroup" / "/".join(parts[:depth]) if depth else root / "sys/fs/cgroup"
        cm = _read(d / "cpu.max")
        if cm:
            toks = cm.split()
            if len(toks) == 2 and toks[0] != "max":
                q, p = _to_float(toks[0]), _to_float(toks[1])
                if q and p:
                    quota = q / p if quota is None else min(quota, q / p)
        if cpuset is None:
            cs = _read(d / "cpuset.cpus.effective")
            if cs and cs.strip():
                cpuset = parse_cpulist(cs)
    return quota, cpuset


def _usable_cpus(root: Path, online: tuple[int, ...]) -> tuple[tuple[int, ...], float | None]:
    affinity: tuple[int, ...] | None = None
    if root == Path("/") and hasattr(os, "sched_getaffinity"):
        affinity = tuple(sorted(os.sched_getaffinity(0)))
    else:  # a recorded tree: the dumping process's own status
        status = _read(root / "proc/self/status")
        if status:
            m = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M)
            if m:
                affinity = parse_cpulist(m.group(1))
    quota, cpuset = _cgroup_limits(root)
    usable = set(affinity if affinity else online)
    if cpuset:
        usable &= set(cpuset) or usable
    return tuple(sorted(usable)), quota


def _max_clocks(cpu_dir: Path, cpus: tuple[int, ...]) -> dict[int, float]:
    """cpufreq cpuinfo_max_freq in MHz per CPU that has one."""
    out: dict[int, float] = {}
    for c in cpus:
        v = _to_int(_read(cpu_dir / f"cpu{c}/cpufreq/cpuinfo_max_freq"))
        if v is None:
            if c == cpus[0] and not (cpu_dir / f"cpu{c}/cpufreq").exists():
                return {}  # no cpufreq at all (VMs): don't stat every CPU
            continue
        if v > 0:
            out[c] = v / 1000.0
    return out


def _caches(cpu_dir: Path, reps: Iterable[int]) -> tuple[Cache, ...]:
    """Cache kinds seen from one CPU of each core type (sysfs cache/index*)."""
    seen: dict[tuple[int, str, int, int | None], Cache] = {}
    for c in reps:
        base = cpu_dir / f"cpu{c}/cache"
        try:
            indices = sorted(p for p in base.iterdir() if p.name.startswith("index"))
        except OSError:
            continue
        for idx in indices:
            level = _to_int(_read(idx / "level"))
            ctype = (_read(idx / "type") or "").strip()
            size = parse_size(_read(idx / "size") or "")
            if level is None or size is None:
                continue
            shared = _read(idx / "shared_cpu_list")
            n = len(parse_cpulist(shared)) if shared else None
            key = (level, ctype, size, n)
            seen.setdefault(key, Cache(level=level, type=ctype, size_bytes=size, shared_by_cpus=n))
    return tuple(sorted(seen.values(), key=lambda k: (k.level, k.type, -k.size_bytes)))


def _hypervisor(root: Path, isa: tuple[str, ...]) -> tuple[bool, str | None]:
    version = _read(root / "proc/version") or ""
    low = version.lower()
    if "microsoft" in low or "wsl" in low:
        return True, "WSL2" if "WSL2" in version else "WSL"
    hv = (_read(root / "sys/hypervisor/type") or "").strip()
    if hv:
        return True, hv.capitalize() if hv == "xen" else hv
    if "hypervisor" in isa:
        vendor = (_read(root / "sys/devices/virtual/dmi/id/sys_vendor") or "").strip()
        product = (_read(root / "sys/devices/virtual/dmi/id/product_name") or "").strip()
        name = " ".join(x for x in (vendor, product) if x) or None
        if name is None:
            # no DMI (microVMs): the paravirtual clock the guest kernel registered names the hypervisor
            clocks = (
                _read(root / "sys/devices/system/clocksource/clocksource0/available_clocksource") or ""
            ).split()
            for clock, hv_name in (("kvm-clock", "KVM"), ("hyperv_clocksource_tsc_page", "Microsoft Hyper-V"),
                                   ("xen", "Xen"), ("vmware-tsc", "VMware")):  # fmt: skip
                if clock in clocks:
                    return True, hv_name
        return True, name
    return False, None


def read_cpu(root: Path = Path("/")) -> Cpu:
    """The CPU of the machine (or recorded tree) at `root`: /proc/cpuinfo plus sysfs topology."""
    root = Path(root)
    text = _read(root / "proc/cpuinfo")
    if text is None:
        if root == Path("/"):
            return _read_cpu_pycpuinfo()
        raise FileNotFoundError(str(root / "proc/cpuinfo"))
    cpu = parse_cpuinfo(text)
    cpu_dir = root / "sys/devices/system/cpu"
    online = parse_cpulist(_read(cpu_dir / "online") or "") or tuple(range(cpu.logical_cpus))

    # topology: package and SMT siblings per online CPU (works on Arm, where cpuinfo has neither)
    packages: set[str] = set()
    groups: dict[tuple[int, ...], None] = {}
    seen: set[int] = set()  # CPUs already in a sibling group add nothing (halves the reads with SMT)
    for c in online:
        if c in seen:
            continue
        t = cpu_dir / f"cpu{c}/topology"
        pkg = _read(t / "physical_package_id")
        sib = _read(t / "thread_siblings_list") or _read(t / "core_cpus_list")
        if pkg is None or sib is None:
            groups = {}
            break
        packages.add(pkg.strip())
        group = parse_cpulist(sib) or (c,)
        groups[group] = None
        seen.update(group)
    smt = tuple(sorted(groups)) if groups else cpu.smt_siblings
    sockets = len(packages) if groups else cpu.sockets
    physical = len(smt) if groups else cpu.physical_cores

    # hybrid Intel: the kernel's PMU devices list P (cpu_core) and E (cpu_atom) CPUs
    p_cpus = parse_cpulist(_read(root / "sys/devices/cpu_core/cpus") or "")
    e_cpus = parse_cpulist(_read(root / "sys/devices/cpu_atom/cpus") or "")
    p_cores, e_cores = cpu.p_cores, cpu.e_cores
    if p_cpus or e_cpus:
        p_set, e_set = set(p_cpus), set(e_cpus)
        p_cores = sum(1 for g in smt if p_set & set(g)) if smt else len(p_cpus)
        e_cores = sum(1 for g in smt if e_set & set(g)) if smt else len(e_cpus)
    else:
        p_cpus, e_cpus = cpu.p_core_cpus, cpu.e_core_cpus

    usable, quota = _usable_cpus(root, online)
    max_mhz, mhz_src, mhz_kind = cpu.max_mhz, cpu.max_mhz_source, cpu.max_mhz_kind
    clocks = _max_clocks(cpu_dir, online)
    if clocks:
        max_mhz, mhz_src, mhz_kind = max(clocks.values()), "cpufreq cpuinfo_max_freq", "cpufreq"
    by_cpu = tuple(sorted(clocks.items())) if len(set(clocks.values())) > 1 else ()
    reps = [online[0]] if online else [0]
    if e_cpus and e_cpus[0] not in reps:
        reps.append(e_cpus[0])
    try:
        numa = sum(
            1
            for p in (root / "sys/devices/system/node").iterdir()
            if p.name.startswith("node") and p.name[4:].isdigit()
        )
    except OSError:
        numa = 0
    virt, hv = _hypervisor(root, cpu.isa)
    return dataclasses.replace(
        cpu,
        sockets=sockets,
        physical_cores=physical,
        logical_cpus=max(len(online), cpu.logical_cpus) if online else cpu.logical_cpus,
        usable_cpus=usable,
        p_cores=p_cores,
        e_cores=e_cores,
        p_core_cpus=p_cpus,
        e_core_cpus=e_cpus,
        smt_siblings=smt,
        max_mhz=max_mhz,
        max_mhz_source=mhz_src,
        max_mhz_kind=mhz_kind,
        max_mhz_by_cpu=by_cpu,
        virtualized=virt or cpu.virtualized,
        hypervisor=hv,
        caches=_caches(cpu_dir, reps),
        numa_nodes=numa or None,
        cpu_quota=quota,
        source="/proc/cpuinfo + sysfs" if root == Path("/") else f"{root}/proc/cpuinfo + sysfs",
    )


def _read_cpu_pycpuinfo() -> Cpu:
    """macOS/Windows (no /proc): py-cpuinfo, imported only here (slow: it may run cpuid in a subprocess)."""
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    vendor = str(info.get("vendor_id_raw") or info.get("arch") or "unknown")
    model = str(info.get("brand_raw") or "unknown")
    family, model_number, stepping = info.get("family"), info.get("model"), info.get("stepping")
    row = lookup_x86(vendor, family, model_number, stepping) if vendor in _X86_VENDORS else None
    logical = int(info.get("count") or os.cpu_count() or 1)
    hz = info.get("hz_advertised")
    max_mhz = float(hz[0]) / 1e6 if isinstance(hz, (list, tuple)) and hz and hz[0] else None
    return Cpu(
        vendor=vendor,
        model=model,
        microarchitecture=row.microarchitecture if row else None,
        sockets=None,
        physical_cores=None,
        logical_cpus=logical,
        usable_cpus=tuple(range(logical)),
        p_cores=None,
        e_cores=None,
        isa=tuple(str(f).lower() for f in info.get("flags", [])),
        max_mhz=max_mhz,
        max_mhz_source="py-cpuinfo advertised clock" if max_mhz else "unknown",
        max_mhz_kind="advertised" if max_mhz else "none",
        virtualized="hypervisor" in info.get("flags", []),
        family=family,
        model_number=model_number,
        stepping=stepping,
        source="py-cpuinfo",
    )
