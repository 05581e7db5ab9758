"""`hwbench check` end to end: collect, measure what the expectations need, judge, store.

The order matters for a gate: everything that can make the run a usage error (a bad config, a corrupt
baseline, an unreadable replay file) is read before anything is measured, so exit 2 comes in a
fraction of a second; measurements run once each and are shared by every check that needs them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwbench import interrupt
from hwbench.check import checks as C
from hwbench.check.baseline import (
    Baseline,
    fingerprint,
    fingerprint_differences,
    load_baseline,
    save_baseline,
)
from hwbench.check.registry import STAGES, Expectations, Stage, evaluators
from hwbench.check.results import CheckResult, Summary, apply_strict, summarize
from hwbench.check.state import Log, Measurer, RunState, is_host, measure_devices
from hwbench.errors import HwbenchError, InputError
from hwbench.fleet.dist import FleetContext
from hwbench.fmt import plural
from hwbench.model import System, TorchInfo


@dataclass(frozen=True)
class CheckOptions:
    expectations: Expectations
    save_baseline: Path | None = None
    baseline: Path | None = None
    nvidia_smi: Path | None = None  # replay a saved `nvidia-smi -q` (or table) instead of this machine
    replay_dir: Path | None = None  # judge a `hwbench detect --dump` recording instead of this machine
    threads: int | None = None


@dataclass
class CheckReport:
    results: list[CheckResult]
    summary: Summary
    figures: list[C.Figure]
    warnings: list[str]
    system: System | None
    elapsed_s: float
    defaults_used: bool = False
    baseline: dict[str, Any] | None = None
    saved_baseline: str | None = None
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # outputs that could not be written (--save-baseline): reported after the verdict, never instead
    write_errors: list[HwbenchError] = field(default_factory=list)


def _quiet(_: str) -> None:
    pass


def replay_system(path: Path) -> System:
    """A System holding only the GPUs of a saved nvidia-smi output (no CPU, no torch: not this machine)."""
    from hwbench.check.smi import gpus_from_smi, parse_nvidia_smi
    from hwbench.userfile import read_regular_bytes

    # a FIFO or device is refused before it is opened; stray bytes of a saved output are replaced
    text = read_regular_bytes(Path(path), "--nvidia-smi-q file").decode("utf-8", errors="replace")
    log = parse_nvidia_smi(text)
    return System(
        cpu=None,
        memory=None,
        gpus=gpus_from_smi(log),
        torch=TorchInfo(installed=False, messages=("not this machine: replaying an nvidia-smi output",)),
        source=f"nvidia-smi output {path}",
    )


def default_expectations(system: System) -> Expectations:
    """No expectation given: the health checks that hold for any machine (torch can use what is
    there, no uncorrectable ECC errors)."""
    kinds = []
    # NVIDIA GPUs, and AMD's discrete ones (ROCm drives them as "cuda"; it supports few APUs)
    if any(g.vendor == "nvidia" or (g.vendor, g.kind) == ("amd", "discrete") for g in C.counted_gpus(system)):
        kinds.append("cuda")
    kinds.append("cpu")
    ecc = 0 if C.nvml_gpus(system) else None
    return Expectations(torch_can_use=tuple(kinds), max_ecc_errors=ecc)


def run_check(
    opts: CheckOptions, *, system: System | None = None, ctx: FleetContext | None = None, log: Log = _quiet
) -> CheckReport:
    """Judge this machine (or a recording) against `opts`: the usage errors first, then the checks by
    stage as the registry orders them, the baseline, and the baseline to save."""
    t0 = time.perf_counter()
    # 1. everything that can be a usage error, before any measurement
    base: Baseline | None = load_baseline(opts.baseline) if opts.baseline else None
    if system is None:
        system = _judged_system(opts)
    warnings = list(system.warnings)
    exp = opts.expectations
    defaults_used = exp.is_empty() and base is None and opts.save_baseline is None
    if defaults_used:
        exp = dataclasses.replace(default_expectations(system), level=exp.level, strict=exp.strict)
    smi_only = opts.nvidia_smi is not None  # GPUs only: no CPU, no torch in a saved nvidia-smi output
    replay = smi_only or opts.replay_dir is not None
    m = Measurer(exp.device, exp.level, system, replay, opts.threads, log)
    st = RunState(system, m, ctx, log, smi_only=smi_only, replay=replay)

    results: list[CheckResult] = []
    base_info = None
    try:  # an interrupt keeps the checks done so far and fails the run (below)
        _run_stage(exp, st, "inventory", results)  # 2. inventory (no measurement)
        _measured(exp, opts, st, base is not None, results)  # 3. measured figures; 4. under load
        if base is not None:  # 5. baseline: re-measure what it holds
            base_info = _baseline_info(base, exp, st.system, warnings)
            for bf in base.figures:
                results.append(
                    C.check_regression(_remeasure(bf, exp, st), bf.value or 0.0, exp.max_regression_pct)
                )
    except KeyboardInterrupt as e:
        interrupt.note(e)
    if interrupt.received() is not None:
        results.append(
            CheckResult(
                "interrupted",
                "fail",
                interrupt.name(),
                None,
                f"stopped by {interrupt.name()} before every check ran: the checks above are from a "
                "partial run, which is never a pass",
                source="signal",
            )
        )
    # 6. save a baseline of what was measured (the default figure when nothing was)
    saved, write_errors = _save(opts, exp, st, warnings)
    if exp.strict:
        results = apply_strict(results)
    summary = summarize(results, strict=exp.strict)
    signal_code = interrupt.exit_code()
    if signal_code is not None:  # the document says the code the process ends with: 130 or 143
        summary = dataclasses.replace(summary, exit_code=signal_code)
    return CheckReport(
        results=results,
        summary=summary,
        figures=list(m.figures.values()),
        warnings=warnings,
        system=system,
        elapsed_s=time.perf_counter() - t0,
        defaults_used=defaults_used,
        baseline=base_info,
        saved_baseline=saved,
        write_errors=write_errors,
    )


def _judged_system(opts: CheckOptions) -> System:
    """This machine, or the recording --nvidia-smi-q / --replay names."""
    if opts.nvidia_smi is not None:
        return replay_system(opts.nvidia_smi)
    if opts.replay_dir is not None:
        from hwbench.detect import replay as replay_dump

        return replay_dump(opts.replay_dir)
    from hwbench.detect import detect_system

    return detect_system()


def _run_stage(exp: Expectations, st: RunState, stage: Stage, results: list[CheckResult]) -> None:
    """Every check of one stage that `exp` asks for; results are kept one by one, so an interrupt
    keeps those already judged."""
    for evaluate in evaluators(exp, stage):
        for r in evaluate(exp, st):
            results.append(r)


def _measured(
    exp: Expectations, opts: CheckOptions, st: RunState, has_baseline: bool, results: list[CheckResult]
) -> None:
    """Pick where to measure, fail a named device torch cannot use, then every measuring stage."""
    stages = {s.stage for s in exp.checks_asked()}
    needs_device = bool(stages & {"matmul", "step"}) or opts.save_baseline is not None
    wants_devices = needs_device or has_baseline or "load" in stages
    if wants_devices and not st.replay:
        st.devices = measure_devices(exp.device, st.measurer, st.ctx)
    if needs_device and exp.device and not is_host(exp.device) and st.ctx is None:
        # The user named where to measure: a device torch cannot use there fails the gate (a runner
        # whose GPU vanished, a CPU-only wheel), instead of every measurement quietly skipping.
        from hwbench.check.measure import torch_runtime

        rt = torch_runtime(exp.device)
        if not rt.usable:
            results.append(
                CheckResult(
                    f"device[{exp.device}]",
                    "fail",
                    None,
                    exp.device,
                    rt.detail,
                    op="has",
                    source="torch runtime",
                )
            )
            st.measurer.unusable = rt.detail
    for stage in STAGES:
        if stage != "inventory":
            _run_stage(exp, st, stage, results)


def _baseline_info(base: Baseline, exp: Expectations, system: System, warnings: list[str]) -> dict[str, Any]:
    """The baseline as the --json document describes it; a machine or stack unlike the one it was
    measured on is a warning."""
    diffs = fingerprint_differences(base.fingerprint, fingerprint(system))
    for d in diffs:
        warnings.append(f"baseline {base.path.name} was measured on another machine or stack: {d}")
    return {
        "path": str(base.path),
        "created": base.created,
        "level": base.level,
        "max_regression_pct": exp.max_regression_pct,
        "fingerprint_differences": diffs,
    }


def _save(
    opts: CheckOptions, exp: Expectations, st: RunState, warnings: list[str]
) -> tuple[str | None, list[HwbenchError]]:
    """--save-baseline: what was measured (the default figure when nothing was), each matmul figure
    the better of two runs. Returns the path written and the errors of a write that failed."""
    if opts.save_baseline is None:
        return None, []
    if interrupt.received() is not None:
        warnings.append(f"no baseline written to {opts.save_baseline}: the run was interrupted")
        return None, []
    if st.replay:
        raise InputError(
            "--save-baseline needs measurements: it cannot be used with --nvidia-smi-q",
            hint="save the baseline on the machine itself, without --nvidia-smi-q",
        )
    m = st.measurer
    if not any(f.value is not None for f in m.figures.values()):
        from hwbench.check.measure import default_dtype

        for dev in st.devices:
            m.matmul(dev, default_dtype(dev))
    for (dev, _), f in list(m.figures.items()):
        # a baseline is the reference of what the machine can do: the better of two runs, so
        # that one stalled run does not become the bar every later run is held against
        if f.dtype is not None and f.value is not None and f.runs == 1:
            m.best_of(dev, f.dtype, 2)
    figs = [f for f in m.figures.values() if f.value is not None]
    if not figs:
        raise InputError(
            "nothing could be measured, so no baseline was written",
            hint="; ".join(f.error or "" for f in m.figures.values()) or None,
        )
    try:
        save_baseline(opts.save_baseline, figs, fingerprint(st.system), exp.level)
    except HwbenchError as e:  # the verdict is still reported; the command says this after it
        return None, [e]
    st.log(f"baseline with {plural(len(figs), 'figure')} written to {opts.save_baseline}")
    return str(opts.save_baseline), []


def _remeasure(bf: C.Figure, exp: Expectations, st: RunState) -> C.Figure:
    """The same figure measured now, on the same device, the same way."""
    m, system, ctx, log = st.measurer, st.system, st.ctx, st.log
    if bf.dtype is not None:
        dtype = bf.dtype
        if not is_host(bf.device) and ctx is None and bf.device not in m.cuda():
            return C.Figure(
                bf.device, bf.name, None, "", error=f"{bf.device} is not a GPU torch can use here"
            )
        dev = ctx.device_for(bf.device) if ctx is not None else bf.device
        fig = m.matmul(dev, dtype)
        floor = (bf.value or 0.0) * (1.0 - exp.max_regression_pct / 100.0)
        if fig.value is not None and fig.value < floor:
            # A regression must reproduce: a stalled VM or a neighbour's job can halve one quick
            # measurement, so measure up to four more times, spaced over a few seconds, and keep the
            # best run (stopping as soon as one clears the bar).
            log(f"{bf.name} on {dev} below the baseline: measuring again to confirm...")
            fig = m.best_of(dev, dtype, 5, stop_at=floor, pause_s=1.0)
        return C.Figure(bf.device, bf.name, fig.value, fig.source, fig.error)
    if bf.name == "mfu_fraction":
        key = (bf.device, bf.name)
        if key not in m.figures:
            from hwbench.check.measure import measure_mfu

            log(f"re-measuring MFU on {bf.device}...")
            v, detail = measure_mfu(bf.device, exp.preset, exp.level, system)
            m.put(C.Figure(bf.device, bf.name, v, detail, None if v is not None else detail))
        return m.figures[key]
    if bf.name == "busbw_gbps":
        key = ("all", bf.name)
        if key not in m.figures:
            from hwbench.check.measure import measure_busbw

            v, detail = measure_busbw(ctx)
            m.put(C.Figure("all", bf.name, v, detail, None if v is not None else detail))
        return m.figures[key]
    return C.Figure(
        bf.device, bf.name, None, "", error=f"hwbench {bf.name!r} is not a figure this version measures"
    )
