"""`--peak-tflops DTYPE=VALUE`: the user's own peak, replacing the table's or standing in for none."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from hwbench.errors import InputError
from hwbench.peaks.types import DTYPE_ALIASES, DTYPES, DevicePeak


def parse_peak_overrides(items: Sequence[str]) -> dict[str, float]:
    """["bf16=989", "fp32=67"] -> {"bf16": 989.0, "fp32": 67.0}. Raises InputError on anything else."""
    out: dict[str, float] = {}
    for item in items:
        dtype, sep, value = item.partition("=")
        dtype = DTYPE_ALIASES.get(dtype.strip().lower().removeprefix("torch."), dtype.strip().lower())
        if not sep or not dtype:
            raise InputError(
                f"--peak-tflops expects DTYPE=VALUE, got {item!r}", hint="e.g. --peak-tflops bf16=989.4"
            )
        if dtype not in DTYPES:
            raise InputError(
                f"--peak-tflops: unknown dtype {dtype!r} in {item!r}", hint=f"one of {', '.join(DTYPES)}"
            )
        try:
            v = float(value.strip())
        except ValueError:
            raise InputError(
                f"--peak-tflops: {value.strip()!r} is not a number (in {item!r})",
                hint="the value is in TFLOP/s (TOPS for int8), e.g. bf16=989.4",
            ) from None
        if not math.isfinite(v) or v <= 0:
            raise InputError(
                f"--peak-tflops: {dtype} must be a positive finite number, got {value.strip()!r}",
                hint="the value is in TFLOP/s (TOPS for int8), e.g. bf16=989.4",
            )
        out[dtype] = v
    return out


def with_overrides(peak: DevicePeak, overrides: Mapping[str, float]) -> DevicePeak:
    """The same peak with the user's figures in place; the source says so."""
    if not overrides:
        return peak
    peaks = dict(peak.peaks_tflops)
    dtype_sources = dict(peak.dtype_sources)
    for dtype, v in overrides.items():
        peaks[dtype] = v
        dtype_sources[dtype] = "user override (--peak-tflops)"
    given = ", ".join(f"{k}={v:g}" for k, v in overrides.items())
    return dataclasses.replace(
        peak,
        peaks_tflops=peaks,
        source=f"user override ({given}); other dtypes: {peak.source}",
        dtype_sources=dtype_sources,
        notes=(*peak.notes, f"user override: {given}"),
        overridden=tuple(dict.fromkeys((*peak.overridden, *overrides))),
    )


def override_only_peak(device: str, name: str, overrides: Mapping[str, float], reason: str) -> DevicePeak:
    """A device with no known peak, given one by the user: only the overridden dtypes have a figure."""
    peaks: dict[str, float | None] = {d: overrides.get(d) for d in DTYPES}
    return DevicePeak(
        device=device,
        name=name,
        peaks_tflops=peaks,
        source="user override (--peak-tflops): " + ", ".join(f"{k}={v:g}" for k, v in overrides.items()),
        estimated=False,
        notes=(reason, "dtypes not given with --peak-tflops have no peak"),
        dtype_sources={
            d: "user override (--peak-tflops)"
            if d in overrides
            else "no figure (not given with --peak-tflops)"
            for d in DTYPES
        },
        overridden=tuple(overrides),
    )
