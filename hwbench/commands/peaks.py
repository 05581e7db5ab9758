"""`hwbench peaks`: the dense theoretical peak of this machine's devices, or of `--gpu NAME` /
`--device cpu|cuda:N`, per dtype, with the source and clock beside every figure (presentation only; the
work is in hwbench.peaks).

JSON (`--json`, docs/peaks.md): {"devices": [DevicePeak...], "interrupted": bool}; a device with no known
peak is an entry with `"peaks_tflops": null` and a `reason`; `interrupted` is true when SIGINT/SIGTERM
stopped a measurement (--gemm, --measure), and the CPU's notes say what was not measured. With
`--nanogpt-mfu`/`--achieved-tflops` also `conversions`: [{`achieved_tflops`, `dtype`, `mfu`, ...}], a
printed MFU re-expressed against each device's own peak.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hwbench.bench.flops import NANOGPT_PEAK_TFLOPS, mfu_ratio
from hwbench.devices import recorded, resolve
from hwbench.errors import HwbenchError, InputError, one_line

if TYPE_CHECKING:
    from hwbench.model import System
    from hwbench.peaks import DevicePeak


@dataclasses.dataclass(frozen=True)
class Unknown:
    """A device asked about whose peak is not known (not in the table, not estimable)."""

    device: str
    name: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "name": self.name,
            "peaks_tflops": None,
            "source": None,
            "estimated": None,
            "notes": [self.reason],
            "reason": self.reason,
        }


Entry = "DevicePeak | Unknown"

_HINT = "pass --peak-tflops bf16=VALUE (TFLOP/s) from your GPU's datasheet"


def _parse_cc(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    major, _, minor = text.strip().partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise InputError(
            f"--cc expects MAJOR.MINOR (e.g. 8.9), got {text!r}",
            hint="the compute capability as `nvidia-smi --query-gpu=compute_cap --format=csv` prints it",
        ) from None


def _cpu_gemm_floors(quick: bool = True) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Best fp32 / bf16 GEMM on this CPU (hwbench.bench.matmul), as floors for the CPU peak."""
    floors: dict[str, float] = {}
    sources: dict[str, str] = {}
    notes: list[str] = []
    from hwbench import interrupt
    from hwbench.bench.matmul import best_gemm

    for dtype in ("fp32", "bf16"):
        # After SIGINT/SIGTERM nothing more is measured, and a GEMM it cut short is said to be interrupted
        # (best_gemm keeps the interrupt and then finds no point: not the GEMM's failure).
        if interrupt.received() is None:
            try:
                point = best_gemm(device="cpu", dtype=dtype, quick=quick)
            except KeyboardInterrupt as e:
                interrupt.note(e)
            except Exception as e:  # a dtype the build cannot run is a note, not a failure
                if interrupt.received() is None:
                    notes.append(f"{dtype} GEMM not measured ({one_line(e)})")
                    continue
            else:
                floors[dtype] = point.tflops
                sources[dtype] = f"best {dtype} GEMM ({point.library}, {point.shape})"
                continue
        notes.append(f"{dtype} GEMM not measured: interrupted by {interrupt.name()}")
    return floors, sources, notes


def collect(
    gpus: list[str],
    device: str | None,
    overrides: dict[str, float],
    sm_count: int | None = None,
    cc: tuple[int, int] | None = None,
    clock_mhz: float | None = None,
    gemm: bool = False,
    measure: bool | None = None,
    system: System | None = None,
) -> list[DevicePeak | Unknown]:
    """The entries to show, overrides applied."""
    from hwbench import interrupt
    from hwbench.peaks import gpu_peak, override_only_peak, peak_for_device, with_overrides
    from hwbench.peaks.gpu import identify, parse_pci_id

    entries: list[DevicePeak | Unknown] = []

    def cpu_entry(sys_: System | None) -> DevicePeak | None:
        floors: dict[str, float] = {}
        sources: dict[str, str] = {}
        notes: list[str] = []
        if gemm:
            floors, sources, notes = _cpu_gemm_floors()

        def peak(measure_: bool | None) -> DevicePeak | None:
            return peak_for_device(
                "cpu", sys_, measure=measure_, measured_tflops=floors, measured_sources=sources
            )

        # An interrupted run measures nothing more: the clock is read, not measured, and the figures
        # rest on what was measured before the signal.
        p = None
        if interrupt.received() is None:
            try:
                p = peak(measure)
            except KeyboardInterrupt as e:
                interrupt.note(e)
        if interrupt.received() is not None:
            p = peak(False)
            notes.append(
                f"measurement interrupted by {interrupt.name()}: the clock is not measured and the "
                "figures rest on what was measured before it"
            )
        if p is not None and notes:
            p = dataclasses.replace(p, notes=(*p.notes, *notes))
        return p

    for name in gpus:
        ids = parse_pci_id(name)  # "10de:2684": the card by PCI vendor:device id
        vendor_id, device_id = ids if ids is not None else (None, None)
        p = gpu_peak(
            name,
            device_id=device_id,
            sm_count=sm_count,
            compute_capability=cc,
            clock_mhz=clock_mhz,
            vendor="nvidia" if cc is not None else None,  # --cc is a CUDA compute capability
            vendor_id=vendor_id,
            clock_source="given on the command line (--clock-mhz)",
        )
        if p is not None:
            entries.append(p)
            continue
        lookup = identify(name, device_id, vendor_id=vendor_id)
        reason = lookup.reason or f"no peak known for '{name}'"
        if lookup.candidates:
            reason += " (give the full name as nvidia-smi prints it)"
        elif cc is None or sm_count is None or clock_mhz is None:
            reason += " (an estimate needs --sm-count, --cc and --clock-mhz)"
        entries.append(Unknown("gpu", name, reason))
    if device is not None:
        if resolve(device).is_host:
            p = cpu_entry(system)
        else:
            p = peak_for_device(device, system, sm_count=sm_count, cc=cc, clock=clock_mhz)
        entries.append(p if p is not None else Unknown(device, device, f"no peak known for {device}"))
    if not gpus and device is None:
        live = system is None
        if system is None:
            from hwbench.detect import detect_system

            system = detect_system()
        if system.cpu is not None:
            p = cpu_entry(system)
            if p is not None:
                entries.append(p)
        entries.extend(_system_gpus(system, live))

    out: list[DevicePeak | Unknown] = []
    for e in entries:
        if isinstance(e, Unknown):
            if overrides:
                out.append(override_only_peak(e.device, e.name, overrides, e.reason))
            else:
                out.append(e)
        else:
            out.append(with_overrides(e, overrides))
    return out


def _system_gpus(system: System, live: bool = True) -> list[DevicePeak | Unknown]:
    """Every GPU of `system`: through torch's numbering when `live` and torch can use them, else each
    detected GPU by its PCI slot (a recording: torch is not run)."""
    from hwbench.peaks import peak_for_device
    from hwbench.peaks.device import gpu_for_system
    from hwbench.peaks.gpu import identify

    out: list[DevicePeak | Unknown] = []
    gpus = [g for g in system.gpus if g.kind not in ("bmc", "virtual")]
    if live and "cuda" in system.torch.usable_devices:
        try:
            import torch

            n = torch.cuda.device_count()
        except Exception:
            n = 0
        for i in range(n):
            dev = f"cuda:{i}"
            p = peak_for_device(dev, system)
            out.append(p if p is not None else Unknown(dev, dev, f"no peak known for {dev}"))
        if n:
            return out
    for g in gpus:
        dev = f"gpu:{g.pci_slot}"
        p = gpu_for_system(g, dev)
        if p is None:
            reason = identify(g.name).reason or f"no peak known for '{g.name}'"
            out.append(Unknown(dev, g.name, reason))
        else:
            out.append(p)
    return out


# ----------------------------------------------------------------------------------------- conversions
@dataclasses.dataclass(frozen=True)
class Conversion:
    """A training script's printed MFU (or achieved TFLOP/s) re-expressed against a device's true peak."""

    device: str
    name: str
    dtype: str
    given: str  # what the user passed, e.g. "--nanogpt-mfu 10%"
    achieved_tflops: float
    promised_tflops: float | None  # the denominator the script divided by (nanoGPT 312, nanochat 989)
    peak_tflops: float | None
    peak_source: str
    mfu: float | None  # achieved / this device's dense peak; None above the peak (see reason)
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_percent(text: str) -> float:
    """ "10%", "10", "38.94 %" -> 0.10, 0.10, 0.3894: a percent, as nanoGPT and nanochat print MFU."""
    raw = text.strip().removesuffix("%").strip()
    try:
        v = float(raw)
    except ValueError:
        raise InputError(
            f"--nanogpt-mfu expects a percent as the script printed it, got {text!r}", hint="e.g. 10%"
        ) from None
    if not 0 < v < 10_000:
        raise InputError(
            f"--nanogpt-mfu: {text!r} is not a positive percent",
            hint="the 'mfu' nanoGPT's train.py printed, e.g. --nanogpt-mfu 38.5%",
        )
    return v / 100.0


def conversions(
    entries: list[DevicePeak | Unknown],
    dtype: str,
    printed_mfu: list[str],
    achieved_tflops: list[float],
    promised_tflops: float,
) -> list[Conversion]:
    """Each printed MFU (x promised TFLOP/s = achieved) and each achieved TFLOP/s, against every device
    whose dense `dtype` peak is known."""
    asked: list[tuple[str, float, float | None]] = [
        (f"--nanogpt-mfu {m}", parse_percent(m) * promised_tflops, promised_tflops) for m in printed_mfu
    ]
    for a in achieved_tflops:
        if not (math.isfinite(a) and a > 0):
            raise InputError(
                f"--achieved-tflops must be a positive number, got {a!r}",
                hint="the TFLOP/s your run reached, e.g. --achieved-tflops 120",
            )
        asked.append((f"--achieved-tflops {a:g}", a, None))
    out: list[Conversion] = []
    for e in entries:
        if isinstance(e, Unknown):
            continue
        peak = e.peak(dtype)
        source = e.dtype_sources.get(dtype) or e.source
        for given, achieved, promised in asked:
            mfu: float | None = None
            reason: str | None = None
            if peak is None or peak <= 0:
                reason = f"no dense {dtype} peak for {e.name} ({source})"
            elif (mfu := mfu_ratio(achieved, peak)) is None:
                reason = (
                    f"{achieved:.3g} TFLOP/s is above {e.name}'s dense {dtype} peak {peak:.3g}: the printed "
                    "figure is not from this GPU and dtype, or its FLOP count is off"
                )
            out.append(
                Conversion(e.device, e.name, dtype, given, achieved, promised, peak, source, mfu, reason)
            )
    return out


def render_conversions(items: list[Conversion]) -> None:
    from hwbench.console import stdout
    from hwbench.fmt import pct

    con = stdout()
    for c in items:
        head = c.given
        if c.promised_tflops is not None:
            head += f" (x {c.promised_tflops:g} TFLOP/s) = {c.achieved_tflops:.3g} TFLOP/s achieved"
        if c.mfu is None:
            con.print(f"{head}: [yellow]no true MFU[/yellow]: {c.reason}", highlight=False)
            continue
        con.print(
            f"{head} = [bold]{pct(c.mfu, 1)} MFU[/bold] on {c.name} "
            f"({c.achieved_tflops:.3g} / {c.peak_tflops:.3g} TFLOP/s dense {c.dtype}: {c.peak_source})",
            highlight=False,
        )


# --------------------------------------------------------------------------------------------- present
def _is_host(device: str) -> bool:
    dev = recorded(device)
    return dev is not None and dev.is_host


def _fmt_value(v: float | None, dtype: str) -> str:
    if v is None:
        return "-"
    unit = "OP/s" if dtype == "int8" else "FLOP/s"
    if v < 1:
        return f"{v * 1000:,.1f} G{unit}"
    # one decimal, or two where the datasheet prints two (L40S bf16 362.05)
    digits = 1 if abs(v * 10 - round(v * 10)) < 1e-6 else 2
    return f"{v:,.{digits}f} T{unit}"


def group_devices(entries: list[DevicePeak | Unknown]) -> list[tuple[str, DevicePeak | Unknown]]:
    """Devices whose figures read the same (eight GPUs of one model) as one entry, labelled
    "cuda:0-7"; in first-seen order."""
    from hwbench.fmt import ranges

    groups: list[tuple[list[str], DevicePeak | Unknown]] = []
    for e in entries:
        for devices, first in groups:
            if dataclasses.replace(e, device=first.device) == first:
                devices.append(e.device)
                break
        else:
            groups.append(([e.device], e))
    out: list[tuple[str, DevicePeak | Unknown]] = []
    for devices, first in groups:
        matches = [m for d in devices if (m := re.fullmatch(r"(.*?)(\d+)", d))]
        label = ", ".join(dict.fromkeys(devices))
        if len(devices) > 1 and len(matches) == len(devices) and len({m.group(1) for m in matches}) == 1:
            label = matches[0].group(1) + ranges([int(m.group(2)) for m in matches])  # "cuda:0-7"
        out.append((label, first))
    return out


def render(entries: list[DevicePeak | Unknown], details: bool = False) -> None:
    """Each device's peak table (devices that read the same as one), with the source of every figure;
    `details` adds the notes (clock measurement, FMA cross-check, GEMM floors)."""
    from rich.table import Table

    from hwbench.console import stdout
    from hwbench.fmt import plural
    from hwbench.peaks import DTYPES

    con = stdout()
    for label, e in group_devices(entries):
        if isinstance(e, Unknown):
            # most reasons already open with "no peak known for ..."; say it once
            said = e.reason if e.reason.startswith("no peak known") else f"no peak known — {e.reason}"
            con.print(f"[bold]{label}[/bold]  {e.name}: [yellow]{said}[/yellow]")
            con.print(f"  {_HINT}")
            continue
        kind = (
            "[yellow]estimated[/yellow]"
            if e.estimated
            else ("computed" if _is_host(e.device) or e.computed else "datasheet")
        )
        overridden = [d for d in DTYPES if d in e.overridden]
        if overridden:
            others = [d for d in DTYPES if d not in overridden and e.peaks_tflops.get(d) is not None]
            kind = f"user override: {', '.join(overridden)}" + (f"; other dtypes {kind}" if others else "")
        con.print(f"[bold]{label}[/bold]  {e.name}  ({kind}, dense)")
        con.print(f"  source: {e.source}")
        if e.clock_mhz:
            con.print(f"  clock:  {e.clock_mhz:.0f} MHz — {e.clock_source}")
        if e.memory_bandwidth_gbps:
            con.print(f"  memory bandwidth: {e.memory_bandwidth_gbps:g} GB/s")
        t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        t.add_column("dtype")
        t.add_column("dense peak", justify="right")
        t.add_column("source / path")
        for d in DTYPES:
            v = e.peaks_tflops.get(d)
            src = e.dtype_sources.get(d, "")
            if v is None and not src:
                src = "no figure"
            t.add_row(d, _fmt_value(v, d), src)
        con.print(t)
        for n in e.notes if details else ():
            con.print(f"  note: {n}")
        if e.notes and not details:
            con.print(f"  [dim]{plural(len(e.notes), 'note')}: --details[/dim]", highlight=False)
        con.print()


def run(
    gpus: list[str],
    device: str | None,
    peak_tflops: list[str],
    json_out: bool,
    sm_count: int | None = None,
    cc: str | None = None,
    clock_mhz: float | None = None,
    gemm: bool = False,
    measure: bool | None = None,
    dtype: str = "bf16",
    nanogpt_mfu: list[str] | None = None,
    achieved_tflops: list[float] | None = None,
    promised_tflops: float | None = None,
    replay: Path | None = None,
    details: bool = False,
) -> int:
    from hwbench import interrupt
    from hwbench.api import dtype_key
    from hwbench.peaks import parse_peak_overrides

    overrides = parse_peak_overrides(peak_tflops)
    dt = dtype_key(dtype)
    if promised_tflops is not None and not nanogpt_mfu:
        # the denominator of a printed MFU: alone (or with --achieved-tflops) it would change nothing
        raise InputError(
            "--promised-tflops is the peak a printed MFU was divided by: it needs --nanogpt-mfu",
            hint="add --nanogpt-mfu PERCENT (the MFU the script printed), or drop --promised-tflops",
        )
    if promised_tflops is None:
        promised_tflops = NANOGPT_PEAK_TFLOPS
    if not (math.isfinite(promised_tflops) and promised_tflops > 0):
        raise InputError(
            f"--promised-tflops must be a positive number, got {promised_tflops!r}",
            hint=f"the peak the script divided by, in TFLOP/s (nanoGPT's is {NANOGPT_PEAK_TFLOPS:g})",
        )
    for m in nanogpt_mfu or ():
        parse_percent(m)  # bad input fails before any lookup
    system = None
    if replay is not None:
        if gpus or device is not None or gemm:
            raise InputError(
                "--replay lists the recorded machine's own devices", hint="drop --gpu, --device and --gemm"
            )
        from hwbench.detect import replay as replay_dump

        system = replay_dump(replay)
        measure = False  # the clock of the recorded machine, never this one's
    entries = collect(
        gpus, device, overrides, sm_count, _parse_cc(cc), clock_mhz, gemm, measure, system=system
    )
    unknown = [e for e in entries if isinstance(e, Unknown)]
    converted = conversions(
        entries, dt, list(nanogpt_mfu or ()), list(achieved_tflops or ()), promised_tflops
    )
    if json_out:
        from hwbench.jsonout import document, emit, to_jsonable

        devices = [e.as_json() if isinstance(e, Unknown) else to_jsonable(e) for e in entries]
        payload: dict[str, Any] = {"devices": devices}
        if nanogpt_mfu or achieved_tflops:
            payload["conversions"] = [c.as_json() for c in converted]
        payload["interrupted"] = interrupt.received() is not None
        emit(document("peaks", payload))
    else:
        render([e for e in entries if not (isinstance(e, Unknown) and e.device == "gpu")], details)
        render_conversions(converted)
    # An unknown --gpu NAME is bad input: one line and exit 2 (the JSON above still says null + reason).
    asked = [e for e in unknown if e.device == "gpu"]
    if asked:
        ambiguous = "is ambiguous" in asked[0].reason  # then the name, not the peak, is what to fix
        hint = (
            "give the full name as nvidia-smi or torch prints it (one of those listed)"
            if ambiguous
            else _HINT
        )
        raise HwbenchError(asked[0].reason, hint=hint)
    return 0


def command(
    gpu: list[str] = typer.Option(
        [], "--gpu", help="A GPU name as NVML/torch print it, e.g. 'NVIDIA H100 80GB HBM3' (repeatable)."
    ),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda[:N] on this machine."),
    peak_tflops: list[str] = typer.Option(
        [], "--peak-tflops", help="Override a peak: DTYPE=TFLOPS, e.g. bf16=989.4 (repeatable)."
    ),
    sm_count: int | None = typer.Option(None, "--sm-count", help="SM count, to estimate an unknown GPU."),
    cc: str | None = typer.Option(None, "--cc", help="Compute capability, e.g. 8.9 (unknown GPU estimate)."),
    clock_mhz: float | None = typer.Option(None, "--clock-mhz", help="Max SM clock (unknown GPU estimate)."),
    gemm: bool = typer.Option(
        False, "--gemm", help="CPU: also time the best fp32/bf16 GEMM here; the peak is never below it."
    ),
    measure: bool | None = typer.Option(
        None,
        "--measure/--no-measure",
        help="CPU: measure the clock (default: only when it cannot be read, e.g. in a VM).",
    ),
    nanogpt_mfu: list[str] = typer.Option(
        [],
        "--nanogpt-mfu",
        metavar="PERCENT",
        help="Convert an MFU a training script printed (nanoGPT: against "
        f"{NANOGPT_PEAK_TFLOPS:g} TFLOP/s) into the true MFU of the device(s) shown, e.g. 10%. Repeatable.",
    ),
    achieved_tflops: list[float] = typer.Option(
        [],
        "--achieved-tflops",
        metavar="TFLOPS",
        help="Convert an achieved TFLOP/s into the true MFU. Repeatable.",
    ),
    promised_tflops: float | None = typer.Option(
        None,
        "--promised-tflops",
        metavar="TFLOPS",
        help=f"The peak the script divided --nanogpt-mfu by: nanoGPT {NANOGPT_PEAK_TFLOPS:g} (A100 bf16, the "
        "default), nanochat 989 (H100 bf16).",
    ),
    dtype: str = typer.Option("bf16", "--dtype", metavar="DTYPE", help="The dtype the conversions are for."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    replay: Path | None = typer.Option(
        None,
        "--replay",
        metavar="DIR",
        help="Every device of a machine recorded by `hwbench detect --dump DIR`, instead of this one.",
    ),
    details: bool = typer.Option(
        False, "--details", help="Also the notes: how the clock was measured, cross-checks, GEMM floors."
    ),
) -> None:
    """Theoretical dense peak FLOP/s per dtype, with the source and clock of every figure."""
    rc = run(
        gpu,
        device,
        peak_tflops,
        json_out,
        sm_count,
        cc,
        clock_mhz,
        gemm,
        measure,
        dtype,
        nanogpt_mfu,
        achieved_tflops,
        promised_tflops,
        replay,
        details,
    )
    if rc:
        raise typer.Exit(rc)
