"""Totals for a date range, priced per request: what `codexbar cost` and the tray show."""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path

import orjson

from codexbar.cost.cache import CacheError, CostCache
from codexbar.cost.index import Indexed, Progress, ScanStats, refresh
from codexbar.cost.pricing import PriceTable
from codexbar.store import Store


@dataclass
class Figures:
    """Token sums: input includes cached and cache-write input; output includes reasoning."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    responses: int = 0
    priced_cost: Decimal = Decimal(0)
    priced_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> Decimal | None:
        """None when there are tokens and none of them has a price."""
        if self.total_tokens and not self.priced_tokens:
            return None
        return self.priced_cost

    def add(self, values: Sequence[int], cost: Decimal | None) -> None:
        inp, cached, write, out, reasoning, responses = values
        self.input_tokens += inp
        self.cached_input_tokens += cached
        self.cache_write_input_tokens += write
        self.output_tokens += out
        self.reasoning_output_tokens += reasoning
        self.responses += responses
        if cost is not None:
            self.priced_cost += cost
            self.priced_tokens += inp + out

    def to_row(self) -> list:
        return [*self.as_values(), str(self.priced_cost), self.priced_tokens]

    def as_values(self) -> list[int]:
        return [
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_input_tokens,
            self.output_tokens,
            self.reasoning_output_tokens,
            self.responses,
        ]

    @classmethod
    def from_row(cls, row: list) -> Figures:
        *values, cost, priced = row
        return cls(*values, Decimal(cost), priced)

    def to_json(self) -> dict[str, object]:
        cost = self.cost_usd
        return {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_input_tokens": self.cache_write_input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_output_tokens": self.reasoning_output_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": None if cost is None else float(round(cost, 6)),
        }


@dataclass
class DayFigures:
    date: str
    figures: Figures = field(default_factory=Figures)
    models: dict[str, Figures] = field(default_factory=dict)


@dataclass
class CostSummary:
    since: date | None
    until: date
    timezone: str
    range: Figures = field(default_factory=Figures)
    today: Figures = field(default_factory=Figures)
    last_7_days: Figures = field(default_factory=Figures)
    days: list[DayFigures] = field(default_factory=list)
    models: dict[str, Figures] = field(default_factory=dict)
    projects: dict[str, Figures] = field(default_factory=dict)
    efforts: dict[str, Figures] = field(default_factory=dict)
    unpriced_models: list[str] = field(default_factory=list)
    scan: ScanStats = field(default_factory=ScanStats)
    warnings: list[str] = field(default_factory=list)
    # The files whose sums these are (one per session): what CostCache.grouped() takes.
    counted_paths: list[str] = field(default_factory=list)

    @property
    def totals(self) -> Figures:
        return self.range

    @property
    def has_sessions(self) -> bool:
        return self.scan.files > 0


def tz_key(tz: tzinfo | None) -> str:
    """A stable name for the zone the days are cut in (part of the cache key)."""
    if tz is not None:
        return getattr(tz, "key", None) or str(tz)
    env = os.environ.get("TZ", "").strip()
    if env:
        return "system:" + env
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return "system:" + target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "system:" + "/".join(time.tzname) + f"/{time.timezone}"


def local_now(tz: tzinfo | None, now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(tz) if tz is not None else now.astimezone()


def _pick_files(indexed: Indexed) -> set[str]:
    """One file per session id: the same session in sessions/ and archived_sessions/ counts once
    (the longer copy wins; on a tie, the live one)."""
    best: dict[str, tuple[int, int, str]] = {}
    for path, (found, cached) in indexed.files.items():
        key = cached.session_id or path
        rank = (found.size, 0 if found.archived else 1, path)
        if key not in best or rank > best[key]:
            best[key] = rank
    return {rank[2] for rank in best.values()}


def cost_summary(
    homes: Sequence[Path],
    *,
    days: int = 30,
    store: Store | None = None,
    tz: tzinfo | None = None,
    now: datetime | None = None,
    since: date | None = None,
    until: date | None = None,
    all_time: bool = False,
    refresh_cache: bool = False,
    progress: Progress | None = None,
    prices: PriceTable | None = None,
) -> CostSummary:
    """Token and cost totals of the local Codex sessions in `homes`.

    The range is the last `days` local days including today, or `since`..`until` (inclusive), or
    everything with `all_time`. Days are cut in `tz` (default: the system's zone)."""
    today = local_now(tz, now).date()
    if all_time:
        since, until = None, until or today
    elif since is not None:
        until = until or today
    else:
        until = until or today
        since = until - timedelta(days=max(1, days) - 1)
    own_store = store is None
    store = store or Store()
    try:
        cache = CostCache(store, tz_key(tz))
        summary = CostSummary(since=since, until=until, timezone=tz_key(tz).removeprefix("system:"))
        prices = prices or PriceTable.load()
        force = refresh_cache
        paths = [Path(h) for h in homes]
        for attempt in range(3):
            if attempt == 2:
                cache.usable = False  # rebuilt and still unreadable: scan without it
            try:
                indexed = refresh(cache, paths, since, until, tz, force=force, progress=progress)
                _aggregate(summary, cache, indexed, prices, today)
                break
            except CacheError as error:
                # Unreadable sums (text where a number belongs, say): start the cache again
                # and read every file of the range.
                cache.rebuild(str(error))
                summary = CostSummary(since=since, until=until, timezone=summary.timezone)
                force = True
        summary.scan = indexed.stats
        summary.warnings = [*store.warnings, *indexed.problems, *prices.problems, *cache.warnings]
        return summary
    finally:
        if own_store:
            store.close()


def _figures_key(
    cache: CostCache, indexed: Indexed, summary: CostSummary, prices: PriceTable, today: date
) -> str | None:
    """What the priced figures depend on: the cached sums (their generation), the files
    counted, the range, today and the prices. None: not cacheable.

    A run that saved sums (the files it read) keys its figures by the generation its own save
    wrote, not the one current now: if another process wrote after it, the current generation
    is another and these figures are never used. A run that saved nothing reads the generation
    before the sums, so the sums are at least as new as their key."""
    if indexed.fresh or cache.written is not None:
        generation = cache.written if cache.saved else None
    else:
        generation = cache.generation()
    if generation is None:
        return None
    paths = zlib.crc32("\n".join(summary.counted_paths).encode())
    return (
        f"{generation} {cache.tz} {summary.since} {summary.until} {today} "
        f"{prices.version()} {paths:08x} {len(summary.counted_paths)}"
    )


def _dump_figures(summary: CostSummary) -> bytes:
    def table(figures: dict[str, Figures]) -> dict[str, list]:
        return {name: f.to_row() for name, f in figures.items()}

    return orjson.dumps(
        {
            "range": summary.range.to_row(),
            "today": summary.today.to_row(),
            "week": summary.last_7_days.to_row(),
            "days": [[d.date, d.figures.to_row(), table(d.models)] for d in summary.days],
            "models": table(summary.models),
            "projects": table(summary.projects),
            "efforts": table(summary.efforts),
            "unpriced": summary.unpriced_models,
        }
    )


def _load_figures(summary: CostSummary, body: bytes) -> bool:
    """Fill `summary` from `_dump_figures`'s output; False if it cannot be read."""
    try:
        data = orjson.loads(body)

        def table(rows: dict[str, list]) -> dict[str, Figures]:
            return {name: Figures.from_row(row) for name, row in rows.items()}

        summary.range = Figures.from_row(data["range"])
        summary.today = Figures.from_row(data["today"])
        summary.last_7_days = Figures.from_row(data["week"])
        summary.days = [
            DayFigures(day, Figures.from_row(row), table(models))
            for day, row, models in data["days"]
        ]
        summary.models = table(data["models"])
        summary.projects = table(data["projects"])
        summary.efforts = table(data["efforts"])
        summary.unpriced_models = list(data["unpriced"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError):
        return False
    return True


def _aggregate(
    summary: CostSummary, cache: CostCache, indexed: Indexed, prices: PriceTable, today: date
) -> None:
    chosen = _pick_files(indexed)
    summary.counted_paths = sorted(chosen)
    # Nothing changed since a run of the same range priced these sums: its figures are these.
    key = _figures_key(cache, indexed, summary, prices, today)
    saved = cache.figures(key) if key is not None else None
    if saved is not None and _load_figures(summary, saved):
        return
    _price(summary, cache, indexed, prices, today, chosen)
    if key is not None:
        cache.save_figures(key, _dump_figures(summary))


def _price(
    summary: CostSummary,
    cache: CostCache,
    indexed: Indexed,
    prices: PriceTable,
    today: date,
    chosen: set[str],
) -> None:
    lo = summary.since.isoformat() if summary.since else None
    hi = summary.until.isoformat()
    # Files read this time: from memory (so a failed save changes nothing); the others: their
    # cached sums, grouped by SQLite.
    groups: dict[tuple, list[int]] = {}
    for path in chosen:
        state = indexed.fresh.get(path)
        if state is None:
            continue
        project = state.project or ""
        for (day, _hour, utc_day, model, effort, long), values in state.buckets.items():
            if (lo is not None and day < lo) or day > hi:
                continue
            key = (day, utc_day, model, effort, long, project)
            cell = groups.get(key)
            if cell is None:
                groups[key] = list(values)
            else:
                for i in range(6):
                    cell[i] += values[i]
    cached_paths = [p for p in chosen if p not in indexed.fresh]
    rows = [*cache.grouped(cached_paths, lo, hi), *((*k, *v) for k, v in groups.items())]
    week_from = (today - timedelta(days=6)).isoformat()
    today_text = today.isoformat()
    by_day: dict[str, DayFigures] = {}
    price_cache: dict[tuple[str, str, int], object] = {}
    unpriced: set[str] = set()
    for day, utc_day, model, effort, long, project, *values in rows:
        key = (model, utc_day, long)
        rates = price_cache.get(key)
        if rates is None:
            price = prices.lookup(model)
            rates = price.rates(utc_day, bool(long)) if price else False
            price_cache[key] = rates
        if rates:
            cost = rates.cost(values[0], values[1], values[2], values[3])
        else:
            cost = None
            unpriced.add(model)
        summary.range.add(values, cost)
        if day == today_text:
            summary.today.add(values, cost)
        if week_from <= day <= today_text:
            summary.last_7_days.add(values, cost)
        entry = by_day.get(day)
        if entry is None:
            entry = by_day[day] = DayFigures(day)
        entry.figures.add(values, cost)
        entry.models.setdefault(model, Figures()).add(values, cost)
        summary.models.setdefault(model, Figures()).add(values, cost)
        summary.projects.setdefault(project or "unknown", Figures()).add(values, cost)
        summary.efforts.setdefault(effort or "default", Figures()).add(values, cost)
    summary.days = [by_day[d] for d in sorted(by_day)]
    summary.unpriced_models = sorted(unpriced)
