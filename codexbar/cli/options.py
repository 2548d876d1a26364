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


def describe_store_error(error: Exception) -> str:
    """The store's own sentences pass through; apsw's internals become words."""
    from codexbar.store import StoreTooNew

    if isinstance(error, StoreTooNew):
        return str(error)
    if isinstance(error, OSError):
        return f"its folder could not be used ({error.strerror or 'the file system refused'})"
    name = type(error).__name__
    if "Busy" in name or "Locked" in name:
        return "another codexbar holds the database"
    if "ReadOnly" in name or "Permissions" in name or "CantOpen" in name:
        return "the database cannot be written (read-only or permission denied)"
    return "the database could not be opened"
