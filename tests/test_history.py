"""The compact window history: one row per change, thinning with age, and its size over a year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from codexbar import history
from codexbar.models import Identity, RateWindow, UsageSnapshot
from codexbar.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(
    at: datetime,
    session_used: float,
    session_reset: datetime,
    weekly_used: float = 10,
    weekly_reset: datetime | None = None,
) -> UsageSnapshot:
    windows = [RateWindow(session_used, 300, session_reset)]
    if weekly_reset is not None:
        windows.append(RateWindow(weekly_used, 10080, weekly_reset))
    return UsageSnapshot(
        source="oauth",
        fetched_at=at,
        observed_at=at,
        windows=tuple(windows),
        identity=Identity(email="a@example.com", account_id="acct-1"),
    )


def test_one_row_per_change_not_per_refresh(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    reset = T0 + timedelta(hours=5)
    for minute, used in ((0, 10), (5, 10), (10, 10), (15, 12), (20, 12)):
        # The reset time wobbles by a few seconds between readings: still the same window.
        store.save_snapshot(
            snapshot(T0 + timedelta(minutes=minute), used, reset + timedelta(seconds=minute % 3))
        )
    rows = history.rows(store.db, account="acct-1", window="session")
    assert [(r.used_percent, r.at - T0, r.last_seen - T0) for r in rows] == [
        (10, timedelta(0), timedelta(minutes=10)),
        (12, timedelta(minutes=15), timedelta(minutes=20)),
    ]
    assert {r.resets_at for r in rows} == {reset}
    readings = history.readings_for(store.db, "acct-1", "session", T0)
    assert [r.used_percent for r in readings] == [10, 10, 12, 12]


def test_a_late_older_reading_does_not_rewrite_history(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    reset = T0 + timedelta(hours=5)
    store.save_snapshot(snapshot(T0 + timedelta(minutes=10), 20, reset))
    store.save_snapshot(snapshot(T0 + timedelta(minutes=5), 15, reset))
    assert [r.used_percent for r in history.rows(store.db)] == [20]


def _year_of_readings(store: Store, start: datetime, days: int, step_minutes: int = 5) -> None:
    """Every 5 minutes, usage that grows while working (9:00-18:00) and resets on schedule.
    Written straight into the history, a day per transaction (the snapshots table is not what
    is measured)."""
    moment = start
    end = start + timedelta(days=days)
    while moment < end:
        if moment.hour == 0 and moment.minute == 0:
            if store.db.in_transaction:
                store.db.execute("COMMIT")
            store.db.execute("BEGIN")
        session_start = start + (moment - start) // timedelta(hours=5) * timedelta(hours=5)
        week_start = start + (moment - start) // timedelta(days=7) * timedelta(days=7)
        working = 9 <= moment.hour < 18
        session_used = min(100.0, (moment - session_start) / timedelta(minutes=3)) if working else 0
        weekly_used = min(100.0, round((moment - week_start) / timedelta(hours=2)))
        reading = snapshot(
            moment,
            session_used,
            session_start + timedelta(hours=5),
            weekly_used,
            week_start + timedelta(days=7),
        )
        history.record(store.db, reading)
        moment += timedelta(minutes=step_minutes)
    if store.db.in_transaction:
        store.db.execute("COMMIT")


def test_compaction_keeps_detail_then_hours_then_days(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    start = T0
    _year_of_readings(store, start, days=120, step_minutes=15)
    now = (start + timedelta(days=120)).timestamp()
    history.compact(store.db, now)
    rows = history.rows(store.db, window="session")
    age_days = [(now - r.at.timestamp()) / 86400 for r in rows]
    recent = [r for r, age in zip(rows, age_days, strict=True) if age < 14]
    hourly = [r for r, age in zip(rows, age_days, strict=True) if 14 <= age < 90]
    daily = [r for r, age in zip(rows, age_days, strict=True) if age >= 90]
    # Full detail: every 15-minute change inside working hours is still there.
    assert len({(r.at.date(), r.at.hour, r.at.minute) for r in recent}) == len(recent)
    assert any(r.at.minute == 15 for r in recent)
    # Hourly: at most one row per window instance and hour.
    keys = [(r.resets_at, r.at.replace(minute=0, second=0)) for r in hourly]
    assert len(keys) == len(set(keys))
    assert not any(r.at.minute == 15 for r in hourly if r.used_percent)
    # Daily: at most one row per window instance and day.
    keys = [(r.resets_at, r.at.date()) for r in daily]
    assert len(keys) == len(set(keys))
    # Every past window instance still tells how much of it was used when it reset.
    past = history.past_windows(rows, datetime.fromtimestamp(now, UTC))
    working_sessions = [p for p in past if p.resets_at.hour in (12, 17)]
    assert working_sessions and all(p.used_percent > 50 for p in working_sessions)


def test_rows_older_than_two_years_are_dropped(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    old = T0 - timedelta(days=800)
    store.save_snapshot(snapshot(old, 5, old + timedelta(hours=5)))
    store.save_snapshot(snapshot(T0, 5, T0 + timedelta(hours=5)))
    history.compact(store.db, T0.timestamp())
    assert [r.at for r in history.rows(store.db)] == [T0]


def test_a_year_of_five_minute_refreshes_stays_small(tmp_path):
    """105,120 readings of two windows; the history tables must stay far below 20 MB."""
    store = Store(tmp_path / "s.sqlite3")
    _year_of_readings(store, T0, days=365)
    history.compact(store.db, (T0 + timedelta(days=365)).timestamp())
    store.db.execute("VACUUM")
    store.close()
    size = (tmp_path / "s.sqlite3").stat().st_size
    print(f"history of a year of 5-minute refreshes: {size / 1e6:.2f} MB")
    assert size < 20e6
