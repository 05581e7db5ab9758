"""The `hwbench` command line: a typer app that only parses and presents; the work lives elsewhere.

Each command is defined in `hwbench/commands/<name>.py` as a function with typer annotations and
registered here. `hwbench detect` must answer in well under 0.15 s, and importing typer alone costs
about 0.11 s, so `main()` serves plain `detect` invocations through a small argparse path with the
same options (`commands/detect.py: fast_main`) and falls back to typer for anything else (--help,
an option it does not know), which then prints typer's usual help or error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hwbench.errors import HwbenchError

if TYPE_CHECKING:
    import typer


def build_app() -> typer.Typer:
    import typer

    from hwbench import __version__
    from hwbench.commands import check, comm, detect, merge, mfu, peaks

    app = typer.Typer(
        name="hwbench",
        help="What hardware is in this box, can PyTorch use it, and how much of it does training use.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _version(value: bool) -> None:
        if value:
            print(f"hwbench {__version__}")
            raise typer.Exit()

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """hwbench: honest hardware inventory, peaks and MFU for PyTorch training."""

    app.command("detect")(detect.command)
    app.command("peaks")(peaks.command)
    app.command("mfu")(mfu.command)
    app.command("check")(check.command)
    app.command("comm")(comm.command)
    app.command("merge")(merge.command)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    from hwbench.console import error_line

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["detect"]:
            from hwbench.commands.detect import fast_main

            rc = fast_main(args[1:])
            if rc is not None:
                sys.exit(rc)
        app = build_app()
        app(args=args, prog_name="hwbench")
    except HwbenchError as e:
        error_line(e.message, e.hint)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
