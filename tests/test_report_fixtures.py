"""The reporter's recorded runs (tests/fixtures/report/, see its README) load and say where they came
from; the loaders are in tests/helpers.py."""

from __future__ import annotations

import json

from helpers import REPORT, recorded

# -- the fixtures themselves ---------------------------------------------------------------------------


def test_every_report_fixture_says_where_it_came_from() -> None:
    for path in REPORT.glob("*.json"):
        doc = json.loads(path.read_text())
        assert "2-vCPU" in doc.get("source", "") or "source" in doc, path


def test_recorded_seed_run_is_the_seed_preset_on_this_vm() -> None:
    facts, ex, prof = recorded()
    assert facts.config["n_layer"] == 4 and facts.config["n_embd"] == 128 and facts.config["batch_size"] == 12
    assert facts.flops_per_step == 3969515520.0  # nanoGPT's own estimate for the seed
    assert facts.cpu is not None and facts.cpu.microarchitecture == "Zen 3"
    assert ex is not None and prof is not None
