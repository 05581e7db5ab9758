"""CPU peaks: sum over core types of physical cores x FLOP/cycle (best ISA path the math library can use,
from data/cpu_rates.csv) x clock, with the clock's source said.

Clock, in order of trust: a measured clock (clock.measure_cpu, passed in by the caller for this machine);
cpufreq's cpuinfo_max_freq on bare metal (the max boost); a brand-string clock (base, so a floor); the TSC
(a VM's "cpu MHz": the host's base clock, not what the cores run at; used only when nothing better exists,
and then flagged estimated). Whatever the clock, a peak is never reported below a GEMM measured on the same
device (`measured_tflops`): a computed peak under a measurement proves the clock or core count wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hwbench.datafile import read_table
from hwbench.model import Cpu
from hwbench.peaks.types import DTYPES, DevicePeak


@dataclass(frozen=True)
class CpuRate:
    microarchitecture: str
    role: str  # all | P | E
    path: str
    requires: tuple[frozenset[str], ...]  # alternatives, each a set of flags that must all be present
    dtype: str
    flop_per_cycle: float
    source: str

    def usable(self, isa: frozenset[str]) -> bool:
        return any(group <= isa for group in self.requires)


@lru_cache(maxsize=1)
def cpu_rates() -> tuple[CpuRate, ...]:
    out = []
    for r in read_table(Path(__file__).with_name("data") / "cpu_rates.csv"):
        out.append(
            CpuRate(
                microarchitecture=r["microarchitecture"].strip(),
                role=r["role"].strip(),
                path=r["path"].strip(),
                requires=tuple(frozenset(g.split()) for g in r["requires"].split("|") if g.strip()),
                dtype=r["dtype"].strip(),
                flop_per_cycle=float(r["flop_per_cycle"]),
                source=r["source"].strip(),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class CorePath:
    """The best path for one dtype on one core type."""

    flop_per_cycle: float | None
    path: str
    source: str


def _isa(cpu: Cpu) -> frozenset[str]:
    if not cpu.isa and cpu.microarchitecture is not None:
        # Flags not recorded (some lscpu outputs): assume everything the micro-architecture's rows need.
        return frozenset(
            f
            for r in cpu_rates()
            if r.microarchitecture == cpu.microarchitecture
            for group in r.requires
            for f in group
        )
    flags = {f.lower() for f in cpu.isa}
    # Arm kernels name NEON "asimd" (arm64) or "neon" (arm32); treat them alike. bf16 on Arm is "bf16".
    if "neon" in flags:
        flags.add("asimd")
    return frozenset(flags)


def core_rates(microarchitecture: str | None, role: str, isa: frozenset[str]) -> dict[str, CorePath]:
    """FLOP/cycle per dtype for one core type: the best usable path of this micro-architecture, else the
    flag-only fallback rows ("*"); fp64 = half the fp32 rate when no row says otherwise (half the lanes);
    bf16/fp16 without a native path = the fp32 rate (converted to fp32 first); tf32/fp8 have no CPU path."""
    table = cpu_rates()

    def best(rows: list[CpuRate], dtype: str) -> CpuRate | None:
        usable = [r for r in rows if r.dtype == dtype and r.usable(isa)]
        return max(usable, key=lambda r: r.flop_per_cycle) if usable else None

    own = [r for r in table if r.microarchitecture == microarchitecture and r.role in (role, "all")]
    fallback = [r for r in table if r.microarchitecture == "*"]
    out: dict[str, CorePath] = {}
    for dtype in ("fp32", "fp64", "bf16", "fp16", "int8"):
        r = best(own, dtype) or (best(fallback, dtype) if dtype != "fp64" else None)
        if r is not None:
            label = r.path if r.microarchitecture != "*" else f"{r.path} [by ISA flags]"
            out[dtype] = CorePath(r.flop_per_cycle, label, r.source)
    fp32 = out.get("fp32")
    if fp32 is not None and "fp64" not in out:
        out["fp64"] = CorePath(
            fp32.flop_per_cycle / 2 if fp32.flop_per_cycle else None,
            f"{fp32.path}, fp64 = half the fp32 lanes",
            fp32.source,
        )
    for dtype in ("bf16", "fp16"):
        if dtype not in out and fp32 is not None:
            out[dtype] = CorePath(
                fp32.flop_per_cycle,
                f"no native {dtype} FMA: converted to fp32, so at most the fp32 rate",
                fp32.source,
            )
    out["tf32"] = CorePath(None, "no TF32 path on CPUs", "")
    out["fp8"] = CorePath(None, "no fp8 matmul path on CPUs", "")
    return out


@dataclass(frozen=True)
class CoreCount:
    role: str  # all | P | E
    cores: float  # physical cores usable by this process (fractional under a cgroup quota)


def _physical_cores(cpu: Cpu, cpus: tuple[int, ...]) -> int:
    usable = set(cpus)
    covered = {c for group in cpu.smt_siblings for c in group}
    if cpu.smt_siblings and usable <= covered:
        return sum(1 for group in cpu.smt_siblings if usable & set(group)) or len(cpus)
    if cpu.physical_cores and cpu.logical_cpus:
        per_core = max(1, cpu.logical_cpus // cpu.physical_cores)
        return max(1, -(-len(cpus) // per_core))
    return len(cpus)


def _is_hybrid(uarch: str | None) -> bool:
    return any(r.microarchitecture == uarch and r.role in ("P", "E") for r in cpu_rates())


def count_cores(cpu: Cpu, cores: int | None = None) -> tuple[list[CoreCount], list[str]]:
    """Physical cores this process can use, per core type. SMT siblings share one core's FMA pipes, so they
    count once; a cgroup quota caps the total."""
    notes: list[str] = []
    if cores is not None:
        return [CoreCount("all", float(cores))], [f"{cores} cores as given"]
    usable = cpu.usable_cpus or tuple(range(cpu.logical_cpus))
    counts: list[CoreCount] = []
    if cpu.p_core_cpus or cpu.e_core_cpus:
        s = set(usable)
        p = _physical_cores(cpu, tuple(c for c in cpu.p_core_cpus if c in s))
        e = _physical_cores(cpu, tuple(c for c in cpu.e_core_cpus if c in s)) if cpu.e_core_cpus else 0
        if not any(c in s for c in cpu.p_core_cpus):
            p = 0
        if not any(c in s for c in cpu.e_core_cpus):
            e = 0
        counts = [CoreCount("P", float(p)), CoreCount("E", float(e))]
    elif cpu.p_cores is not None or cpu.e_cores is not None:
        counts = [CoreCount("P", float(cpu.p_cores or 0)), CoreCount("E", float(cpu.e_cores or 0))]
        if len(usable) < cpu.logical_cpus:
            notes.append("hybrid core lists unknown: counted all P and E cores, not only the usable ones")
    elif _is_hybrid(cpu.microarchitecture) and cpu.physical_cores and cpu.logical_cpus:
        # A recording without the P/E split (a /proc/cpuinfo paste): on Intel hybrids only P-cores have SMT,
        # so logical = 2P + E and physical = P + E.
        p = cpu.logical_cpus - cpu.physical_cores
        e = cpu.physical_cores - p
        if p > 0 and e >= 0 and len(usable) == cpu.logical_cpus:
            counts = [CoreCount("P", float(p)), CoreCount("E", float(e))]
            notes.append(
                f"P/E split not recorded: {p} P + {e} E from {cpu.physical_cores} cores / "
                f"{cpu.logical_cpus} threads (only P-cores have SMT)"
            )
        else:
            counts = [CoreCount("P", float(_physical_cores(cpu, tuple(usable))))]
            notes.append("P/E split unknown: every core counted at the P-core rate (an upper bound)")
    else:
        counts = [CoreCount("all", float(_physical_cores(cpu, tuple(usable))))]
    total = sum(c.cores for c in counts)
    if cpu.cpu_quota is not None and total > cpu.cpu_quota > 0:
        scale = cpu.cpu_quota / total
        notes.append(f"cgroup CPU quota {cpu.cpu_quota:g} CPUs caps {total:g} usable cores")
        counts = [CoreCount(c.role, c.cores * scale) for c in counts]
    return [c for c in counts if c.cores > 0], notes


def _role_cpus(cpu: Cpu, role: str) -> tuple[int, ...]:
    usable = cpu.usable_cpus or tuple(range(cpu.logical_cpus))
    if role == "P" and cpu.p_core_cpus:
        return tuple(c for c in cpu.p_core_cpus if c in usable)
    if role == "E" and cpu.e_core_cpus:
        return tuple(c for c in cpu.e_core_cpus if c in usable)
    return tuple(usable) if role == "all" else ()


def role_clocks_mhz(cpu: Cpu, roles: list[str]) -> dict[str, float]:
    """Mean cpufreq max clock of the usable physical cores of each core type, from `max_mhz_by_cpu` (which
    detect keeps only where CPUs differ). A core counts once: its first usable SMT sibling's clock.
    Empty when per-CPU clocks are unknown, or a core type's CPUs can't be told apart."""
    by_cpu = dict(cpu.max_mhz_by_cpu)
    if not by_cpu:
        return {}
    out: dict[str, float] = {}
    for role in roles:
        cpus = set(_role_cpus(cpu, role))
        groups = [g for g in cpu.smt_siblings if cpus & set(g)] or [(c,) for c in sorted(cpus)]
        clocks = [by_cpu[c] for g in groups for c in [min(cpus & set(g))] if c in by_cpu]
        if not clocks or len(clocks) != len(groups):
            return {}
        out[role] = sum(clocks) / len(clocks)
    return out


def _clock(
    cpu: Cpu, measured_clock_mhz: float | None, measured_clock_source: str | None
) -> tuple[float | None, str, bool, list[str]]:
    """(MHz, source, estimated, notes)."""
    kind = cpu.max_mhz_kind
    if measured_clock_mhz:
        notes = []
        if cpu.max_mhz and kind == "tsc":
            notes.append(
                f"the TSC rate ({cpu.max_mhz:.0f} MHz, what this VM's /proc/cpuinfo shows) is not the core "
                f"clock: "
                f"measured {measured_clock_mhz:.0f} MHz"
            )
        return measured_clock_mhz, measured_clock_source or "measured", False, notes
    if cpu.max_mhz and kind == "cpufreq":
        return cpu.max_mhz, f"{cpu.max_mhz_source} (max boost; all-core AVX clocks may be lower)", False, []
    if cpu.max_mhz and kind == "brand":
        return (
            cpu.max_mhz,
            f"{cpu.max_mhz_source} (base clock; boost may be higher)",
            True,
            ["clock is the brand string's base clock: a floor, the cores may boost above it"],
        )
    if cpu.max_mhz and kind == "tsc":
        return (
            cpu.max_mhz,
            f"{cpu.max_mhz_source}",
            True,
            [
                "only the TSC rate was available (not a real core clock) and no measurement was made: "
                "run `hwbench peaks --device cpu` on the machine itself to measure it"
            ],
        )
    if cpu.max_mhz:
        return cpu.max_mhz, cpu.max_mhz_source or "unknown", True, []
    return None, "unknown", True, ["no clock could be read or measured"]


def _computed_peaks(
    counts: list[CoreCount],
    per_role: Mapping[str, Mapping[str, CorePath]],
    clock_mhz: float | None,
    role_clocks: Mapping[str, float],
    vector_scale: float,
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Per dtype: cores x FLOP/cycle x clock summed over core roles, and the sum written out as its source."""
    peaks: dict[str, float | None] = {}
    dtype_sources: dict[str, str] = {}
    for dtype in DTYPES:
        terms = []
        total = 0.0
        has_path = False
        for c in counts:
            path = per_role[c.role].get(dtype, CorePath(None, f"no {dtype} path", ""))
            if path.flop_per_cycle is None:
                continue
            has_path = True
            per_cycle = path.flop_per_cycle
            scaled = ""
            if vector_scale != 1.0 and "AMX" not in path.path:
                per_cycle *= vector_scale
                scaled = f", {vector_scale:g}x: FMA units measured"
            role_mhz = role_clocks.get(c.role)
            total += c.cores * per_cycle * (role_mhz / clock_mhz if role_mhz and clock_mhz else 1.0)
            role = "" if c.role == "all" else f"{c.role}-"
            unit = "OP" if dtype == "int8" else "FLOP"
            at = f" x {role_mhz / 1000:.3g} GHz" if role_mhz else ""
            cores = f"{role}core" if c.cores == 1 else f"{role}cores"
            terms.append(f"{c.cores:g} {cores} x {per_cycle:g} {unit}/cycle ({path.path}{scaled}){at}")
        if not has_path:
            peaks[dtype] = None
            first = next(iter(per_role.values())).get(dtype)
            dtype_sources[dtype] = first.path if first else f"no {dtype} path"
            continue
        if clock_mhz is None:
            peaks[dtype] = None
            dtype_sources[dtype] = "no clock: " + " + ".join(terms)
            continue
        peaks[dtype] = total * clock_mhz * 1e6 / 1e12
        at = "" if role_clocks else f" x {clock_mhz / 1000:.3g} GHz"
        dtype_sources[dtype] = f"{' + '.join(terms)}{at}"
    return peaks, dtype_sources


def _apply_measured_floors(
    peaks: dict[str, float | None],
    dtype_sources: dict[str, str],
    notes: list[str],
    measured_tflops: Mapping[str, float],
    measured_sources: Mapping[str, str],
) -> bool:
    """A measured GEMM above the computed peak replaces it (the clock or core count was understated);
    below, a note says what share of the peak it reached. True when a measurement replaced a peak."""
    raised = False
    for dtype, measured in measured_tflops.items():
        if dtype not in peaks or measured is None:
            continue
        computed = peaks[dtype]
        how = measured_sources.get(dtype, "measured GEMM")
        if computed is None or computed < measured:
            peaks[dtype] = measured
            dtype_sources[dtype] = f"measured floor: {how} reached {measured * 1000:.1f} GFLOP/s"
            if computed is not None:
                notes.append(
                    f"{dtype}: computed {computed * 1000:.1f} GFLOP/s was below the "
                    f"{measured * 1000:.1f} measured here ({how}); reporting the measurement "
                    "(clock or core count is understated)"
                )
            raised = True
        else:
            notes.append(
                f"{dtype}: {how} reached {measured * 1000:.1f} GFLOP/s = {measured / computed:.0%} "
                "of this peak"
            )
    return raised


def cpu_peak(
    cpu: Cpu,
    cores: int | None = None,
    measured_tflops: Mapping[str, float] | None = None,
    *,
    measured_clock_mhz: float | None = None,
    measured_clock_source: str | None = None,
    measured_sources: Mapping[str, str] | None = None,
    clock_mhz: float | None = None,
    clock_source: str | None = None,
    device: str = "cpu",
    vector_scale: float = 1.0,
    vector_scale_source: str | None = None,
) -> DevicePeak:
    """The dense peak of a CPU, per dtype. `measured_tflops` (best GEMM per dtype, this device) is a floor.

    `vector_scale` scales the FMA-unit paths (not AMX) where a measurement showed fewer FMA units than the
    rate table assumes (one 512-bit unit where the row says two), with `vector_scale_source` saying so."""
    isa = _isa(cpu)
    counts, notes = count_cores(cpu, cores)
    if not cpu.isa:
        notes.append("ISA flags not recorded: assumed the micro-architecture's documented paths")
    role_clocks: dict[str, float] = {}
    if clock_mhz is not None:  # given by the caller (a spec sheet's boost clock for a recorded CPU)
        clock_notes: list[str] = []
        clock_source, estimated = clock_source or "given", False
        if any(c.role == "E" for c in counts):
            clock_notes.append(
                "every core counted at the one given clock: E-cores boost lower (an upper bound)"
            )
    else:
        clock_mhz, clock_source, estimated, clock_notes = _clock(
            cpu, measured_clock_mhz, measured_clock_source
        )
        if measured_clock_mhz is None and cpu.max_mhz_kind == "cpufreq":
            role_clocks = role_clocks_mhz(cpu, [c.role for c in counts])
            if role_clocks:
                clock_source = (
                    "cpufreq cpuinfo_max_freq of each core (max boost; all-core AVX clocks may be lower)"
                )
    notes.extend(clock_notes)
    if vector_scale != 1.0 and vector_scale_source:
        notes.append(vector_scale_source)
    uarch = cpu.microarchitecture
    if uarch is None or not any(r.microarchitecture == uarch for r in cpu_rates()):
        notes.append(
            f"micro-architecture {uarch or 'unknown'} is not in the rate table: "
            "per-cycle rates from ISA flags alone"
        )
        estimated = True

    per_role = {c.role: core_rates(uarch, c.role, isa) for c in counts}
    peaks, dtype_sources = _computed_peaks(counts, per_role, clock_mhz, role_clocks, vector_scale)
    if _apply_measured_floors(peaks, dtype_sources, notes, measured_tflops or {}, measured_sources or {}):
        estimated = True

    # bf16/fp16 computed through fp32 follow a raised fp32 floor ("at most the fp32 rate" stays true).
    for dtype in ("bf16", "fp16"):
        f32, v = peaks.get("fp32"), peaks.get(dtype)
        if (
            "converted to fp32" in dtype_sources.get(dtype, "")
            and f32 is not None
            and v is not None
            and v < f32
        ):
            peaks[dtype] = f32
            dtype_sources[dtype] += f"; raised to the measured fp32 {f32 * 1000:.1f} GFLOP/s"
    main = dtype_sources.get("fp32", "")
    source = f"computed: {main}" if not main.startswith("measured") else main
    return DevicePeak(
        device=device,
        name=cpu.model + (f" ({uarch})" if uarch and uarch not in cpu.model else ""),
        peaks_tflops=peaks,
        source=source,
        estimated=estimated,
        notes=tuple(notes),
        clock_mhz=clock_mhz,
        clock_source=clock_source,
        sm_count=None,
        dtype_sources=dtype_sources,
        computed=True,
    )
