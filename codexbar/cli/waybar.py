"""`codexbar waybar`: Waybar's custom-module JSON, once or (`--follow`) whenever it changes."""

from __future__ import annotations

import json

import click

from codexbar.cli.options import home_option

DEFAULT_FORMAT = "{session_left}% · {weekly_left}%"


@click.command()
@click.option(
    "--follow",
    is_flag=True,
    help="Keep running and print a new line whenever the figures change (Waybar's "
    "continuous mode; no exec-interval needed).",
)
@click.option(
    "--format",
    "template",
    default=DEFAULT_FORMAT,
    show_default=True,
    help="The module's text, with the fields of `codexbar bar`.",
)
@home_option
def waybar(follow: bool, template: str, homes: tuple[str, ...]) -> None:
    """Print {"text", "tooltip", "class", "percentage"} for a Waybar custom module.

    class is ok, warning, critical, stale or error; percentage is the most constrained percent
    left, for format-icons."""
    from codexbar.cli.bar import open_session
    from codexbar.statusbar import refresh_seconds

    session = open_session(template, homes)
    try:
        if not follow:
            click.echo(_line(session, template, allow_fetch=True))
            return
        from codexbar.statusbar import follow as follow_store

        session.engine()  # a long run: know the sources' names for the tooltip from the start
        lines = follow_store(
            session.store_path,
            lambda allow_fetch: _line(session, template, allow_fetch=allow_fetch),
            refresh_seconds=refresh_seconds(session.settings),
        )
        try:
            for line in lines:
                click.echo(line)  # click flushes each line, as Waybar needs
        except (KeyboardInterrupt, BrokenPipeError):
            return
    finally:
        session.close()


def _line(session, template: str, *, allow_fetch: bool) -> str:
    from codexbar.statusbar import waybar_object

    reading = session.reading(allow_fetch=allow_fetch)
    return json.dumps(waybar_object(session, reading, template), ensure_ascii=False)
