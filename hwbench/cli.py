"""The `hwbench` command line: a typer app that only parses and presents; the work lives elsewhere.

Each command is defined in `hwbench/commands/<name>.py` as a function with typer annotations and
registered here. `hwbench detect` must answer in well under 0.15 s, and importing typer alone costs
about 0.11 s, so `main()` serves plain `detect` invocations through a small argparse path with the
same options (`commands/detect.py: fast_main`) and falls back to typer for anything else (--help,
an option it does not know), which prints click's plain help or the usage error as `error:` + `hint:`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hwbench.errors import HwbenchError

if TYPE_CHECKING:
    import typer
    from typer.core import TyperGroup


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
        # click's plain help reads at 80 columns (rich's boxed panels wrap every line there) and shows
        # a flag as `--json`, not `--json <bool>`
        rich_markup_mode=None,
        cls=_usage_error_group(),
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

    # short_help: the command list of `hwbench --help` in full at 80 columns (click cuts docstrings at 45)
    app.command("detect", short_help="CPU, memory, GPUs, and what PyTorch can use.")(detect.command)
    app.command("peaks", short_help="Dense peak FLOP/s per dtype, with sources.")(peaks.command)
    app.command("mfu", short_help="GPT training step: MFU, where it goes, fixes.")(mfu.command)
    app.command("check", short_help="Gate CI or a node: exit 0 pass, 1 fail.")(check.command)
    app.command("comm", short_help="All-reduce/all-gather bandwidth (torchrun).")(comm.command)
    app.command("merge", short_help="Many nodes' JSON reports into one table.")(merge.command)
    return app


def _usage_error_group() -> type[TyperGroup]:
    """The typer group, but click's usage errors (unknown option, bad value, missing argument) become
    hwbench's `error:` + `hint:` lines and exit 2, as every other bad input does, instead of a panel."""
    import typer
    from typer.core import TyperArgument, TyperGroup, TyperOption

    try:
        from typer._click import exceptions as click_exc  # typer vendors click since 0.2x
    except ImportError:  # pragma: no cover - older typer on the real click
        from click import exceptions as click_exc  # type: ignore[no-redef]

    class UsageErrorGroup(TyperGroup):
        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            cmd = super().get_command(ctx, cmd_name)
            for p in cmd.params if cmd is not None else ():
                # a value's name in the help: the option's own name ("--clock-mhz CLOCK_MHZ"), not
                # typer's Python type ("<float>", "<list[str]>"), where the command gave none
                if isinstance(p, TyperOption) and p.metavar is None and not p.is_flag and p.name:
                    p.metavar = p.name.upper()
                elif isinstance(p, TyperArgument):
                    # "FILE..." in the usage line and the help, not "{files}..." and "<list[Path]>"
                    shown = (p.metavar or p.name or "ARG").upper().rstrip(".")
                    shown += "..." if p.nargs != 1 else ""
                    shown = shown if p.required else f"[{shown}]"
                    setattr(p, "display_type_rich", lambda ctx: None)  # noqa: B010 - an instance override
                    setattr(p, "_usage_display_name", lambda shown=shown: shown)  # noqa: B010
                    setattr(p, "_rich_display_name", lambda shown=shown: shown)  # noqa: B010
            return cmd

        def main(  # type: ignore[override]
            self,
            args: Sequence[str] | None = None,
            prog_name: str | None = None,
            complete_var: str | None = None,
            standalone_mode: bool = True,
            **extra: Any,
        ) -> Any:
            try:
                rv = super().main(
                    args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra
                )
            except click_exc.NoArgsIsHelpError as e:
                e.show()  # `hwbench` alone shows the help (no_args_is_help), then exits with click's code
                sys.exit(e.exit_code)
            except click_exc.UsageError as e:
                sub = next((a for a in args or () if not a.startswith("-")), None)
                raise HwbenchError(
                    *_usage_message(e, click_exc, sub if sub in self.commands else None)
                ) from None
            except click_exc.ClickException as e:
                raise HwbenchError(e.format_message()) from None
            except typer.Abort:
                sys.exit(1)
            if not standalone_mode:
                return rv
            sys.exit(rv if isinstance(rv, int) else 0)

    return UsageErrorGroup


def _usage_message(e: Exception, click_exc: Any, command: str | None = None) -> tuple[str, str]:
    """(message, hint) for a click usage error: the message in the house's lower case, the hint naming
    the help of the command that was being parsed."""
    msg = e.format_message() if isinstance(e, click_exc.UsageError) else str(e)
    ctx = e.ctx if isinstance(e, click_exc.UsageError) else None
    where = ctx.command_path if ctx is not None else "hwbench"
    if where == "hwbench" and command is not None:  # an error raised before the command's context
        where = f"hwbench {command}"
    hint = f"`{where} --help` lists the " + ("options" if where != "hwbench" else "commands")
    if isinstance(e, click_exc.NoSuchOption):
        msg = f"no such option: {e.option_name}"
        if e.possibilities:
            hint = f"did you mean {' or '.join(sorted(e.possibilities))}? " + hint
    elif msg[:1].isupper() and msg[1:2].islower():
        msg = msg[0].lower() + msg[1:]
    return msg.rstrip("."), hint


def main(argv: Sequence[str] | None = None) -> None:
    from hwbench.exits import end, start

    start()  # SIGINT/SIGTERM keep partial results and exit 130/143; stdout failures hide no verdict
    end(_run(list(sys.argv[1:] if argv is None else argv)))


def _run(args: list[str]) -> int:
    """The command's exit code; errors become one `error:` line (code 2), never a traceback."""
    from hwbench import interrupt
    from hwbench.console import error_line

    try:
        if args[:1] == ["detect"]:
            from hwbench.commands.detect import fast_main

            rc = fast_main(args[1:])
            if rc is not None:
                return rc
        app = build_app()
        app(args=args, prog_name="hwbench")
    except SystemExit as e:
        if isinstance(e.code, str):  # sys.exit("message"): said as Python would, exit 1
            print(e.code, file=sys.stderr)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except HwbenchError as e:
        error_line(e.message, e.hint)
        return e.exit_code
    except KeyboardInterrupt as e:
        interrupt.note(e)
        return 130
    except RecursionError:  # a pathologically nested input that a parser did not bound
        error_line("input nested too deeply to read", "an input file is malformed or hostile")
        return 2
    except MemoryError:
        error_line("out of memory", "a smaller model (--preset, --n-embd, --batch-size) or more RAM")
        return 2
    return 0
