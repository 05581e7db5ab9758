"""The one reader of hwbench's data tables (detect/data/*.csv, peaks/data/*.csv).

The format: '#' comment lines and blank lines anywhere, then a header row and comma-separated rows;
a cell may be double-quoted (names with commas). The last column (a row's source) may also hold
unquoted commas: cells past the header's count are joined back into it. A row with fewer cells than
the header is an error in the table, never skipped silently.
"""

from __future__ import annotations

from pathlib import Path


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of one data table, each a {column: cell} dict (cells as written, not stripped)."""
    import csv  # only when a table is first needed: `hwbench detect` counts its import time

    text = path.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader, [])
    rows = []
    for n, cells in enumerate(reader, start=2):
        if len(cells) > len(header):
            cells = [*cells[: len(header) - 1], ",".join(cells[len(header) - 1 :])]
        if len(cells) < len(header):
            raise ValueError(f"{path.name}: data row {n} has {len(cells)} cells, the header {len(header)}")
        rows.append(dict(zip(header, cells, strict=True)))
    return rows
