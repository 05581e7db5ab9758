"""Every expectation `hwbench check` knows, each declared once, as one field of `Expectations`.

A field's declaration holds all there is to know about it: the flag (and so the TOML keys: the flag's
name without the dashes, `-` or `_`), its help, the parser that validates a flag or TOML value, the
stage that says what judging it costs, and the function that judges it. The command line, the TOML
reader, "was anything asked for?" and the run all read `SPECS`, so adding an expectation is one field
here (with its evaluate function) and its test.

Stages run in this order: `inventory` reads what detect found (no measurement), `matmul` measures
matmul ceilings, `step` a GPT training step, `comm` an all-reduce across torchrun ranks, `load` samples
NVML while the GPUs are busy. A `setting` changes how the others run and checks nothing by itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from hwbench.check import checks as C
from hwbench.check import parse as P
from hwbench.check.results import CheckResult
from hwbench.check.state import RunState, is_host

Stage = Literal["setting", "inventory", "matmul", "step", "comm", "load"]
STAGES: tuple[Stage, ...] = ("inventory", "matmul", "step", "comm", "load")
DEFAULT_MAX_REGRESSION_PCT = 10.0
_REPLAYED = "replaying a saved output: nothing measured"
_LEVEL_HELP = (
    "quick: seconds; medium: about a minute; long: minutes of soak (--pcie-full/--no-throttle load longer)."
)

# an evaluate function may yield its results one by one: an interrupt keeps those already judged
Evaluate = Callable[["Expectations", RunState], Iterable[CheckResult]]
Parser = Callable[[str, Any], Any]  # (the key as the user wrote it, raw flag/TOML value) -> field value


@dataclass(frozen=True)
class Spec:
    """One expectation: how it is written, read and judged."""

    flag: str  # "--min-gpus"; the TOML keys are "min-gpus" and "min_gpus"
    parse: Parser
    cli: type[int] | type[float] | type[str] | type[bool]  # the flag's type on the command line
    help: str
    metavar: str | None = None
    repeatable: bool = False  # the flag may be given more than once (a list on the command line)
    stage: Stage = "setting"
    evaluate: Evaluate | None = None  # None exactly for settings; may serve several fields at once
    key: str = ""  # the Expectations field, filled in from the declaration

    @property
    def name(self) -> str:
        """The flag without its dashes: the key a TOML file uses."""
        return self.flag.removeprefix("--")

    @property
    def measures(self) -> bool:
        return self.stage not in ("setting", "inventory")


def expectation(
    flag: str,
    parse: Parser,
    cli: type[int] | type[float] | type[str] | type[bool],
    help: str,
    *,
    metavar: str | None = None,
    repeatable: bool = False,
    stage: Stage = "setting",
    evaluate: Evaluate | None = None,
    default: object = None,
    default_factory: Callable[[], object] | None = None,
) -> Any:  # the dataclass field, typed as the annotation it is assigned to (as dataclasses.field is)
    spec = Spec(flag, parse, cli, help, metavar, repeatable, stage, evaluate)
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"spec": spec})
    return field(default=default, metadata={"spec": spec})


def asked(value: object) -> bool:
    """None, False and empty tables/lists mean "not asked for"; 0 is asked (`--max-ecc-errors 0`)."""
    return value is not None and value is not False and value != () and value != {}


# --- evaluate functions: records and measurements in, CheckResults out -----------------------------


def _min_gpus(exp: Expectations, st: RunState) -> list[CheckResult]:
    return [] if exp.min_gpus is None else [C.check_min_gpus(st.system, exp.min_gpus)]


def _gpu_model(exp: Expectations, st: RunState) -> list[CheckResult]:
    return [C.check_gpu_model(st.system, exp.gpu_model)] if exp.gpu_model else []


def _min_gpu_memory(exp: Expectations, st: RunState) -> list[CheckResult]:
    if exp.min_gpu_memory_gb is None:
        return []
    return C.check_min_gpu_memory(st.system, exp.min_gpu_memory_gb)


def _min_driver(exp: Expectations, st: RunState) -> list[CheckResult]:
    return [C.check_min_driver(st.system, exp.min_driver)] if exp.min_driver else []


def _require_isa(exp: Expectations, st: RunState) -> list[CheckResult]:
    if st.smi_only:
        why = "replaying an nvidia-smi output: no CPU in it"
        return [CheckResult(f"require_isa[{f}]", "skip", None, f, why, op="has") for f in exp.require_isa]
    return [C.check_isa(st.system.cpu, f) for f in exp.require_isa]


def _torch_can_use(exp: Expectations, st: RunState) -> Iterator[CheckResult]:
    for dev in exp.torch_can_use:
        if st.smi_only:
            why = "replaying an nvidia-smi output: torch not run"
            yield CheckResult(f"torch_can_use[{dev}]", "skip", None, dev, why, op="has")
            continue
        runtime = None  # a recording is judged on its torch metadata alone
        if st.system.torch.installed and not st.replay:
            from hwbench.check.measure import torch_runtime

            runtime = torch_runtime(dev)
        yield C.check_torch_can_use(st.system.torch, dev, runtime)


def _max_ecc_errors(exp: Expectations, st: RunState) -> list[CheckResult]:
    if exp.max_ecc_errors is None:
        return []
    gpus = C.nvml_gpus(st.system)
    if not gpus:
        from hwbench.check.underload import unsampled_reason

        why = unsampled_reason(st.system, doing="read for ECC errors", nothing="read ECC errors of")
        return [CheckResult("max_ecc_errors", "skip", None, exp.max_ecc_errors, why, unit="errors", op="<=")]
    out: list[CheckResult] = []
    for i, g in gpus:
        fields = g.nvml.as_fields() if g.nvml is not None else {}
        if not st.replay and not isinstance(C.field(fields, "ecc_uncorrected_volatile"), int):
            # detect reads the lifetime (aggregate) count; the gate is about this boot
            from hwbench.check.load import read_volatile_ecc

            fields["ecc_uncorrected_volatile"] = read_volatile_ecc(g.pci_slot)
        out.append(C.check_max_ecc_errors(f"gpu{i}", fields, exp.max_ecc_errors))
    return out


def _matmul_floors(exp: Expectations, st: RunState) -> Iterator[CheckResult]:
    """--min-tflops and --min-fraction-of-peak, per device: one measurement serves both."""
    m = st.measurer
    for dev in st.devices or ["(replay)"]:
        for dtype, minimum in exp.min_tflops.items():
            yield C.check_min_tflops(m.matmul(dev, dtype), dtype, minimum)
        for dtype, frac in exp.min_fraction_of_peak.items():
            fig = m.matmul(dev, dtype)
            if st.replay:
                peak, src = None, "replay"
            else:
                from hwbench.check.measure import peak_tflops

                peak, src = peak_tflops(dev, dtype, st.system)
            yield C.check_fraction_of_peak(fig, dtype, peak, src, frac)


def _max_spread(exp: Expectations, st: RunState) -> list[CheckResult]:
    if exp.max_spread_pct is None:
        return []
    why = None
    if st.replay:
        why = _REPLAYED
    elif st.ctx is not None:
        why = "under torchrun each rank measures one GPU: the fleet report names stragglers"
    if why is not None:
        return [CheckResult("max_spread", "skip", None, exp.max_spread_pct, why, unit="%", op="<=")]
    dtype = next(iter(exp.min_tflops), None) or "bf16"
    figures = [st.measurer.matmul(d, dtype) for d in st.devices if not is_host(d)]
    return C.check_max_spread(figures, exp.max_spread_pct)


def _min_mfu(exp: Expectations, st: RunState) -> list[CheckResult]:
    if exp.min_mfu is None:
        return []
    dev = st.devices[0] if st.devices else "(replay)"
    if st.replay:
        return [C.check_min_mfu(dev, None, exp.min_mfu, _REPLAYED)]
    from hwbench.check.measure import measure_mfu

    st.log(f"measuring a GPT training step on {dev} (preset {exp.preset or 'default'})...")
    mfu, detail = measure_mfu(dev, exp.preset, exp.level, st.system)
    st.measurer.put(C.Figure(dev, "mfu_fraction", mfu, detail, error=None if mfu is not None else detail))
    return [C.check_min_mfu(dev, mfu, exp.min_mfu, detail)]


def _min_busbw(exp: Expectations, st: RunState) -> list[CheckResult]:
    if exp.min_busbw_gbps is None:
        return []
    from hwbench.check.measure import measure_busbw

    bw, detail = (None, _REPLAYED) if st.replay else measure_busbw(st.ctx)
    if bw is not None:
        st.measurer.put(C.Figure("all", "busbw_gbps", bw, detail))
    return [C.check_min_busbw(bw, exp.min_busbw_gbps, detail)]


def _under_load(exp: Expectations, st: RunState) -> list[CheckResult]:
    """--pcie-full and --no-throttle: one load per GPU serves both."""
    from hwbench.check.underload import under_load

    return under_load(exp.pcie_full, exp.no_throttle, exp.level, st)


# --- the expectations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectations:
    """Every expectation `hwbench check` knows; None / empty means "not asked for"."""

    min_gpus: int | None = expectation(
        "--min-gpus",
        P.gpu_count,
        int,
        "At least N GPUs (discrete or integrated).",
        metavar="N",
        stage="inventory",
        evaluate=_min_gpus,
    )
    gpu_model: str | None = expectation(  # glob, case-insensitive ("*H100*"); without wildcards: the name
        "--gpu-model",
        P.one_string,
        str,
        "Every GPU's name matches this glob, case-insensitive ('*H100*').",
        metavar="PATTERN",
        stage="inventory",
        evaluate=_gpu_model,
    )
    min_gpu_memory_gb: float | None = expectation(  # decimal GB (1e9 bytes), as GPUs are sold ("80GB")
        "--min-gpu-memory-gb",
        P.amount,
        float,
        "Every NVIDIA GPU has at least X GB (decimal, as NVML reports the total).",
        metavar="X",
        stage="inventory",
        evaluate=_min_gpu_memory,
    )
    min_driver: str | None = expectation(
        "--min-driver",
        P.driver,
        str,
        "NVIDIA driver at least VERSION (535.104.05).",
        metavar="VERSION",
        stage="inventory",
        evaluate=_min_driver,
    )
    require_isa: tuple[str, ...] = expectation(
        "--require-isa",
        P.isa_flags,
        str,
        "CPU has this ISA flag, as /proc/cpuinfo names it (avx2, avx512f, amx_bf16). Repeatable.",
        metavar="FLAG",
        repeatable=True,
        stage="inventory",
        evaluate=_require_isa,
        default=(),
    )
    torch_can_use: tuple[str, ...] = expectation(
        "--torch-can-use",
        P.devices,
        str,
        "The installed torch can use DEVICE (cpu, cuda, cuda:N, mps, xpu). Repeatable.",
        metavar="DEVICE",
        repeatable=True,
        stage="inventory",
        evaluate=_torch_can_use,
        default=(),
    )
    device: str | None = expectation(  # what to measure on; None: every GPU torch can use, else the CPU
        "--device",
        P.parse_device,
        str,
        "Measure on DEV (cpu, cuda = every GPU, cuda:N). Default: every GPU torch can use, else CPU.",
        metavar="DEV",
    )
    min_tflops: dict[str, float] = expectation(  # noqa: RUF009 - dtype -> measured matmul ceiling floor
        "--min-tflops",
        P.dtype_floors,
        str,
        "Measured matmul ceiling at least VALUE TFLOP/s (fp32=0.05, bf16=600). Repeatable.",
        metavar="DTYPE=VALUE",
        repeatable=True,
        stage="matmul",
        evaluate=_matmul_floors,
        default_factory=dict,
    )
    min_fraction_of_peak: dict[str, float] = expectation(  # noqa: RUF009 - a field, as dataclasses.field
        "--min-fraction-of-peak",
        P.dtype_fractions,
        str,
        "Measured matmul at least F of the device's dense peak (bf16=0.6). Repeatable.",
        metavar="DTYPE=F",
        repeatable=True,
        stage="matmul",
        evaluate=_matmul_floors,
        default_factory=dict,
    )
    min_mfu: float | None = expectation(
        "--min-mfu",
        P.fraction,
        float,
        "MFU of hwbench's GPT training step at least F (0.3 = 30%).",
        metavar="F",
        stage="step",
        evaluate=_min_mfu,
    )
    preset: str | None = expectation(
        "--preset",
        P.one_string,
        str,
        "Model preset for --min-mfu (nanogpt-cpu, shakespeare-char, gpt2-124m).",
        metavar="P",
    )
    pcie_full: bool = expectation(
        "--pcie-full",
        P.boolean,
        bool,
        "Under load, every GPU's PCIe link reaches its maximum generation and width.",
        stage="load",
        evaluate=_under_load,
        default=False,
    )
    no_throttle: bool = expectation(
        "--no-throttle",
        P.boolean,
        bool,
        "Under load, no clock-event reason beyond idle / application clocks / SW power cap.",
        stage="load",
        evaluate=_under_load,
        default=False,
    )
    max_ecc_errors: int | None = expectation(
        "--max-ecc-errors",
        P.error_count,
        int,
        "At most N uncorrectable ECC errors per GPU since the driver loaded (the lifetime count, and"
        " the message says so, where that one cannot be read).",
        metavar="N",
        stage="inventory",
        evaluate=_max_ecc_errors,
    )
    max_spread_pct: float | None = expectation(
        "--max-spread",
        P.percent,
        float,
        "No GPU more than PCT% below the median matmul figure of its peers (the straggler).",
        metavar="PCT",
        stage="matmul",
        evaluate=_max_spread,
    )
    min_busbw_gbps: float | None = expectation(
        "--min-busbw",
        P.amount,
        float,
        "All-reduce bus bandwidth at least GBPS GB/s (under torchrun, from hwbench comm).",
        metavar="GBPS",
        stage="comm",
        evaluate=_min_busbw,
    )
    level: P.Level = expectation(  # noqa: RUF009 - a field, as dataclasses.field
        "--level",
        P.level,
        str,
        _LEVEL_HELP,
        metavar="quick|medium|long",
        default="quick",
    )
    strict: bool = expectation(
        "--strict",
        P.boolean,
        bool,
        "A check that could not be evaluated (skip) counts as a failure.",
        default=False,
    )
    max_regression_pct: float = expectation(
        "--max-regression",
        P.percent,
        float,
        "Allowed drop below the baseline, in percent (default 10).",
        metavar="PCT",
        default=DEFAULT_MAX_REGRESSION_PCT,
    )

    def checks_asked(self) -> list[Spec]:
        """The checks asked for, in declaration order (settings are never "asked")."""
        return [s for s in SPECS if s.stage != "setting" and asked(getattr(self, s.key))]

    def is_empty(self) -> bool:
        """True when no check at all was asked for (settings such as level, strict and device alone
        check nothing)."""
        return not self.checks_asked()

    def needs_matmul(self) -> bool:
        return any(s.stage == "matmul" for s in self.checks_asked())

    def to_json(self) -> dict[str, Any]:
        return {k.replace("_", "-"): v for k, v in dataclasses.asdict(self).items()}


def specs_of(cls: type) -> tuple[Spec, ...]:
    """The specs a dataclass declares with `expectation`, each named by its field; a check without an
    evaluate function (or a setting with one) is refused here, when the module is imported."""
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("spec")
        if not isinstance(spec, Spec):
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with expectation(...)")
        if (spec.stage == "setting") != (spec.evaluate is None):
            raise TypeError(f"{cls.__name__}.{f.name}: a check needs an evaluate function, a setting none")
        out.append(dataclasses.replace(spec, key=f.name))
    return tuple(out)


SPECS: tuple[Spec, ...] = specs_of(Expectations)
BY_KEY: dict[str, Spec] = {s.key: s for s in SPECS}


def evaluators(exp: Expectations, stage: Stage) -> list[Evaluate]:
    """The evaluate functions of one stage that `exp` asks for, each once, in declaration order."""
    out: list[Evaluate] = []
    for s in exp.checks_asked():
        if s.stage == stage and s.evaluate is not None and s.evaluate not in out:
            out.append(s.evaluate)
    return out
