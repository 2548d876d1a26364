"""`codexbar cost`: token totals and API-price estimates from the local session logs, and
`codexbar pricing update`."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from datetime import date, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from codexbar import formatting
from codexbar.cli.options import home_option, warn
from codexbar.codex_home import codex_homes
from codexbar.cost.summary import CostSummary, Figures, cost_summary
from codexbar.errors import EXIT_OK
from codexbar.settings import SETTINGS_BY_KEY
from codexbar.settings import load as load_settings
from codexbar.store import Store

NOTE = "API-price estimates, not a bill."
GROUPS = ("day", "model", "project", "effort")
DAYS = SETTINGS_BY_KEY["cost_days"]  # --days takes what the setting takes


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r} (try UTC or Europe/Berlin)") from None


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{option} wants a date like 2026-11-01, got {text!r}") from None


class _Progress:
    """A one-line progress bar on stderr for long scans (terminals only)."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total < 64 << 20:
            return
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(
            f"\rScanning sessions [{'#' * filled}{'.' * (width - filled)}] "
            f"{done / 1e6:,.0f}/{total / 1e6:,.0f} MB"
        )
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def figures_json(f: Figures) -> dict[str, object]:
    return f.to_json()


def summary_json(s: CostSummary) -> dict[str, object]:
    return {
        "range": {
            "since": s.since.isoformat() if s.since else None,
            "until": s.until.isoformat(),
            "timezone": s.timezone,
        },
        "totals": s.range.to_json(),
        "today": s.today.to_json(),
        "last_7_days": s.last_7_days.to_json(),
        "days": [
            {
                "date": d.date,
                **d.figures.to_json(),
                "models": {m: f.to_json() for m, f in sorted(d.models.items())},
            }
            for d in s.days
        ],
        "models": {m: f.to_json() for m, f in sorted(s.models.items())},
        "projects": {p: f.to_json() for p, f in sorted(s.projects.items())},
        "efforts": {e: f.to_json() for e, f in sorted(s.efforts.items())},
        "unpriced_models": s.unpriced_models,
        "scan": {
            "files": s.scan.files,
            "bytes_read": s.scan.bytes_read,
            "ms": s.scan.ms,
            "files_from_cache": s.scan.files_from_cache,
        },
    }


def _line(f: Figures) -> str:
    return f"{formatting.dollars(f.cost_usd)} · {formatting.tokens(f.total_tokens)} tokens"


def render_text(s: CostSummary, by: str) -> str:
    span = f"{s.since.isoformat() if s.since else 'all time'} – {s.until.isoformat()}"
    out = [f"Codex cost, {span} ({s.timezone})", ""]
    if s.range.total_tokens == 0 and not s.has_sessions:
        out.append("No Codex sessions in this range.")
        return "\n".join(out) + "\n"
    out.append(f"  {'Today':<13}{_line(s.today)}")
    out.append(f"  {'Last 7 days':<13}{_line(s.last_7_days)}")
    out.append(f"  {'Range':<13}{_line(s.range)}")
    out.append("")
    groups: list[tuple[str, Figures]]
    if by == "day":
        groups = [(d.date, d.figures) for d in s.days]
    elif by == "model":
        groups = sorted(s.models.items(), key=lambda kv: -kv[1].total_tokens)
    elif by == "project":
        groups = sorted(s.projects.items(), key=lambda kv: -kv[1].total_tokens)
    else:
        groups = sorted(s.efforts.items(), key=lambda kv: -kv[1].total_tokens)
    name_width = max([len(by.capitalize()), *(len(name) for name, _ in groups)]) + 2
    columns = ("Input", "Cached", "Output", "Reasoning", "Total", "Cost")
    out.append(by.capitalize().ljust(name_width) + "".join(c.rjust(11) for c in columns))
    for name, f in [*groups, ("Total", s.range)]:
        cells = (
            formatting.tokens(f.input_tokens),
            formatting.tokens(f.cached_input_tokens),
            formatting.tokens(f.output_tokens),
            formatting.tokens(f.reasoning_output_tokens),
            formatting.tokens(f.total_tokens),
            formatting.dollars(f.cost_usd),
        )
        out.append(name.ljust(name_width) + "".join(c.rjust(11) for c in cells))
    out.append("")
    if s.unpriced_models:
        out.append(
            "Unpriced models (tokens counted, cost shown as —): " + ", ".join(s.unpriced_models)
        )
    out.append(
        f"{NOTE} Input includes cached input; output includes reasoning; total = input + output."
    )
    return "\n".join(out) + "\n"


@click.command()
@click.option(
    "--days",
    type=click.IntRange(DAYS.minimum, DAYS.maximum),
    default=None,
    help=f"Last N days, {DAYS.minimum} to {DAYS.maximum} like the cost_days setting "
    f"(default: that setting, {DAYS.default}).",
)
@click.option("--since", "since_text", metavar="DATE", help="First day (YYYY-MM-DD).")
@click.option("--until", "until_text", metavar="DATE", help="Last day (default today).")
@click.option("--all", "all_time", is_flag=True, help="Every session on disk.")
@click.option(
    "--by", type=click.Choice(GROUPS), default="day", show_default=True, help="Table rows."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--pretty", is_flag=True, help="Indent the JSON (implies --json).")
@click.option("--refresh", is_flag=True, help="Ignore the cache and read every file again.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Time zone for days (default: the system's).")
@home_option
def cost(
    days: int | None,
    since_text: str | None,
    until_text: str | None,
    all_time: bool,
    by: str,
    as_json: bool,
    pretty: bool,
    refresh: bool,
    tz_name: str | None,
    homes: tuple[str, ...],
) -> int:
    """Tokens and estimated API cost of your local Codex sessions."""
    since, until = _date(since_text, "--since"), _date(until_text, "--until")
    if sum(bool(x) for x in (days, since, all_time)) > 1:
        raise click.UsageError("use only one of --days, --since and --all")
    if until and not since and not days and not all_time:
        raise click.UsageError("--until needs --since (or --days)")
    if since and until and until < since:
        raise click.UsageError("--until is before --since")
    tz = _zone(tz_name)
    settings = load_settings()
    for problem in settings.problems:
        warn(problem)
    json_mode = as_json or pretty
    progress = _Progress() if not json_mode and sys.stderr.isatty() else None
    with ExitStack() as cleanup:
        store = _open_cost_store(cleanup)
        try:
            summary = cost_summary(
                codex_homes(settings, homes),
                days=days or settings.get("cost_days"),
                store=store,
                tz=tz,
                since=since,
                until=until,
                all_time=all_time,
                refresh_cache=refresh,
                progress=progress,
            )
        finally:
            if progress is not None:
                progress.finish()
    for message in summary.warnings:
        warn(message)
    if json_mode:
        body = summary_json(summary)
        click.echo(
            json.dumps(body, indent=2) if pretty else json.dumps(body, separators=(",", ":"))
        )
    else:
        click.echo(render_text(summary, by), nl=False)
    return EXIT_OK


def _open_cost_store(cleanup: ExitStack) -> Store:
    """The user's store; when it cannot be opened, one in memory, so the scan still works (only
    slower next time)."""
    try:
        store = Store()
    except Exception as error:
        from codexbar.cost.cache import describe_error
        from codexbar.store import StoreTooNew

        why = str(error) if isinstance(error, StoreTooNew) else describe_error(None, error)
        warn(
            f"the cost cache could not be opened ({why}); the figures are complete but not "
            "cached, so the next run reads every file again"
        )
        store = Store.in_memory()
    cleanup.callback(store.close)
    return store


@click.group()
def pricing() -> None:
    """Model prices used for cost estimates."""


@pricing.command("update")
@click.option("--url", default=None, help="Where to fetch LiteLLM's price table from.")
def pricing_update(url: str | None) -> None:
    """Fetch LiteLLM's price table and keep its OpenAI entries (used for models the bundled
    table lacks)."""
    import httpx

    from codexbar.cost.pricing import LITELLM_URL, litellm_cache_path, litellm_openai_entries
    from codexbar.settings import atomic_write_text

    url = url or LITELLM_URL
    try:
        response = httpx.get(url, timeout=30, follow_redirects=True)
        response.raise_for_status()
        entries = litellm_openai_entries(response.json())
    except (httpx.HTTPError, ValueError) as error:
        raise click.ClickException(
            f"could not update prices from {url} ({_fetch_problem(error)}); the prices "
            "bundled with codexbar (and any saved copy) stay in use"
        ) from None
    path = litellm_cache_path()
    atomic_write_text(
        path, json.dumps({"source": url, "models": entries}, indent=1, sort_keys=True)
    )
    click.echo(f"Saved {len(entries)} OpenAI model prices to {path}.")


def _fetch_problem(error: Exception) -> str:
    """Why a price download failed, in words."""
    import httpx

    from codexbar.cost.pricing import PricingError

    if isinstance(error, httpx.TimeoutException):
        return "the server did not answer in time"
    if isinstance(error, httpx.HTTPStatusError):
        return f"the server answered {error.response.status_code}"
    if isinstance(error, httpx.TransportError):
        return "no network connection to it"
    if isinstance(error, PricingError):
        return str(error)
    if isinstance(error, ValueError):
        return "the answer is not a price table"
    return "the download failed"
