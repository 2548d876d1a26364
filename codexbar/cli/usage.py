"""`codexbar usage`: the plan's windows, credits and account, as text or JSON."""

from __future__ import annotations

import json

import click

from codexbar.app import App
from codexbar.cli.options import describe_store_error, home_option, warn
from codexbar.history import snapshot_paces
from codexbar.report import render_text, report_to_json
from codexbar.settings import SOURCE_CHOICES
from codexbar.store import Store


@click.command()
@click.option(
    "--source",
    type=click.Choice(SOURCE_CHOICES),
    default=None,
    help="Where to read the usage from (default: the `source` setting, auto).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--pretty", is_flag=True, help="Indent the JSON (implies --json).")
@home_option
def usage(
    source: str | None = None,
    as_json: bool = False,
    pretty: bool = False,
    homes: tuple[str, ...] = (),
) -> int:
    """Show how much of the 5-hour and weekly windows is left.

    Exits 0 only when the figures are current (read now, observed within the refresh interval);
    otherwise with the failure's code, after saying what failed and how old the figures are."""
    app = App.load(homes)
    chosen = source or app.settings.get("source")
    # A broken plugin matters when Auto walks them all; a named source imports only itself
    # (and says so if it cannot be loaded).
    plugin_errors = app.registry.load_errors if chosen == "auto" else ()
    for problem in app.settings.problems + plugin_errors:
        warn(problem)
    if app.ignored_homes_note:
        warn(app.ignored_homes_note)
    store = _open_store()
    try:
        reading = app.fetch_usage(source, store=store)
    finally:
        app.registry.close()
    snapshot = reading.snapshot
    paces = {} if snapshot is None else snapshot_paces(snapshot, store and store.db)
    if as_json or pretty:
        body = report_to_json(reading, paces)
        click.echo(
            json.dumps(body, indent=2, sort_keys=True)
            if pretty
            else json.dumps(body, separators=(",", ":"))
        )
    else:
        show_used = app.settings.get("show_used")
        text = render_text(reading, app.titles, show_used=show_used, paces=paces)
        click.echo(text, nl=False)
    code = reading.exit_code
    click.get_current_context().exit(code)
    return code


def _open_store() -> Store | None:
    try:
        store = Store()
    except Exception as error:  # the store explains itself in words (StoreTooNew, locked, …)
        warn(f"readings will not be saved: {describe_store_error(error)}")
        return None
    for message in store.warnings:
        warn(message)
    return store
