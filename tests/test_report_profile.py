"""Profiler categories on recorded torch.profiler events of the seed step on this VM."""

from __future__ import annotations

import json

import pytest
from helpers import REPORT
from hypothesis import given
from hypothesis import strategies as st

from hwbench.bench.config import preset
from hwbench.bench.flops import n_params
from hwbench.report.profile import CATEGORIES, categorize, flop_shares, summarize_events


def events() -> tuple[list[tuple[str, list[str], float]], dict[str, object]]:
    doc = json.loads((REPORT / "profile-events-seed.json").read_text())
    return [(n, a, s) for n, a, s in doc["events"]], doc


def test_real_op_names_go_to_the_right_category() -> None:
    # names as torch 2.13's profiler recorded them for the seed step (fixture)
    assert (
        categorize("aten::mm", ["MmBackward0", "autograd::engine::evaluate_function: MmBackward0"])
        == "matmul"
    )
    assert categorize("aten::mm", ["aten::matmul", "aten::linear"]) == "matmul"
    assert (
        categorize(
            "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
            ["ScaledDotProductFlashAttentionForCpuBackward0"],
        )
        == "attention"
    )
    assert categorize("aten::gelu_backward", ["GeluBackward0"]) == "gelu"
    assert (
        categorize("aten::add_", ["autograd::engine::evaluate_function: NativeLayerNormBackward0"])
        == "layernorm"
    )
    assert categorize("aten::mul_", ["aten::_foreach_mul_", "Optimizer.step#AdamW.step"]) == "optimizer"
    assert categorize("aten::linalg_vector_norm", ["aten::_foreach_norm", "clip_grad_norm"]) == "optimizer"
    # the loss's log_softmax is not attention's softmax
    assert (
        categorize("aten::_log_softmax", ["aten::log_softmax", "aten::cross_entropy_loss"])
        == "embedding+loss"
    )
    assert categorize("aten::embedding_dense_backward", ["aten::embedding_backward"]) == "embedding+loss"
    assert categorize("aten::add", []) == "other"


def test_every_recorded_event_is_counted_once() -> None:
    evs, doc = events()
    cfg = preset("nanogpt-cpu")
    res = summarize_events(evs, int(doc["steps"]), float(doc["wall_s"]), cfg.as_dict(), n_params(cfg))  # type: ignore[arg-type]
    total_self = sum(s for _, _, s in evs if s > 0)
    assert sum(c.time_s_per_step for c in res.categories) * res.steps == pytest.approx(total_self)
    assert sum(c.share_time for c in res.categories) == pytest.approx(1.0)
    assert [c.category for c in res.categories] == list(CATEGORIES)
    # self times add up to (at most) the profiled wall time: nothing double counted
    assert total_self <= float(doc["wall_s"]) * 1.05  # type: ignore[arg-type]
    # GEMMs are the largest category of this step, and the non-matmul share is real
    assert res.categories[0].category == "matmul" and res.share("matmul") == max(
        c.share_time for c in res.categories
    )
    assert 0.05 < 1 - res.share("matmul") < 0.95
    top_names = [n for n, _, _ in res.top_ops]
    assert top_names[0] == "aten::mm"
    assert res.sdpa_backend == "flash (CPU)"  # which scaled_dot_product_attention backend ran


def test_flop_shares_are_the_palm_split() -> None:
    cfg = preset("nanogpt-cpu")
    sh = flop_shares(cfg.as_dict(), n_params(cfg))
    # 6N = 4,775,424 and 12*L*C*T = 393,216 per token: the 5,168,640 FLOPs/token of flops.py
    assert sh["matmul"] == pytest.approx(4775424 / 5168640)
    assert sh["attention"] == pytest.approx(393216 / 5168640)
    assert set(sh) == {"matmul", "attention"}  # LayerNorm, GELU, optimizer: none of the counted FLOPs


@given(st.text(max_size=80), st.lists(st.text(max_size=40), max_size=5))
def test_categorize_never_fails_and_always_names_a_category(name: str, ancestors: list[str]) -> None:
    assert categorize(name, ancestors) in CATEGORIES
