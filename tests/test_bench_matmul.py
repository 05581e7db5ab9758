"""The GEMM ceiling at tiny sizes: shapes, libraries, budgets, environment overrides."""

from __future__ import annotations

import pytest

from hwbench.bench import matmul


def test_torch_gemm_point() -> None:
    p = matmul.torch_gemm("cpu", "fp32", 64, 48, 32, repeats=3, max_seconds=0.2, label="tiny")
    assert (p.m, p.n, p.k, p.dtype, p.label) == (64, 48, 32, "fp32", "tiny")
    assert p.library.startswith("torch (")
    assert p.tflops_min <= p.tflops <= p.tflops_max
    assert p.tflops == pytest.approx(2 * 64 * 48 * 32 / p.timing.median_s / 1e12)
    assert p.timing.n >= 3 and p.shape == "64x32 @ 32x48"


def test_numpy_gemm_names_its_blas() -> None:
    p = matmul.numpy_gemm(64, 64, 64, repeats=3, max_seconds=0.2)
    assert p.library.startswith("numpy (") and p.dtype == "fp32" and p.tflops > 0
    info = matmul.numpy_blas_info()
    if info.get("name") and "openblas" in info["name"]:
        # this machine: scipy-openblas 0.3.31, runtime kernel "Haswell" on Zen 3
        assert info["kernel"] and info["kernel"] in p.library


def test_ceiling_best_is_the_fastest_point_and_budget_is_respected() -> None:
    res = matmul.ceiling(
        "cpu",
        ["fp32"],
        model_shapes=[("qkv", 48, 96, 32), (32, 32, 32)],
        squares=(64,),
        budget_s=0.5,
    )
    assert res.points, res.notes
    best = res.best["fp32"]
    assert best.tflops == max(p.tflops for p in res.points)
    labels = {p.label for p in res.points}
    assert {"square 64", "model qkv", "model 32x32@32x32"} <= labels
    assert {p.library.split(" ")[0] for p in res.points} == {"torch", "numpy"}
    assert res.best_for("fp32", "numpy") is not None


def test_ceiling_skips_over_budget_and_says_so() -> None:
    res = matmul.ceiling("cpu", ["fp32"], squares=(32, 4096), budget_s=0.05, libraries=False)
    assert any("square 4096 skipped" in n for n in res.notes)
    assert all(p.label != "square 4096" for p in res.points)


def test_tf32_is_not_timed_on_cpu() -> None:
    res = matmul.ceiling("cpu", ["tf32"], squares=(32,), budget_s=0.1)
    assert res.points == () and "tf32" in res.notes[0]


def test_env_overrides() -> None:
    env = {"OPENBLAS_CORETYPE": "Haswell", "OMP_NUM_THREADS": "2", "HOME": "/root", "MKL_DEBUG_CPU_TYPE": "5"}
    assert matmul.env_overrides(env) == {
        "MKL_DEBUG_CPU_TYPE": "5",
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_CORETYPE": "Haswell",
    }


def test_unknown_dtype() -> None:
    with pytest.raises(ValueError):
        matmul.ceiling("cpu", ["fp8x"], squares=(32,))


def test_best_gemm() -> None:
    p = matmul.best_gemm("cpu", "fp32", quick=True, threads=1)
    assert p.dtype == "fp32" and p.threads == 1 and p.tflops > 0
