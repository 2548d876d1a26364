"""Options several commands share."""

from __future__ import annotations

import click

home_option = click.option(
    "--home",
    "homes",
    multiple=True,
    metavar="PATH",
    help="Codex home to read (default: $CODEX_HOME or ~/.codex).",
)


def warn(message: str) -> None:
    click.secho(f"warning: {message}", fg="yellow", err=True)
