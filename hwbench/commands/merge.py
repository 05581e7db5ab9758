"""`hwbench merge FILES...`: reports from many nodes (one JSON file each) into one fleet table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from hwbench.errors import InputError


def command(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE", help="JSON reports (hwbench mfu/check/comm --json), one per node or job."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    threshold: str = typer.Option(
        None,
        "--threshold",
        help="How far below the peers' median makes an outlier: 0.1 or 10% "
        "(default: HWBENCH_STRAGGLER_THRESHOLD, else 10%).",
    ),
    details: bool = typer.Option(
        False,
        "--details",
        help="List every rank (a large fleet's table shows only the notable ones).",
    ),
) -> None:
    """Merge per-node JSON reports into one fleet table: per-rank figures, stragglers, mismatches."""
    from hwbench.fleet.merge import merge_reports
    from hwbench.fleet.stragglers import parse_threshold
    from hwbench.jsonout import document

    thr = parse_threshold(
        threshold if threshold is not None else os.environ.get("HWBENCH_STRAGGLER_THRESHOLD")
    )
    from hwbench.console import log
    from hwbench.userfile import read_regular_text

    named = []
    for f in files:
        text = read_regular_text(f, "report")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{f}: not JSON ({e.msg} at line {e.lineno})", hint="pass files written by --json"
            ) from None
        except RecursionError:
            raise InputError(
                f"{f}: nested too deeply to be an hwbench report",
                hint="pass files written by `hwbench mfu|check|comm --json`",
            ) from None
        except ValueError:  # an integer of more than 4300 digits
            raise InputError(
                f"{f}: not an hwbench report (a number too long to read)",
                hint="pass files written by `hwbench mfu|check|comm --json`",
            ) from None
        named.append((str(f), doc))
    doc = document("merge", merge_reports(named, thr))
    for w in doc.get("warnings") or []:
        log(f"warning: {w}")
    if json_out:
        from hwbench.jsonout import emit

        emit(doc)
    else:
        from hwbench.fleet.render import render_fleet

        render_fleet(doc, details=details)
    # As for a torchrun job, the worst exit code among the merged reports (outliers are reported,
    # not failed: `hwbench check` is the gate); a report's 130/143 becomes 1, since merge itself was
    # not signalled.
    code = int(doc.get("exit_code") or 0)  # an interrupted report counts (fleet.merge)
    if code:
        raise typer.Exit(1 if code >= 128 else code)
