"""What the reporter knows about one run: plain, JSON-round-trippable records (no torch, no I/O).

`facts_from_run(run)` is the only place that reads hwbench.bench's `MfuRun` and detect's
`System`; everything else in `hwbench.report` is a pure function of `RunFacts`, so the report logic is
tested on measurements recorded from real runs (tests/fixtures/report/).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hwbench.bench.flops import NANOGPT_PEAK_TFLOPS, mfu_ratio
from hwbench.devices import CudaDevice, recorded

if TYPE_CHECKING:
    from hwbench.bench.matmul import GemmPoint
    from hwbench.bench.mfu import MfuRun
    from hwbench.model import Cpu, System


@dataclass(frozen=True)
class GemmFact:
    """One measured GEMM: which library ran it, at what shape, how fast."""

    library: str  # "torch", "numpy"
    dtype: str
    m: int
    n: int
    k: int
    tflops: float
    backend: str | None = None  # "Intel MKL", "OpenBLAS 0.3.31 (Haswell kernels)", "cuBLAS"
    env_overrides: dict[str, str] = field(default_factory=dict)
    count: int = 1  # how often this shape occurs per training step (model shapes)
    label: str = ""  # "square 1024", "model attn.qkv"

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k


@dataclass(frozen=True)
class CpuFacts:
    vendor: str | None = None
    model: str | None = None
    microarchitecture: str | None = None
    physical_cores: int | None = None
    logical_cpus: int | None = None
    usable_cpus: tuple[int, ...] = ()
    p_cores: int | None = None
    e_cores: int | None = None
    p_core_cpus: tuple[int, ...] = ()
    e_core_cpus: tuple[int, ...] = ()
    smt_siblings: tuple[tuple[int, ...], ...] = ()
    isa: tuple[str, ...] = ()
    virtualized: bool = False
    hypervisor: str | None = None
    source: str = "detect"

    @property
    def hybrid(self) -> bool:
        return bool(self.e_cores) and bool(self.p_cores)

    def one_cpu_per_core(self, cpus: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """One logical CPU per physical core among `cpus` (default: the usable ones), lowest first."""
        allowed = set(cpus if cpus is not None else self.usable_cpus)
        if not self.smt_siblings:
            return tuple(sorted(allowed))
        picked = []
        for group in self.smt_siblings:
            inside = sorted(c for c in group if c in allowed)
            if inside:
                picked.append(inside[0])
        return tuple(sorted(picked))

    @property
    def usable_physical_cores(self) -> int | None:
        if self.usable_cpus and self.smt_siblings:
            return len(self.one_cpu_per_core())
        if self.usable_cpus and self.physical_cores and self.logical_cpus:
            if self.physical_cores == self.logical_cpus:
                return len(self.usable_cpus)
            return None
        return self.physical_cores


@dataclass(frozen=True)
class GpuFacts:
    name: str
    vendor: str
    kind: str = "discrete"
    usable_by_torch: bool = False
    compute_capability: str | None = None  # "8.9"


@dataclass(frozen=True)
class RunFacts:
    """Everything measured or detected for one `hwbench mfu` run that the reporter reasons about."""

    device: str  # "cpu", "cuda:0"
    device_name: str  # "AMD EPYC (Zen 3, 2 vCPU)", "NVIDIA GeForce RTX 4070 Ti"
    dtype: str  # the dtype the step ran in: fp32, tf32, bf16, fp16
    config: dict[str, Any]  # n_layer, n_head, n_embd, block_size, batch_size, vocab_size, bias, dropout
    n_params: int  # as nanoGPT counts (position embedding excluded)
    flops_per_step: float
    step_time_s: float  # median
    achieved_tflops: float
    threads: int | None = None
    compile: bool = False
    fused_adamw: bool | None = None
    preset: str | None = None
    step_spread_pct: float | None = None  # the step's own spread (p25..p75 over the median)
    step_samples_s: tuple[float, ...] = ()
    stalls: int = 0
    peak_tflops: float | None = None  # device's own dense peak for `dtype`
    peak_source: str | None = None
    peak_clock_source: str | None = None
    peaks_tflops: dict[str, float | None] = field(default_factory=dict)
    peak_estimated: bool = True
    ceiling: tuple[GemmFact, ...] = ()  # best GEMM per library, square sweep, in `dtype`
    model_gemms: tuple[GemmFact, ...] = ()  # torch at the model's own shapes, in `dtype`
    torch_version: str | None = None
    torch_blas: str | None = None  # "Intel MKL 2024.2"
    torch_cpu_capability: str | None = None  # "AVX2", "AVX512"
    env_overrides: dict[str, str] = field(default_factory=dict)
    cpu: CpuFacts | None = None
    gpus: tuple[GpuFacts, ...] = ()
    torch_messages: tuple[str, ...] = ()  # "NVIDIA GPU present but this torch is CPU-only"
    peak_memory_bytes: int | None = None
    memory_total_bytes: int | None = None
    steal_pct: float | None = None  # VM CPU steal over the run, from /proc/stat
    others_busy_pct: float | None = None  # % of all CPUs other processes used during the run
    loadavg: float | None = None
    nvml_events: tuple[str, ...] = ()  # "thermal slowdown 12% of samples", from monitor.summarize_nvml
    pcie: dict[str, Any] | None = None  # {"gen": 3, "max_gen": 4, "width": 8, "max_width": 16}
    source: str = "this run"
    model: str | None = None  # `hwbench mfu --model FILE.py:FACTORY`; None: the built-in GPT

    @property
    def tokens_per_step(self) -> int:
        """Tokens per step; for a user's model (no tokens), the samples: its batch."""
        if self.model is not None:
            return int(self.config.get("batch_size") or 0)
        return int(self.config.get("batch_size", 0)) * int(self.config.get("block_size", 0))

    @property
    def is_cuda(self) -> bool:
        """A run on torch's cuda API: NVIDIA, or AMD through HIP (tensor cores, TF32, GPU telemetry)."""
        return isinstance(recorded(self.device), CudaDevice)

    @property
    def is_cpu(self) -> bool:
        dev = recorded(self.device)
        return dev is not None and dev.is_host

    @property
    def mfu(self) -> float | None:
        """The dense-peak MFU by `bench.flops.mfu_ratio`'s rule: None above the peak (the peak is wrong)."""
        return mfu_ratio(self.achieved_tflops, self.peak_tflops)

    @property
    def mfu_nanogpt(self) -> float:
        return self.achieved_tflops / NANOGPT_PEAK_TFLOPS

    def best_ceiling(self) -> GemmFact | None:
        return max(self.ceiling, key=lambda g: g.tflops, default=None)

    def torch_ceiling(self) -> GemmFact | None:
        return max((g for g in self.ceiling if g.library == "torch"), key=lambda g: g.tflops, default=None)

    def model_gemm_tflops_for(self, library: str = "torch") -> float | None:
        """The model's GEMMs together in `dtype`: total FLOPs over total time (weighted by count)."""
        gemms = [
            g for g in self.model_gemms if g.library == library and g.dtype == self.dtype and g.tflops > 0
        ]
        if not gemms:
            return None
        flops = sum(g.flops * g.count for g in gemms)
        seconds = sum(g.flops * g.count / (g.tflops * 1e12) for g in gemms)
        return flops / seconds / 1e12


# -- JSON round trip ---------------------------------------------------------------------------------


def facts_to_dict(facts: RunFacts) -> dict[str, Any]:
    from hwbench.jsonout import to_jsonable

    out: dict[str, Any] = to_jsonable(facts)
    return out


def facts_from_dict(d: dict[str, Any]) -> RunFacts:
    """Inverse of `facts_to_dict`, tolerant of missing optional fields (older recordings)."""
    from hwbench.errors import InputError

    try:
        data = dict(d)
        data["ceiling"] = tuple(GemmFact(**g) for g in data.get("ceiling", ()))
        data["model_gemms"] = tuple(GemmFact(**g) for g in data.get("model_gemms", ()))
        cpu = data.get("cpu")
        if cpu is not None:
            cpu = dict(cpu)
            for key in ("usable_cpus", "p_core_cpus", "e_core_cpus", "isa"):
                cpu[key] = tuple(cpu.get(key) or ())
            cpu["smt_siblings"] = tuple(tuple(g) for g in cpu.get("smt_siblings") or ())
            data["cpu"] = CpuFacts(**cpu)
        data["gpus"] = tuple(GpuFacts(**g) for g in data.get("gpus", ()))
        for key in ("step_samples_s", "torch_messages", "nvml_events"):
            data[key] = tuple(data.get(key) or ())
        known = {f.name for f in dataclasses.fields(RunFacts)}
        return RunFacts(**{k: v for k, v in data.items() if k in known})
    except (TypeError, KeyError, ValueError) as e:
        raise InputError(
            f"not a recorded run: {e}",
            hint='pass the "facts" of a file hwbench.report.recording.record wrote',
        ) from e


# -- adapters from the bench / detect records ---------------------------------------------------------


def split_library(name: str) -> tuple[str, str | None]:
    """ "torch (Intel MKL 2024.2)" -> ("torch", "Intel MKL 2024.2"); "numpy" -> ("numpy", None)."""
    head, sep, rest = name.partition(" (")
    return head.strip(), (rest[:-1] if rest.endswith(")") else rest) if sep else None


def gemm_fact(point: GemmPoint, n_layer: int = 1) -> GemmFact:
    """A bench.matmul.GemmPoint as a GemmFact.

    A model shape's per-layer GEMMs occur n_layer times per step, the head once.
    """
    library, backend = split_library(point.library)
    per_layer = point.model_shape is not None and point.model_shape != "lm_head"
    return GemmFact(
        library=library,
        dtype=point.dtype,
        m=point.m,
        n=point.n,
        k=point.k,
        tflops=float(point.tflops),
        backend=backend,
        env_overrides=dict(point.env_overrides),
        count=max(1, n_layer) if per_layer else 1,
        label=point.label,
    )


def cpu_facts(cpu: Cpu | None) -> CpuFacts | None:
    if cpu is None:
        return None
    return CpuFacts(
        vendor=cpu.vendor,
        model=cpu.model,
        microarchitecture=cpu.microarchitecture,
        physical_cores=cpu.physical_cores,
        logical_cpus=cpu.logical_cpus,
        usable_cpus=tuple(cpu.usable_cpus),
        p_cores=cpu.p_cores,
        e_cores=cpu.e_cores,
        p_core_cpus=tuple(cpu.p_core_cpus),
        e_core_cpus=tuple(cpu.e_core_cpus),
        smt_siblings=tuple(tuple(g) for g in cpu.smt_siblings),
        isa=tuple(cpu.isa),
        virtualized=bool(cpu.virtualized),
        hypervisor=cpu.hypervisor,
        source=cpu.source,
    )


def _torch_build_facts() -> tuple[str | None, str | None, str | None]:
    """torch version, its BLAS and its CPU kernel level (torch is already imported by the run)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None, None, None
    from hwbench.devices.cpu import blas_name

    try:
        blas = blas_name(torch.__config__.show())
    except Exception:
        blas = None
    try:
        capability: str | None = torch.backends.cpu.get_cpu_capability()
    except Exception:
        capability = None
    return str(torch.__version__), blas, capability


def _gpu_facts(system: System) -> tuple[GpuFacts, ...]:
    usable = set(system.torch.usable_devices)
    return tuple(
        GpuFacts(
            name=g.name,
            vendor=g.vendor,
            kind=g.kind,
            usable_by_torch=(g.vendor in ("nvidia", "amd") and "cuda" in usable)
            or (g.vendor == "intel" and "xpu" in usable),
        )
        for g in system.gpus
    )


def facts_from_run(run: MfuRun) -> RunFacts:
    """Adapt a bench.mfu.MfuRun (with detect's System it carries, when detect ran) into RunFacts."""
    from hwbench.bench.config import ModelConfig
    from hwbench.bench.flops import n_params
    from hwbench.bench.matmul import env_overrides

    system = run.system
    step = run.step
    config = dict(run.config.as_dict())
    dtype, device = run.dtype, run.device
    n_layer = int(config.get("n_layer", 1) or 1)

    peak = run.peak
    peaks_tflops = dict(peak.peaks_tflops) if peak is not None else {}
    peak_tflops = peaks_tflops.get(dtype)

    best_by_lib: dict[str, GemmFact] = {}
    for p in run.ceiling.points if run.ceiling is not None else ():
        g = gemm_fact(p, n_layer)
        if g.dtype != dtype:
            continue
        if g.library not in best_by_lib or g.tflops > best_by_lib[g.library].tflops:
            best_by_lib[g.library] = g
    model_gemms = tuple(gemm_fact(p, n_layer) for p in run.model_gemms)

    version, blas, capability = _torch_build_facts()
    cpu = cpu_facts(system.cpu) if system is not None else None
    env = env_overrides()
    if run.ceiling is not None:
        env.update(run.ceiling.env_overrides)

    # a user's model: parameters as the factory built them; the GPT: as nanoGPT counts them
    params = run.config.n_params if isinstance(run.config, ModelConfig) else n_params(run.config)
    name = run.device_name or device
    host = (dev := recorded(device)) is not None and dev.is_host
    if host and cpu is not None and cpu.microarchitecture and cpu.microarchitecture not in name:
        name = f"{name} ({cpu.microarchitecture})"
    options = step.options if step is not None else None
    timing = step.timing if step is not None else None
    return RunFacts(
        device=device,
        device_name=str(name),
        dtype=dtype,
        config=config,
        n_params=int(params),
        flops_per_step=float(step.flops_per_step) if step is not None else 0.0,
        step_time_s=float(timing.median_s) if timing is not None else 0.0,
        achieved_tflops=float(step.achieved_tflops) if step is not None else 0.0,
        threads=run.threads or (options.threads if options is not None else None),
        compile=bool(options.compile) if options is not None else False,
        fused_adamw=options.fused_adamw if options is not None else None,
        preset=run.preset,
        step_spread_pct=timing.spread_pct if timing is not None else None,
        step_samples_s=tuple(float(x) for x in timing.samples_s) if timing is not None else (),
        stalls=int(timing.stalls) if timing is not None else 0,
        peak_tflops=float(peak_tflops) if peak_tflops else None,
        peak_source=peak.source if peak is not None else None,
        peak_clock_source=peak.clock_source if peak is not None else None,
        peaks_tflops={k: (float(v) if v is not None else None) for k, v in peaks_tflops.items()},
        peak_estimated=peak.estimated if peak is not None else True,
        ceiling=tuple(best_by_lib.values()),
        model_gemms=model_gemms,
        torch_version=version,
        torch_blas=blas,
        torch_cpu_capability=capability,
        env_overrides=env,
        cpu=cpu,
        gpus=_gpu_facts(system) if system is not None else (),
        torch_messages=tuple(system.torch.messages) if system is not None else (),
        peak_memory_bytes=step.peak_memory_bytes if step is not None else None,
        memory_total_bytes=system.memory.total_bytes if system is not None and system.memory else None,
        source="this run",
        model=config.get("model"),
    )
