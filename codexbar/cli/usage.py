"""`codexbar usage`: each account's windows, credits and identity, as text or JSON."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from codexbar.accounts import homes_for
from codexbar.app import AccountReading, App
from codexbar.cli.options import describe_store_error, home_option, warn
from codexbar.errors import EXIT_OK, EXIT_USAGE
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one JSON object (with several accounts: {"accounts": [...]}).',
)
@click.option("--pretty", is_flag=True, help="Indent the JSON (implies --json).")
@click.option(
    "--account",
    metavar="EMAIL|HOME",
    default=None,
    help="Show only the account with this email or Codex home.",
)
@home_option
def usage(
    source: str | None = None,
    as_json: bool = False,
    pretty: bool = False,
    account: str | None = None,
    homes: tuple[str, ...] = (),
) -> int:
    """Show how much of the 5-hour and weekly windows is left.

    Each Codex home is one account, and each has its block (JSON: {"accounts": [...]} with
    more than one home). Exits 0 only when every account shown is current (read now, observed
    within the refresh interval); otherwise with the code of the first account that is not,
    after saying what failed and how old the figures are."""
    app = App.load(homes)
    chosen = source or app.settings.get("source")
    # A broken plugin matters when Auto walks them all; a named source imports only itself
    # (and says so if it cannot be loaded).
    plugin_errors = app.registry.load_errors if chosen == "auto" else ()
    for problem in app.settings.problems + plugin_errors:
        warn(problem)
    store = _open_store()
    shown = app.homes
    if account is not None:
        shown = homes_for(account, app.homes, store, os.environ)
        if not shown:
            listed = ", ".join(str(h) for h in app.homes)
            warn(f"no configured account has the email or Codex home {account} (homes: {listed})")
            click.get_current_context().exit(EXIT_USAGE)
    several = len(shown) > 1
    readings: list[AccountReading] = []
    try:
        for one in app.fetch_accounts(source, store=store, homes=shown):
            readings.append(one)
            if not (as_json or pretty):  # each account's block as soon as it is read
                click.echo(_account_text(app, one, store, several), nl=False)
    finally:
        app.close()
    order = {home: index for index, home in enumerate(shown)}
    readings.sort(key=lambda one: order[one.home])
    if as_json or pretty:
        bodies = [_account_json(one, store, several) for one in readings]
        body = {"accounts": bodies} if several else bodies[0]
        click.echo(
            json.dumps(body, indent=2, sort_keys=True)
            if pretty
            else json.dumps(body, separators=(",", ":"))
        )
    code = next((r.reading.exit_code for r in readings if not r.reading.current), EXIT_OK)
    click.get_current_context().exit(code)
    return code


def _paces(one: AccountReading, store: Store | None) -> dict:
    snapshot = one.reading.snapshot
    return {} if snapshot is None else snapshot_paces(snapshot, store and store.db)


def _account_text(app: App, one: AccountReading, store: Store | None, several: bool) -> str:
    text = render_text(
        one.reading,
        app.titles,
        show_used=app.settings.get("show_used"),
        paces=_paces(one, store),
    )
    if not several:
        return text
    # Blocks arrive in the order the accounts answer: each names its account and home.
    title = one.name if one.email is None else f"{one.name} ({one.home})"
    return f"== {title}\n{text}\n"


def _account_json(one: AccountReading, store: Store | None, several: bool) -> dict[str, Any]:
    body = report_to_json(one.reading, _paces(one, store))
    return {**body, "home": str(one.home)} if several else body


def _open_store() -> Store | None:
    try:
        store = Store()
    except Exception as error:  # the store explains itself in words (StoreTooNew, locked, …)
        warn(f"readings will not be saved: {describe_store_error(error)}")
        return None
    for message in store.warnings:
        warn(message)
    return store
