"""The matmul ceiling: the best GEMM FLOP/s this device reaches, per dtype and library.

Method: for each shape, `n_buf` rotating input pairs (so repeated calls do not hit a warm cache with
the same operands), randn data (never zeros: some hardware and BLAS paths are faster on zeros), one
warm-up call that also calibrates how many calls make one sample (>= `min_sample_s`), then repeated
samples; the point's figure is the median, with min/max. CUDA samples are timed with CUDA events
around a batch of calls; CPU samples with perf_counter. Each dtype has a time budget: shapes that
would not fit are skipped and said so (bf16 on a CPU without bf16 hardware can be 10-50x slower).

On CPU numpy's BLAS is timed too (fp32), because a different or mis-tuned BLAS path (e.g. OpenBLAS
forced to an older kernel with OPENBLAS_CORETYPE) is a real, fixable cause of low throughput.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hwbench.bench.timing import Timing, summarize
from hwbench.devices import resolve
from hwbench.peaks.types import TORCH_DTYPES

DTYPES = TORCH_DTYPES
# The one table of environment variables that change which math-library path runs, or how fast: every
# variable starting with one of these is recorded with the GEMMs and the run, and shown when set.
ENV_PREFIXES = (
    "ATEN_CPU_CAPABILITY",
    "OPENBLAS_",
    "GOTOBLAS",
    "MKL_",
    "OMP_",
    "KMP_",
    "GOMP_",
    "BLIS_",
    "DNNL_",
    "ONEDNN_",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32",
    "CUBLAS_",
    "CUDA_VISIBLE_DEVICES",
)
# Of those, the ones that force a code path (an ISA level, a kernel family) rather than a thread count.
PATH_FORCING_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "ATEN_CPU_CAPABILITY",
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_MAX_CPU_ISA",
)


@dataclass(frozen=True)
class GemmPoint:
    """One measured GEMM: (m x k) @ (k x n) in `dtype` through `library`."""

    library: str  # "torch (Intel MKL 2024.2)", "numpy (scipy-openblas 0.3.31, Haswell kernel)"
    dtype: str
    m: int
    n: int
    k: int
    tflops: float  # from the median sample time
    tflops_min: float  # from the slowest sample
    tflops_max: float  # from the fastest sample
    timing: Timing  # per call (a sample's time / calls per sample)
    env_overrides: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    label: str = ""  # "square 1024", "model attn.qkv"
    threads: int | None = None
    calls_per_sample: int = 1
    model_shape: str | None = None  # the model GEMM this is ("attn.qkv", "64x32@32x96"); None: a square

    @property
    def shape(self) -> str:
        return f"{self.m}x{self.k} @ {self.k}x{self.n}"


@dataclass(frozen=True)
class CeilingResult:
    device: str
    points: tuple[GemmPoint, ...]
    best: dict[str, GemmPoint]  # dtype -> fastest point (any library)
    notes: tuple[str, ...] = ()  # skipped shapes, unsupported dtypes, thread settings not applied
    env_overrides: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    interrupted: bool = False

    def best_for(self, dtype: str, library_prefix: str | None = None) -> GemmPoint | None:
        pts = [
            p
            for p in self.points
            if p.dtype == dtype and (library_prefix is None or p.library.startswith(library_prefix))
        ]
        return max(pts, key=lambda p: p.tflops) if pts else None


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    """BLAS/OpenMP/TF32 environment variables that change GEMM speed, as set in this process."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items()) if k.startswith(ENV_PREFIXES)}


# ---------------------------------------------------------------------------------------------
# library names


def torch_blas_name(device: str = "cpu", dtype: str = "fp32") -> str:
    return f"torch ({resolve(device).math_library(dtype)})"


def _openblas_lib() -> tuple[ctypes.CDLL, str] | None:
    """numpy's loaded OpenBLAS and its symbol suffix ('64_' for scipy-openblas64), if any."""
    try:
        with open("/proc/self/maps") as f:
            paths = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")):
            if hasattr(lib, f"{prefix}get_corename{suffix}"):
                return lib, prefix + "{}" + suffix
    return None


def numpy_blas_info() -> dict[str, Any]:
    """numpy's BLAS: name, version, runtime kernel (OpenBLAS core name) and thread count if known."""
    import numpy as np

    info: dict[str, Any] = {"numpy": np.__version__, "name": None, "version": None, "kernel": None}
    try:
        cfg = np.show_config(mode="dicts")  # numpy >= 1.26
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["name"], info["version"] = blas.get("name"), blas.get("version")
    except (TypeError, AttributeError):
        pass
    found = _openblas_lib()
    if found:
        lib, pattern = found
        with contextlib.suppress(AttributeError):
            fn = getattr(lib, pattern.format("get_corename"))
            fn.restype = ctypes.c_char_p
            info["kernel"] = fn().decode()
        with contextlib.suppress(AttributeError):
            nt = getattr(lib, pattern.format("get_num_threads"))
            nt.restype = ctypes.c_int
            info["threads"] = int(nt())
    return info


def numpy_blas_name() -> str:
    info = numpy_blas_info()
    parts = [p for p in (info.get("name"), info.get("version")) if p]
    label = " ".join(str(p) for p in parts) or "unknown BLAS"
    if info.get("kernel"):
        label += f", {info['kernel']} kernel"
    return f"numpy ({label})"


@contextlib.contextmanager
def _numpy_threads(threads: int | None) -> Iterator[bool]:
    """Set OpenBLAS's thread count for the block; yields whether it could be applied."""
    if threads is None:
        yield True
        return
    found = _openblas_lib()
    if not found:
        yield False
        return
    lib, pattern = found
    try:
        get = getattr(lib, pattern.format("get_num_threads"))
        setn = getattr(lib, pattern.format("set_num_threads"))
    except AttributeError:
        yield False
        return
    get.restype = ctypes.c_int
    old = int(get())
    setn(ctypes.c_int(threads))
    try:
        yield True
    finally:
        setn(ctypes.c_int(old))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    if threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def tf32_mode(enabled: bool) -> Iterator[None]:
    """fp32 matmuls on CUDA as true fp32 (enabled=False) or TF32 (True), restored afterwards."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old_matmul = torch.backends.cuda.matmul.allow_tf32
        old_cudnn = torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cuda.matmul.allow_tf32 = old_matmul
            torch.backends.cudnn.allow_tf32 = old_cudnn


# ---------------------------------------------------------------------------------------------
# one point


def torch_dtype(dtype: str) -> Any:
    import torch

    return {
        "fp32": torch.float32,
        "tf32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
    }[dtype]


def _sync_fn(device: str) -> Callable[[], None]:
    return resolve(device).synchronize


def _n_buffers(set_bytes: int, device: str) -> int:
    # rotate through more operand bytes than the last-level cache holds (H100 L2 50 MB, big CPUs
    # a few hundred MB of L3 at most), capped so huge shapes do not exhaust memory
    host = resolve(device).is_host
    rotate_bytes = (96 if host else 256) * 2**20
    cap_bytes = (256 if host else 2048) * 2**20
    n = math.ceil(rotate_bytes / max(set_bytes, 1))
    n = min(n, max(1, cap_bytes // max(set_bytes, 1)))
    return max(1, min(n, 8))


def _measure(
    call: Callable[[int], None],
    flops: float,
    *,
    device: str,
    repeats: int,
    min_sample_s: float,
    max_seconds: float,
) -> tuple[Timing, int]:
    """Warm up, calibrate calls per sample, take samples; returns per-call Timing and calls/sample."""
    sync = _sync_fn(device)
    t0 = time.perf_counter()
    call(0)
    sync()
    first = time.perf_counter() - t0
    # second warm-up call: first-call costs (page faults, kernel selection) are not the steady state
    t0 = time.perf_counter()
    call(1)
    sync()
    one = max(time.perf_counter() - t0, 1e-7)
    del first
    inner = max(1, math.ceil(min_sample_s / one))
    timed_region = resolve(device).timed_region()  # device events where the backend has them
    samples: list[float] = []
    start = time.perf_counter()
    i = 2
    for r in range(repeats):
        if timed_region is not None:
            stop = timed_region()
            for _ in range(inner):
                call(i)
                i += 1
            samples.append(stop() / inner)
        else:
            t0 = time.perf_counter()
            for _ in range(inner):
                call(i)
                i += 1
            sync()
            samples.append((time.perf_counter() - t0) / inner)
        if r + 1 >= 3 and time.perf_counter() - start > max_seconds:
            break
    return summarize(samples), inner


def _point(
    library: str,
    dtype: str,
    m: int,
    n: int,
    k: int,
    timing: Timing,
    inner: int,
    *,
    device: str,
    label: str,
    threads: int | None,
) -> GemmPoint:
    flops = 2.0 * m * n * k
    return GemmPoint(
        library=library,
        dtype=dtype,
        m=m,
        n=n,
        k=k,
        tflops=flops / timing.median_s / 1e12,
        tflops_min=flops / timing.max_s / 1e12,
        tflops_max=flops / timing.min_s / 1e12,
        timing=timing,
        env_overrides=env_overrides(),
        device=device,
        label=label,
        threads=threads,
        calls_per_sample=inner,
    )


def torch_gemm(
    device: str,
    dtype: str,
    m: int,
    n: int,
    k: int,
    *,
    repeats: int = 10,
    min_sample_s: float | None = None,
    max_seconds: float = 2.0,
    label: str = "",
    threads: int | None = None,
) -> GemmPoint:
    """Time torch.matmul for one shape and dtype on `device`."""
    import torch

    tdt = torch_dtype(dtype)
    elt = torch.tensor([], dtype=tdt).element_size()
    nbuf = _n_buffers((m * k + k * n) * elt, device)
    # randn made on the device itself (a CPU randn of 8192^2 then a copy costs seconds per buffer)
    gen = torch.Generator(device=device).manual_seed(0)
    a_s = [torch.randn(m, k, generator=gen, device=device, dtype=tdt) for _ in range(nbuf)]
    b_s = [torch.randn(k, n, generator=gen, device=device, dtype=tdt) for _ in range(nbuf)]
    out = torch.empty(m, n, device=device, dtype=tdt)

    def call(i: int) -> None:
        torch.matmul(a_s[i % nbuf], b_s[i % nbuf], out=out)

    dev = resolve(device)
    if min_sample_s is None:
        min_sample_s = 0.01 if dev.is_host else 0.002
    tf32 = tf32_mode(dtype == "tf32") if dev.has_tf32 else contextlib.nullcontext()
    with torch.no_grad(), torch_threads(threads), tf32:
        timing, inner = _measure(
            call,
            2.0 * m * n * k,
            device=device,
            repeats=repeats,
            min_sample_s=min_sample_s,
            max_seconds=max_seconds,
        )
    return _point(
        torch_blas_name(device, dtype),
        dtype,
        m,
        n,
        k,
        timing,
        inner,
        device=device,
        label=label,
        threads=threads,
    )


def numpy_gemm(
    m: int,
    n: int,
    k: int,
    *,
    repeats: int = 10,
    min_sample_s: float = 0.01,
    max_seconds: float = 2.0,
    label: str = "",
    threads: int | None = None,
) -> GemmPoint:
    """Time numpy.matmul (fp32) for one shape on the CPU, through whatever BLAS numpy links."""
    import numpy as np

    rng = np.random.default_rng(0)
    nbuf = _n_buffers((m * k + k * n) * 4, "cpu")
    a_s = [rng.standard_normal((m, k), dtype=np.float32) for _ in range(nbuf)]
    b_s = [rng.standard_normal((k, n), dtype=np.float32) for _ in range(nbuf)]
    out = np.empty((m, n), dtype=np.float32)

    def call(i: int) -> None:
        np.matmul(a_s[i % nbuf], b_s[i % nbuf], out=out)

    with _numpy_threads(threads):
        timing, inner = _measure(
            call,
            2.0 * m * n * k,
            device="cpu",
            repeats=repeats,
            min_sample_s=min_sample_s,
            max_seconds=max_seconds,
        )
    return _point(
        numpy_blas_name(), "fp32", m, n, k, timing, inner, device="cpu", label=label, threads=threads
    )


# ---------------------------------------------------------------------------------------------
# sweeps


def square_sizes(device: str, quick: bool) -> tuple[int, ...]:
    if resolve(device).is_host:
        return (512, 1024) if quick else (256, 512, 1024, 2048)
    return (4096, 8192) if quick else (1024, 2048, 4096, 8192)


def supported_dtypes(device: str) -> tuple[str, ...]:
    """Dtypes whose GEMM makes sense to time on this device (tf32 is an NVIDIA tensor-core mode)."""
    return tuple(d for d in DTYPES if d in resolve(device).gemm_dtypes)


def _ceiling_budgets(
    host: bool, quick: bool, budget_s: float | Mapping[str, float] | None
) -> dict[str, float]:
    """Seconds per dtype: the caller's figure or mapping, else the defaults `ceiling` documents."""
    default_s = (1.0 if quick else 2.5) if host else (1.0 if quick else 3.0)
    budgets: dict[str, float] = {dt: default_s for dt in DTYPES}
    if host:
        # low-precision GEMMs on CPUs without bf16/fp16 hardware are slow: a look, not a sweep
        budgets.update(bf16=min(default_s, 1.0), fp16=min(default_s, 1.0))
    if isinstance(budget_s, (int, float)):
        budgets = {dt: float(budget_s) for dt in DTYPES}
    elif budget_s is not None:
        budgets.update(budget_s)
    return budgets


def _ceiling_shapes(
    squares: Sequence[int], model_shapes: Sequence[tuple[int, int, int] | tuple[str, int, int, int]]
) -> list[tuple[str, str | None, int, int, int]]:
    """(label, model shape name or None for a square, m, n, k), in the order they are measured."""
    shapes: list[tuple[str, str | None, int, int, int]] = [(f"square {s}", None, s, s, s) for s in squares]
    for sh in model_shapes:
        if len(sh) == 4:
            name, m, n, k = sh
            name = str(name)
        else:
            m, n, k = sh
            name = f"{m}x{k}@{k}x{n}"
        shapes.append((f"model {name}", name, int(m), int(n), int(k)))
    # squares first (where the ceiling usually is), each group smallest first: a measurement predicts
    # whether the next, larger shape fits what is left of the budget
    shapes.sort(key=lambda s: (s[1] is not None, s[2] * s[3] * s[4]))
    return shapes


def ceiling(
    device: str,
    dtypes: Sequence[str],
    model_shapes: Sequence[tuple[int, int, int] | tuple[str, int, int, int]] = (),
    quick: bool = False,
    threads: int | None = None,
    libraries: bool = True,
    budget_s: float | Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
    squares: Sequence[int] | None = None,
) -> CeilingResult:
    """Sweep square sizes and the model's own GEMM shapes per dtype; the best point is the ceiling.

    `model_shapes` are (m, n, k) or (name, m, n, k). `budget_s` is per dtype: one figure for all, or a
    mapping dtype -> seconds (default CPU 2.5 s, quick 1 s, bf16/fp16 at most 1 s; GPU 3 s / 1 s).
    `libraries` adds numpy's BLAS on CPU (fp32).
    Ctrl-C returns what was measured so far with interrupted=True.
    """
    host = resolve(device).is_host
    budgets = _ceiling_budgets(host, quick, budget_s)
    repeats = 5 if quick else 10
    shapes = _ceiling_shapes(square_sizes(device, quick) if squares is None else squares, model_shapes)

    points: list[GemmPoint] = []
    notes: list[str] = []
    interrupted = False
    runners: list[tuple[str, str, Callable[..., GemmPoint]]] = []
    for dt in dtypes:
        if dt not in DTYPES:
            raise ValueError(f"unknown dtype {dt!r}")
        if dt not in supported_dtypes(device):
            notes.append(f"{dt} GEMM not timed on {device} (TF32 is an NVIDIA tensor-core mode)")
            continue

        def run_torch(label: str, m: int, n: int, k: int, max_s: float, _dt: str = dt) -> GemmPoint:
            return torch_gemm(
                device, _dt, m, n, k, repeats=repeats, max_seconds=max_s, label=label, threads=threads
            )

        runners.append((dt, "torch", run_torch))
        if libraries and host and dt == "fp32":
            with contextlib.suppress(ImportError):
                import numpy  # noqa: F401

                def run_numpy(label: str, m: int, n: int, k: int, max_s: float) -> GemmPoint:
                    return numpy_gemm(
                        m, n, k, repeats=repeats, max_seconds=max_s, label=label, threads=threads
                    )

                runners.append((dt, "numpy", run_numpy))
                with _numpy_threads(threads) as ok:
                    if not ok:
                        notes.append(f"numpy BLAS threads could not be set to {threads}")
    try:
        for dt, lib, runner in runners:
            t_start = time.perf_counter()
            budget = budgets[dt]
            rate: float | None = None  # FLOP/s measured so far, to predict the next shape
            for j, (label, model_shape, m, n, k) in enumerate(shapes):
                spent = time.perf_counter() - t_start
                left = budget - spent
                share = left / (len(shapes) - j)  # an equal share of what is left per remaining shape
                flops = 2.0 * m * n * k
                # a point needs >= 2 warm-up calls + 3 samples of >= 1 call
                predicted = 5 * flops / rate if rate else 0.0
                if left <= 0 or predicted > left:
                    notes.append(
                        f"{lib} {dt} {label} skipped: over the {budget:g} s budget"
                        + (f" (predicted {predicted:.1f} s)" if rate else "")
                    )
                    continue
                if progress:
                    progress(f"GEMM {lib} {dt} {label}")
                pt = runner(label, m, n, k, max(share, 0.05))
                if model_shape is not None:
                    pt = replace(pt, model_shape=model_shape)
                points.append(pt)
                rate = max(rate or 0.0, pt.tflops * 1e12)
    except KeyboardInterrupt:
        interrupted = True
        notes.append("interrupted: the ceiling is from the shapes measured so far")
    best: dict[str, GemmPoint] = {}
    for p in points:
        if p.dtype not in best or p.tflops > best[p.dtype].tflops:
            best[p.dtype] = p
    return CeilingResult(
        device=device,
        points=tuple(points),
        best=best,
        notes=tuple(notes),
        env_overrides=env_overrides(),
        threads=threads,
        interrupted=interrupted,
    )


def best_gemm(
    device: str = "cpu",
    dtype: str = "fp32",
    quick: bool = True,
    threads: int | None = None,
    libraries: bool = False,
) -> GemmPoint:
    """The fastest square GEMM torch (and numpy if `libraries`) reaches for `dtype` on `device`."""
    res = ceiling(device, [dtype], quick=quick, threads=threads, libraries=libraries)
    if dtype not in res.best:
        from hwbench.errors import HwbenchError

        raise HwbenchError(f"no {dtype} GEMM could be timed on {device}", hint="; ".join(res.notes) or None)
    return res.best[dtype]
