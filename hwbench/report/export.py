"""Writing the report as SVG or HTML: rich records what it draws and exports it (for issues and PRs)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from hwbench.errors import InputError

if TYPE_CHECKING:
    from hwbench.report import Advice

FORMATS = (".svg", ".html", ".htm")


def save_report(
    advice: Advice, path: str | Path, width: int = 120, title: str = "hwbench mfu report"
) -> Path:
    """Render `advice` into a recording console and write it to `path` (.svg or .html)."""
    from rich.console import Console

    from hwbench.report.render import render

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write a report as {suffix or 'a file without a suffix'}: {p}",
            hint="use a .svg or .html file name",
        )
    console = Console(
        record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    render(advice, console)
    try:
        if suffix == ".svg":
            text = console.export_svg(title=title)
        else:
            text = console.export_html(inline_styles=True)
        p.write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError(
            f"cannot write {p}: {e.strerror or e}",
            hint="check the folder exists and is writable, and that its file system has space",
        ) from e
    return p
