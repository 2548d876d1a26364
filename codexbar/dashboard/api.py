"""The dashboard's JSON API: one function per endpoint, each a view over the engine, the store,
the cost summary and the recent-events index. Nothing here fetches, parses or totals on its own.

Every handler takes the query parameters (a dict of single strings) and returns a JSON-able
object, or raises `ApiError` with a message in words and an HTTP status.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from codexbar import history
from codexbar.accounts import home_email
from codexbar.at_once import each_at_once
from codexbar.codec import iso
from codexbar.cost import CostSummary, Figures, cost_summary
from codexbar.cost.pricing import PriceTable, PricingError, overrides_path
from codexbar.cost.summary import local_now
from codexbar.dashboard.recent import (
    Event,
    RecentIndex,
    last_context_window,
    newest_events,
    project_name,
    session_name,
)
from codexbar.engine import UsageReport
from codexbar.store import Store

RANGES = ("today", "last7days", "last30days", "alltime")
# Answers built from one cost scan are reused this long (the page asks for several views of it).
SUMMARY_TTL_SECONDS = 5.0
LIMITS_TTL_SECONDS = 60.0
# /metrics reuses a reading this long (the tray's default refresh interval), so a scraper asking
# every 15 s does not fetch from chatgpt.com every minute; codexbar_reading_age_seconds says how
# old the figures are.
METRICS_LIMITS_TTL_SECONDS = 300.0
MAX_EVENTS = 1000
# Hour charts of short ranges show every hour, quiet ones too; longer ones only the busy hours.
HOURS_FILLED_UP_TO_DAYS = 7
ACTIVE_SESSION_FOLDER_DAYS = 7


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Range:
    key: str
    since: date | None
    until: date

    @property
    def lo(self) -> str | None:
        return self.since.isoformat() if self.since else None

    @property
    def hi(self) -> str:
        return self.until.isoformat()


def parse_range(text: str | None, today: date) -> Range:
    """`today`, `last7days`, `last30days`, `alltime` or `YYYY-MM-DD..YYYY-MM-DD`."""
    text = (text or "last30days").strip()
    spans = {"today": 1, "last7days": 7, "last30days": 30}
    if text in spans:
        return Range(text, today - timedelta(days=spans[text] - 1), today)
    if text == "alltime":
        return Range(text, None, today)
    first, sep, last = text.partition("..")
    try:
        if not sep:
            raise ValueError
        since, until = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise ApiError(
            400, f"range must be one of {', '.join(RANGES)} or YYYY-MM-DD..YYYY-MM-DD"
        ) from None
    if until < since:
        raise ApiError(400, "the range ends before it starts")
    return Range(text, since, until)


def _int_param(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}")
    return value


def _choice(query: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = query.get(name) or choices[0]
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}")
    return value


def figures_row(name: str, figures: Figures) -> dict[str, Any]:
    return {"name": name, **figures.to_json(), "responses": figures.responses}


# (Codex home, the store's path) -> the reading and its usage --json body. It gets a path, not
# the shared connection: a reading may take seconds, and must not hold up the other endpoints.
FetchUsage = Callable[[Path, Path], tuple[UsageReport, dict[str, Any]]]


class Dashboard:
    """The state behind the API: the Codex homes, the store, and short-lived memos."""

    def __init__(
        self,
        homes: list[Path],
        store: Store,
        *,
        fetch_usage: FetchUsage,
        tz: tzinfo | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.homes = [Path(os.path.abspath(h)) for h in homes]
        self.store = store
        self.tz = tz
        self.now = now
        self.fetch_usage = fetch_usage
        self.recent = RecentIndex(homes, tz)
        self._store_lock = threading.Lock()  # one apsw connection, used by one thread at a time
        self._memo: dict[tuple, tuple[float, Any]] = {}
        self._memo_lock = threading.Lock()

    # -- helpers -----------------------------------------------------------------------------

    def today(self) -> date:
        return local_now(self.tz, self.now()).date()

    def selected_homes(self, query: dict[str, str]) -> list[Path]:
        choice = query.get("home") or "all"
        if choice == "all":
            return self.homes
        try:
            return [self.homes[int(choice)]]
        except (ValueError, IndexError):
            raise ApiError(400, f"home must be all or 0..{len(self.homes) - 1}") from None

    def _memoised(self, key: tuple, ttl: float, build: Callable[[], Any]) -> Any:
        with self._memo_lock:
            hit = self._memo.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = build()
        with self._memo_lock:
            self._memo[key] = (time.monotonic(), value)
        return value

    def forget_costs(self) -> None:
        with self._memo_lock:
            self._memo = {k: v for k, v in self._memo.items() if k[0] != "summary"}

    def summary_for(self, query: dict[str, str]) -> tuple[Range, CostSummary]:
        span = parse_range(query.get("range"), self.today())
        homes = self.selected_homes(query)

        def build() -> CostSummary:
            with self._store_lock:
                return cost_summary(
                    homes,
                    store=self.store,
                    tz=self.tz,
                    now=self.now(),
                    since=span.since,
                    until=span.until,
                    all_time=span.since is None,
                )

        key = ("summary", span.key, span.until, tuple(homes))
        return span, self._memoised(key, SUMMARY_TTL_SECONDS, build)

    def _recent_files(self, query: dict[str, str], span: Range):
        homes = set(map(str, self.selected_homes(query)))
        files = self.recent.refresh(span.since, span.until)
        return [f for f in files if any(f.found.path.startswith(h + "/") for h in homes)]

    # -- endpoints ---------------------------------------------------------------------------

    def api_summary(self, query: dict[str, str]) -> dict[str, Any]:
        from codexbar.cli.cost import summary_json

        _, summary = self.summary_for(query)
        return {**summary_json(summary), "warnings": summary.warnings}

    def api_timeseries(self, query: dict[str, str]) -> dict[str, Any]:
        bucket = _choice(query, "bucket", ("day", "hour"))
        metric = _choice(query, "metric", ("tokens", "cost"))
        if bucket == "day":
            span, summary = self.summary_for(query)
            by_day = {day.date: day for day in summary.days}
            first = span.since or (
                date.fromisoformat(summary.days[0].date) if summary.days else span.until
            )
            points = []
            for day in _days(first, span.until):  # quiet days too, so the axis is the range
                known = by_day.get(day)
                points.append(
                    {
                        "start": day,
                        "total": _metric(known.figures if known else Figures(), metric),
                        "models": {m: _metric(f, metric) for m, f in sorted(known.models.items())}
                        if known
                        else {},
                    }
                )
        else:
            span = parse_range(query.get("range"), self.today())
            points = self._hour_points(self._recent_files(query, span), span, metric)
        models = sorted({m for p in points for m in p["models"]})
        return {
            "range": span.key,
            "bucket": bucket,
            "metric": metric,
            "models": models,
            "points": points,
        }

    def _hour_points(self, files, span: Range, metric: str) -> list[dict[str, Any]]:
        prices = PriceTable.load()
        hours: dict[str, dict[str, Figures]] = {}
        labels: dict[int, str] = {}
        rates: dict[tuple[str, str, bool], Any] = {}
        for index in files:
            for (day, hour, model, utc_day, long), values in index.hours.items():
                if (span.lo is not None and day < span.lo) or day > span.hi:
                    continue
                label = labels.get(hour)
                if label is None:
                    start = datetime.fromtimestamp(hour * 3600, UTC)
                    local = start.astimezone(self.tz) if self.tz else start.astimezone()
                    label = labels[hour] = local.strftime("%Y-%m-%dT%H:00")
                key = (model, utc_day, long)
                if key not in rates:
                    price = prices.lookup(model)
                    rates[key] = price.rates(utc_day, long) if price else None
                rate = rates[key]
                cost = rate.cost(*values[:4]) if rate is not None else None
                hours.setdefault(label, {}).setdefault(model, Figures()).add(values, cost)
        if span.since is not None and (span.until - span.since).days < HOURS_FILLED_UP_TO_DAYS:
            for day in _days(span.since, span.until):
                for hour in range(24):
                    hours.setdefault(f"{day}T{hour:02d}:00", {})
        points = []
        for label in sorted(hours):
            models = hours[label]
            total = Figures()
            for figures in models.values():
                total.add(_figure_values(figures), figures.cost_usd)
            points.append(
                {
                    "start": label,
                    "total": _metric(total, metric),
                    "models": {m: _metric(f, metric) for m, f in sorted(models.items())},
                }
            )
        return points

    def api_breakdown(self, query: dict[str, str]) -> dict[str, Any]:
        by = _choice(query, "by", ("model", "effort", "project"))
        span, summary = self.summary_for(query)
        groups = {"model": summary.models, "effort": summary.efforts, "project": summary.projects}
        rows = sorted(groups[by].items(), key=lambda kv: (-kv[1].total_tokens, kv[0]))
        return {
            "range": span.key,
            "by": by,
            "rows": [figures_row(name, figures) for name, figures in rows],
            "totals": figures_row("Total", summary.range),
        }

    def api_events(self, query: dict[str, str]) -> dict[str, Any]:
        span = parse_range(query.get("range"), self.today())
        limit = _int_param(query, "limit", 50, 1, MAX_EVENTS)
        homes = set(map(str, self.selected_homes(query)))
        prices = PriceTable.load()
        found = self.recent.refresh_newest(span.since, span.until, homes, limit)
        events = newest_events(found, span.lo, span.hi, limit)
        return {
            "range": span.key,
            "events": [_event_json(index, event, prices) for index, event in events],
        }

    def api_limits(self, query: dict[str, str], ttl: float = LIMITS_TTL_SECONDS) -> dict[str, Any]:
        """Each selected home's account, read at once (one that hangs costs its own deadline,
        not the others' too)."""
        homes = self.selected_homes(query)

        def account(home: Path) -> dict[str, Any]:
            def build() -> dict[str, Any]:
                _, body = self.fetch_usage(home, self.store.path)
                return body

            body = self._memoised(("limits", str(home)), ttl, build)
            return {"home": str(home), "home_index": self.homes.index(home), **body}

        bodies = dict(each_at_once(account, homes, name="codexbar-limits"))
        return {"accounts": [bodies[home] for home in homes]}

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        """`GET /metrics`: every home's limits and the all-time cost totals (codexbar.metrics)."""
        from codexbar.metrics import metrics_text

        accounts = self.api_limits({}, ttl=METRICS_LIMITS_TTL_SECONDS)["accounts"]
        _, summary = self.summary_for({"range": "alltime"})
        return metrics_text(accounts, summary, self.now(), accept)

    def api_limits_history(self, query: dict[str, str]) -> dict[str, Any]:
        window = query.get("window") or "session"
        days = _int_param(query, "days", 7, 1, 730)
        now = self.now()
        since = now - timedelta(days=days)
        with self._store_lock:
            rows = history.rows(self.store.db, window=window, since=since)
        by_account: dict[str, list[history.HistoryRow]] = {}
        for row in rows:
            by_account.setdefault(row.account, []).append(row)
        accounts = []
        for account, items in sorted(by_account.items()):
            instances: dict[datetime, int | None] = {}
            for row in items:
                if row.resets_at is not None:
                    instances[row.resets_at] = row.window_minutes
            accounts.append(
                {
                    "account": account,
                    "readings": [
                        {
                            "at": iso(r.at),
                            "last_seen": iso(r.last_seen),
                            "used_percent": r.used_percent,
                            "resets_at": iso(r.resets_at),
                        }
                        for r in items
                    ],
                    # A window instance's even pace: 0% at its start, 100% at its reset.
                    "instances": [
                        {
                            "starts_at": iso(reset - timedelta(minutes=minutes))
                            if minutes
                            else None,
                            "resets_at": iso(reset),
                            "window_minutes": minutes,
                        }
                        for reset, minutes in sorted(instances.items())
                    ],
                    "past": [
                        {"resets_at": iso(p.resets_at), "used_percent": p.used_percent}
                        for p in history.past_windows(items, now)
                    ],
                }
            )
        return {
            "window": window,
            "days": days,
            "since": iso(since),
            "now": iso(now),
            "accounts": accounts,
        }

    def api_sessions_active(self, query: dict[str, str]) -> dict[str, Any]:
        minutes = _int_param(query, "minutes", 30, 1, 1440)
        now = self.now()
        since = now - timedelta(minutes=minutes)
        today = self.today()
        homes = set(map(str, self.selected_homes(query)))
        # Session folders are named by the day a session started: a long one still answering
        # today may live in an older folder. Only files written since `since` are parsed.
        first = today - timedelta(days=ACTIVE_SESSION_FOLDER_DAYS)
        files = self.recent.recently_written(since.timestamp(), (first, today))
        sessions = []
        for index in files:
            last = index.last_event
            if last is None or last.ms < since.timestamp() * 1000:
                continue
            if not any(index.found.path.startswith(h + "/") for h in homes):
                continue
            window = last_context_window(index.found.path)
            sessions.append(
                {
                    "session": session_name(index),
                    "cwd": project_name(index),
                    "model": last.model,
                    "effort": last.effort or None,
                    "last_event_at": iso(datetime.fromtimestamp(last.ms / 1000, UTC)),
                    "context_window": window,
                    "context_tokens": last.input_tokens,
                    "context_used_percent": round(last.input_tokens / window * 100, 1)
                    if window
                    else None,
                }
            )
        sessions.sort(key=lambda s: s["last_event_at"], reverse=True)
        return {"minutes": minutes, "sessions": sessions}

    def api_homes(self, query: dict[str, str]) -> dict[str, Any]:
        """Each Codex home, with the email of its account (from its last reading or its login;
        None when neither tells) so the picker can name the account."""
        with self._store_lock:
            emails = [home_email(h, self.store, os.environ) for h in self.homes]
        return {
            "homes": [
                {
                    "index": i,
                    "path": str(h),
                    "email": emails[i],
                    "exists": h.is_dir(),
                    "has_sessions": (h / "sessions").is_dir() or (h / "archived_sessions").is_dir(),
                }
                for i, h in enumerate(self.homes)
            ]
        }

    def api_pricing(self, query: dict[str, str]) -> dict[str, Any]:
        path = overrides_path()
        overrides: dict[str, Any] = {}
        problems: list[str] = []
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                overrides = data.get("models", data) if isinstance(data, dict) else {}
            except (OSError, ValueError) as error:
                problems.append(f"{path} could not be read: {error}")
        prices = PriceTable.load()
        problems += prices.problems
        _, summary = self.summary_for({"range": "alltime", "home": query.get("home", "all")})
        names = sorted(set(summary.models) | set(overrides))
        models = []
        for name in names:
            price = prices.lookup(name)
            rates = price.normal if price else None
            models.append(
                {
                    "model": name,
                    "override": name in overrides,
                    "seen": name in summary.models,
                    "input": _rate(rates, "input"),
                    "cached_input": _rate(rates, "cached_input"),
                    "output": _rate(rates, "output"),
                }
            )
        return {
            "path": str(path),
            "overrides": overrides,
            "models": models,
            "problems": problems,
            "unit": "USD per 1M tokens",
        }

    def api_pricing_put(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, 'the body must be JSON like {"models": {...}}') from None
        entries = data.get("models") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise ApiError(400, 'the body must be JSON like {"models": {"<model>": {...}}}')
        cleaned = {str(k).strip().lower(): v for k, v in entries.items() if str(k).strip()}
        text = json.dumps({"models": cleaned}, indent=1, sort_keys=True)
        _check_prices(text)
        from codexbar.settings import atomic_write_text

        atomic_write_text(overrides_path(), text + "\n")
        self.forget_costs()
        return self.api_pricing({})


def _check_prices(text: str) -> None:
    """Load the would-be overrides on their own, so a bad entry is refused before it is saved."""
    with tempfile.TemporaryDirectory() as folder:
        candidate = Path(folder) / "pricing.json"
        candidate.write_text(text, encoding="utf-8")
        try:
            table = PriceTable.load(overrides=candidate, litellm=Path(folder) / "none.json")
        except PricingError as error:
            raise ApiError(400, str(error).replace(str(candidate), "pricing")) from None
        if table.problems:
            raise ApiError(400, table.problems[0].replace(f"in {candidate} ", ""))


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _rate(rates: Any, name: str) -> float | None:
    return None if rates is None else float(getattr(rates, name))


def _metric(figures: Figures, metric: str) -> float | int | None:
    if metric == "tokens":
        return figures.total_tokens
    cost = figures.cost_usd
    return None if cost is None else float(round(cost, 6))


def _figure_values(f: Figures) -> list[int]:
    return [
        f.input_tokens,
        f.cached_input_tokens,
        f.cache_write_input_tokens,
        f.output_tokens,
        f.reasoning_output_tokens,
        f.responses,
    ]


def event_cost(prices: PriceTable, event: Event):
    """The event's cost at the rates of its UTC day and request size; None when unpriced."""
    price = prices.lookup(event.model)
    if price is None:
        return None
    return price.rates(event.utc_day, event.long_context).cost(
        event.input_tokens,
        event.cached_input_tokens,
        event.cache_write_input_tokens,
        event.output_tokens,
    )


def _event_json(index, event: Event, prices: PriceTable) -> dict[str, Any]:
    cost = event_cost(prices, event)
    return {
        "at": iso(datetime.fromtimestamp(event.ms / 1000, UTC)),
        "session": session_name(index),
        "project": project_name(index),
        "model": event.model,
        "effort": event.effort or None,
        "input_tokens": event.input_tokens,
        "cached_input_tokens": event.cached_input_tokens,
        "output_tokens": event.output_tokens,
        "reasoning_output_tokens": event.reasoning_output_tokens,
        "total_tokens": event.total_tokens,
        "cost_usd": None if cost is None else float(round(cost, 6)),
    }
