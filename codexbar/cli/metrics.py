"""`codexbar metrics`: the limits and cost totals as Prometheus / OpenMetrics text."""

from __future__ import annotations

import sys

import click

from codexbar.cli.options import home_option, warn


@click.command(short_help="Print the Prometheus metrics once (the dashboard serves them too).")
@click.option("--openmetrics", is_flag=True, help="OpenMetrics text instead of Prometheus'.")
@click.option("--no-fetch", is_flag=True, help="Use only the stored reading; never fetch one.")
@home_option
def metrics(openmetrics: bool, no_fetch: bool, homes: tuple[str, ...]) -> None:
    """Print the metrics once (for node_exporter's textfile collector, or a test); the
    dashboard serves the same on GET /metrics for Prometheus to scrape.

    Limits come from the latest stored reading when it is current (else one is fetched); token
    and cost totals cover every local session log."""
    from codexbar.cost import cost_summary
    from codexbar.metrics import metrics_text
    from codexbar.report import report_to_json
    from codexbar.sources import utc_now
    from codexbar.statusbar import BarSession

    session = BarSession(homes)
    try:
        for problem in session.problems:
            warn(problem)
        bodies = [
            {**report_to_json(one.reading, session.paces(one.reading)), "home": str(one.home)}
            for one in session.account_readings(allow_fetch=not no_fetch)
        ]
        try:
            summary = cost_summary(session.homes, all_time=True, store=session.store)
        except Exception:  # the limits are still worth exporting
            warn("the cost totals could not be read; token and cost metrics are left out")
            summary = None
        accept = "application/openmetrics-text; version=1.0.0" if openmetrics else None
        text, _ = metrics_text(bodies, summary, utc_now(), accept)
        sys.stdout.write(text.decode())
    finally:
        session.close()
