"""What one rank can say about itself: its CPU share and its fingerprint (collectors; touch the machine).

Each field is read on its own and a failure leaves it None: one unreadable field never stops a rank.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from collections.abc import Sequence
from typing import Any


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


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def fingerprint(device: str | None) -> dict[str, Any]:
    """hwbench, torch, CUDA, driver and device model of this rank; None where a field is unreadable."""
    from hwbench import __version__

    fp: dict[str, Any] = {
        "hwbench_version": __version__,
        "python_version": platform.python_version(),
        "torch_version": None,
        "torch_cuda_version": None,
        "cpu_model": _cpu_model(),
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
    if device and device.startswith("cuda") and torch.cuda.is_available():
        index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
        bus_id: str | None = None
        try:
            props = torch.cuda.get_device_properties(index)
            fp["gpu_name"] = props.name
            uuid = getattr(props, "uuid", None)
            if uuid is not None:
                fp["gpu_uuid"] = f"GPU-{uuid}"
            if hasattr(props, "pci_bus_id"):
                bus_id = (
                    f"{getattr(props, 'pci_domain_id', 0):08x}:{props.pci_bus_id:02x}:"
                    f"{getattr(props, 'pci_device_id', 0):02x}.0"
                )
        except Exception:
            pass
        fp.update(_nvml_fields(bus_id))
    return fp


def _nvml_fields(bus_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return out
    try:
        for key, fn in (
            ("driver_version", lambda: pynvml.nvmlSystemGetDriverVersion()),
            ("cuda_driver_version", lambda: _cuda_version(pynvml.nvmlSystemGetCudaDriverVersion_v2())),
        ):
            try:
                v = fn()
                out[key] = v.decode() if isinstance(v, bytes) else v
            except Exception:
                pass
        if bus_id is not None:
            try:
                h = pynvml.nvmlDeviceGetHandleByPciBusId(bus_id.encode())
                uuid = pynvml.nvmlDeviceGetUUID(h)
                out["gpu_uuid"] = uuid.decode() if isinstance(uuid, bytes) else uuid
            except Exception:
                pass
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return out


def _cuda_version(v: int) -> str:
    """NVML's 12040 -> '12.4'."""
    return f"{v // 1000}.{(v % 1000) // 10}"
