"""hwbench: what hardware is in this box, can PyTorch use it, and how much of it does training use.

The Python API for training scripts (docs/api.md); importing hwbench imports neither torch nor the
command-line stack, each name loads its module on first use:

- `peak_flops(device=None, dtype=None, *, gpu=None) -> Peak`: the dense peak FLOP/s of the device that
  runs (or of a card by name or PCI id), a float with `.source`, `.estimated`, `.dtype`, `.device`;
- `flops_per_step(model, inputs, loss_fn=None, *, backward=True)`: FLOPs of one training step, counted
  by torch's FlopCounterMode; `gpt_flops_per_token(...)`: the PaLM/nanoGPT formula;
- `MFU(flops_per_step, device=None, dtype=None)`: `.update(step_seconds) -> float`, `.median`,
  `.summary()`;
- `detect()` (also `detect_system()`): the inventory `hwbench detect --json` prints, as typed records;
- errors: `UnknownPeakError`, `DeviceUnavailableError` (both `HwbenchError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Bump when a JSON field is renamed or removed (adding fields does not bump it).
SCHEMA_VERSION = 1

__all__ = [
    "MFU",
    "SCHEMA_VERSION",
    "DeviceUnavailableError",
    "HwbenchError",
    "MFUSummary",
    "Peak",
    "UnknownPeakError",
    "__version__",
    "detect",
    "detect_system",
    "flops_per_step",
    "gpt_flops_per_token",
    "peak_flops",
]

if TYPE_CHECKING:
    from hwbench.api import (
        MFU,
        DeviceUnavailableError,
        MFUSummary,
        Peak,
        UnknownPeakError,
        detect_system,
        flops_per_step,
        gpt_flops_per_token,
        peak_flops,
    )
    from hwbench.api import detect_system as detect
    from hwbench.errors import HwbenchError

_FROM_API = frozenset(
    {
        "MFU",
        "DeviceUnavailableError",
        "MFUSummary",
        "Peak",
        "UnknownPeakError",
        "detect_system",
        "flops_per_step",
        "gpt_flops_per_token",
        "peak_flops",
    }
)


def __getattr__(name: str) -> object:
    # Loaded on first use so that `import hwbench` stays a few milliseconds: the API's modules import
    # the peak tables, and its functions import torch only when called.
    import importlib

    if name in _FROM_API:
        value: object = getattr(importlib.import_module("hwbench.api"), name)
    elif name == "HwbenchError":
        value = importlib.import_module("hwbench.errors").HwbenchError
    elif name == "detect":
        # the subpackage, callable: hwbench.detect() runs the inventory (see hwbench/detect/__init__.py)
        return importlib.import_module("hwbench.detect")
    else:
        raise AttributeError(f"module 'hwbench' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
