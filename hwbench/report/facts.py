"""What the reporter knows about one run: plain, JSON-round-trippable records (no torch, no I/O).

`facts_from_run(run, system)` is the only place that reads hwbench.bench's `MfuRun` and detect's
`System`; everything else in `hwbench.report` is a pure function of `RunFacts`, so the report logic is
tested on measurements recorded from real runs (tests/fixtures/report/).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from hwbench.devices import CudaDevice, recorded

# nanoGPT's estimate_mfu divides by this on every device: the A100's bf16 dense peak (TFLOP/s).
NANOGPT_PEAK_TFLOPS = 312.0

# Environment variables that change which math-library path runs; reported when set.
PATH_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "KMP_AFFINITY",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "NVIDIA_TF32_OVERRIDE",
)


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
        return self.achieved_tflops / self.peak_tflops if self.peak_tflops else None

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

    @property
    def mfu_vs_ceiling(self) -> float | None:
        best = self.best_ceiling()
        return self.achieved_tflops / best.tflops if best and best.tflops else None


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
        raise InputError(f"not a recorded run: {e}") from e


# -- adapters from the bench / detect records ---------------------------------------------------------


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First attribute (or dict key) of `names` that exists and is not None."""
    for name in names:
        if obj is None:
            return default
        v = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if v is not None:
            return v
    return default


def _plain(v: Any) -> Any:
    from hwbench.model import NA

    return None if isinstance(v, NA) else v


def split_library(name: str) -> tuple[str, str | None]:
    """ "torch (Intel MKL 2024.2)" -> ("torch", "Intel MKL 2024.2"); "numpy" -> ("numpy", None)."""
    head, sep, rest = name.partition(" (")
    return head.strip(), (rest[:-1] if rest.endswith(")") else rest) if sep else None


def gemm_fact(point: Any, n_layer: int = 1) -> GemmFact:
    """A bench.matmul.GemmPoint (or a dict with the same names) as a GemmFact.

    Model shapes are labelled "model <name>": per-layer GEMMs occur n_layer times per step, the head once.
    """
    library, backend = split_library(str(_get(point, "library", default="torch")))
    label = str(_get(point, "label", default="") or "")
    count = int(_get(point, "count", default=0) or 0)
    if not count:
        count = 1 if (not label.startswith("model ") or label.endswith("lm_head")) else max(1, n_layer)
    return GemmFact(
        library=library,
        dtype=str(_get(point, "dtype", default="fp32")),
        m=int(_get(point, "m", default=0)),
        n=int(_get(point, "n", default=0)),
        k=int(_get(point, "k", default=0)),
        tflops=float(_get(point, "tflops", default=0.0)),
        backend=_get(point, "backend") or backend,
        env_overrides=dict(_get(point, "env_overrides", default={}) or {}),
        count=count,
        label=label,
    )


def cpu_facts(cpu: Any) -> CpuFacts | None:
    if cpu is None:
        return None
    return CpuFacts(
        vendor=_plain(_get(cpu, "vendor")),
        model=_plain(_get(cpu, "model")),
        microarchitecture=_plain(_get(cpu, "microarchitecture")),
        physical_cores=_plain(_get(cpu, "physical_cores")),
        logical_cpus=_plain(_get(cpu, "logical_cpus")),
        usable_cpus=tuple(_get(cpu, "usable_cpus", default=()) or ()),
        p_cores=_plain(_get(cpu, "p_cores")),
        e_cores=_plain(_get(cpu, "e_cores")),
        p_core_cpus=tuple(_get(cpu, "p_core_cpus", default=()) or ()),
        e_core_cpus=tuple(_get(cpu, "e_core_cpus", default=()) or ()),
        smt_siblings=tuple(tuple(g) for g in (_get(cpu, "smt_siblings", default=()) or ())),
        isa=tuple(_get(cpu, "isa", default=()) or ()),
        virtualized=bool(_get(cpu, "virtualized", default=False)),
        hypervisor=_plain(_get(cpu, "hypervisor")),
        source=str(_get(cpu, "source", default="detect")),
    )


def _torch_build_facts() -> tuple[str | None, str | None, str | None]:
    """torch version, its BLAS and its CPU kernel level (torch is already imported by the run)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None, None, None
    blas = None
    try:
        show = torch.__config__.show()
        if "Math Kernel Library" in show:
            import re

            m = re.search(r"Math Kernel Library Version ([\d.]+)", show)
            blas = "Intel MKL" + (f" {m.group(1)}" if m else "")
        elif "BLAS_INFO=open" in show:
            blas = "OpenBLAS"
        elif "BLAS_INFO=" in show:
            blas = show.split("BLAS_INFO=")[1].split(",")[0]
    except Exception:
        blas = None
    try:
        capability: str | None = torch.backends.cpu.get_cpu_capability()
    except Exception:
        capability = None
    return str(torch.__version__), blas, capability


def facts_from_run(run: Any, system: Any = None) -> RunFacts:
    """Adapt a bench.mfu.MfuRun (and detect's System, default `run.system`) into RunFacts.

    Reads names defensively: a field the run lacks becomes None, never a crash.
    """
    system = system if system is not None else _get(run, "system")
    step = _get(run, "step")
    timing = _get(step, "timing")
    config_obj = _get(run, "config") or _get(step, "config")
    if hasattr(config_obj, "as_dict"):
        config = dict(config_obj.as_dict())
    elif dataclasses.is_dataclass(config_obj) and not isinstance(config_obj, type):
        config = dataclasses.asdict(config_obj)
    else:
        config = dict(config_obj or {})
    options = _get(step, "options")
    dtype = str(_get(run, "dtype") or _get(options, "dtype", default="fp32"))
    device = str(_get(run, "device") or _get(options, "device", default="cpu"))
    n_layer = int(config.get("n_layer", 1) or 1)

    peak = _get(run, "peak")
    peaks_tflops = dict(_get(peak, "peaks_tflops", default={}) or {})
    peak_tflops = peaks_tflops.get(dtype)
    raw_peak = _get(peak, "raw")

    ceiling_obj = _get(run, "ceiling")
    best_by_lib: dict[str, GemmFact] = {}
    for p in _get(ceiling_obj, "points", default=()) or ():
        g = gemm_fact(p, n_layer)
        if g.dtype != dtype:
            continue
        if g.library not in best_by_lib or g.tflops > best_by_lib[g.library].tflops:
            best_by_lib[g.library] = g
    ceiling = list(best_by_lib.values())
    model_gemms = [g for g in (gemm_fact(p, n_layer) for p in (_get(run, "model_gemms", default=()) or ()))]

    version, blas, capability = _torch_build_facts()
    cpu = cpu_facts(_get(system, "cpu")) if system is not None else None
    gpus: list[GpuFacts] = []
    torch_messages: tuple[str, ...] = ()
    memory_total = None
    if system is not None:
        tinfo = _get(system, "torch")
        usable = set(_get(tinfo, "usable_devices", default=()) or ())
        for g in _get(system, "gpus", default=()) or ():
            vendor = str(_get(g, "vendor", default="other"))
            gpus.append(
                GpuFacts(
                    name=str(_get(g, "name", default="GPU")),
                    vendor=vendor,
                    kind=str(_get(g, "kind", default="discrete")),
                    usable_by_torch=(vendor in ("nvidia", "amd") and "cuda" in usable)
                    or (vendor == "intel" and "xpu" in usable),
                )
            )
        torch_messages = tuple(_get(tinfo, "messages", default=()) or ())
        memory_total = _plain(_get(_get(system, "memory"), "total_bytes"))

    env = {k: os.environ[k] for k in PATH_ENV_VARS if k in os.environ}
    env.update(dict(_get(ceiling_obj, "env_overrides", default={}) or {}))

    stalls = _get(timing, "stalls", default=0)
    n_params_v = _get(run, "n_params") or config.get("n_params")  # a user's model: as the factory built it
    if n_params_v is None:
        try:
            from hwbench.bench.flops import n_params as bench_n_params

            n_params_v = bench_n_params(config_obj)
        except Exception:
            n_params_v = _n_params_from_config(config)
    name = _get(run, "device_name") or device
    host = (dev := recorded(device)) is not None and dev.is_host
    if host and cpu is not None and cpu.microarchitecture and cpu.microarchitecture not in name:
        name = f"{name} ({cpu.microarchitecture})"
    return RunFacts(
        device=device,
        device_name=str(name),
        dtype=dtype,
        config=config,
        n_params=int(n_params_v),
        flops_per_step=float(_get(step, "flops_per_step", default=0.0) or 0.0),
        step_time_s=float(_get(timing, "median_s", default=0.0) or 0.0),
        achieved_tflops=float(_get(step, "achieved_tflops", default=0.0) or 0.0),
        threads=_get(run, "threads") or _get(options, "threads"),
        compile=bool(_get(options, "compile", default=False)),
        fused_adamw=_get(options, "fused_adamw"),
        preset=_get(run, "preset"),
        step_spread_pct=_get(timing, "spread_pct"),
        step_samples_s=tuple(float(x) for x in (_get(timing, "samples_s", default=()) or ())),
        stalls=len(stalls) if isinstance(stalls, (list, tuple)) else int(stalls or 0),
        peak_tflops=float(peak_tflops) if peak_tflops else None,
        peak_source=_get(peak, "source"),
        peak_clock_source=_get(raw_peak, "clock_source"),
        peaks_tflops={k: (float(v) if v is not None else None) for k, v in peaks_tflops.items()},
        peak_estimated=bool(_get(peak, "estimated", default=True)),
        ceiling=tuple(ceiling),
        model_gemms=tuple(model_gemms),
        torch_version=version,
        torch_blas=blas,
        torch_cpu_capability=capability,
        env_overrides=env,
        cpu=cpu,
        gpus=tuple(gpus),
        torch_messages=torch_messages,
        peak_memory_bytes=_get(step, "peak_memory_bytes"),
        memory_total_bytes=memory_total,
        source="this run",
        model=config.get("model"),
    )


def _n_params_from_config(config: dict[str, Any]) -> int:
    """nanoGPT's count without the position embedding: 12·L·C² + V·C (+ small LayerNorm/bias terms)."""
    n_layer = int(config.get("n_layer", 0))
    n_embd = int(config.get("n_embd", 0))
    vocab = int(config.get("vocab_size", 0))
    bias = bool(config.get("bias", True))
    # per block: c_attn 3C²(+3C), c_proj C²(+C), c_fc 4C²(+4C), mlp c_proj 4C²(+C), two LayerNorms 2C(+2C)
    per_layer = 12 * n_embd * n_embd + (13 * n_embd if bias else 2 * n_embd)
    return n_layer * per_layer + vocab * n_embd + (2 * n_embd if bias else n_embd)
