"""`--pcie-full` and `--no-throttle`: judged on NVML samples taken while a matmul keeps each GPU busy,
or on the one snapshot a recording holds. The checks are pure (`checks.check_pcie_full`,
`checks.check_no_throttle`); this module puts the GPUs under load and names where each sample came from.
"""

from __future__ import annotations

import dataclasses

from hwbench.check import checks as C
from hwbench.check.parse import Level
from hwbench.check.results import CheckResult
from hwbench.check.state import RunState, is_host
from hwbench.check.summary import tally
from hwbench.errors import one_line
from hwbench.fmt import plural
from hwbench.model import System


def under_load(pcie_full: bool, no_throttle: bool, level: Level, st: RunState) -> list[CheckResult]:
    """--pcie-full / --no-throttle: NVML samples while a matmul keeps each GPU busy (one load per GPU
    serves both checks)."""
    system, m, replay, devices, log = st.system, st.measurer, st.replay, st.devices, st.log
    gpus = C.nvml_gpus(system)
    wanted = [
        (pcie_full, C.check_pcie_full, "pcie_full"),
        (no_throttle, C.check_no_throttle, "no_throttle"),
    ]
    out: list[CheckResult] = []

    def skip_all(why: str, device: str | None = None) -> None:
        for on, _, name in wanted:
            if on:
                out.append(
                    CheckResult(
                        f"{name}@{device}" if device else name, "skip", None, None, why, device=device
                    )
                )

    if not gpus:
        skip_all(unsampled_reason(system))
        return out
    if replay:
        for i, g in gpus:
            for on, fn, _ in wanted:
                if on:
                    fields = [g.nvml.as_fields() if g.nvml else {}]
                    r = (
                        C.check_pcie_full(f"gpu{i}", fields, "in the recorded snapshot", snapshot=True)
                        if fn is C.check_pcie_full
                        else fn(f"gpu{i}", fields, "in the recorded snapshot")
                    )
                    out.append(
                        _with_note(
                            r,
                            f"from {system.source}, one snapshot as recorded (hwbench did not load the GPU)",
                        )
                    )
        return out
    from hwbench.check.load import matmul_load, nvml_sampler, sample_while
    from hwbench.check.measure import LOAD_SECONDS, nvml_bus_id

    cuda = [d for d in devices if not is_host(d)] or m.cuda()
    if not cuda:
        skip_all("torch cannot use the GPUs here, so hwbench cannot load them (see torch_can_use)")
        return out
    by_bus = {g.pci_slot: (i, g) for i, g in gpus}
    nvml_list = [(g.pci_slot, g.nvml) for _, g in gpus if g.nvml is not None]
    seconds = LOAD_SECONDS[level]
    for dev in cuda:
        bus = nvml_bus_id(dev, nvml_list)
        if bus is None or bus not in by_bus:
            skip_all(f"cannot tell which NVML GPU torch's {dev} is (set CUDA_DEVICE_ORDER=PCI_BUS_ID)", dev)
            continue
        sampler = nvml_sampler(bus)
        if sampler is None:
            skip_all("NVML could not be opened for sampling", dev)
            continue
        log(f"loading {dev} ({bus}) for {seconds:g} s while sampling NVML...")
        try:
            samples = sample_while(matmul_load(dev, seconds), sampler)
        except Exception as e:
            skip_all(f"the load could not run on {dev}: {one_line(e)}", dev)
            continue
        i, _ = by_bus[bus]
        for on, fn, _ in wanted:
            if on:
                r = fn(dev, samples)
                sampled = plural(len(samples), "NVML sample")
                out.append(_with_note(r, f"{sampled} over {seconds:g} s of matmul load, gpu{i} {bus}"))
    return out


def unsampled_reason(
    system: System, doing: str = "sampled", nothing: str = "put under load and sample"
) -> str:
    """Why no GPU of `system` can be sampled (or, with `doing`, read for another NVML check): these
    checks read NVML, so say which GPUs are there without it (AMD ones, an NVIDIA one whose NVML
    failed), and guess "CPU-only" only without any GPU."""
    gpus = C.counted_gpus(system)
    if not gpus:
        return f"no GPU found: nothing to {nothing} (CPU-only machine?)"
    by_vendor: dict[str, list[str]] = {}
    for g in gpus:
        by_vendor.setdefault(g.vendor, []).append(g.name)
    parts = []
    for vendor, names in by_vendor.items():
        label = _VENDOR.get(vendor, "non-NVIDIA")
        if vendor == "nvidia":
            parts.append(f"{tally(names)}: no NVML fields (NVIDIA driver not loaded, or NVML not loadable)")
        else:
            parts.append(f"{tally(names)}: {label} GPUs are not {doing} (these checks read NVIDIA's NVML)")
    return "; ".join(parts)


_VENDOR = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}


def _with_note(r: CheckResult, source: str) -> CheckResult:
    return dataclasses.replace(r, source=source)
