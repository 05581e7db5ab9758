"""One pure function per check: records in (System, NVML field dicts, measured figures), CheckResult out.

No I/O here: `run.py` collects, these judge. A value a source could not give (NVML NotSupported, a
GPU without ECC) makes the check `skip` with the reason, never a crash and never a guess.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hwbench.check.parse import parse_version
from hwbench.check.results import CheckResult
from hwbench.check.summary import tally
from hwbench.detect.nvml import NOT_HELD_BACK, clock_event_name
from hwbench.fmt import plural
from hwbench.model import NA, Cpu, Gpu, NvmlGpu, System, TorchInfo


def field(nvml: Mapping[str, Any] | None, key: str) -> Any:
    """A GPU field by the name NvmlGpu / GpuTelemetry give it (their `.as_fields()`, which every
    reader produces: NVML, nvidia-smi, amdgpu); None when absent."""
    return nvml.get(key) if nvml else None


def _na_reason(value: Any, what: str) -> str:
    if isinstance(value, NA):
        return f"{what}: {value.reason}"
    return f"{what}: not reported"


def gpu_label(index: int, gpu: Gpu) -> str:
    return f"gpu{index} {gpu.pci_slot}"


def counted_gpus(system: System) -> list[Gpu]:
    """GPUs that can compute: discrete and integrated ones (a BMC console or a virtual display is not)."""
    return [g for g in system.gpus if g.kind in ("discrete", "integrated")]


def nvml_gpus(system: System) -> list[tuple[int, Gpu]]:
    """(index among counted GPUs, gpu) for the GPUs that carry NVML fields."""
    return [(i, g) for i, g in enumerate(counted_gpus(system)) if g.nvml]


def _gpu_names(gpus: Sequence[Gpu]) -> str:
    """Each kind of GPU once: "8x NVIDIA H100 80GB HBM3 (GH100) (discrete, 0000:18:00.0 ...)"."""
    groups: dict[tuple[str, str], list[str]] = {}
    for g in gpus:
        groups.setdefault((g.name, g.kind), []).append(g.pci_slot)
    parts = []
    for (name, kind), slots in groups.items():
        where = slots[0] if len(slots) == 1 else f"{slots[0]} ... {slots[-1]}"
        parts.append(
            f"{len(slots)}x {name} ({kind}, {where})" if len(slots) > 1 else f"{name} ({kind}, {where})"
        )
    return ", ".join(parts) or "none"


# --- inventory ---------------------------------------------------------------------------------------


def check_min_gpus(system: System, minimum: int) -> CheckResult:
    gpus = counted_gpus(system)
    n = len(gpus)
    ignored = [g for g in system.gpus if g not in gpus]
    note = f"; not counted: {_gpu_names(ignored)}" if ignored else ""
    ok = n >= minimum
    msg = f"{plural(n, 'GPU')} found, expected at least {minimum}: {_gpu_names(gpus)}{note}"
    return CheckResult(
        "min_gpus", "pass" if ok else "fail", n, minimum, msg, unit="GPUs", op=">=", source=system.source
    )


def product_name(name: str) -> str:
    """A GPU's name without the die hwbench shows after it ("NVIDIA GH200 480GB (GH100)" -> "NVIDIA GH200
    480GB"); other parentheses stay ("... (Laptop)")."""
    from hwbench.detect.pciids import split_die

    return split_die(name)[0]


def check_gpu_model(system: System, pattern: str) -> CheckResult:
    """Every counted GPU's name matches the glob (case-insensitive); no GPU at all is a failure."""
    gpus = counted_gpus(system)
    names = [g.name for g in gpus]
    if not gpus:
        return CheckResult(
            "gpu_model",
            "fail",
            [],
            pattern,
            f"no GPU to match {pattern!r}",
            op="matches",
            source=system.source,
        )
    pat = pattern.lower()
    # the product is matched, not the die shown beside it: '*H100*' must not pass a "GH200 (GH100)",
    # nor '*A100*' an "A30 PCIe (GA100GL)"
    bad = [n for n in names if not fnmatch.fnmatchcase(product_name(n).lower(), pat)]
    if bad:
        which = (
            "the GPU does not"
            if len(names) == 1
            else f"{len(bad)} of {len(names)} GPUs {'does' if len(bad) == 1 else 'do'} not"
        )
        msg = f"{which} match {pattern!r}: {tally(bad)}"
        hint = "" if any(c in pattern for c in "*?[") else " (no wildcard: the whole name must match)"
        return CheckResult(
            "gpu_model", "fail", names, pattern, msg + hint, op="matches", source=system.source
        )
    return CheckResult(
        "gpu_model",
        "pass",
        names,
        pattern,
        f"all {plural(len(names), 'GPU')} match {pattern!r}"
        if len(names) != 1
        else f"the GPU matches {pattern!r}",
        op="matches",
        source=system.source,
    )


def check_min_gpu_memory(system: System, minimum_gb: float) -> list[CheckResult]:
    """Per NVIDIA GPU, NVML's total memory in decimal GB (an "80GB" H100 reports 85.5e9 bytes)."""
    gpus = nvml_gpus(system)
    if not gpus:
        return [
            CheckResult(
                "min_gpu_memory_gb",
                "skip",
                None,
                minimum_gb,
                "no GPU with NVML memory figures (NVIDIA driver and NVML needed)",
                unit="GB",
                op=">=",
            )
        ]
    out = []
    for i, g in gpus:
        total = g.nvml.memory_total_bytes if g.nvml is not None else NA("no NVML fields")
        label = gpu_label(i, g)
        name = f"min_gpu_memory_gb@gpu{i}"
        if not isinstance(total, (int, float)):
            out.append(
                CheckResult(
                    name,
                    "skip",
                    None,
                    minimum_gb,
                    _na_reason(total, "memory total"),
                    unit="GB",
                    op=">=",
                    device=label,
                )
            )
            continue
        gb = total / 1e9
        ok = gb >= minimum_gb
        out.append(
            CheckResult(
                name,
                "pass" if ok else "fail",
                round(gb, 2),
                minimum_gb,
                f"{g.name}: {gb:.1f} GB (NVML total, decimal GB), expected >= {minimum_gb:g}",
                unit="GB",
                op=">=",
                device=label,
                source="NVML",
            )
        )
    return out


def check_min_driver(system: System, minimum: str) -> CheckResult:
    versions = {v for _, g in nvml_gpus(system) if g.nvml and isinstance(v := g.nvml.driver_version, str)}
    if not versions:
        return CheckResult(
            "min_driver",
            "skip",
            None,
            minimum,
            "no NVIDIA driver version (no NVIDIA GPU, or NVML not loadable)",
            op=">=",
        )
    want = parse_version(minimum) or ()
    worst = min(versions, key=lambda v: parse_version(v) or ())
    have = parse_version(worst)
    if have is None:
        return CheckResult(
            "min_driver",
            "skip",
            worst,
            minimum,
            f"driver version {worst!r} is not numeric",
            op=">=",
            source="NVML",
        )
    ok = have >= want
    msg = f"NVIDIA driver {worst}, expected >= {minimum}"
    if len(versions) > 1:
        msg += f" (GPUs report different drivers: {', '.join(sorted(versions))})"
    return CheckResult("min_driver", "pass" if ok else "fail", worst, minimum, msg, op=">=", source="NVML")


def check_isa(cpu: Cpu | None, flag: str) -> CheckResult:
    name = f"require_isa[{flag}]"
    if cpu is None:
        return CheckResult(name, "skip", None, flag, "CPU not detected", op="has")
    ok = flag in cpu.isa
    if ok:
        msg = f"{cpu.model} has {flag}"
    else:
        near = sorted(f for f in cpu.isa if f.startswith(flag[:4]))[:8]
        msg = f"{cpu.model} lacks {flag}" + (f" (has: {' '.join(near)})" if near else "")
    return CheckResult(
        name, "pass" if ok else "fail", flag if ok else None, flag, msg, op="has", source=cpu.source
    )


@dataclass(frozen=True)
class TorchRuntime:
    """What importing torch said about a device: usable or not, how many, and why not."""

    device: str
    usable: bool
    count: int
    detail: str


def check_torch_can_use(torch: TorchInfo, device: str, runtime: TorchRuntime | None = None) -> CheckResult:
    """The build (package metadata, from detect) and, when given, the runtime answer (torch imported)."""
    name = f"torch_can_use[{device}]"
    kind = device.split(":")[0]
    if not torch.installed:
        return CheckResult(name, "fail", None, device, "torch is not installed", op="has")
    build = f"torch {torch.version or '?'} ({torch.build or 'unknown build'})"
    if runtime is not None:
        ok = runtime.usable
        msg = f"{build}: {runtime.detail}"
        return CheckResult(
            name,
            "pass" if ok else "fail",
            runtime.count if ok else 0,
            device,
            msg,
            op="has",
            source="torch runtime",
        )
    ok = kind in torch.usable_devices
    why = "; ".join(torch.messages)
    msg = f"{build} {'can' if ok else 'cannot'} use {device}" + (f": {why}" if why and not ok else "")
    return CheckResult(
        name, "pass" if ok else "fail", list(torch.usable_devices), device, msg, op="has", source=torch.source
    )


# --- measured figures --------------------------------------------------------------------------------


# A matmul figure's name is its dtype and this suffix (`fp32_tflops`): the name a baseline file keeps.
_GEMM_SUFFIX = "_tflops"


@dataclass(frozen=True)
class Figure:
    """One measured number, its unit in the name (`fp32_tflops`), where it ran and how it was measured.

    `dtype` is the GEMM dtype of a matmul figure ("fp32"), None for the others (MFU, bus bandwidth):
    read from the name once, here, so no caller parses names."""

    device: str
    name: str
    value: float | None
    source: str
    error: str | None = None  # why value is None
    runs: int = 1  # measurements it is the best of (`Measurer.best_of`)
    dtype: str | None = dataclasses.field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.name.endswith(_GEMM_SUFFIX):
            object.__setattr__(self, "dtype", self.name.removesuffix(_GEMM_SUFFIX))

    @staticmethod
    def matmul_name(dtype: str) -> str:
        """The name of the matmul figure in `dtype` (its key in a baseline file)."""
        return f"{dtype}{_GEMM_SUFFIX}"


def check_min_tflops(fig: Figure, dtype: str, minimum: float) -> CheckResult:
    name = f"min_tflops[{dtype}]@{fig.device}"
    if fig.value is None:
        return CheckResult(
            name,
            "skip",
            None,
            minimum,
            fig.error or "not measured",
            unit="TFLOP/s",
            op=">=",
            device=fig.device,
        )
    ok = fig.value >= minimum
    msg = f"{dtype} matmul {fig.value:.3g} TFLOP/s measured on {fig.device}, expected >= {minimum:g}"
    return CheckResult(
        name,
        "pass" if ok else "fail",
        round(fig.value, 4),
        minimum,
        msg,
        unit="TFLOP/s",
        op=">=",
        device=fig.device,
        source=fig.source,
    )


def check_fraction_of_peak(
    fig: Figure, dtype: str, peak_tflops: float | None, peak_source: str, minimum: float
) -> CheckResult:
    name = f"min_fraction_of_peak[{dtype}]@{fig.device}"
    if fig.value is None:
        return CheckResult(
            name, "skip", None, minimum, fig.error or "not measured", op=">=", device=fig.device
        )
    if not peak_tflops:
        return CheckResult(
            name,
            "skip",
            None,
            minimum,
            f"no {dtype} peak known for {fig.device} ({peak_source}); give --peak-tflops",
            op=">=",
            device=fig.device,
        )
    frac = fig.value / peak_tflops
    ok = frac >= minimum
    msg = (
        f"{dtype} matmul {fig.value:.3g} TFLOP/s = {frac:.1%} of the {peak_tflops:.4g} TFLOP/s dense peak "
        f"({peak_source}), expected >= {minimum:.0%}"
    )
    return CheckResult(
        name,
        "pass" if ok else "fail",
        round(frac, 4),
        minimum,
        msg,
        op=">=",
        device=fig.device,
        source=fig.source,
    )


def check_min_mfu(device: str, mfu: float | None, minimum: float, detail: str) -> CheckResult:
    name = f"min_mfu@{device}"
    if mfu is None:
        return CheckResult(name, "skip", None, minimum, detail, op=">=", device=device)
    ok = mfu >= minimum
    msg = f"MFU {mfu:.1%} ({detail}), expected >= {minimum:.1%}"
    return CheckResult(
        name,
        "pass" if ok else "fail",
        round(mfu, 4),
        minimum,
        msg,
        op=">=",
        device=device,
        source="hwbench mfu",
    )


def check_max_spread(figures: Sequence[Figure], max_pct: float) -> list[CheckResult]:
    """The straggler: each device's figure against the median of its *peers* (every other device).

    Comparing with the peers' median, not one that includes the device itself, keeps the test
    meaningful for two devices and is not pulled towards the device under test.
    """
    valid = [f for f in figures if f.value is not None and math.isfinite(f.value) and f.value > 0]
    if len(valid) < 2:
        why = "needs at least 2 measured GPUs" + (f", have {len(valid)}" if figures else "")
        return [CheckResult("max_spread", "skip", None, max_pct, why, unit="%", op="<=")]
    out = []
    for i, f in enumerate(valid):
        assert f.value is not None
        peers = [p.value for j, p in enumerate(valid) if j != i and p.value is not None]
        med = statistics.median(peers)
        below_pct = (1.0 - f.value / med) * 100.0
        ok = below_pct <= max_pct
        unit = f.dtype or f.name
        msg = (
            f"{f.device}: {f.value:.4g} TFLOP/s ({unit}) is {abs(below_pct):.1f}% "
            f"{'below' if below_pct >= 0 else 'above'} the median of its {len(peers)} peers "
            f"({med:.4g}), allowed {max_pct:g}% below"
        )
        out.append(
            CheckResult(
                f"max_spread@{f.device}",
                "pass" if ok else "fail",
                round(below_pct, 2),
                max_pct,
                msg + ("" if ok else ": straggler"),
                unit="% below peer median",
                op="<=",
                device=f.device,
                source=f.source,
            )
        )
    return out


def check_min_busbw(busbw_gbps: float | None, minimum: float, detail: str) -> CheckResult:
    if busbw_gbps is None:
        return CheckResult("min_busbw", "skip", None, minimum, detail, unit="GB/s", op=">=")
    ok = busbw_gbps >= minimum
    msg = f"all-reduce bus bandwidth {busbw_gbps:.3g} GB/s ({detail}), expected >= {minimum:g}"
    return CheckResult(
        "min_busbw",
        "pass" if ok else "fail",
        round(busbw_gbps, 3),
        minimum,
        msg,
        unit="GB/s",
        op=">=",
        source="hwbench comm",
    )


def check_regression(fig: Figure, baseline_value: float, max_regression_pct: float) -> CheckResult:
    name = f"baseline[{fig.name}]@{fig.device}"
    floor = baseline_value * (1.0 - max_regression_pct / 100.0)
    if fig.value is None:
        return CheckResult(
            name,
            "fail",
            None,
            baseline_value,
            f"could not re-measure {fig.name} on {fig.device}: {fig.error or 'unknown reason'}",
            op=">=",
            device=fig.device,
        )
    change = (fig.value / baseline_value - 1.0) * 100.0 if baseline_value else 0.0
    ok = fig.value >= floor
    msg = (
        f"{fig.name} {fig.value:.4g} vs baseline {baseline_value:.4g} ({change:+.1f}%), "
        f"allowed {max_regression_pct:g}% below"
    )
    return CheckResult(
        name,
        "pass" if ok else "fail",
        round(fig.value, 4),
        round(floor, 4),
        msg + ("" if ok else ": regression"),
        op=">=",
        device=fig.device,
        source=fig.source,
    )


# --- health, under load ------------------------------------------------------------------------------


def check_pcie_full(
    device: str, samples: Sequence[Mapping[str, Any]], when: str = "under load", *, snapshot: bool = False
) -> CheckResult:
    """Under load the link must train to its maximum generation and width.

    An idle GPU drops its link to gen 1 to save power (nvidia-smi documents "these may be reduced
    when the GPU is not in use"), so this reads NVML while a matmul runs and takes the best link seen:
    a link that never reaches its maximum under load is degraded (a x8 slot, a bad riser, a BIOS
    setting), one that ramped up late is not.

    `snapshot`: the samples are a recording hwbench did not load the GPU for. Its width still judges
    the link (an idle link keeps its lanes), but a generation below the maximum may be the idle
    downshift, so with full width that is a skip, not a failure.
    """
    name = f"pcie_full@{device}"
    if not samples:
        return CheckResult(
            name, "skip", None, "gen max x width max", "no NVML samples under load", device=device
        )
    fields = ("pcie_gen_current", "pcie_gen_max", "pcie_width_current", "pcie_width_max")
    rows = [{k: field(s, k) for k in fields} for s in samples]
    good = [r for r in rows if all(isinstance(r[k], int) for k in fields)]
    if not good:
        first = rows[0]
        missing = next(k for k in fields if not isinstance(first[k], int))
        return CheckResult(
            name,
            "skip",
            None,
            "gen max x width max",
            _na_reason(field(samples[0], missing), missing),
            device=device,
            source="NVML",
        )
    gen = max(r["pcie_gen_current"] for r in good)
    width = max(r["pcie_width_current"] for r in good)
    gen_max, width_max = good[-1]["pcie_gen_max"], good[-1]["pcie_width_max"]
    ok = gen >= gen_max and width >= width_max
    measured = f"gen{gen} x{width}"
    expected = f"gen{gen_max} x{width_max}"
    what = []
    if gen < gen_max:
        what.append(f"generation {gen} of {gen_max}")
    if width < width_max:
        what.append(f"width x{width} of x{width_max}")
    msg = f"PCIe link {measured} {when} (best of {plural(len(good), 'NVML sample')}), maximum {expected}"
    if snapshot and not ok and width >= width_max:
        why = (
            f"PCIe link {measured} {when}, maximum {expected}: an idle GPU drops its link generation to "
            "save power, so a recording cannot tell this from a slow link; run the check live, where "
            "hwbench loads the GPU"
        )
        return CheckResult(name, "skip", measured, expected, why, op="==", device=device, source="NVML")
    msg += "" if ok else f": degraded ({', '.join(what)})"
    return CheckResult(
        name,
        "pass" if ok else "fail",
        measured,
        expected,
        msg,
        op="==",
        device=device,
        source="NVML under load",
    )


def check_no_throttle(
    device: str, samples: Sequence[Mapping[str, Any]], when: str = "under load"
) -> CheckResult:
    """No clock-event reason beyond idle / application clocks / software power cap in any sample."""
    name = f"no_throttle@{device}"
    if not samples:
        return CheckResult(name, "skip", None, [], "no NVML samples under load", device=device)
    lists = [field(s, "clock_event_reasons") for s in samples]
    readable = [r for r in lists if isinstance(r, (list, tuple))]
    if not readable:
        return CheckResult(
            name, "skip", None, [], _na_reason(lists[0], "clock event reasons"), device=device, source="NVML"
        )
    counts: dict[str, int] = {}
    for reasons in readable:
        for r in reasons:
            key = clock_event_name(r)
            if key not in NOT_HELD_BACK:
                counts[key] = counts.get(key, 0) + 1
    bad = sorted(counts)
    clocks = [(field(s, "sm_clock_mhz"), field(s, "sm_clock_max_mhz")) for s in samples]
    clock_note = ""
    sm = [c for c, m in clocks if isinstance(c, int)]
    mx = [m for c, m in clocks if isinstance(m, int)]
    if sm and mx:
        clock_note = f"; SM clock {min(sm)}-{max(sm)} of {max(mx)} MHz"
    if bad:
        seen = ", ".join(f"{b} in {counts[b]}/{len(readable)} samples" for b in bad)
        msg = f"clocks held back {when}: {seen}{clock_note}"
        return CheckResult(name, "fail", bad, [], msg, op="==", device=device, source="NVML under load")
    msg = f"no throttling reason in {plural(len(readable), 'NVML sample')} {when}{clock_note}"
    return CheckResult(name, "pass", [], [], msg, op="==", device=device, source="NVML under load")


def check_max_ecc_errors(device: str, nvml: NvmlGpu | Mapping[str, Any] | None, maximum: int) -> CheckResult:
    """Uncorrectable ECC errors since the driver loaded (NVML's volatile count, nvidia-smi's
    "Volatile Uncorr. ECC" column), the lifetime (aggregate) count shown beside it: an old error the
    driver has since remapped away is history, not a fault of this boot. Where only the lifetime
    count was read, that is what is held against the maximum, and the message says so."""
    name = f"max_ecc_errors@{device}"
    if isinstance(nvml, NvmlGpu):
        nvml = nvml.as_fields()
    volatile = field(nvml, "ecc_uncorrected_volatile")
    aggregate = field(nvml, "ecc_uncorrected_aggregate")
    src = str((nvml or {}).get("source", "NVML"))
    if isinstance(volatile, bool):  # not a count
        volatile = None
    if isinstance(volatile, int):
        count, what = volatile, "since the driver loaded"
        if isinstance(aggregate, int) and aggregate != volatile:
            what += f" (lifetime: {aggregate})"
    elif isinstance(aggregate, int) and not isinstance(aggregate, bool):
        why = f" ({volatile.reason})" if isinstance(volatile, NA) else ""
        count, what = aggregate, f"in the GPU's lifetime (aggregate); the since-boot count was not read{why}"
    else:
        mode = field(nvml, "ecc_mode_current")
        why = _na_reason(volatile if volatile is not None else aggregate, "uncorrectable ECC errors")
        if mode is False or (isinstance(mode, str) and mode.lower() != "enabled"):
            why = "ECC is disabled on this GPU"
        elif isinstance(mode, NA):
            why = f"ECC mode: {mode.reason}"
        return CheckResult(name, "skip", None, maximum, why, unit="errors", op="<=", device=device)
    ok = count <= maximum
    msg = f"{plural(count, 'uncorrectable ECC error')} {what}, allowed {maximum}"
    return CheckResult(
        name, "pass" if ok else "fail", count, maximum, msg, unit="errors", op="<=", device=device, source=src
    )
