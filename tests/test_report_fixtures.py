"""Shared loaders for the reporter's tests: recorded runs from tests/fixtures/report/ and other machines'
recorded CPU topologies from tests/fixtures/machines/ (see tests/fixtures/report/README.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from hwbench.model import GpuTelemetry
from hwbench.report.experiments import ExperimentsReport
from hwbench.report.facts import RunFacts, cpu_facts
from hwbench.report.profile import ProfileResult
from hwbench.report.recording import load

FIX = Path(__file__).parent / "fixtures"
REPORT = FIX / "report"


def recorded(
    name: str = "this-kvm-epyc-seed.json",
) -> tuple[RunFacts, ExperimentsReport | None, ProfileResult | None]:
    return load(json.loads((REPORT / name).read_text()))


def machine_system(name: str) -> Any:
    from hwbench.detect import replay

    return replay(FIX / "machines" / name)


def on_machine(facts: RunFacts, machine: str, threads: int | None = None) -> RunFacts:
    """This machine's recorded run with another machine's recorded CPU topology and GPUs.

    Used only to check which explanations and experiments APPLY (hybrid, SMT, unusable GPU): the
    timings stay this machine's, and no test reads a timing from the result as that machine's.
    """
    from hwbench.report.facts import GpuFacts

    system = machine_system(machine)
    cpu = cpu_facts(system.cpu)
    usable = set(system.torch.usable_devices)
    gpus = tuple(
        GpuFacts(
            name=g.name,
            vendor=g.vendor,
            kind=g.kind,
            usable_by_torch=(g.vendor == "nvidia" and "cuda" in usable)
            or (g.vendor == "intel" and "xpu" in usable),
        )
        for g in system.gpus
    )
    return replace(
        facts,
        cpu=cpu,
        gpus=gpus,
        torch_messages=tuple(system.torch.messages),
        threads=threads if threads is not None else len(cpu.usable_cpus),
    )


def nvml_sample(recording: str) -> GpuTelemetry:
    """The first GPU of an NVML recording (tests/fixtures/nvml/) as one telemetry reading, from the fields
    hwbench.detect.nvml reads (some recordings lack the PCI info a live sampler opens a GPU by)."""
    from hwbench.detect.nvml import FakeNvml, read_nvml

    fields, _ = read_nvml(FakeNvml.from_file(FIX / "nvml" / recording))
    return GpuTelemetry.from_fields(next(iter(fields.values())))


# -- the fixtures themselves ---------------------------------------------------------------------------


def test_every_report_fixture_says_where_it_came_from() -> None:
    for path in REPORT.glob("*.json"):
        doc = json.loads(path.read_text())
        assert "2-vCPU" in doc.get("source", "") or "source" in doc, path


def test_recorded_seed_run_is_the_seed_preset_on_this_vm() -> None:
    facts, ex, prof = recorded()
    assert facts.config["n_layer"] == 4 and facts.config["n_embd"] == 128 and facts.config["batch_size"] == 12
    assert facts.flops_per_step == 3969515520.0  # nanoGPT's own estimate for the seed (issue 4)
    assert facts.cpu is not None and facts.cpu.microarchitecture == "Zen 3"
    assert ex is not None and prof is not None
