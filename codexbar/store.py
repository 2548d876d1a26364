"""codexbar's SQLite database (apsw): snapshots now, the cost cache and notification state later.

The schema moves forward by numbered migrations recorded in `PRAGMA user_version`. A file that is
not a usable database is moved aside (never deleted) and a fresh one is built, with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from codexbar import paths
from codexbar.safe_files import describe

# The readings' modules (history, codec, models) are imported where readings are handled: the
# cost commands open this store too, and need none of them.
if TYPE_CHECKING:
    from codexbar.cost.changes import FolderWatcher
    from codexbar.models import UsageSnapshot

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
SNAPSHOT_DAYS = 14


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


class StoreTooNew(Exception):
    """The database comes from a newer codexbar: keep it as it is rather than rebuild it."""


def _migration_1(db: apsw.Connection) -> None:
    db.execute(
        """
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            fetched_at REAL NOT NULL,
            observed_at REAL NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX snapshots_fetched_at ON snapshots(fetched_at);
        """
    )


def _migration_cost_cache(db: apsw.Connection) -> None:
    """The cost scanner's per-file cache (codexbar/cost/cache.py owns these tables)."""
    db.execute(
        """
        CREATE TABLE cost_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE cost_files (
            path TEXT NOT NULL, tz TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
            size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, session_id TEXT, project TEXT,
            state BLOB NOT NULL, PRIMARY KEY (path, tz)
        );
        CREATE TABLE cost_rows (
            path TEXT NOT NULL, tz TEXT NOT NULL, day TEXT NOT NULL, utc_day TEXT NOT NULL,
            model TEXT NOT NULL, effort TEXT NOT NULL, long INTEGER NOT NULL,
            input INTEGER NOT NULL, cached INTEGER NOT NULL, cache_write INTEGER NOT NULL,
            output INTEGER NOT NULL, reasoning INTEGER NOT NULL, responses INTEGER NOT NULL
        );
        CREATE INDEX cost_rows_file ON cost_rows(path, tz);
        CREATE INDEX cost_rows_day ON cost_rows(tz, day);
        """
    )


def _migration_notification_memory(db: apsw.Connection) -> None:
    """What the tray last announced per account and window (codexbar/tray/notifications.py)."""
    db.execute(
        """
        CREATE TABLE notification_state (
            account TEXT NOT NULL, window TEXT NOT NULL, level TEXT NOT NULL,
            pending TEXT, updated_at REAL NOT NULL, PRIMARY KEY (account, window)
        );
        """
    )


# The cost cache's current layout (codexbar/cost/cache.py owns it). `IF NOT EXISTS`: the cache
# recreates a table someone dropped with the same statements.
COST_TABLES = """
    CREATE TABLE IF NOT EXISTS cost_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS cost_files (
        path TEXT NOT NULL, tz TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
        size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, session_id TEXT, project TEXT,
        last_event_ms INTEGER, fingerprint BLOB, state BLOB NOT NULL, PRIMARY KEY (path, tz)
    );
    CREATE TABLE IF NOT EXISTS cost_rows (
        path TEXT NOT NULL, tz TEXT NOT NULL, day TEXT NOT NULL, hour INTEGER NOT NULL,
        utc_day TEXT NOT NULL, model TEXT NOT NULL, effort TEXT NOT NULL, long INTEGER NOT NULL,
        input INTEGER NOT NULL, cached INTEGER NOT NULL, cache_write INTEGER NOT NULL,
        output INTEGER NOT NULL, reasoning INTEGER NOT NULL, responses INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS cost_rows_file ON cost_rows(path, tz);
    CREATE INDEX IF NOT EXISTS cost_rows_day ON cost_rows(tz, day);
"""


def create_cost_tables(db: apsw.Connection) -> None:
    db.execute(COST_TABLES)


def _migration_cost_by_time(db: apsw.Connection) -> None:
    """Cost cache, second layout: per-file newest event time (files are found by time, not by
    folder), a fingerprint of the bytes before the resume offset (a file rewritten in place is
    read again) and the local hour in every row (hourly series). The old rows are rebuilt by
    the next scan."""
    db.execute("DROP TABLE IF EXISTS cost_rows; DROP TABLE IF EXISTS cost_files")
    create_cost_tables(db)
    db.execute("DELETE FROM cost_meta WHERE key = 'parser_version'")


def _migration_history(db: apsw.Connection) -> None:
    """The compacted per-window history of readings (codexbar/history.py owns this table)."""
    from codexbar import history

    db.execute(history.SCHEMA)


def _migration_snapshot_home(db: apsw.Connection) -> None:
    """Each reading remembers the Codex home it was read for (one home = one account), so the
    "last good reading" of one account is never another's. Older rows have no home: they are
    the first configured home's reference only (before several accounts, only the first home
    was read)."""
    db.execute(
        """
        ALTER TABLE snapshots ADD COLUMN home TEXT;
        CREATE INDEX snapshots_home_observed ON snapshots(home, observed_at);
        """
    )


# Append only: migration N brings user_version from N-1 to N, so one file has one history.
MIGRATIONS: list[Callable[[apsw.Connection], None]] = [
    _migration_1,
    _migration_cost_cache,
    _migration_notification_memory,
    _migration_cost_by_time,
    _migration_history,
    _migration_snapshot_home,
]


class Store:
    """One connection to the database. `check_integrity=True` (doctor) always runs SQLite's
    `quick_check`; otherwise it runs only when a process that had the file open ended without
    closing it, since the check reads the whole file and was a large part of every start-up."""

    def __init__(self, path: Path | None = None, *, check_integrity: bool = False) -> None:
        self.path = path or paths.store_path()
        self.warnings: list[str] = []
        self._marker: Path | None = None
        self._force_check = check_integrity
        self._cost_files: tuple | None = None  # codexbar/cost/cache.py's per-connection memo
        self._cost_refreshes = 0  # codexbar/cost/changes.py: its watcher comes on the second
        self._cost_watcher: FolderWatcher | None = None
        self.db = self._open()

    @classmethod
    def in_memory(cls) -> Store:
        """A database that lives only in this process: nothing is written to disk."""
        store = cls.__new__(cls)
        store.path = Path(":memory:")
        store.warnings = []
        store._marker = None
        store._force_check = False
        store._cost_files = None
        store._cost_refreshes = 0
        store._cost_watcher = None
        db = apsw.Connection(":memory:")
        cls._migrate(db)
        store.db = db
        return store

    # -- opening, migrating, recovering ------------------------------------------------------

    def _connect(self) -> apsw.Connection:
        try:
            paths.ensure_private_dir(self.path.parent)
            # SQLite creates the database 0644 and gives its -wal and -shm the database's mode:
            # create it 0600 first (and fix an older one), so all three are the user's alone.
            paths.make_private_file(self.path)
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    paths.make_private_file(side)
        except OSError as error:
            where = Path(error.filename) if error.filename else self.path
            raise apsw.CantOpenError(f"{where} {describe(error)}") from None
        db = apsw.Connection(str(self.path))
        db.set_busy_timeout(BUSY_TIMEOUT_MS)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        self._migrate(db)
        return db

    def _open(self) -> apsw.Connection:
        db = None
        try:
            db = self._connect()  # first: it makes the folder private, or says why it cannot
            unclean = self._mark_open()
            if unclean or self._force_check:
                self._check(db)
            return db
        except (
            StoreTooNew,
            apsw.BusyError,
            apsw.CantOpenError,
            apsw.PermissionsError,
            apsw.ReadOnlyError,
            apsw.IOError,
        ):
            raise
        except apsw.Error as error:
            if db is not None:
                db.close()
            return self._rebuild(error)

    @staticmethod
    def _check(db: apsw.Connection) -> None:
        (result,) = db.execute("PRAGMA quick_check").fetchone()
        if result != "ok":
            raise apsw.CorruptError(f"quick_check: {result}")

    def _rebuild(self, error: Exception) -> apsw.Connection:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.path) + suffix)
            if part.exists():
                part.replace(Path(str(aside) + suffix))
        message = (
            f"The codexbar database {self.path} was unreadable ({error}); it was moved to "
            f"{aside.name} and a new one was created. Saved readings start again."
        )
        log.warning(message)
        self.warnings.append(message)
        return self._connect()

    @staticmethod
    def _migrate(db: apsw.Connection) -> None:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version == len(MIGRATIONS):
            return
        # Several processes (the tray, a CLI call) may open a new database at once: take the
        # write lock before reading the version, so exactly one of them migrates.
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > len(MIGRATIONS):
                raise StoreTooNew(
                    f"The codexbar database {db.filename} was written by a newer codexbar "
                    f"(schema {version}, this one knows {len(MIGRATIONS)}); upgrade codexbar "
                    "to use it."
                )
            for number in range(version + 1, len(MIGRATIONS) + 1):
                MIGRATIONS[number - 1](db)
                db.execute(f"PRAGMA user_version={number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[apsw.Connection]:
        with self.db:
            yield self.db

    def close(self) -> None:
        if self._cost_watcher is not None:
            self._cost_watcher.close()  # its inotify descriptor
        self.db.close()
        if self._marker is not None:
            self._marker.unlink(missing_ok=True)
            self._marker = None

    # -- clean-shutdown markers --------------------------------------------------------------

    def _mark_open(self) -> bool:
        """Leave `<db>.open-<pid>-<id>` while this connection is open; True when a marker of a
        process that no longer runs shows that it ended without closing the database."""
        folder, prefix = self.path.parent, f"{self.path.name}.open-"
        unclean = False
        try:
            names = [n for n in os.listdir(folder) if n.startswith(prefix)]
        except OSError:
            return True  # cannot tell: check
        for name in names:
            pid = name[len(prefix) :].split("-")[0]
            if pid.isdigit() and _running(int(pid)):
                continue  # open in a running process (perhaps this one)
            unclean = True
            with contextlib.suppress(OSError):
                (folder / name).unlink()
        marker = folder / f"{prefix}{os.getpid()}-{id(self):x}"
        try:
            marker.touch()
            self._marker = marker
        except OSError:
            pass  # a read-only folder: the database itself will say so
        return unclean

    # -- snapshots ---------------------------------------------------------------------------

    def save_snapshot(self, snapshot: UsageSnapshot, home: Path | None = None) -> None:
        """Keep a reading, with the Codex home it was read for (None: not known)."""
        from codexbar import history
        from codexbar.codec import snapshot_to_dict

        home_text = None if home is None else str(home)
        with self.db:
            self.db.execute(
                "INSERT INTO snapshots(home, source, fetched_at, observed_at, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    home_text,
                    snapshot.source,
                    snapshot.fetched_at.timestamp(),
                    snapshot.observed_at.timestamp(),
                    json.dumps(snapshot_to_dict(snapshot), separators=(",", ":")),
                ),
            )
            history.record(self.db, snapshot)
            # Raw readings are kept for two weeks (the compacted history keeps the long view),
            # except each home's last good one, however old: it stays that account's reference
            # for "never backwards" after a long time offline.
            cutoff = snapshot.fetched_at.timestamp() - SNAPSHOT_DAYS * 86400
            self.db.execute(
                "DELETE FROM snapshots WHERE fetched_at < ? AND home IS ? AND id NOT IN "
                "(SELECT id FROM snapshots WHERE home IS ? ORDER BY observed_at DESC, id DESC "
                "LIMIT 1)",
                (cutoff, home_text, home_text),
            )

    def last_snapshot(
        self, home: Path | None = None, *, or_unplaced: bool = False
    ) -> UsageSnapshot | None:
        """The last good reading of the account in `home` (of any account when None): the
        most recently *observed* one (a session-log reading fetched now can be days old),
        skipping rows that cannot be read. `or_unplaced` also considers readings saved
        before readings had a home (they were all of the first configured home's account)."""
        where, args = "", ()
        if home is not None:
            where = "WHERE home = ? OR home IS NULL " if or_unplaced else "WHERE home = ? "
            args = (str(home),)
        rows = self.db.execute(
            f"SELECT data FROM snapshots {where}"
            "ORDER BY observed_at DESC, fetched_at DESC, id DESC LIMIT 20",
            args,
        )
        return next((s for (data,) in rows if (s := self._decode(data)) is not None), None)

    def snapshots_since(self, since: datetime) -> list[UsageSnapshot]:
        rows = self.db.execute(
            "SELECT data FROM snapshots WHERE fetched_at >= ? ORDER BY fetched_at, id",
            (since.timestamp(),),
        )
        return [s for (data,) in rows if (s := self._decode(data)) is not None]

    @staticmethod
    def _decode(data: Any) -> UsageSnapshot | None:
        """A stored reading, or None for a row that is not one (damaged, or hand-edited): one
        bad row costs that reading, never the app."""
        from codexbar.codec import snapshot_from_dict

        try:
            return snapshot_from_dict(json.loads(data))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
            log.warning("a stored reading could not be read; ignoring it")
            return None
