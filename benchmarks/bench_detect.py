"""Wall time of `hwbench detect --json` (7 runs, median) next to py-cpuinfo and `lspci -nn`.

Each command runs in a fresh process, as a user would run it; runs are interleaved so that load from
other processes on a shared machine hits every command alike. Usage: python benchmarks/bench_detect.py [N]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _no_pyc_env(tmp: str) -> dict[str, str]:
    """A copy of the hwbench package without __pycache__, first on sys.path, nothing written back: the
    project's own modules compile on every run (as in a fresh clone with PYTHONDONTWRITEBYTECODE=1); the
    standard library keeps its installed bytecode."""
    import hwbench

    src = Path(hwbench.__file__).resolve().parent
    shutil.copytree(src, Path(tmp) / "hwbench", ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": tmp}


def _time(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user+sys of the child: less sensitive to other load on a shared box)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = 0
    return wall, usage.ru_utime + usage.ru_stime


def main(runs: int = 7) -> None:
    py = sys.executable
    commands = {
        "python -c pass (interpreter start-up)": [py, "-c", "pass"],
        "hwbench detect --json": [py, "-m", "hwbench", "detect", "--json"],
        "hwbench detect --json, no hwbench bytecode": [py, "-m", "hwbench", "detect", "--json"],
        "python -c 'import cpuinfo; cpuinfo.get_cpu_info()'": [
            py, "-c", "import cpuinfo; cpuinfo.get_cpu_info()"
        ],
    }  # fmt: skip
    lspci = shutil.which("lspci")
    if lspci:
        commands["lspci -nn"] = [lspci, "-nn"]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        no_pyc = _no_pyc_env(tmp)
        for _ in range(runs):
            for name, cmd in commands.items():
                if "no hwbench bytecode" in name:  # run from tmp: `-m` puts the working directory first
                    times[name].append(_time(cmd, no_pyc, cwd=tmp))
                else:
                    times[name].append(_time(cmd))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{runs} runs each, interleaved; load average {load:.1f} on {os.cpu_count()} CPUs")
    print("  wall median (min..max)       CPU median   command")
    for name, ts in times.items():
        wall = [w for w, _ in ts]
        cpu = [c for _, c in ts]
        print(
            f"  {statistics.median(wall):6.3f} s ({min(wall):.3f}..{max(wall):.3f})"
            f"   {statistics.median(cpu):6.3f} s   {name}"
        )
    if not lspci:
        print("  (lspci not installed here)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
