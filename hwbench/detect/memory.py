"""Memory: root/proc/meminfo (fast, replayable); psutil only where /proc is absent (macOS, Windows)."""

from __future__ import annotations

import re
from pathlib import Path

from hwbench.model import Memory

_LINE = re.compile(r"^(\w+):\s+(\d+)(?:\s*kB)?\s*$", re.M)


def parse_meminfo(text: str) -> Memory:
    """MemTotal/MemAvailable from /proc/meminfo text (values in kB, as the kernel prints them)."""
    values = {m.group(1): int(m.group(2)) * 1024 for m in _LINE.finditer(text)}
    return Memory(
        total_bytes=values.get("MemTotal"),
        available_bytes=values.get("MemAvailable", values.get("MemFree")),
        source="/proc/meminfo",
    )


def read_memory(root: Path = Path("/")) -> Memory:
    root = Path(root)
    try:
        text = (root / "proc/meminfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        if root != Path("/"):
            raise
        import psutil  # only off Linux: importing it costs ~10 ms

        vm = psutil.virtual_memory()
        return Memory(total_bytes=int(vm.total), available_bytes=int(vm.available), source="psutil")
    mem = parse_meminfo(text)
    if root != Path("/"):
        return Memory(mem.total_bytes, mem.available_bytes, source=f"{root}/proc/meminfo")
    return mem
