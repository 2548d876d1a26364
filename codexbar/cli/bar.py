"""`codexbar bar`: one line for i3blocks, polybar, tmux and other status bars."""

from __future__ import annotations

import click

from codexbar.cli.options import home_option, warn

DEFAULT_FORMAT = "{session_left}% · {weekly_left}% · ${today_cost}"


@click.command()
@click.option(
    "--format",
    "template",
    default=DEFAULT_FORMAT,
    show_default=True,
    help="The line, with {field} placeholders (see the README for the fields).",
)
@click.option("--no-fetch", is_flag=True, help="Use only the stored reading; never fetch one.")
@home_option
def bar(template: str, no_fetch: bool, homes: tuple[str, ...]) -> None:
    """Print the figures as one line, from the latest stored reading when it is current.

    A reading that is not current says so: the line ends in (stale, 12 min ago) unless the
    format shows {stale}, {status} or {age} itself."""
    from codexbar.statusbar import COST_FIELDS, format_fields, render

    session = open_session(template, homes)
    fields = format_fields(template)
    try:
        reading = session.reading(allow_fetch=not no_fetch)
        values = session.values(reading, with_costs=bool(fields & COST_FIELDS))
        click.echo(render(template, values))
    finally:
        session.close()


def open_session(template: str, homes: tuple[str, ...]):
    """Check `--format` (a usage error in words), then open the settings and the store, saying
    what is wrong with them (`codexbar bar`, `codexbar waybar`)."""
    from codexbar.statusbar import BarSession, FormatError, format_fields

    try:
        format_fields(template)
    except FormatError as error:
        raise click.BadParameter(str(error), param_hint="--format") from None
    session = BarSession(homes)
    for problem in session.problems:
        warn(problem)
    return session
