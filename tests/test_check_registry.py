"""The check expectations' registry: each expectation declared once, and everything derived from it.

A new expectation is one `expectation(...)` field in hwbench/check/registry.py plus a line in SAMPLE
below (these tests fail until it has one): its flag, its two TOML spellings, "was anything asked for?"
and a result named after its flag are then checked here for every entry. The judged machine is the
recorded 8x H100 `nvidia-smi -q` of tests/fixtures/check (see the README there).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import typer

from hwbench.check.expectations import KEYS, from_mapping, merge
from hwbench.check.parse import amount, whole
from hwbench.check.registry import SPECS, Expectations, Spec, expectation, specs_of
from hwbench.check.results import CheckResult
from hwbench.check.run import CheckOptions, run_check
from hwbench.check.state import RunState
from hwbench.cli import build_app

H100X8 = Path(__file__).parent / "fixtures" / "check" / "h100x8_nvidia-smi-q.txt"

# one valid value per expectation, as a TOML file would write it
SAMPLE: dict[str, object] = {
    "min_gpus": 8,
    "gpu_model": "*H100*",
    "min_gpu_memory_gb": 80,
    "min_driver": "535.104.05",
    "require_isa": ["avx2"],
    "torch_can_use": ["cuda"],
    "device": "cuda:0",
    "min_tflops": {"bf16": 600},
    "min_fraction_of_peak": {"bf16": 0.6},
    "min_mfu": 0.3,
    "preset": "gpt2-124m",
    "pcie_full": True,
    "no_throttle": True,
    "max_ecc_errors": 0,
    "max_spread_pct": 5,
    "min_busbw_gbps": 100,
    "level": "long",
    "strict": True,
    "max_regression_pct": 5,
}
# the options of `hwbench check` that are not expectations: how to read, run and report
OWN_OPTIONS = {
    "--config",
    "--json",
    "--junit",
    "--save-baseline",
    "--baseline",
    "--nvidia-smi-q",
    "--replay",
    "--threads",
    "--details",
    "--quiet",
    "-q",
}


def _check_options() -> dict[str, str | None]:
    from typer.core import TyperGroup, TyperOption

    command = typer.main.get_command(build_app())
    assert isinstance(command, TyperGroup)
    check = command.commands["check"]
    return {
        name: p.help if isinstance(p, TyperOption) else None
        for p in check.params
        for name in p.opts
        if name != "--help"
    }


def test_every_entry_has_a_sample() -> None:
    assert set(SAMPLE) == {s.key for s in SPECS}


def test_every_entry_is_one_flag_and_every_flag_an_entry() -> None:
    options = _check_options()
    expectation_flags = set(options) - OWN_OPTIONS
    assert expectation_flags == {s.flag for s in SPECS}
    for s in SPECS:
        assert options[s.flag] == s.help


def test_both_toml_spellings_and_the_field_name_read_alike() -> None:
    for s in SPECS:
        value = SAMPLE[s.key]
        dashed = from_mapping({s.name: value}, where="config t.toml")
        assert from_mapping({s.name.replace("-", "_"): value}, where="config t.toml") == dashed
        assert from_mapping({s.key: value}, where="config t.toml") == dashed
        assert s.name in KEYS


def test_emptiness_is_derived_settings_alone_check_nothing() -> None:
    assert Expectations().is_empty()
    for s in SPECS:
        exp = merge({}, from_mapping({s.key: SAMPLE[s.key]}))
        assert exp.is_empty() == (s.stage == "setting"), s.key
        assert exp.needs_matmul() == (s.stage == "matmul"), s.key
    assert not Expectations(max_ecc_errors=0).is_empty()  # 0 is asked for, not "unset"


def test_every_check_judges_and_names_its_results_after_its_flag() -> None:
    for s in SPECS:
        if s.stage == "setting":
            continue
        exp = merge({}, from_mapping({s.key: SAMPLE[s.key]}))
        report = run_check(CheckOptions(exp, nvidia_smi=H100X8))
        assert not report.defaults_used, s.key
        assert report.results, s.key
        for r in report.results:
            assert r.name.partition("@")[0].partition("[")[0] == s.name.replace("-", "_"), (s.key, r.name)


def _judge_nothing(exp: object, st: RunState) -> list[CheckResult]:
    return []


def test_a_new_expectation_is_one_declaration() -> None:
    """What adding one looks like: the declaration alone gives the flag, the TOML keys and the stage."""

    @dataclasses.dataclass(frozen=True)
    class WithOneMore:
        max_gpu_temp_c: float | None = expectation(
            "--max-gpu-temp",
            amount,
            float,
            "Every GPU at most C degrees under load.",
            metavar="C",
            stage="load",
            evaluate=_judge_nothing,
        )

    (spec,) = specs_of(WithOneMore)
    assert (spec.key, spec.name, spec.measures) == ("max_gpu_temp_c", "max-gpu-temp", True)


def test_a_check_without_evaluate_is_refused_at_import() -> None:
    @dataclasses.dataclass(frozen=True)
    class Forgotten:
        min_fans: int | None = expectation("--min-fans", whole, int, "At least N fans.", stage="inventory")

    with pytest.raises(TypeError, match="evaluate"):
        specs_of(Forgotten)

    @dataclasses.dataclass(frozen=True)
    class Undeclared:
        min_fans: int | None = None

    with pytest.raises(TypeError, match="expectation"):
        specs_of(Undeclared)


def test_specs_are_frozen_declarations() -> None:
    assert all(isinstance(s, Spec) and s.key for s in SPECS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPECS[0].flag = "--other"  # type: ignore[misc]
