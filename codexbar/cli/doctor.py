"""`codexbar doctor`: every source's state, timing and result, with secrets redacted."""

from __future__ import annotations

import click

from codexbar import __version__, paths
from codexbar import formatting as fmt
from codexbar.app import App
from codexbar.cli.options import describe_store_error, home_option
from codexbar.codex_auth import read_auth
from codexbar.engine import run_source
from codexbar.errors import SourceError
from codexbar.models import UsageSnapshot
from codexbar.report import credit_pool_text, credits_text, window_line_parts
from codexbar.sources import utc_now
from codexbar.store import Store


def _summary(snapshot: UsageSnapshot, show_used: bool) -> str:
    """The figures in the terms `usage` uses (left, unless show_used), one line."""
    now = utc_now()
    snapshot = snapshot.with_reset_flags(now)
    parts = []
    if snapshot.blocked:
        parts.append(f"blocked: {snapshot.blocked}")
    for window in snapshot.windows:
        amount, _ = window_line_parts(window, now, show_used=show_used)
        parts.append(f"{window.label} {amount}")
    if snapshot.credit_pool is not None:
        pool = snapshot.credit_pool
        parts.append(f"{pool.label} {credit_pool_text(pool, now, show_used=show_used)}")
    if snapshot.credits is not None and (credits := credits_text(snapshot.credits)):
        parts.append(f"credits {credits}")
    if snapshot.identity.plan:
        parts.append(f"plan {fmt.plan_name(snapshot.identity.plan)}")
    parts.append(f"observed {fmt.age(snapshot.observed_at, now)}")
    return ", ".join(parts)


def _auth_line(app: App) -> str:
    ctx = app.context()
    try:
        auth = read_auth(ctx.home, ctx.env)
    except SourceError as error:
        return error.text
    expires = auth.expires_at
    email = auth.email or "unknown email"
    # The staleness sentence names the expiry itself when that is the problem: say it once.
    state = auth.staleness(utc_now())
    if state is None:
        state = "fresh"
        if expires:
            state += f", access token expires {expires:%Y-%m-%d %H:%M} UTC"
    return f"ChatGPT login for {email} ({state}); tokens present, not shown"


@click.command()
@home_option
def doctor(homes: tuple[str, ...] = ()) -> None:
    """Check every usage source and show where codexbar reads and keeps its data."""
    app = App.load(homes)
    echo = click.echo
    echo(f"codexbar {__version__}")
    for home in app.homes:
        state = "exists" if home.is_dir() else "missing"
        echo(f"Codex home:   {home} ({state})")
    echo(f"Codex login:  {_auth_line(app)}")
    echo(
        f"Settings:     {app.settings.path or paths.settings_path()}"
        + (
            ""
            if app.settings.path and app.settings.path.exists()
            else " (not created yet; defaults)"
        )
    )
    for problem in app.settings.problems:
        echo(f"  problem: {problem}")
    try:
        store = Store(check_integrity=True)
        echo(f"Store:        {store.path} (schema {store.schema_version})")
        for warning in store.warnings:
            echo(f"  warning: {warning}")
        store.close()
    except Exception as error:
        echo(f"Store:        {paths.store_path()} unusable: {describe_store_error(error)}")
    echo(
        f"Source order: {app.settings.get('source')} "
        f"({' → '.join(s.name for s in app.registry.sources)})"
    )
    for problem in app.registry.load_errors:
        echo(f"  problem: {problem}")
    echo("")
    ctx = app.context()
    for source in app.registry.sources:
        auto = "" if source.in_auto(ctx) else " [not in Auto]"
        echo(f"{source.name} — {source.title}{auto}")
        for line in source.diagnostics(ctx):
            echo(f"  {line}")
        unavailable = source.unavailable(ctx)
        if unavailable is not None:
            echo(f"  unavailable ({unavailable.kind.value}): {unavailable.text}")
            continue
        snapshot, attempt, error = run_source(source, ctx)
        if snapshot is not None:
            echo(f"  ok in {attempt.ms} ms: {_summary(snapshot, app.settings.get('show_used'))}")
        else:
            assert error is not None
            echo(f"  {error.kind.value} after {attempt.ms} ms: {error.text}")
    app.registry.close()
