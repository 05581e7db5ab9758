"""Explanations on recorded measurements: what applies is said with its numbers; what cannot is absent."""

from __future__ import annotations

from dataclasses import replace

from helpers import nvml_sample, on_machine, recorded

from hwbench.report import advise_facts
from hwbench.report.explain import cpu_list, explain, pct
from hwbench.report.facts import GpuFacts
from hwbench.report.monitor import summarize_nvml


def ids(facts, ex=None, prof=None) -> set[str]:  # type: ignore[no-untyped-def]
    return {e.id for e in explain(facts, ex, prof)}


def text(facts, ex=None, prof=None) -> str:  # type: ignore[no-untyped-def]
    return " ".join(e.text for e in explain(facts, ex, prof))


def test_nanogpt_sentence_names_both_denominators_with_this_runs_numbers() -> None:
    facts, ex, prof = recorded()
    e = next(e for e in explain(facts, ex, prof) if e.id == "nanogpt_denominator")
    assert f"nanoGPT would print mfu {pct(facts.achieved_tflops / 312)}" in e.text
    assert "312 TFLOP/s" in e.text and "A100" in e.text
    assert facts.mfu is not None and pct(facts.mfu) in e.text  # against this CPU's own fp32 peak
    assert "CPU's own fp32 peak" in e.text
    assert facts.peak_source and facts.peak_source in e.text  # the peak names its source


def test_this_vm_gets_cpu_explanations_and_no_gpu_or_hybrid_ones() -> None:
    facts, ex, prof = recorded()
    got = ids(facts, ex, prof)
    assert {"nanogpt_denominator", "model_size", "math_library", "cpu_no_bf16", "profile_non_matmul"} <= got
    assert "threads_ok" in got  # 2 threads on 2 physical cores, no SMT, no E-cores
    # cannot apply on a non-hybrid, non-SMT CPU without a GPU
    assert not got & {
        "threads_hybrid_ecores",
        "threads_smt",
        "threads_oversubscribed",
        "cuda_tensor_cores_unused",
        "cuda_bf16_available",
        "gpu_clock_events",
        "pcie_link_low",
        "accelerator_unusable",
        "cpu_bf16_available",
    }
    words = text(facts, ex, prof)
    assert "TF32" not in words and "tensor core" not in words and "P-core" not in words


def test_math_library_names_mkl_avx2_and_the_faster_library() -> None:
    facts, ex, prof = recorded()
    e = next(e for e in explain(facts, ex, prof) if e.id == "math_library")
    assert "Intel MKL" in e.text and "AVX2" in e.text
    assert "no AVX-512" in e.text  # Zen 3: AVX2 is the widest path for every library
    assert "chooses its kernels by CPU vendor" in e.text  # MKL on an AMD CPU
    torch_frac = facts.torch_ceiling().tflops / facts.peak_tflops  # type: ignore[union-attr,operator]
    assert f"reaches {pct(torch_frac)} of the AVX2+FMA peak" in e.text
    torch_best = facts.torch_ceiling()
    other = max((g for g in facts.ceiling if g.library != "torch"), key=lambda g: g.tflops)
    assert torch_best is not None
    ratio = other.tflops / torch_best.tflops
    assert f"{ratio:.2f}x torch's best" in e.text
    # only a clear gap (>= 1.15x) is called the library's fault
    assert ("the gap is the library" in e.text) == (ratio >= 1.15)
    wide = replace(
        facts,
        ceiling=tuple(replace(g, tflops=g.tflops * 2) if g.library != "torch" else g for g in facts.ceiling),
    )
    e2 = next(e for e in explain(wide, ex, prof) if e.id == "math_library")
    assert "the gap is the library, not the CPU" in e2.text


def test_a_path_forcing_environment_variable_is_named() -> None:
    facts, ex, prof = recorded()
    # this VM's default environment sets none; with OPENBLAS_CORETYPE=Haswell forced, OpenBLAS measured
    # 0.06-0.13 TFLOP/s here against 0.48 unforced
    assert "OPENBLAS_CORETYPE" not in text(facts, ex, prof)
    forced = replace(facts, env_overrides={"OPENBLAS_CORETYPE": "Haswell"})
    e = next(e for e in explain(forced, ex, prof) if e.id == "math_library")
    assert "OPENBLAS_CORETYPE=Haswell is set" in e.text


def test_no_math_library_sentence_on_a_gpu_run() -> None:
    facts, ex, prof = recorded()
    assert "math_library" not in ids(replace(facts, device="cuda:0"), ex, prof)


def test_bf16_on_zen3_is_reported_as_measured_and_not_recommended() -> None:
    facts, ex, prof = recorded()
    e = next(e for e in explain(facts, ex, prof) if e.id == "cpu_no_bf16")
    assert "no bf16 arithmetic" in e.text and "fp32 is the right dtype here" in e.text
    r = next(r for r in ex.results if r.variant.key == "dtype=bf16")  # type: ignore[union-attr]
    assert r.speedup is not None and r.speedup < 1.0  # measured slower on this machine
    # a recording from before intervals carries its band: the figure is printed with it
    assert f"runs the step at {r.speedup:.2f}x ±{r.noise_pct:.0f}% the fp32 speed" in e.text


def test_hybrid_alder_lake_topology_gets_the_ecore_explanation_with_exact_cpus() -> None:
    facts, ex, prof = recorded()
    hybrid = on_machine(facts, "alder-lake-p-laptop")  # 4 P-cores (HT) + 8 E-cores, 16 threads
    got = {e.id: e.text for e in explain(hybrid, ex, prof)}
    assert "threads_hybrid_ecores" in got
    assert "CPUs 8-15" in got["threads_hybrid_ecores"]  # the E-cores, as taskset names them
    assert "4 threads on CPUs 0,2,4,6" in got["threads_hybrid_ecores"]  # one per P-core
    assert "threads_smt" in got  # 16 threads on 12 physical cores
    assert "threads_ok" not in got


def test_cpu_only_torch_with_an_nvidia_gpu_present_is_said() -> None:
    facts, ex, prof = recorded()
    vm = on_machine(facts, "a10-vm-cpu-torch")
    e = next(e for e in explain(vm, ex, prof) if e.id == "accelerator_unusable")
    # The GPU's name is decoration: "NVIDIA A10" from NVML, or "GA102GL [A10]" where the host that replays
    # the recording has a pci.ids (replay falls back to the host's); either way it names the A10.
    assert "A10" in e.text and "CPU-only" in e.text and "install a CUDA build" in e.text
    assert "no accelerator PyTorch can use" not in e.text  # detect's generic line is not repeated


def test_gpu_rules_apply_on_cuda_only() -> None:
    facts, _, _ = recorded()
    # the motivating user's RTX 4070 Ti run (~31 TFLOP/s, bf16; docs/peaks.md) with its datasheet peaks
    from hwbench.peaks import gpu_peak

    peak = gpu_peak("NVIDIA GeForce RTX 4070 Ti")
    events, pcie = summarize_nvml([nvml_sample("v100-sxm2-hw-power-brake.json")])
    cuda = replace(
        facts,
        device="cuda:0",
        dtype="fp32",
        peaks_tflops=dict(peak.peaks_tflops),
        peak_tflops=peak.peaks_tflops["fp32"],
        cpu=None,
        gpus=(GpuFacts(name="NVIDIA GeForce RTX 4070 Ti", vendor="nvidia", usable_by_torch=True),),
        nvml_events=tuple(events),
        pcie=summarize_nvml([nvml_sample("a10g-x8-of-x16.json")])[1],
    )
    got = {e.id: e.text for e in explain(cuda)}
    assert "cuda_tensor_cores_unused" in got and "TF32" in got["cuda_tensor_cores_unused"]
    assert "hardware slowdown" in got["gpu_clock_events"] and "power brake" in got["gpu_clock_events"]
    assert "x8 of x16" in got["pcie_link_low"]
    assert not {"cpu_no_bf16", "threads_ok", "math_library", "accelerator_unusable"} & set(got)
    # the same NVML data on a CPU run says nothing about GPUs
    assert not {"gpu_clock_events", "pcie_link_low"} & ids(replace(cuda, device="cpu"))
    assert pcie is None or pcie.get("gen")  # the V100 recording has no link fields


def test_vm_steal_only_when_there_was_some() -> None:
    facts, _, _ = recorded()
    assert "vm_steal" not in ids(replace(facts, steal_pct=0.2))
    e = next(e for e in explain(replace(facts, steal_pct=7.5)) if e.id == "vm_steal")
    assert "7.5%" in e.text and "/proc/stat" in e.text


def test_compile_is_said_not_measured_with_its_flag() -> None:
    facts, ex, prof = recorded()
    advice = advise_facts(facts, ex, prof)
    sentences = " ".join(advice.explanation)
    assert "torch.compile: not measured" in sentences and "--advise-compile" in sentences


def test_cpu_list_is_tasksets_form() -> None:
    assert cpu_list((0, 1, 2, 3, 8)) == "0-3,8"
    assert cpu_list((6, 4, 2, 0)) == "0,2,4,6"
    assert cpu_list(()) == ""


def test_pct_keeps_small_numbers_visible() -> None:
    assert pct(0.0004) == "0.040%"  # two significant digits below 1%
    assert pct(1.1e-7) == "0.000011%"
    assert pct(0.25) == "25%"
    assert pct(0.0) == "0%"
    assert pct(None) == "n/a"


def test_batch_sweep_sentence_lists_the_measured_sizes() -> None:
    facts, ex, prof = recorded()
    e = next(e for e in explain(facts, ex, prof) if e.id == "batch_sweep")
    for r in ex.results:  # type: ignore[union-attr]
        if r.variant.kind == "batch" and r.speedup is not None:
            assert f"{r.variant.config['batch_size']}: {r.speedup:.2f}x" in e.text
    assert "learning rate" in e.text
    assert "batch_sweep" not in ids(facts)  # no experiments, no sweep sentence


def test_batch_sweep_after_one_round_claims_no_noise_band() -> None:
    """One round has no interval: the sentence says so, never "±0%"."""
    import dataclasses

    facts, ex, prof = recorded()
    assert ex is not None
    one_round = tuple(
        dataclasses.replace(
            r, interval=None, noise_pct=0.0, verdict="no measurable change", ratios=r.ratios[:1]
        )
        if r.variant.kind == "batch"
        else r
        for r in ex.results
    )
    e = next(
        e for e in explain(facts, dataclasses.replace(ex, results=one_round), prof) if e.id == "batch_sweep"
    )
    assert "±0%" not in e.text and "(one round)" in e.text
