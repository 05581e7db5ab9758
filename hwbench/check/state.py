"""What one `hwbench check` run shares between its checks: the machine, how it is judged, the figures.

`Measurer` measures each (device, figure) once for every check that needs it; `RunState` is what
every expectation's evaluate function reads (see `registry`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hwbench.check import checks as C
from hwbench.check.parse import Level
from hwbench.detect.torchinfo import AMD_GPU_BUILDS, NVIDIA_BUILDS
from hwbench.devices import recorded
from hwbench.fleet.dist import FleetContext
from hwbench.model import System

Log = Callable[[str], None]


class Measurer:
    """Measures each (device, figure) once and remembers it for every check that needs it."""

    def __init__(
        self,
        device: str | None,
        level: Level,
        system: System | None,
        replay: bool,
        threads: int | None,
        log: Log,
    ):
        self.device, self.level = device, level  # --device, if given; how long each measurement runs
        self.system, self.replay, self.threads, self.log = system, replay, threads, log
        self.figures: dict[tuple[str, str], C.Figure] = {}
        self._cuda: list[str] | None = None
        self.unusable: str | None = None  # why the device the user asked for cannot be used

    def cuda(self) -> list[str]:
        if self._cuda is None:
            from hwbench.check.measure import cuda_devices

            self._cuda = cuda_devices() if self._may_have_cuda() else []
        return self._cuda

    def _may_have_cuda(self) -> bool:
        """Whether importing torch to count GPUs can find any: not when replaying, not with a CPU-only
        torch build or no NVIDIA/AMD GPU in detect's inventory (importing torch costs seconds)."""
        s = self.system
        if self.replay or s is None:
            return not self.replay
        if not s.torch.installed or s.torch.build not in NVIDIA_BUILDS | AMD_GPU_BUILDS:
            return False
        return any(g.vendor in ("nvidia", "amd") for g in C.counted_gpus(s))

    def matmul(self, device: str, dtype: str) -> C.Figure:
        key = (device, C.Figure.matmul_name(dtype))
        if key not in self.figures:
            if self.replay:
                self.figures[key] = C.Figure(
                    device, key[1], None, "", error="replaying a saved output: nothing measured"
                )
            elif self.unusable and device == self.device:
                self.figures[key] = C.Figure(device, key[1], None, "", error=f"not measured: {self.unusable}")
            elif names_one_gpu(device) and device not in self.cuda():
                self.figures[key] = C.Figure(
                    device, key[1], None, "", error=f"{device}: no such GPU for torch here"
                )
            else:
                from hwbench.check.measure import measure_matmul

                self.log(f"measuring {dtype} matmul on {device} ({self.level})...")
                self.figures[key] = measure_matmul(device, dtype, self.level, self.threads)
        return self.figures[key]

    def best_of(
        self, device: str, dtype: str, runs: int, stop_at: float | None = None, pause_s: float = 0.0
    ) -> C.Figure:
        """The best of `runs` measurements (the cached one counts as the first); contention on a
        shared machine only ever slows a run down, so the best run is the closest to the hardware.
        Stops early once a run reaches `stop_at`. `pause_s` spaces the runs out: on a shared VM a slow
        phase (a neighbour on the host's sibling hyperthread) lasts seconds, and back-to-back runs
        would all land in it (seen on the 2-vCPU build VM: quick fp32 GEMMs at 0.080-0.088 TFLOP/s for
        several seconds, then 0.118-0.125)."""
        from hwbench.check.measure import measure_matmul

        best = self.matmul(device, dtype)
        done = 1
        while done < runs and best.value is not None and (stop_at is None or best.value < stop_at):
            if pause_s:
                time.sleep(pause_s)
            again = measure_matmul(device, dtype, self.level, self.threads)
            done += 1
            if again.value is not None and again.value > best.value:
                best = again
        if done > 1 and best.value is not None:
            best = C.Figure(device, best.name, best.value, f"best of {done} runs; {best.source}", runs=done)
        self.put(best)
        return best

    def put(self, fig: C.Figure) -> None:
        self.figures[(fig.device, fig.name)] = fig


def is_host(device: str) -> bool:
    dev = recorded(device)
    return dev is not None and dev.is_host


def names_one_gpu(device: str) -> bool:
    """ "cuda:3", "xpu:1": one numbered GPU (not "cuda", every GPU; not the CPU)."""
    dev = recorded(device)
    return dev is not None and not dev.is_host and dev.index is not None


def measure_devices(want: str | None, m: Measurer, ctx: FleetContext | None) -> list[str]:
    """Where to measure: this rank's device under torchrun; --device (cuda = every GPU); else every
    GPU torch can use, else the CPU."""
    if ctx is not None:
        return [ctx.device_for(want or ("cuda" if m.cuda() else "cpu"))]
    every = recorded(want) if want else None
    if every is not None and not every.is_host and every.index is None:  # "cuda": every GPU of its kind
        return [d for d in m.cuda() if type(recorded(d)) is type(every)] or [str(want)]
    if want:
        return [want]
    return m.cuda() or ["cpu"]


@dataclass
class RunState:
    """The machine being judged and how: what every expectation's evaluate function reads."""

    system: System
    measurer: Measurer
    ctx: FleetContext | None  # this rank's place under torchrun, else None
    log: Log
    smi_only: bool = False  # judging a saved nvidia-smi output: GPUs only, no CPU, no torch
    replay: bool = False  # judging a recording (nvidia-smi output or detect --dump): nothing measured
    devices: list[str] = field(default_factory=list)  # where the measured checks measure
