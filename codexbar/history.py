"""The compact history of every window, per account: one row per change, not per refresh.

A reading that repeats the last row of its window (same percent, same reset) only moves that
row's `last_seen`. Rows are kept in full for 14 days, then thinned to the last row of each hour,
after 90 days to the last row of each day, and dropped after two years. Thinning keeps the last
row of every window instance (rows sharing a reset time), so "how much was used when it reset"
survives for every past window. A year of 5-minute refreshes stays far below 20 MB (see
tests/test_history.py::test_a_year_of_five_minute_refreshes_stays_small).

The table lives in codexbar's store (`_migration_history` in codexbar/store.py); these functions
take its connection so the write shares the snapshot's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import apsw

from codexbar.models import UsageSnapshot
from codexbar.pace import Pace, UsagePoint, window_pace

FULL_DETAIL_DAYS = 14
HOURLY_DAYS = 90
KEEP_DAYS = 730
# Reset times computed from "seconds until reset" wobble by a few seconds between readings; a
# shift smaller than this is the same window instance.
SAME_RESET_SECONDS = 120
COMPACT_EVERY_SECONDS = 86400  # thinning a day late costs nothing

SCHEMA = """
CREATE TABLE usage_history (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    window TEXT NOT NULL,
    window_minutes INTEGER,
    at REAL NOT NULL,
    last_seen REAL NOT NULL,
    used_percent REAL NOT NULL,
    resets_at REAL
);
CREATE INDEX usage_history_window_at ON usage_history(account, window, at);
CREATE TABLE usage_history_meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""


@dataclass(frozen=True)
class HistoryRow:
    account: str
    window: str
    window_minutes: int | None
    at: datetime
    last_seen: datetime
    used_percent: float
    resets_at: datetime | None

    @property
    def reading(self) -> UsagePoint:
        return UsagePoint(self.at, self.used_percent)


@dataclass(frozen=True)
class PastWindow:
    """A window instance that has reset, and how much of it was used by then."""

    window: str
    resets_at: datetime
    used_percent: float  # the last reading before the reset


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def record(db: apsw.Connection, snapshot: UsageSnapshot) -> None:
    """Add the snapshot's windows (and its monthly credit pool) to the history. Call it inside
    the transaction that saves the snapshot."""
    account = snapshot.identity.account_key
    at = snapshot.observed_at.timestamp()
    entries = [
        (w.id, w.window_minutes, w.used_percent, w.resets_at)
        for w in snapshot.windows
        if not w.reset_passed
    ]
    pool = snapshot.credit_pool
    if pool is not None and not pool.reset_passed:
        entries.append((pool.id, None, pool.used_percent, pool.resets_at))
    for window, minutes, used, resets_at in entries:
        _record_one(db, account, window, minutes, at, used, _epoch(resets_at))
    # Relative to the newest reading, so a history replayed from old readings thins the same way.
    _compact_now_and_then(db, at)


def _record_one(
    db: apsw.Connection,
    account: str,
    window: str,
    minutes: int | None,
    at: float,
    used: float,
    resets_at: float | None,
) -> None:
    last = db.execute(
        "SELECT id, at, used_percent, resets_at FROM usage_history "
        "WHERE account = ? AND window = ? ORDER BY at DESC, id DESC LIMIT 1",
        (account, window),
    ).fetchone()
    if last is not None:
        row_id, last_at, last_used, last_reset = last
        if at < last_at:
            return  # an older reading arriving late (a slow source): the history has moved on
        same_reset = (last_reset is None and resets_at is None) or (
            last_reset is not None
            and resets_at is not None
            and abs(last_reset - resets_at) < SAME_RESET_SECONDS
        )
        if same_reset and last_used == used:
            db.execute("UPDATE usage_history SET last_seen = ? WHERE id = ?", (at, row_id))
            return
        if same_reset:
            resets_at = last_reset  # one instance keeps one reset time, so rows group by it
    db.execute(
        "INSERT INTO usage_history(account, window, window_minutes, at, last_seen, used_percent, "
        "resets_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (account, window, minutes, at, at, used, resets_at),
    )


def _compact_now_and_then(db: apsw.Connection, now: float) -> None:
    row = db.execute("SELECT value FROM usage_history_meta WHERE key = 'compacted_at'").fetchone()
    if row is not None and now - row[0] < COMPACT_EVERY_SECONDS:
        return
    compact(db, now)


def compact(db: apsw.Connection, now: float) -> None:
    """Thin old rows to one per hour, then one per day, per window instance; drop the oldest."""
    db.execute("DELETE FROM usage_history WHERE at < ?", (now - KEEP_DAYS * 86400,))
    for older_than_days, bucket_seconds in ((FULL_DETAIL_DAYS, 3600), (HOURLY_DAYS, 86400)):
        db.execute(
            "DELETE FROM usage_history WHERE at < :cutoff AND id NOT IN ("
            " SELECT max(id) FROM usage_history WHERE at < :cutoff"
            " GROUP BY account, window, resets_at, CAST(at / :bucket AS INTEGER))",
            {"cutoff": now - older_than_days * 86400, "bucket": bucket_seconds},
        )
    db.execute(
        "INSERT OR REPLACE INTO usage_history_meta(key, value) VALUES ('compacted_at', ?)",
        (now,),
    )


def rows(
    db: apsw.Connection,
    *,
    account: str | None = None,
    window: str | None = None,
    since: datetime | None = None,
) -> list[HistoryRow]:
    """History rows, oldest first, filtered by account, window id and start time."""
    clauses, params = [], []
    for column, value in (("account", account), ("window", window)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("last_seen >= ?")
        params.append(since.timestamp())
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    result = db.execute(
        "SELECT account, window, window_minutes, at, last_seen, used_percent, resets_at "
        f"FROM usage_history {where} ORDER BY at, id",
        params,
    )
    return [
        HistoryRow(a, w, m, _moment(at), _moment(seen), used, _moment(reset))
        for a, w, m, at, seen, used, reset in result
    ]


def readings_for(
    db: apsw.Connection, account: str, window: str, since: datetime
) -> list[UsagePoint]:
    """The readings pace looks at: every change (and the last confirmation) since `since`."""
    points: list[UsagePoint] = []
    for row in rows(db, account=account, window=window, since=since):
        points.append(row.reading)
        if row.last_seen > row.at:
            points.append(UsagePoint(row.last_seen, row.used_percent))
    return points


def past_windows(history: list[HistoryRow], now: datetime) -> list[PastWindow]:
    """Every window instance in `history` whose reset time has passed, with its last reading."""
    last: dict[tuple[str, datetime], HistoryRow] = {}
    for row in history:
        if row.resets_at is not None and row.resets_at <= now:
            last[(row.window, row.resets_at)] = row
    return [
        PastWindow(window, resets_at, row.used_percent)
        for (window, resets_at), row in sorted(last.items(), key=lambda kv: kv[0][1])
    ]


def snapshot_paces(snapshot: UsageSnapshot, db: apsw.Connection | None = None) -> dict[str, Pace]:
    """The pace of each of the snapshot's windows that has one, by window id, using the window's
    recent history from `db` when given."""
    paces: dict[str, Pace] = {}
    account = snapshot.identity.account_key
    at = snapshot.observed_at
    for window in snapshot.windows:
        readings: list[UsagePoint] = []
        if db is not None and window.window_minutes:
            since = at - timedelta(minutes=window.window_minutes)
            try:
                readings = readings_for(db, account, window.id, since)
            except apsw.Error:
                readings = []  # no history (an unreadable store): the window average still works
        pace = window_pace(window, at, readings)
        if pace is not None:
            paces[window.id] = pace
    return paces
