"""Where a training step's time goes: torch.profiler op categories, share of time vs share of FLOPs.

Each profiled op's SELF time (its own time, children excluded, so nothing is counted twice) goes to
one category: by the op's own name first (aten::mm is matmul wherever it runs), else by its nearest
named ancestor (an aten::mul inside GeluBackward0 is gelu), and anything under the optimizer's
`Optimizer.step` / `zero_grad` ranges or our `clip_grad_norm` range is optimizer work. The FLOP share of
each category is the PaLM count the MFU uses (6N per token for the matmuls, 12*L*H*Q*T for attention);
LayerNorm, GELU, embedding, loss and optimizer do none of the counted FLOPs, which is exactly why their
time lowers MFU.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwbench.devices import resolve

if TYPE_CHECKING:
    from hwbench.bench.config import GPTConfig
    from hwbench.bench.step import StepOptions

CATEGORIES = ("matmul", "attention", "layernorm", "gelu", "embedding+loss", "optimizer", "other")

# (category, substrings of a lower-cased op, range or GPU kernel name); first match wins, order matters.
# Kernel names: cuBLAS/cuBLASLt (`ampere_bf16_s16816gemm_*`, Hopper's `nvjet_*` and `sm90_xmma_gemm_*`,
# `splitKreduce_kernel`), CUTLASS (`cutlass_80_tensorop_*gemm*`), rocBLAS/hipBLASLt (Tensile's `Cijk_*`),
# SDPA backends (flash `flash_fwd_kernel`, mem-efficient `fmha_cutlassF_*`, cuDNN `cudnn_*sdpa*`, ROCm's
# `aotriton`/`ck_fmha`), fused and foreach optimizers and grad-norm (`multi_tensor_apply_kernel`).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "optimizer",
        (
            "optimizer.step",
            "optimizer.zero_grad",
            "clip_grad_norm",
            "_foreach_",
            "adamw",
            "multi_tensor_apply",
            "fused_adam",
        ),
    ),
    # before attention: the loss's log_softmax must not count as attention's softmax
    ("embedding+loss", ("embedding", "cross_entropy", "nll_loss", "nllloss", "log_softmax", "logsoftmax")),
    (
        "attention",
        (
            "scaled_dot_product",
            "scaleddotproduct",
            "flash_attention",
            "flashattention",
            "efficient_attention",
            "efficientattention",
            "flash_fwd",
            "flash_bwd",
            "fmha",
            "sdpa",
            "aotriton",
            "softmax",
        ),
    ),
    (
        "matmul",
        (
            "aten::mm",
            "aten::addmm",
            "aten::bmm",
            "aten::baddbmm",
            "aten::matmul",
            "aten::linear",
            "mmbackward",
            "addmmbackward",
            "bmmbackward",
            "mkldnn_matmul",
            "_addmm_activation",
            "linear_pointwise",
            "mkl_linear",
            "aten::_mm",
            "gemm",
            "nvjet",
            "sm90_xmma",
            "splitkreduce",
            "cutlass",
            "cijk_",
            "cublas",
        ),
    ),
    ("layernorm", ("layer_norm", "layernorm")),
    ("gelu", ("gelu",)),
)


def categorize_name(name: str) -> str | None:
    """The category one op or range name belongs to, or None for a generic op (add, copy_, view)."""
    low = name.lower()
    for cat, keys in _RULES:
        if any(k in low for k in keys):
            return cat
    return None


# aten's SDPA entry points, one per backend (torch/nn/attention SDPBackend), by the op the dispatcher chose.
_SDPA_BACKENDS: tuple[tuple[str, str], ...] = (
    ("_scaled_dot_product_flash_attention_for_cpu", "flash (CPU)"),
    ("_scaled_dot_product_fused_attention_overrideable", "fused (out-of-tree backend)"),
    ("_scaled_dot_product_flash_attention", "flash"),
    ("_scaled_dot_product_efficient_attention", "mem-efficient"),
    ("_scaled_dot_product_cudnn_attention", "cuDNN"),
    ("_scaled_dot_product_attention_math", "math"),
)


def sdpa_backend(names: Iterable[str]) -> str | None:
    """Which scaled_dot_product_attention backend ran, from the profiled op names; None without SDPA."""
    seen = {n.lower() for n in names}
    for op, backend in _SDPA_BACKENDS:
        if any(op in n for n in seen):
            return backend
    return None


def categorize(name: str, ancestors: Sequence[str]) -> str:
    """An op's category from its name and its ancestors' names (nearest first)."""
    if any(categorize_name(a) == "optimizer" for a in ancestors) or categorize_name(name) == "optimizer":
        return "optimizer"
    own = categorize_name(name)
    if own is not None:
        return own
    for a in ancestors:
        cat = categorize_name(a)
        if cat is not None:
            return cat
    return "other"


@dataclass(frozen=True)
class CategoryShare:
    category: str
    time_s_per_step: float
    share_time: float  # of the profiled step time (sum of self times)
    share_flops: float  # of the FLOPs the MFU counts


@dataclass(frozen=True)
class ProfileResult:
    steps: int
    step_time_s: float  # wall time per profiled step (profiler overhead included)
    categories: tuple[CategoryShare, ...]
    top_ops: tuple[tuple[str, str, float], ...]  # (op, category, seconds per step), largest first
    source: str = "torch.profiler (CPU self time per op)"
    sdpa_backend: str | None = None  # which attention backend ran ("flash", "mem-efficient", "math"...)

    def share(self, category: str) -> float:
        for c in self.categories:
            if c.category == category:
                return c.share_time
        return 0.0


def flop_shares(cfg: dict[str, Any], n_params: int) -> dict[str, float]:
    """Shares of the PaLM FLOP count: matmul 6N, attention 12*L*H*Q*T (= 12*L*C*T) per token."""
    n_layer = int(cfg.get("n_layer", 0))
    n_embd = int(cfg.get("n_embd", 0))
    block = int(cfg.get("block_size", 0))
    mm = 6.0 * n_params
    attn = 12.0 * n_layer * n_embd * block
    total = mm + attn
    if total <= 0:
        return {}
    return {"matmul": mm / total, "attention": attn / total}


def summarize_events(
    events: Iterable[tuple[str, Sequence[str], float]],
    steps: int,
    wall_s: float,
    cfg: dict[str, Any],
    n_params: int,
    source: str = "torch.profiler (CPU self time per op)",
) -> ProfileResult:
    """Pure: (op name, ancestor names nearest first, self seconds) per event -> category shares."""
    events = list(events)
    per_cat = dict.fromkeys(CATEGORIES, 0.0)
    per_op: dict[tuple[str, str], float] = {}
    for name, ancestors, self_s in events:
        if self_s <= 0:
            continue
        cat = categorize(name, ancestors)
        per_cat[cat] += self_s
        per_op[(name, cat)] = per_op.get((name, cat), 0.0) + self_s
    total = sum(per_cat.values())
    fl = flop_shares(cfg, n_params)
    cats = tuple(
        CategoryShare(
            category=c,
            time_s_per_step=per_cat[c] / max(steps, 1),
            share_time=per_cat[c] / total if total > 0 else 0.0,
            share_flops=fl.get(c, 0.0),
        )
        for c in CATEGORIES
    )
    top = sorted(per_op.items(), key=lambda kv: -kv[1])[:12]
    return ProfileResult(
        steps=steps,
        step_time_s=wall_s / max(steps, 1),
        categories=cats,
        top_ops=tuple((name, cat, s / max(steps, 1)) for (name, cat), s in top),
        source=source,
        sdpa_backend=sdpa_backend(n for name, ancestors, _ in events for n in (name, *ancestors)),
    )


def profile_step(cfg: GPTConfig, opts: StepOptions, steps: int = 3, warmup: int = 2) -> ProfileResult:
    """Profile `steps` training steps of bench.gpt.GPT(cfg) under `opts` (device, dtype, threads)."""
    from hwbench.bench.flops import n_params as count_params

    events, wall, source = collect_events(cfg, opts, steps, warmup)
    return summarize_events(events, steps, wall, cfg.as_dict(), count_params(cfg), source)


def collect_events(
    cfg: GPTConfig, opts: StepOptions, steps: int = 3, warmup: int = 2
) -> tuple[list[tuple[str, list[str], float]], float, str]:
    """(name, ancestor names nearest first, self seconds) per profiled event, the wall time, and the source.

    On a GPU only the device's own events count (each kernel once, by its duration; the CPU ops that
    launched them also carry that device time, so counting both would count every kernel twice): a kernel
    is named by itself and by the op that launched it and that op's ancestors. On the CPU, each op's self
    time.

    The step is the one bench.step.measure_step times (forward, loss, backward, clip 1.0, AdamW),
    built here again because the profiler has to wrap the steps and nothing else.
    """
    import contextlib

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from hwbench.bench.gpt import GPT
    from hwbench.bench.matmul import _sync_fn, torch_dtype, torch_threads

    device = opts.device
    dev = resolve(device)
    sync = _sync_fn(device)
    with torch_threads(opts.threads):
        torch.manual_seed(0)
        model = GPT(cfg).to(device)
        model.train()
        optimizer = model.optimizer(fused=opts.fused_adamw)
        gen = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size), generator=gen).to(device)
        y = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size), generator=gen).to(device)
        if opts.dtype in ("bf16", "fp16"):
            ctx: contextlib.AbstractContextManager[Any] = torch.autocast(
                device_type=dev.api, dtype=torch_dtype(opts.dtype)
            )
        else:
            ctx = contextlib.nullcontext()

        def step() -> None:
            with ctx:
                loss = model(x, y)
            loss.backward()
            with record_function("clip_grad_norm"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        for _ in range(warmup):
            step()
        sync()
        activities = [ProfilerActivity.CPU]
        if dev.profiler_activity is not None and dev.profiler_activity in ProfilerActivity.__members__:
            activities.append(ProfilerActivity.__members__[dev.profiler_activity])
        t0 = time.perf_counter()
        with profile(activities=activities, record_shapes=False) as prof:
            for _ in range(steps):
                step()
            sync()
        wall = time.perf_counter() - t0
    from torch.autograd import DeviceType

    def chain(ev: Any) -> list[str]:
        names: list[str] = []
        parent = ev.cpu_parent
        while parent is not None:
            names.append(parent.name)
            parent = parent.cpu_parent
        return names

    all_events = list(prof.events())
    on_device = [ev for ev in all_events if ev.device_type != DeviceType.CPU]
    if not on_device:
        cpu_events = [(ev.name, chain(ev), float(ev.self_cpu_time_total) / 1e6) for ev in all_events]
        return cpu_events, wall, "torch.profiler (CPU self time per op)"
    # the op that launched each kernel (the profiler links them by correlation id, not by parent)
    launched_by: dict[str, list[str]] = {}
    for ev in all_events:
        for k in ev.kernels:
            launched_by.setdefault(k.name, [ev.name, *chain(ev)])
    ops = [ev.name for ev in all_events if ev.device_type == DeviceType.CPU]
    device_events = [
        (ev.name, launched_by.get(ev.name, []), float(ev.device_time_total) / 1e6) for ev in on_device
    ]
    # zero-time entries keep the aten op names, so which SDPA backend ran is still seen
    device_events += [(name, [], 0.0) for name in dict.fromkeys(n for n in ops if "scaled_dot_product" in n)]
    return device_events, wall, f"torch.profiler ({dev.kind} kernel time, each kernel once)"
