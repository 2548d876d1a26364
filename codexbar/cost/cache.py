"""The cost scanner's cache in codexbar's SQLite store: one row per (file, time zone) with what
it takes to resume parsing, and that file's per-(day, model, effort, long-context) sums.

Writes happen in one `BEGIN IMMEDIATE` transaction per scan (WAL, busy timeout: one writer at a
time, readers never blocked). Each file's rows are replaced whole, never incremented, so two
processes scanning at once each write a consistent snapshot. A parser version change empties
the tables; unreadable contents are dropped with a warning and rebuilt by the next scan.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apsw
import orjson

from codexbar.cost.scanner import PARSER_VERSION, Buckets, FileState
from codexbar.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedFile:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    session_id: str | None
    project: str | None


class CacheError(Exception):
    pass


class CostCache:
    def __init__(self, store: Store, tz_key: str) -> None:
        self.store = store
        self.db = store.db
        self.tz = tz_key
        self.warnings: list[str] = []
        self.usable = True
        self._check_version()

    def _check_version(self) -> None:
        try:
            row = self.db.execute(
                "SELECT value FROM cost_meta WHERE key = 'parser_version'"
            ).fetchone()
            if row is None or row[0] != str(PARSER_VERSION):
                self._write(self._clear_and_stamp)
        except apsw.Error as error:
            self._unusable(error)

    def _clear_and_stamp(self, db: apsw.Connection) -> None:
        db.execute("DELETE FROM cost_rows; DELETE FROM cost_files")
        db.execute(
            "INSERT OR REPLACE INTO cost_meta(key, value) VALUES ('parser_version', ?)",
            (str(PARSER_VERSION),),
        )

    def _unusable(self, error: Exception) -> None:
        message = f"the cost cache could not be used ({error}); scanning without it"
        log.warning(message)
        self.warnings.append(message)
        self.usable = False

    def rebuild(self, error: Exception) -> None:
        """Drop the cache contents after finding them unreadable."""
        message = f"the cost cache was unreadable ({error}); it is being rebuilt"
        log.warning(message)
        self.warnings.append(message)
        try:
            self._write(self._clear_and_stamp)
        except apsw.Error as second:
            self._unusable(second)

    def _write(self, work) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            work(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- reading ------------------------------------------------------------------------------

    def files(self) -> dict[str, CachedFile]:
        if not self.usable:
            return {}
        rows = self.db.execute(
            "SELECT path, dev, ino, size, mtime_ns, session_id, project FROM cost_files "
            "WHERE tz = ?",
            (self.tz,),
        )
        return {path: CachedFile(*rest) for path, *rest in rows}

    def state(self, path: str) -> FileState:
        """The saved parser state and sums of one file (CacheError if unreadable)."""
        try:
            row = self.db.execute(
                "SELECT state FROM cost_files WHERE path = ? AND tz = ?", (path, self.tz)
            ).fetchone()
            if row is None:
                raise CacheError(f"no saved state for {path}")
            buckets: Buckets = {}
            for day, utc_day, model, effort, long, *values in self.db.execute(
                "SELECT day, utc_day, model, effort, long, input, cached, cache_write, output, "
                "reasoning, responses FROM cost_rows WHERE path = ? AND tz = ?",
                (path, self.tz),
            ):
                buckets[(day, utc_day, model, effort, long)] = values
            return FileState.from_json(row[0], buckets)
        except (apsw.Error, orjson.JSONDecodeError, TypeError, ValueError) as error:
            raise CacheError(str(error)) from error

    def rows(self, day_from: str | None, day_to: str | None) -> Iterator[tuple]:
        """(path, day, utc_day, model, effort, long, input, cached, cache_write, output,
        reasoning, responses) for the days asked (inclusive; None = open)."""
        if not self.usable:
            return iter(())
        return self.db.execute(
            "SELECT path, day, utc_day, model, effort, long, input, cached, cache_write, output, "
            "reasoning, responses FROM cost_rows WHERE tz = ? AND day >= ? AND day <= ?",
            (self.tz, day_from or "", day_to or "9999"),
        )

    # -- writing ------------------------------------------------------------------------------

    def save(
        self, updates: Iterable[tuple[str, CachedFile, FileState]], gone: Iterable[str]
    ) -> None:
        if not self.usable:
            return
        updates = list(updates)
        gone = list(gone)

        def work(db: apsw.Connection) -> None:
            for path in gone:
                db.execute("DELETE FROM cost_rows WHERE path = ? AND tz = ?", (path, self.tz))
                db.execute("DELETE FROM cost_files WHERE path = ? AND tz = ?", (path, self.tz))
            for path, meta, state in updates:
                db.execute("DELETE FROM cost_rows WHERE path = ? AND tz = ?", (path, self.tz))
                db.execute(
                    "INSERT OR REPLACE INTO cost_files(path, tz, dev, ino, size, mtime_ns, "
                    "session_id, project, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        path,
                        self.tz,
                        meta.dev,
                        meta.ino,
                        meta.size,
                        meta.mtime_ns,
                        state.session_id,
                        state.project,
                        state.to_json(),
                    ),
                )
                db.executemany(
                    "INSERT INTO cost_rows(path, tz, day, utc_day, model, effort, long, input, "
                    "cached, cache_write, output, reasoning, responses) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(path, self.tz, *key, *values) for key, values in state.buckets.items()],
                )

        try:
            self._write(work)
        except apsw.BusyError as error:
            self.warnings.append(f"the cost cache is busy ({error}); results were not saved")
        except apsw.Error as error:
            self.rebuild(error)
