"""`codexbar usage`: the plan's windows, credits and account, as text or JSON."""

from __future__ import annotations

import json

import click

from codexbar.app import App
from codexbar.cli.options import home_option, warn
from codexbar.errors import EXIT_OK
from codexbar.history import snapshot_paces
from codexbar.report import render_text, report_to_json
from codexbar.settings import SOURCE_CHOICES
from codexbar.sources import utc_now
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
    """Show how much of the 5-hour and weekly windows is left."""
    app = App.load(homes)
    for problem in app.settings.problems + app.registry.load_errors:
        warn(problem)
    store = _open_store()
    report = app.fetch_usage(source, store=store)
    paces = {} if report.snapshot is None else snapshot_paces(report.snapshot, store and store.db)
    if as_json or pretty:
        body = report_to_json(report, paces)
        click.echo(
            json.dumps(body, indent=2, sort_keys=True)
            if pretty
            else json.dumps(body, separators=(",", ":"))
        )
    else:
        click.echo(render_text(report, utc_now(), app.titles, paces), nl=False)
    code = EXIT_OK if report.error is None else report.error.exit_code
    click.get_current_context().exit(code)
    return code


def _open_store() -> Store | None:
    try:
        store = Store()
    except Exception as error:
        warn(f"readings will not be saved: {error}")
        return None
    for message in store.warnings:
        warn(message)
    return store
