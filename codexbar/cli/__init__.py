"""The `codexbar` command. Commands are thin: they parse options, call the engine, print."""

from __future__ import annotations

import sys

import click

from codexbar import __version__
from codexbar.errors import EXIT_UNEXPECTED, EXIT_USAGE
from codexbar.log_setup import setup_logging


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens to stderr.")
@click.version_option(__version__, prog_name="codexbar")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """How much of your OpenAI Codex plan is left, and what your sessions cost.

    With no command, starts the tray icon (or, without a desktop, shows the usage report)."""
    setup_logging(verbose)
    if ctx.invoked_subcommand is None:
        from codexbar.cli.tray import start_tray

        ctx.exit(start_tray())


def _register() -> None:
    from codexbar.cli.bar import bar
    from codexbar.cli.config import config
    from codexbar.cli.cost import cost, pricing
    from codexbar.cli.dashboard import dashboard
    from codexbar.cli.doctor import doctor
    from codexbar.cli.history import history
    from codexbar.cli.metrics import metrics
    from codexbar.cli.tray import autostart, prefs, tray
    from codexbar.cli.usage import usage
    from codexbar.cli.watch import watch
    from codexbar.cli.waybar import waybar

    commands = (usage, cost, tray, doctor, config, prefs, autostart, pricing, history, dashboard)
    commands += (bar, waybar, watch, metrics)
    for command in commands:
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: CodexBar's exit codes (64 for a usage error, never a traceback)."""
    try:
        code = cli.main(args=argv, prog_name="codexbar", standalone_mode=False)
    except click.UsageError as error:
        error.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_UNEXPECTED)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
