"""Explanations: recorded measurements in, sentences out (pure functions, no I/O, no torch).

Each rule looks at `RunFacts` (and, when they ran, the experiments and the profile) and returns an
`Explanation` only when it applies to this device and config: no TF32 advice on a CPU, no P-core advice
on a CPU without E-cores, no bf16 praise on a CPU without bf16 arithmetic. Every number in a sentence
says where it came from (which peak, which library, measured or estimated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwbench.bench.flops import NANOGPT_PEAK_TFLOPS
from hwbench.bench.matmul import PATH_FORCING_ENV_VARS
from hwbench.detect.torchinfo import NO_ACCELERATOR
from hwbench.fmt import count, cpu_list, pct, si, tf
from hwbench.report.abstats import claim_text
from hwbench.report.facts import RunFacts

if TYPE_CHECKING:
    from hwbench.report.experiments import ExperimentResult, ExperimentsReport
    from hwbench.report.profile import ProfileResult


@dataclass(frozen=True)
class Explanation:
    id: str  # stable key tests and tools match on: "nanogpt_denominator", "threads_smt", ...
    text: str


def _device_word(f: RunFacts) -> str:
    return "CPU" if f.is_cpu else "GPU" if f.is_cuda else f.device


def _result(
    experiments: ExperimentsReport | None, kind: str, key: str | None = None
) -> ExperimentResult | None:
    if experiments is None:
        return None
    for r in experiments.results:
        if r.variant.kind == kind and (key is None or r.variant.key == key):
            return r
    return None


# -- the rules ---------------------------------------------------------------------------------------


def nanogpt_denominator(f: RunFacts) -> Explanation | None:
    """What nanoGPT would print, and why it is not this device's MFU."""
    if f.achieved_tflops <= 0:
        return None
    parts = [
        f"nanoGPT would print mfu {pct(f.mfu_nanogpt)} for this run because its estimate_mfu divides by "
        f"an A100's {NANOGPT_PEAK_TFLOPS:.0f} TFLOP/s (bf16 dense) on every device"
    ]
    own_peak = (
        f"this {_device_word(f)}'s own {f.dtype} peak ({tf(f.peak_tflops)} TFLOP/s, "
        f"{'estimated: ' if f.peak_estimated else ''}{f.peak_source or 'hwbench peaks'})"
    )
    if f.peak_tflops and f.mfu is not None:
        parts.append(
            f"; against {own_peak} the same run ({tf(f.achieved_tflops)} TFLOP/s measured) is {pct(f.mfu)}"
        )
    elif f.peak_tflops:
        parts.append(
            f"; the run measured {tf(f.achieved_tflops)} TFLOP/s, more than {own_peak}: that peak is "
            "wrong, so MFU against it is not shown"
        )
    else:
        parts.append(
            f"; no {f.dtype} peak is known for this device, so its own MFU is not shown "
            f"(the run measured {tf(f.achieved_tflops)} TFLOP/s)"
        )
    best = f.best_ceiling()
    if best and best.tflops > 0:
        parts.append(
            f", and against the best {f.dtype} GEMM measured here ({tf(best.tflops)} TFLOP/s, "
            f"{best.library}{f' {best.backend}' if best.backend else ''}, {best.m}x{best.k}x{best.n}) "
            f"it is {pct(f.achieved_tflops / best.tflops)}"
        )
    if f.is_cuda and f.dtype == "bf16" and f.peak_tflops:
        ratio = f.peak_tflops / NANOGPT_PEAK_TFLOPS
        parts.append(f" (this GPU's bf16 peak is {ratio:.2f}x the A100's)")
    return Explanation("nanogpt_denominator", "".join(parts) + ".")


def model_size(f: RunFacts) -> Explanation | None:
    c = f.config
    if not c:
        return None
    tokens = f.tokens_per_step
    if f.model is not None:
        batch = f"batch {c['batch_size']}" if c.get("batch_size") else "no batch dimension hwbench can vary"
        return Explanation(
            "model_size",
            f"The model ({f.model}, {c.get('name')}) has {count(f.n_params)} trainable parameters ({batch}): "
            f"{si(f.flops_per_step, 'FLOP')} per step as torch's FlopCounterMode counts forward, loss and "
            f"backward (matmuls, convolutions, attention; elementwise ops, norms and the optimizer are not "
            f"counted), done in {f.step_time_s * 1e3:.1f} ms (median).",
        )
    text = (
        f"The model has {count(f.n_params)} parameters (position embedding excluded, as nanoGPT "
        f"counts) and each step trains on {tokens:,} tokens (batch {c.get('batch_size')} x block "
        f"{c.get('block_size')}): {si(f.flops_per_step, 'FLOP')} per step by the PaLM Appendix B count "
        f"(6N + 12*L*H*Q*T per token), done in {f.step_time_s * 1e3:.1f} ms (median)."
    )
    torch_gemms = [g for g in f.model_gemms if g.library == "torch" and g.dtype == f.dtype]
    if torch_gemms:
        largest = max(torch_gemms, key=lambda g: g.flops)
        agg = f.model_gemm_tflops_for("torch")
        best = f.torch_ceiling()
        text += (
            f" Its GEMMs are small: the largest is {largest.m}x{largest.k} @ {largest.k}x{largest.n}"
            f" ({largest.flops / 1e6:.0f} MFLOP); at the model's shapes torch's GEMMs reach {tf(agg)} TFLOP/s"
            f" together (measured)"
        )
        if best and agg:
            text += f", {pct(agg / best.tflops)} of its best shape ({tf(best.tflops)}, {best.label})"
        text += "."
    return Explanation("model_size", text)


def threads(f: RunFacts) -> list[Explanation]:
    """Threads against usable CPUs, physical cores, SMT siblings and hybrid E-cores."""
    cpu = f.cpu
    if not f.is_cpu or cpu is None or not f.threads:
        return []
    t = f.threads
    usable = len(cpu.usable_cpus) if cpu.usable_cpus else (cpu.logical_cpus or 0)
    phys = cpu.usable_physical_cores
    out: list[Explanation] = []
    if usable and t > usable:
        out.append(
            Explanation(
                "threads_oversubscribed",
                f"torch ran {t} threads on {usable} usable CPUs: oversubscribed. Every OpenMP region "
                f"waits for its slowest thread, and here threads wait for a CPU.",
            )
        )
    if cpu.hybrid:
        p_usable = [c for c in cpu.p_core_cpus if not cpu.usable_cpus or c in cpu.usable_cpus]
        e_usable = [c for c in cpu.e_core_cpus if not cpu.usable_cpus or c in cpu.usable_cpus]
        p_phys = len(cpu.one_cpu_per_core(tuple(p_usable))) if p_usable else 0
        if e_usable and t > p_phys:
            out.append(
                Explanation(
                    "threads_hybrid_ecores",
                    f"This is a hybrid CPU ({cpu.p_cores} P-cores, {cpu.e_cores} E-cores): torch's {t} "
                    f"threads include E-cores (CPUs {cpu_list(tuple(e_usable))}), and every OpenMP "
                    f"region waits for its slowest thread, on an E-core. P-cores only, one thread each: "
                    f"{p_phys} threads on CPUs {cpu_list(cpu.one_cpu_per_core(tuple(p_usable)))}.",
                )
            )
    has_smt = any(len(g) > 1 for g in cpu.smt_siblings)
    if has_smt and phys and t > phys:
        out.append(
            Explanation(
                "threads_smt",
                f"torch ran {t} threads on {phys} physical cores: {t - phys} of them share a core with "
                f"an SMT sibling, which adds no FMA units to a GEMM. One thread per physical core is "
                f"{phys} threads on CPUs {cpu_list(cpu.one_cpu_per_core())}.",
            )
        )
    if phys and t < phys and not (usable and t > usable):
        out.append(
            Explanation(
                "threads_underused",
                f"torch ran only {t} thread{'s' if t != 1 else ''} while {phys} physical cores are usable.",
            )
        )
    if not out:
        smt_word = "no SMT siblings" if not has_smt else "SMT siblings left idle"
        e_word = "" if cpu.e_cores is None and not cpu.hybrid else ", no E-cores"
        out.append(
            Explanation(
                "threads_ok",
                f"torch ran {t} threads on {usable} usable CPUs ({phys if phys else '?'} physical cores, "
                f"{smt_word}{e_word}): one thread per core, no oversubscription.",
            )
        )
    return out


def math_library(f: RunFacts) -> Explanation | None:
    """Which library and code path the GEMMs ran through, and what another library reaches."""
    if not f.is_cpu:
        return None
    torch_best = f.torch_ceiling()
    parts: list[str] = []
    blas = f.torch_blas or (torch_best.backend if torch_best else None) or "its BLAS"
    cap = f.torch_cpu_capability
    isa = set(f.cpu.isa) if f.cpu else set()
    vendor = (f.cpu.vendor or "") if f.cpu else ""
    if torch_best:
        s = f"torch's {f.dtype} GEMM here is {blas}"
        if cap:
            s += f" (torch's own ATen kernels: {cap})"
        s += f", reaching {tf(torch_best.tflops)} TFLOP/s at best ({torch_best.label or 'square'})"
        if f.peak_tflops:
            s += f", {pct(torch_best.tflops / f.peak_tflops)} of the {f.dtype} peak"
        parts.append(s + ".")
    if "MKL" in blas and vendor == "AuthenticAMD":
        parts.append(
            "Intel MKL chooses its kernels by CPU vendor: on AMD CPUs it runs the kernels it has for Zen and "
            "a generic path elsewhere (pytorch/builder#504: MKL 2020.2 on Zen ran dgemm on a Zen AVX2 kernel "
            "but sgemm on an SSE path; MKL_DEBUG_CPU_TYPE no longer overrides it)."
        )
        if torch_best and f.peak_tflops and f.dtype == "fp32" and {"avx2", "fma"} <= isa:
            frac = torch_best.tflops / f.peak_tflops
            # Zen/Haswell-class cores: 2 FMA pipes x 8 fp32 lanes (AVX2) = 32 FLOP/cycle; without FMA on
            # 4-lane SSE at most 16 (a mul and an add per pipe pair): half the AVX2+FMA rate
            if frac > 0.5:
                parts.append(
                    f"Measured here it reaches {pct(frac)} of the AVX2+FMA peak, more than an SSE path can "
                    f"(at most half): it runs 256-bit FMA kernels."
                )
            else:
                parts.append(
                    f"Measured here it reaches {pct(frac)} of the AVX2+FMA peak: no more than an SSE path "
                    f"could reach (at most half), so this run cannot tell which path MKL took."
                )
        if "avx512f" not in isa:
            parts.append(
                "This CPU has no AVX-512 (AVX2 + FMA is its widest path), so no library can do better than "
                "AVX2 kernels here; the differences between libraries are kernel choice and blocking."
            )
    elif cap and cap.upper() == "AVX2" and "avx512f" in isa and "ATEN_CPU_CAPABILITY" not in f.env_overrides:
        parts.append(
            f"torch runs its {cap} kernels although the CPU has AVX-512 (torch's own choice for this CPU)."
        )
    others = [g for g in f.ceiling if g.library != "torch"]
    if torch_best and others:
        o = max(others, key=lambda g: g.tflops)
        ratio = o.tflops / torch_best.tflops
        lib = f"{o.library} ({o.backend or 'its BLAS'})"
        if ratio >= 1.15:  # single GEMM timings on a shared VM move by ~10%: only a clear gap is a finding
            parts.append(
                f"{lib} reaches {tf(o.tflops)} TFLOP/s ({o.label or 'square'}), {ratio:.2f}x torch's best, "
                f"on the same cores: the gap is the library, not the CPU."
            )
        else:
            parts.append(
                f"{lib} reaches {tf(o.tflops)} TFLOP/s ({o.label or 'square'}), {ratio:.2f}x torch's best: "
                f"no library does clearly better here."
            )
    for var in PATH_FORCING_ENV_VARS:
        if var in f.env_overrides:
            parts.append(f"{var}={f.env_overrides[var]} is set in the environment and forces that code path.")
    if not parts:
        return None
    return Explanation("math_library", " ".join(parts))


def faster_dtype(f: RunFacts, experiments: ExperimentsReport | None = None) -> Explanation | None:
    """A faster dtype that the hardware has and the run did not use; or why bf16 does not help here."""
    if f.is_cpu:
        if f.dtype != "fp32":
            return None
        isa = set(f.cpu.isa) if f.cpu else set()
        hw = [
            name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512_BF16")) if flag in isa
        ]
        r = _result(experiments, "dtype", "dtype=bf16")
        measured = ""
        if r is not None and r.speedup is not None:
            ratio = claim_text(r.speedup, r.interval, r.noise_pct)
            measured = f" Measured here: bf16 autocast runs the step at {ratio} the fp32 speed ({r.verdict})."
        if hw:
            peak = f.peaks_tflops.get("bf16")
            return Explanation(
                "cpu_bf16_available",
                f"This CPU has {' and '.join(hw)}: bf16 matmuls"
                + (f" peak at {tf(peak)} TFLOP/s vs {tf(f.peak_tflops)} in fp32" if peak else " run natively")
                + ", and the run used fp32. nanoGPT ignores --dtype on CPU (its autocast context is a"
                " nullcontext there), so its users never get it." + measured,
            )
        if f.cpu is not None:
            return Explanation(
                "cpu_no_bf16",
                "This CPU has no bf16 arithmetic (no AVX512_BF16, no AMX): bf16 autocast only adds "
                "conversions and runs slower fallback kernels, so fp32 is the right dtype here." + measured,
            )
        return None
    if f.is_cuda:
        cc = None
        for g in f.gpus:
            if g.compute_capability:
                cc = g.compute_capability
        peaks = f.peaks_tflops
        if f.dtype == "fp32":
            tf32, bf16, fp32 = peaks.get("tf32"), peaks.get("bf16"), peaks.get("fp32")
            if tf32 or bf16:
                faster = ", ".join(f"{name} {tf(v)}" for name, v in (("TF32", tf32), ("bf16", bf16)) if v)
                return Explanation(
                    "cuda_tensor_cores_unused",
                    f"The step ran in true fp32 on the GPU's CUDA cores (fp32 peak {tf(fp32)} TFLOP/s); "
                    f"its tensor cores are unused ({faster} TFLOP/s dense). nanoGPT enables TF32 by "
                    f"default and trains in bf16 where the GPU supports it.",
                )
        if f.dtype == "fp16" and peaks.get("bf16") and (cc is None or cc >= "8.0"):
            return Explanation(
                "cuda_bf16_available",
                "This GPU supports bf16 at the fp16 rate; bf16 needs no grad scaler.",
            )
    return None


def vm_steal(f: RunFacts) -> Explanation | None:
    if f.steal_pct is not None and f.steal_pct >= 1.0:
        return Explanation(
            "vm_steal",
            f"The hypervisor took {f.steal_pct:.1f}% of this VM's CPU time during the run (steal, from "
            f"/proc/stat): that time is lost to the training step and to every thread waiting on it.",
        )
    return None


def machine_busy(f: RunFacts) -> Explanation | None:
    """Other processes competing for the same CPUs while the run and the experiments measured."""
    if not f.is_cpu or f.others_busy_pct is None or f.others_busy_pct < 15.0:
        return None
    n = len(f.cpu.usable_cpus) if f.cpu and f.cpu.usable_cpus else None
    load = (
        f" (load average {f.loadavg:.1f}" + (f" on {n} CPUs)" if n else ")") if f.loadavg is not None else ""
    )
    return Explanation(
        "machine_busy",
        f"Other processes kept {f.others_busy_pct:.0f}% of the CPUs busy while the report measured{load}: "
        f"every OpenMP region waits for its slowest thread, and a thread that shares its core with another "
        f"process is slow, so step times here are longer and noisier than on an idle machine (the noise "
        f"bands below include this).",
    )


def vm_stalls(f: RunFacts) -> Explanation | None:
    if f.stalls <= 0:
        return None
    worst = max(f.step_samples_s) if f.step_samples_s else None
    text = f"{f.stalls} of {len(f.step_samples_s) or '?'} timed steps stalled (over 3x the median"
    if worst:
        text += f", worst {worst * 1e3:.0f} ms"
    text += "); the median step time does not include them"
    if f.cpu is not None and f.cpu.virtualized:
        text += ": this is a VM, where the hypervisor deschedules vCPUs"
    return Explanation("vm_stalls", text + ".")


def gpu_clock_events(f: RunFacts) -> Explanation | None:
    if not f.is_cuda or not f.nvml_events:
        return None
    return Explanation(
        "gpu_clock_events",
        "NVML reported clock slowdowns during the run: " + "; ".join(f.nvml_events) + ".",
    )


def pcie_link(f: RunFacts) -> Explanation | None:
    p = f.pcie
    if not f.is_cuda or not p:
        return None
    gen, max_gen, width, max_width = p.get("gen"), p.get("max_gen"), p.get("width"), p.get("max_width")
    low = []
    if gen and max_gen and gen < max_gen:
        low.append(f"gen {gen} of {max_gen}")
    if width and max_width and width < max_width:
        low.append(f"x{width} of x{max_width}")
    if not low:
        return None
    return Explanation(
        "pcie_link_low",
        f"The GPU's PCIe link ran at {' and '.join(low)} under load (NVML, sampled during the run): "
        f"host-to-device copies are slower than the slot allows (check the slot, riser or BIOS setting).",
    )


def unusable_accelerator(f: RunFacts) -> Explanation | None:
    """A GPU in the box that this torch build cannot use, while the run went to the CPU."""
    if not f.is_cpu:
        return None
    unusable = [
        g
        for g in f.gpus
        if not g.usable_by_torch
        and g.vendor in ("nvidia", "amd", "intel")
        and g.kind not in ("bmc", "virtual")
    ]
    if not unusable:
        return None
    why = [m for m in f.torch_messages if m != NO_ACCELERATOR]
    names = ", ".join(g.name for g in unusable)
    text = f"{names} {'is' if len(unusable) == 1 else 'are'} present but this torch build "
    it = "it" if len(unusable) == 1 else "them"
    text += f"({f.torch_version or '?'}) cannot use {it}; the run used the CPU"
    if why:
        text += ": " + "; ".join(m.rstrip(".") for m in why)
    return Explanation("accelerator_unusable", text + ".")


def profile_gap(f: RunFacts, profile: ProfileResult | None) -> Explanation | None:
    """Where the step's time goes outside the GEMMs (torch.profiler categories)."""
    if profile is None or not profile.categories:
        return None
    mm = profile.share("matmul")
    others = sorted(
        (c for c in profile.categories if c.category != "matmul" and c.share_time > 0),
        key=lambda c: -c.share_time,
    )
    if not others:
        return None
    top = others[:3]
    listing = ", ".join(f"{c.category} {pct(c.share_time)}" for c in top)
    text = (
        f"GEMMs take {pct(mm)} of the step's time (torch.profiler, {profile.steps} "
        f"step{'s' if profile.steps != 1 else ''}); the rest is "
        f"{listing}"
    )
    not_counted = [c.category for c in top if c.share_flops == 0]
    counted = [c for c in top if c.share_flops > 0]
    if not_counted:
        names = " and ".join(
            [", ".join(not_counted[:-1]), not_counted[-1]] if len(not_counted) > 1 else not_counted
        )
        one = len(not_counted) == 1
        text += (
            f"; of these, {names} {'does' if one else 'do'} none of the FLOPs that MFU counts, "
            f"so {'its' if one else 'their'} time lowers MFU however fast the GEMMs are"
        )
    for c in counted:
        text += f" ({c.category} does {pct(c.share_flops)} of the counted FLOPs"
        text += f" in {pct(c.share_time)} of the time)"
    return Explanation("profile_non_matmul", text + ".")


def batch_sweep(f: RunFacts, experiments: ExperimentsReport | None) -> Explanation | None:
    """Where the measured batch-size sweep flattens."""
    if experiments is None:
        return None
    sweep = sorted(
        (r for r in experiments.results if r.variant.kind == "batch" and r.speedup is not None),
        key=lambda r: int(r.variant.config.get("batch_size", 0)),
    )
    if len(sweep) < 2:
        return None
    base = f.config.get("batch_size")
    listing = ", ".join(
        f"{r.variant.config['batch_size']}: {claim_text(r.speedup, r.interval, r.noise_pct)}" for r in sweep
    )
    best = max(sweep, key=lambda r: r.speedup or 0.0)
    if best.verdict not in ("gain", "likely gain"):
        # after one round there is no interval: say so rather than print a ±0% that was never measured
        noise = f"±{best.noise_pct:.0f}%" if best.interval is not None or best.noise_pct else "one round"
        verdict_text = f"no batch size beats {base} beyond the noise ({noise})"
    elif best.verdict == "likely gain":
        verdict_text = f"batch {best.variant.config['batch_size']} likely gains (its interval is wide)"
    elif best is sweep[-1]:
        verdict_text = f"throughput still grows at {best.variant.config['batch_size']}, the largest tried"
    else:
        verdict_text = f"the gain flattens at batch {best.variant.config['batch_size']}"
    failed = [r for r in experiments.results if r.variant.kind == "batch" and r.verdict == "failed"]
    if failed:
        verdict_text += f"; batch {failed[0].variant.config['batch_size']} failed ({failed[0].note})"
    return Explanation(
        "batch_sweep",
        f"Batch-size sweep, throughput against batch {base} (measured): {listing}: {verdict_text}. A larger "
        f"batch changes the optimisation too (more tokens per step), so the learning rate may need retuning.",
    )


def compile_not_measured(f: RunFacts, experiments: ExperimentsReport | None) -> Explanation | None:
    if experiments is None or experiments.compile_not_measured is None:
        return None
    return Explanation("compile_not_measured", experiments.compile_not_measured)


# -- all of them ---------------------------------------------------------------------------------------

Rule = Callable[[RunFacts], "Explanation | None"]


def explain(
    facts: RunFacts,
    experiments: ExperimentsReport | None = None,
    profile: ProfileResult | None = None,
) -> list[Explanation]:
    """Every explanation that applies to this run, in reading order."""
    out: list[Explanation | None] = [
        nanogpt_denominator(facts),
        model_size(facts),
        *threads(facts),
        math_library(facts),
        faster_dtype(facts, experiments),
        batch_sweep(facts, experiments),
        profile_gap(facts, profile),
        gpu_clock_events(facts),
        pcie_link(facts),
        vm_steal(facts),
        machine_busy(facts),
        vm_stalls(facts),
        unusable_accelerator(facts),
        compile_not_measured(facts, experiments),
    ]
    return [e for e in out if e is not None]
