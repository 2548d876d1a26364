"""The `codexbar` command. Commands are thin: they parse options, call the engine, print."""

from __future__ import annotations

import sys

import click

from codexbar import __version__
from codexbar.errors import EXIT_UNEXPECTED, EXIT_USAGE
from codexbar.log_setup import setup_logging

# name -> (module, attribute, the command's one-line help). Commands are imported only when
# run, so `codexbar usage` never pays for the cost scanner and `--help` imports none of them;
# tests/test_cli_startup.py checks these help lines against the commands' own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "usage": (
        "codexbar.cli.usage",
        "usage",
        "Show how much of the 5-hour and weekly windows is left.",
    ),
    "cost": (
        "codexbar.cli.cost",
        "cost",
        "Tokens and estimated API cost of your local Codex sessions.",
    ),
    "tray": (
        "codexbar.cli.tray",
        "tray",
        "Start the tray icon (what `codexbar` with no command does).",
    ),
    "doctor": (
        "codexbar.cli.doctor",
        "doctor",
        "Check every usage source and show where codexbar reads and keeps its data.",
    ),
    "config": ("codexbar.cli.config", "config", "Show or change codexbar's settings."),
    "prefs": ("codexbar.cli.tray", "prefs", "Open the preferences window."),
    "autostart": (
        "codexbar.cli.tray",
        "autostart",
        "Start the tray at login (on), stop doing so (off), or show the setting (status).",
    ),
    "pricing": ("codexbar.cli.cost", "pricing", "Model prices used for cost estimates."),
    "history": (
        "codexbar.cli.history",
        "history",
        "The saved readings of each window over time, and how much of each past window was used.",
    ),
    "dashboard": (
        "codexbar.cli.dashboard",
        "dashboard",
        "Serve the local dashboard and open it in the browser (Ctrl-C stops it).",
    ),
    "bar": (
        "codexbar.cli.bar",
        "bar",
        "Print the figures as one line, from the latest stored reading when it is current.",
    ),
    "waybar": (
        "codexbar.cli.waybar",
        "waybar",
        'Print {"text", "tooltip", "class", "percentage"} for a Waybar custom module.',
    ),
    "watch": (
        "codexbar.cli.watch",
        "watch",
        "A live full-screen view of the limits, the cost and each response.",
    ),
    "metrics": (
        "codexbar.cli.metrics",
        "metrics",
        "Print the Prometheus metrics once (the dashboard serves them too).",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (listing them needs no import)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in COMMANDS:
            import importlib

            module, attribute, _ = COMMANDS[name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx) if name in COMMANDS]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
