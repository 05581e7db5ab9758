"""Wall time of `hwbench detect --json` (7 runs, median) next to py-cpuinfo and `lspci -nn`.

Each command runs in a fresh process, as a user would run it; runs are interleaved so that load from
other processes on a shared machine hits every command alike. Usage: python benchmarks/bench_detect.py [N]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def main(runs: int = 7) -> None:
    py = sys.executable
    commands = {
        "python -c pass (interpreter start-up)": [py, "-c", "pass"],
        "hwbench detect --json": [py, "-m", "hwbench", "detect", "--json"],
        "python -c 'import cpuinfo; cpuinfo.get_cpu_info()'": [
            py, "-c", "import cpuinfo; cpuinfo.get_cpu_info()"
        ],
    }  # fmt: skip
    lspci = shutil.which("lspci")
    if lspci:
        commands["lspci -nn"] = [lspci, "-nn"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    print(f"{runs} runs each, interleaved; median (min..max) wall seconds")
    for name, ts in times.items():
        print(f"  {statistics.median(ts):7.3f} s  ({min(ts):.3f}..{max(ts):.3f})  {name}")
    if not lspci:
        print("  (lspci not installed here)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
