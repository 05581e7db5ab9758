"""Time the PCI half of `hwbench detect` (budget for the whole command: 0.15 s, Python start-up included).

    python benchmarks/bench_pci.py [--repeat 50]

Prints medians (and min) in milliseconds, measured in-process with time.perf_counter, of:
import of hwbench.detect.pci (a fresh interpreter per sample), read_sysfs_pci + classify_gpus on this
machine and on the recorded trees, parse_lspci + classify_gpus on every lspci fixture, and pci.ids lookups.
Timings on a shared machine are noisy: compare medians taken side by side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hwbench.detect.pci import classify_gpus, parse_lspci, read_sysfs_pci  # noqa: E402
from hwbench.detect.pciids import PciIds  # noqa: E402

FIX = REPO / "tests" / "fixtures"


def _ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples), min(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    n = ap.parse_args().repeat
    # In a fresh interpreter: the package (hwbench.detect, hwbench.model's records) first, then this module.
    code = (
        "import time; t0=time.perf_counter(); import hwbench.detect; t1=time.perf_counter(); "
        "import hwbench.detect.pci; t2=time.perf_counter(); print((t1-t0)*1e3, (t2-t1)*1e3)"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(min(n, 15))
    ]
    parents = [float(r[0]) for r in runs]
    imports = [float(r[1]) for r in runs]
    rows = [
        ("import hwbench.detect (package, for reference)", statistics.median(parents), min(parents)),
        ("import hwbench.detect.pci after it", statistics.median(imports), min(imports)),
    ]
    rows.append(
        ("sysfs read + classify, this machine", *_ms(lambda: classify_gpus(read_sysfs_pci(Path("/"))), n))
    )
    for tree in sorted(p for p in (FIX / "sysfs_pci").iterdir() if p.is_dir()):
        rows.append(
            (f"sysfs read + classify, {tree.name}", *_ms(lambda t=tree: classify_gpus(read_sysfs_pci(t)), n))
        )
    texts = [p.read_text(encoding="utf-8") for p in sorted((FIX / "lspci").rglob("*.txt"))]
    rows.append(
        (
            f"parse + classify, all {len(texts)} lspci fixtures",
            *_ms(lambda: [classify_gpus(parse_lspci(t)) for t in texts], n),
        )
    )
    excerpt = FIX / "sysfs_pci" / "dell-precision-5570-alder-lake-p-optimus"
    rows.append(
        (
            "PciIds.find + 2 names (excerpt)",
            *_ms(
                lambda: (lambda i: (i.device_name(0x8086, 0x46A6), i.device_name(0x10DE, 0x25B9)))(
                    PciIds.find(excerpt)
                ),
                n,
            ),
        )
    )
    real = PciIds.find(Path("/"))
    if real is not None:
        rows.append(
            (
                f"PciIds.find + 2 names ({real.path})",
                *_ms(
                    lambda: (lambda i: (i.device_name(0x8086, 0x46A6), i.device_name(0x10DE, 0x25B9)))(
                        PciIds.find(Path("/"))
                    ),
                    n,
                ),
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  median_ms  min_ms   (n={n}; measured, wall clock, this machine)")
    for name, med, low in rows:
        print(f"{name:<{width}}  {med:9.3f}  {low:6.3f}")


if __name__ == "__main__":
    main()
