"""What one rank can say about itself: its CPU share and its fingerprint (collectors; touch the machine).

Each field is read on its own and a failure leaves it None: one unreadable field never stops a rank.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Sequence
from typing import Any

from hwbench.devices import recorded
from hwbench.devices.cpu import cpu_model
from hwbench.model import value_or_none


def hostname() -> str:
    return socket.gethostname() or "unknown-host"


def cpu_share(usable: Sequence[int], local_rank: int, local_world_size: int) -> tuple[int, ...]:
    """This local rank's slice of the usable CPUs: contiguous, equal, non-overlapping (pure).

    With fewer CPUs than local ranks, ranks share CPUs round-robin (one CPU each). Leftover CPUs
    (e.g. 10 CPUs for 4 ranks) stay unused so every rank gets the same count and the ranks' figures
    stay comparable.
    """
    cpus = sorted(usable)
    if local_world_size < 1 or not 0 <= local_rank < local_world_size:
        raise ValueError(f"local rank {local_rank} out of range for {local_world_size} local ranks")
    if not cpus:
        return ()
    if len(cpus) < local_world_size:
        return (cpus[local_rank % len(cpus)],)
    k = len(cpus) // local_world_size
    return tuple(cpus[local_rank * k : (local_rank + 1) * k])


def pin_to_share(local_rank: int, local_world_size: int) -> tuple[int, ...]:
    """Pin this process to its CPU share and give torch that many threads; returns the CPUs.

    torchrun sets OMP_NUM_THREADS=1 for more than one process per node; a CPU rank measuring its
    share of the cores needs one thread per core of the share instead.
    """
    try:
        usable = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return ()
    share = cpu_share(usable, local_rank, local_world_size)
    try:
        os.sched_setaffinity(0, share)
    except OSError:
        return tuple(usable)
    os.environ["OMP_NUM_THREADS"] = str(len(share))
    import torch

    torch.set_num_threads(len(share))
    return share


def fingerprint(device: str | None) -> dict[str, Any]:
    """hwbench, torch, CUDA, driver and device model of this rank; None where a field is unreadable."""
    from hwbench import __version__

    fp: dict[str, Any] = {
        "hwbench_version": __version__,
        "python_version": platform.python_version(),
        "torch_version": None,
        "torch_cuda_version": None,
        "cpu_model": cpu_model(),
        "gpu_name": None,
        "gpu_uuid": None,
        "driver_version": None,
        "cuda_driver_version": None,
    }
    try:
        import torch

        fp["torch_version"] = torch.__version__
        fp["torch_cuda_version"] = torch.version.cuda
    except Exception:  # torch missing or broken: the fingerprint still says what it can
        return fp
    dev = recorded(device) if device else None
    if dev is None or dev.is_host or not dev.available():
        return fp
    try:
        ident = dev.identity()
    except Exception:  # a device that cannot be asked leaves its fields None
        return fp
    fp["gpu_name"] = ident.name
    fp["gpu_uuid"] = value_or_none(ident.uuid)
    if dev.vendor == "nvidia":
        from hwbench.detect.nvml import read_identity

        nvml = read_identity(value_or_none(ident.pci_bus_id))
        for key, v in (
            ("driver_version", nvml.driver_version),
            ("cuda_driver_version", nvml.cuda_driver_version),
            ("gpu_uuid", nvml.gpu_uuid),
        ):
            if isinstance(v, str):
                fp[key] = v
    return fp
