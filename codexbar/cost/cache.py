"""The cost scanner's cache in codexbar's SQLite store: one row per (file, time zone) with what
it takes to resume parsing, and that file's sums per (local day, local hour, UTC day, model,
effort, long-context) — the per-file per-hour aggregates the summary and the dashboard query.

Writes happen in one `BEGIN IMMEDIATE` transaction per scan (WAL: readers are never blocked).
Each file's rows are replaced whole, never incremented, so two processes scanning at once each
write a consistent snapshot. A write that fails (a full disk, a read-only file, another process
holding the lock) leaves the cache as it was: the figures just computed are still shown, with a
warning that they were not saved. A parser version change empties the tables; contents that
cannot be read (a dropped table, text where a number belongs) are rebuilt by the next scan.

Query functions for the dashboard (all take the paths a `CostSummary` counted, `counted_paths`,
so archived copies and other homes are left out exactly as in the summary):
* `CostCache.grouped(paths, day_from, day_to, by)` — sums grouped by any of `day`, `hour`,
  `utc_day`, `model`, `effort`, `long`, `project` (per-day or per-hour series, breakdowns);
* `CostCache.files()` — per file: session id, project, newest event time (recent sessions).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import zlib
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

import apsw
import orjson

from codexbar.cost.scanner import MAX_TOKENS, PARSER_VERSION, Buckets, FileState
from codexbar.store import BUSY_TIMEOUT_MS, Store, create_cost_tables

log = logging.getLogger(__name__)

GROUP_COLUMNS = {
    "day": "r.day",
    "hour": "r.hour",
    "utc_day": "r.utc_day",
    "model": "r.model",
    "effort": "r.effort",
    "long": "r.long",
    "project": "f.project",
}
# The lock is held by another process for longer than this: keep the figures, skip the save.
SAVE_BUSY_MS = 2000
# Priced figures of recent ranges, kept in this many cost_meta slots (a range picks its slot by
# a hash): the tray's window, `--all`, a dashboard range or two.
FIGURES_SLOTS = 8


class CachedFile(NamedTuple):  # a tuple: thousands are built on every run
    dev: int
    ino: int
    size: int
    mtime_ns: int
    session_id: str | None
    project: str | None
    last_event_ms: int | None = None
    fingerprint: bytes | None = None


class CacheError(Exception):
    pass


def describe_error(db: apsw.Connection | None, error: Exception) -> str:
    """A failed database operation in words."""
    code = 0
    if db is not None:
        with contextlib.suppress(apsw.Error):
            code = db.system_errno
    if isinstance(error, apsw.FullError) or code == errno.ENOSPC:
        return "the disk is full"
    if code == errno.EFBIG:
        return "a file-size limit stopped the write"
    if isinstance(error, apsw.ReadOnlyError | apsw.PermissionsError) or code in (
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
    ):
        return "the database is read-only"
    if isinstance(error, apsw.BusyError):
        return "another codexbar process was writing it"
    if isinstance(error, apsw.IOError):
        return "a disk error or a file-size limit stopped it"
    if isinstance(error, apsw.CantOpenError):
        return "the file cannot be opened"
    return "the database could not be written"


def _valid_values(values: Sequence[object]) -> bool:
    return all(type(v) is int and 0 <= v <= MAX_TOKENS * 1000 for v in values)


class CostCache:
    def __init__(self, store: Store, tz_key: str) -> None:
        self.store = store
        self.db = store.db
        self.tz = tz_key
        self.warnings: list[str] = []
        self.usable = True
        self.saved = True
        self.written: str | None = None  # the generation this object's last save wrote
        self._check_version()

    def _check_version(self) -> None:
        try:
            try:
                row = self.db.execute(
                    "SELECT value FROM cost_meta WHERE key = 'parser_version'"
                ).fetchone()
            except apsw.SQLError:
                row = None  # a table is missing: created again below
            if row is None or row[0] != str(PARSER_VERSION):
                self._write(self._clear_and_stamp)
        except apsw.Error as error:
            self._unusable(error)
            return
        with contextlib.suppress(apsw.Error):  # read-only or busy: only slower
            _listing_index(self.db)

    def _clear_and_stamp(self, db: apsw.Connection) -> None:
        self._forget_files()
        db.execute("DROP TABLE IF EXISTS cost_rows; DROP TABLE IF EXISTS cost_files")
        create_cost_tables(db)
        _listing_index(db)
        db.execute(
            "INSERT OR REPLACE INTO cost_meta(key, value) VALUES ('parser_version', ?)",
            (str(PARSER_VERSION),),
        )
        db.execute("DELETE FROM cost_meta WHERE key LIKE 'figures:%'")
        _new_generation(db)

    def _warn(self, what: str, error: Exception, consequence: str) -> None:
        message = f"the cost cache {what} ({describe_error(self.db, error)}); {consequence}"
        log.debug("%s: %s", message, error)  # the message reaches the user as a warning
        self.warnings.append(message)

    def _unusable(self, error: Exception) -> None:
        self._warn("could not be used", error, "every session file is read again and not cached")
        self.usable = False

    def rebuild(self, what: str) -> None:
        """Start the cache again after finding its contents unreadable."""
        message = f"the cost cache was unreadable ({what}); it is being rebuilt"
        log.debug(message)  # the message reaches the user as a warning
        self.warnings.append(message)
        try:
            self._write(self._clear_and_stamp)
        except apsw.Error as error:
            self._unusable(error)

    def _write_begin(self, busy_ms: int | None = SAVE_BUSY_MS) -> None:
        db = self.db
        if busy_ms is not None:
            db.set_busy_timeout(busy_ms)
        try:
            db.execute("BEGIN IMMEDIATE")
        finally:
            if busy_ms is not None:
                db.set_busy_timeout(BUSY_TIMEOUT_MS)

    def _write(self, work, busy_ms: int | None = None) -> None:
        db = self.db
        self._write_begin(busy_ms)
        try:
            work(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (a full disk does)
                with contextlib.suppress(apsw.Error):
                    db.execute("ROLLBACK")
            raise

    # -- reading ------------------------------------------------------------------------------

    def files(self) -> dict[str, CachedFile]:
        """Every cached file of this zone. Kept on the Store between calls (the tray's warm
        runs) while `PRAGMA data_version` shows no other connection has written since."""
        if not self.usable:
            return {}
        try:
            version = self.db.execute("PRAGMA data_version").fetchone()[0]
            memo = getattr(self.store, "_cost_files", None)
            if memo is not None and memo[:2] == (self.tz, version):
                return memo[2]
            rows = self.db.execute(
                "SELECT path, dev, ino, size, mtime_ns, session_id, project, last_event_ms, "
                "fingerprint FROM cost_files WHERE tz = ?",
                (self.tz,),
            ).fetchall()
        except apsw.Error as error:
            self.rebuild(str(error))
            return {}
        out: dict[str, CachedFile] = {}
        for path, *rest in rows:
            if not all(type(v) is int for v in rest[:4]):
                self.rebuild("a file entry that is not a number")
                return {}
            out[path] = CachedFile(*rest)
        self.store._cost_files = (self.tz, version, out)
        return out

    def _forget_files(self) -> None:
        self.store._cost_files = None

    def state(self, path: str) -> FileState:
        """The saved parser state and sums of one file (CacheError if unreadable)."""
        try:
            row = self.db.execute(
                "SELECT state FROM cost_files WHERE path = ? AND tz = ?", (path, self.tz)
            ).fetchone()
            if row is None:
                raise CacheError(f"no saved state for {path}")
            buckets: Buckets = {}
            for day, hour, utc_day, model, effort, long, *values in self.db.execute(
                "SELECT day, hour, utc_day, model, effort, long, input, cached, cache_write, "
                "output, reasoning, responses FROM cost_rows WHERE path = ? AND tz = ?",
                (path, self.tz),
            ):
                if not _valid_values(values) or type(hour) is not int:
                    raise CacheError("a saved sum is not a number")
                buckets[(day, hour, utc_day, model, effort, long)] = values
            return FileState.from_json(row[0], buckets)
        except (apsw.Error, orjson.JSONDecodeError, TypeError, ValueError) as error:
            raise CacheError(str(error)) from error

    def grouped(
        self,
        paths: Iterable[str],
        day_from: str | None,
        day_to: str | None,
        by: Sequence[str] = ("day", "utc_day", "model", "effort", "long", "project"),
    ) -> list[tuple]:
        """Sums of the given files' rows for the local days asked (inclusive; None = open):
        one tuple per group, the `by` columns then input, cached, cache_write, output,
        reasoning, responses. Raises CacheError when the contents are unreadable."""
        if not self.usable:
            return []
        columns = ", ".join(GROUP_COLUMNS[name] for name in by)
        try:
            rows = self.db.execute(
                f"SELECT {columns}, SUM(r.input), SUM(r.cached), SUM(r.cache_write), "
                "SUM(r.output), SUM(r.reasoning), SUM(r.responses) "
                "FROM cost_rows r JOIN cost_files f ON f.path = r.path AND f.tz = r.tz "
                "WHERE r.tz = ? AND r.day >= ? AND r.day <= ? "
                "AND r.path IN (SELECT value FROM json_each(?)) "
                f"GROUP BY {columns}",
                (self.tz, day_from or "", day_to or "9999", orjson.dumps(list(paths)).decode()),
            ).fetchall()
        except apsw.Error as error:
            raise CacheError(str(error)) from error
        width = len(by)
        for row in rows:
            if not _valid_values(row[width:]):
                raise CacheError("a saved sum is not a number")
        return rows

    def generation(self) -> str | None:
        """A token that changes with every write of the cached sums (None: not known)."""
        if not self.usable:
            return None
        try:
            row = self.db.execute("SELECT value FROM cost_meta WHERE key = 'generation'").fetchone()
            if row is None:  # a cache written before generations were kept: stamp it now
                self._write(_new_generation, busy_ms=0)
                return self.generation()
        except apsw.Error:
            return None
        return row[0] if isinstance(row[0], str) else None

    def figures(self, key: str) -> bytes | None:
        """Figures saved by `save_figures` under `key`, or None."""
        if not self.usable:
            return None
        try:
            row = self.db.execute(
                "SELECT value FROM cost_meta WHERE key = ?", (_figures_slot(key),)
            ).fetchone()
        except apsw.Error:
            return None
        if not row or not isinstance(row[0], str) or not row[0].startswith(key + "\n"):
            return None
        return row[0][len(key) + 1 :].encode()

    def save_figures(self, key: str, body: bytes) -> None:
        """Keep priced figures for a later run with the same key; a failure only costs speed."""
        if not self.usable:
            return

        def work(db: apsw.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO cost_meta(key, value) VALUES (?, ?)",
                (_figures_slot(key), key + "\n" + body.decode()),
            )

        try:
            self._write(work, busy_ms=0)
        except apsw.Error as error:
            log.debug("priced figures not kept: %s", error)

    # -- writing ------------------------------------------------------------------------------

    def writer(self, stored: AbstractSet[str] = frozenset()) -> CacheWriter:
        """The write of one scan; `stored` are the paths that may already have rows."""
        return CacheWriter(self, stored)

    def _saved(self, generation: str, gone: list[str], files: dict[str, CachedFile]) -> None:
        self.written = generation
        memo = getattr(self.store, "_cost_files", None)
        if memo is not None and memo[0] == self.tz:  # our own commit: data_version stays
            for path in gone:
                memo[2].pop(path, None)
            memo[2].update(files)

    def _not_saved(self, error: apsw.Error) -> None:
        self._forget_files()
        self.saved = False
        if isinstance(error, apsw.SQLError):
            # A table someone dropped: build the tables again; the next scan fills them.
            self.rebuild(str(error))
            return
        self._warn(
            "was not updated",
            error,
            "the figures shown are complete but were not cached, so the next run reads "
            "those files again",
        )


class CacheWriter:
    """One scan's write: the rows of the files read are added as the scan goes, in one
    `BEGIN IMMEDIATE` transaction committed by `finish` — so a big scan writes while its second
    process still reads, and other readers see the whole scan or none of it. Each file's rows
    are replaced whole. A write that fails rolls back: the cache keeps its old contents, the
    figures just computed are still shown, with a warning in words."""

    FLUSH_FILES = 256  # files buffered per batch of statements

    def __init__(self, cache: CostCache, stored: AbstractSet[str]) -> None:
        self.cache = cache
        self.stored = stored
        self.pending: list[tuple[str, CachedFile, FileState]] = []
        self.files: dict[str, CachedFile] = {}
        self.open = False
        self.failed = not cache.usable

    def add(self, path: str, meta: CachedFile, state: FileState) -> None:
        if self.failed:
            return
        self.pending.append((path, meta, state))
        if len(self.pending) >= self.FLUSH_FILES:
            self._flush()

    def finish(self, gone: Iterable[str] = ()) -> None:
        """Write what is left and commit (nothing at all when nothing changed)."""
        gone = list(gone)
        if self.failed or not (self.pending or gone or self.open):
            return
        tz = self.cache.tz

        def work(db: apsw.Connection) -> None:
            keys = [(path, tz) for path in gone]
            db.executemany("DELETE FROM cost_rows WHERE path = ? AND tz = ?", keys)
            db.executemany("DELETE FROM cost_files WHERE path = ? AND tz = ?", keys)
            generation.append(_new_generation(db))
            db.execute("COMMIT")

        generation: list[str] = []
        if self._flush() and self._run(work):
            self.open = False
            self.cache._saved(generation[0], gone, self.files)

    def _flush(self) -> bool:
        if self.failed:
            return False
        if not self.open:
            try:
                self.cache._write_begin()
            except apsw.Error as error:
                self._fail(error)
                return False
            self.open = True
        batch, self.pending = self.pending, []
        return self._run(lambda db: _write_files(db, self.cache.tz, batch, self.stored, self.files))

    def _run(self, work) -> bool:
        try:
            work(self.cache.db)
        except apsw.Error as error:
            self._fail(error)
            return False
        return True

    def _fail(self, error: apsw.Error) -> None:
        db = self.cache.db
        # SQLite may have rolled back already (a full disk does)
        if self.open and db.in_transaction:
            with contextlib.suppress(apsw.Error):
                db.execute("ROLLBACK")
        self.open, self.failed, self.pending = False, True, []
        self.cache._not_saved(error)


def _write_files(
    db: apsw.Connection,
    tz: str,
    batch: list[tuple[str, CachedFile, FileState]],
    stored: AbstractSet[str],
    files: dict[str, CachedFile],
) -> None:
    # A few statements per batch of files, not a few per file: a cold scan of 8,000 files spent
    # a tenth of its time in per-file calls. Only files that had rows need their rows deleted.
    db.executemany(
        "DELETE FROM cost_rows WHERE path = ? AND tz = ?",
        [(path, tz) for path, _, _ in batch if path in stored],
    )
    db.executemany(
        "INSERT OR REPLACE INTO cost_files(path, tz, dev, ino, size, mtime_ns, "
        "session_id, project, last_event_ms, fingerprint, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                path,
                tz,
                meta.dev,
                meta.ino,
                meta.size,
                meta.mtime_ns,
                state.session_id,
                state.project,
                state.last_event_ms,
                meta.fingerprint,
                state.to_json(),
            )
            for path, meta, state in batch
        ],
    )
    db.executemany(
        "INSERT INTO cost_rows(path, tz, day, hour, utc_day, model, effort, long, "
        "input, cached, cache_write, output, reasoning, responses) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (path, tz, *key, *values)
            for path, _, state in batch
            for key, values in state.buckets.items()
        ],
    )
    for path, meta, _ in batch:
        files[path] = meta


def _listing_index(db: apsw.Connection) -> None:
    """Every column `files()` reads, so that it reads this index and not the table, whose
    rows also hold each file's parser state (a third less time on 8,000 files)."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS cost_files_listing ON cost_files(tz, path, dev, ino, size, "
        "mtime_ns, session_id, project, last_event_ms, fingerprint)"
    )


def _new_generation(db: apsw.Connection) -> str:
    """Random, not a counter: two processes that both wrote can never end on the same token."""
    token = os.urandom(8).hex()
    db.execute("INSERT OR REPLACE INTO cost_meta(key, value) VALUES ('generation', ?)", (token,))
    return token


def _figures_slot(key: str) -> str:
    return f"figures:{zlib.crc32(key.encode()) % FIGURES_SLOTS}"
