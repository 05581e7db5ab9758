"""Software/hardware fingerprints of ranks and the fields on which they disagree (pure).

In a fleet, "same hardware, different software" is the usual cause of a rank that behaves
differently: one node left on an older driver, a container with another torch. A mismatch is a field
with more than one value across ranks; the majority value is taken as expected and the ranks holding
the others are named. Missing values (None) are not compared: "could not read" is not a mismatch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hwbench.fmt import plural, ranges

# The fields compared, in the order they are reported (the issue: GPU model, driver, CUDA, torch,
# hwbench; the CPU model stands in for the GPU on CPU ranks).
FINGERPRINT_FIELDS: tuple[str, ...] = (
    "gpu_name",
    "driver_version",
    "cuda_driver_version",
    "torch_version",
    "torch_cuda_version",
    "hwbench_version",
    "cpu_model",
)


@dataclass(frozen=True)
class Mismatch:
    field: str
    majority_value: str
    majority_count: int
    others: tuple[tuple[str, tuple[int, ...], tuple[str, ...]], ...]  # (value, ranks, hosts)


def find_mismatches(
    fingerprints: Sequence[tuple[int, str, Mapping[str, Any]]],
    fields: Sequence[str] = FINGERPRINT_FIELDS,
) -> list[Mismatch]:
    """`fingerprints` is [(rank, host, {field: value})]; returns one Mismatch per disagreeing field.

    Ties in the majority go to the value seen on the lowest rank, so the report is deterministic.
    """
    out: list[Mismatch] = []
    for field in fields:
        seen: dict[str, list[tuple[int, str]]] = {}
        for rank, host, fp in fingerprints:
            v = fp.get(field)
            if v is None or v == "":
                continue
            seen.setdefault(str(v), []).append((rank, host))
        if len(seen) < 2:
            continue
        counts = Counter({v: len(r) for v, r in seen.items()})
        first_rank = {v: min(r for r, _ in ranks) for v, ranks in seen.items()}
        majority = max(counts, key=lambda v: (counts[v], -first_rank[v]))
        others = tuple(
            (
                v,
                tuple(r for r, _ in sorted(seen[v])),
                tuple(sorted({h for _, h in seen[v]})),
            )
            for v in sorted(seen, key=lambda v: first_rank[v])
            if v != majority
        )
        out.append(Mismatch(field, majority, counts[majority], others))
    return out


def describe(m: Mismatch) -> str:
    """One line: 'driver_version: 535.104.05 on 8 ranks; 550.54.15 on ranks 8-15 (node-b)'."""
    parts = [f"{m.field}: {m.majority_value} on {plural(m.majority_count, 'rank')}"]
    for value, ranks, hosts in m.others:
        parts.append(
            f"{value} on {'rank' if len(ranks) == 1 else 'ranks'} {ranges(ranks)} ({', '.join(hosts)})"
        )
    return "; ".join(parts)
