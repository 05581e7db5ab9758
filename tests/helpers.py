"""Helpers shared by several test modules (test modules import this, never each other).

Loaders for recorded inputs: the reporter's recorded runs (tests/fixtures/report/, see its README),
other machines' recorded topologies (tests/fixtures/machines/), NVML recordings (tests/fixtures/nvml/),
this VM's recorded CPU flags (tests/fixtures/check/); and two ranks launched without torchrun.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from hwbench.model import Cpu, GpuTelemetry, System
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


def machine_system(name: str) -> System:
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
    return GpuTelemetry.from_fields(next(iter(fields.values())).as_fields())


def this_vm_cpu() -> Cpu:
    """This 2-vCPU EPYC KVM guest's CPU, with the ISA flags recorded from its /proc/cpuinfo."""
    line = next(
        ln
        for ln in (FIX / "check" / "this_vm_cpuinfo_flags.txt").read_text().splitlines()
        if ln.startswith("flags")
    )
    flags = tuple(line.split(":", 1)[1].split())
    return Cpu(
        vendor="AuthenticAMD",
        model="AMD EPYC",
        microarchitecture="Zen 3",
        sockets=1,
        physical_cores=2,
        logical_cpus=2,
        usable_cpus=(0, 1),
        p_cores=None,
        e_cores=None,
        isa=flags,
        max_mhz=None,
        max_mhz_source="unknown",
        virtualized=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_direct(*args: str, timeout: float = 120, **env: str) -> tuple[list[subprocess.Popen[str]], float]:
    """Start 2 ranks without the torchrun launcher (as an srun script would: rank 0 hosts the store).

    Saves the launcher's own torch import; the ranks go through the same env:// rendezvous.
    """
    base = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    base.update(
        env, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, *args],
            env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    return procs, time.monotonic()
