"""The SQLite store: migrations, snapshots, and a corrupt file moved aside and rebuilt."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import apsw
import pytest

from codexbar import store as store_module
from codexbar.codec import snapshot_to_dict
from codexbar.models import Credits, Identity, RateWindow, UsageSnapshot
from codexbar.store import Store, StoreTooNew

NOW = datetime(2026, 11, 21, 0, 5, 0, 123000, tzinfo=UTC)


def snapshot(used: float, at: datetime = NOW) -> UsageSnapshot:
    return UsageSnapshot(
        "oauth",
        at,
        at,
        windows=(
            RateWindow(used, 300, resets_at=at + timedelta(hours=2)),
            RateWindow(45.0, 10080, limit_id="codex_bengalfox", limit_name="Spark"),
        ),
        credits=Credits(Decimal("112.50"), True, False),
        identity=Identity("a@example.com", "plus", "acct"),
    )


def test_round_trip_keeps_every_field(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    assert store.last_snapshot() is None
    store.save_snapshot(snapshot(18.0))
    assert store.last_snapshot() == snapshot(18.0)
    assert store.schema_version == len(store_module.MIGRATIONS)


def test_last_snapshot_is_the_newest(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    store.save_snapshot(snapshot(30.0, NOW))
    store.save_snapshot(snapshot(10.0, NOW - timedelta(hours=1)))
    assert store.last_snapshot().windows[0].used_percent == 30.0
    assert len(store.snapshots_since(NOW - timedelta(days=1))) == 2


def test_raw_readings_are_kept_two_weeks_but_the_last_good_one_always(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    old = NOW - timedelta(days=40)
    store.save_snapshot(snapshot(31.0, old))
    # Weeks offline, then a session-log reading fetched now but observed even earlier: the
    # old reading is still the last good one, and stays.
    older = replace(snapshot(20.0, NOW), observed_at=old - timedelta(days=10))
    store.save_snapshot(older)
    assert store.last_snapshot().windows[0].used_percent == 31.0
    for day in range(20):  # then twenty days of readings
        store.save_snapshot(snapshot(40.0, NOW - timedelta(days=19 - day)))
    kept = store.snapshots_since(old - timedelta(days=1))
    assert min(s.fetched_at for s in kept) >= NOW - timedelta(days=store_module.SNAPSHOT_DAYS)
    assert len(kept) == store_module.SNAPSHOT_DAYS + 2  # 15 days, and the log reading of NOW
    assert store.last_snapshot().fetched_at == NOW


def test_reopening_keeps_data(tmp_path):
    Store(tmp_path / "db.sqlite3").save_snapshot(snapshot(18.0))
    assert Store(tmp_path / "db.sqlite3").last_snapshot() is not None


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is not a database at all" * 100,
        b"\x00" * 4096,
        b"SQLite format 3\x00" + b"\xff" * 8000,
    ],
)
def test_corrupt_file_is_moved_aside_and_rebuilt(tmp_path, garbage):
    path = tmp_path / "db.sqlite3"
    path.write_bytes(garbage)
    store = Store(path)
    assert store.warnings and "moved to" in store.warnings[0]
    store.save_snapshot(snapshot(18.0))
    assert store.last_snapshot() is not None
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert aside and aside[0].read_bytes() == garbage  # kept, never deleted


def test_a_newer_schema_is_left_alone(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = apsw.Connection(str(path))
    db.execute("PRAGMA user_version=999")
    db.close()
    with pytest.raises(StoreTooNew, match="newer codexbar"):
        Store(path)
    assert path.exists()


def test_processes_creating_the_database_at_once_migrate_it_once(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "db.sqlite3"
    script = (
        "import sys; from pathlib import Path; from codexbar.store import Store; "
        "s = Store(Path(sys.argv[1])); print(s.schema_version); s.close()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert {out.strip() for out, _ in results} == {str(len(store_module.MIGRATIONS))}
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_each_home_has_its_own_last_reading_and_keeps_it(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    work, personal = tmp_path / "work", tmp_path / "personal"
    store.save_snapshot(snapshot(70.0, NOW - timedelta(days=40)), personal)
    for day in range(20):  # only the work account is read for twenty days
        store.save_snapshot(snapshot(10.0, NOW - timedelta(days=19 - day)), work)
    assert store.last_snapshot(work).windows[0].used_percent == 10.0
    # The other account's reading is old, but still its last good one: kept, and its own.
    assert store.last_snapshot(personal).windows[0].used_percent == 70.0
    assert store.last_snapshot(tmp_path / "elsewhere") is None
    assert store.last_snapshot().windows[0].used_percent == 10.0  # any account: the newest


def test_readings_from_before_homes_are_only_the_first_homes(tmp_path):
    """A database of the previous schema: its readings have no home. They were all the first
    home's (only it was read then), so only a lookup that says so finds them."""
    path = tmp_path / "db.sqlite3"
    db = apsw.Connection(str(path))
    for number, migration in enumerate(store_module.MIGRATIONS[:-1], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version={number}")
    db.execute(
        "INSERT INTO snapshots(source, fetched_at, observed_at, data) VALUES (?, ?, ?, ?)",
        (
            "oauth",
            NOW.timestamp(),
            NOW.timestamp(),
            json.dumps(snapshot_to_dict(snapshot(18.0)), separators=(",", ":")),
        ),
    )
    db.close()
    store = Store(path)
    home = tmp_path / "home"
    assert store.schema_version == len(store_module.MIGRATIONS)
    assert store.last_snapshot(home) is None
    assert store.last_snapshot(home, or_unplaced=True) == snapshot(18.0)
    store.save_snapshot(snapshot(25.0, NOW + timedelta(minutes=5)), home)
    assert store.last_snapshot(home, or_unplaced=True).windows[0].used_percent == 25.0
