"""Bring the cache up to date with the rollout files of a range: unchanged files cost one stat,
grown files are read from where parsing stopped (after checking that the bytes before that point
are still the ones parsed), shrunk, replaced or rewritten files are read again.

Small scans (a warm run, an append) read in this process. A big cold scan shares the files
with one child process (codexbar/cost/worker.py), which dies with this one.
"""

from __future__ import annotations

import os
import stat
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from codexbar.cost.cache import CachedFile, CostCache
from codexbar.cost.changes import store_watcher
from codexbar.cost.discovery import Found, discover
from codexbar.cost.scanner import DayResolver, FileState, scan_stream

Progress = Callable[[int, int], None]  # (bytes done, bytes to read)

# A compressed rollout inflates about 10x; one that inflates past this is not a rollout.
ZST_MIN_LIMIT = 256 << 20
ZST_MAX_RATIO = 200
FINGERPRINT_BYTES = 1024
# Below this much to read, starting the second process costs more than it saves.
PARALLEL_MIN_BYTES = 96 << 20
# How far ahead of the parser the kernel is asked to read (when the logs are not in memory).
PREFETCH_BYTES = 16 << 20
PREFETCH_FILES = 64


@dataclass
class ScanStats:
    files: int = 0
    files_from_cache: int = 0
    bytes_read: int = 0
    ms: int = 0
    files_listed: int = 0  # rollout files seen in the homes, in range or not


@dataclass
class Indexed:
    """The files of the range as this scan knows them."""

    files: dict[str, tuple[Found, CachedFile]] = field(default_factory=dict)
    stats: ScanStats = field(default_factory=ScanStats)
    problems: list[str] = field(default_factory=list)
    # The states of the files read this time: their sums are taken from here, not from the
    # cache, so a cache that could not be written never changes the figures.
    fresh: dict[str, FileState] = field(default_factory=dict)


def _open(found: Found):
    # O_NONBLOCK: a FIFO swapped in after discovery's stat must not block the scan.
    fd = os.open(found.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    handle = os.fdopen(fd, "rb", buffering=0)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(0, "not a regular file")
    if not found.compressed:
        return handle, handle
    import zstandard

    return handle, zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)


def fingerprint(fd: int, offset: int) -> bytes:
    """A hash of the file's first bytes and of the bytes just before `offset`: if either changed,
    the file was rewritten and what was parsed is no longer what it holds."""
    head = os.pread(fd, min(offset, FINGERPRINT_BYTES), 0)
    start = max(0, offset - FINGERPRINT_BYTES)
    tail = os.pread(fd, offset - start, start)
    # Not a defence against anyone, just change detection: two CRCs (zlib loads in a fraction
    # of the time hashlib's OpenSSL does, and this runs in every command's start-up).
    return (zlib.crc32(head) << 32 | zlib.crc32(tail, len(head))).to_bytes(8, "big")


_resolvers: dict[object, DayResolver] = {}


def _day_resolver(tz: tzinfo | None) -> DayResolver:
    """One resolver per zone and process, so its per-minute memo serves every file. The
    system zone is keyed by its current offsets: a laptop that changes zone gets a new one."""
    key = tz if tz is not None else ("system", time.timezone, time.altzone, time.tzname)
    resolver = _resolvers.get(key)
    if resolver is None:
        resolver = _resolvers[key] = DayResolver(tz)
    return resolver


@dataclass
class _Outcome:
    state: FileState | None  # None: the file was skipped (gone, unreadable)
    bytes_read: int = 0
    problem: str | None = None
    fingerprint: bytes | None = None


def _scan_file(
    item: Found,
    state: FileState,
    tz: tzinfo | None,
    tick: Callable[[int], None] | None = None,
) -> _Outcome:
    """Parse one file from its saved state to its end."""
    try:
        handle, stream = _open(item)
    except FileNotFoundError:
        return _Outcome(None)  # deleted since it was listed
    except OSError as error:
        return _Outcome(None, problem=f"{item.path}: {error.strerror or error}; skipped")
    problem = None
    try:
        if item.compressed:
            state = FileState()
            limit = max(ZST_MIN_LIMIT, ZST_MAX_RATIO * item.size)
        else:
            limit = None
            if state.offset:
                handle.seek(state.offset)
        read, complete = scan_stream(stream, state, _day_resolver(tz), tick, limit)
        if not complete:
            problem = (
                f"{item.path}: expands to more than {limit >> 20} MB, which no session log "
                "does; only that much was read"
            )
        mark = None if item.compressed else fingerprint(handle.fileno(), state.offset)
    except OSError as error:
        return _Outcome(None, problem=f"{item.path}: {error.strerror or error}; skipped")
    except Exception as error:  # a corrupt .zst stream, for one
        reason = type(error).__name__ if not str(error) else str(error)
        return _Outcome(None, problem=f"{item.path}: unreadable ({reason}); skipped")
    finally:
        handle.close()
    return _Outcome(state, read, problem, mark)


def _worker():
    """codexbar.cost.worker, imported only for a big cold scan (subprocess, threads, ctypes)."""
    from codexbar.cost import worker

    return worker


def _scan_all(
    jobs: list[tuple[Found, FileState]],
    tz: tzinfo | None,
    total: int,
    tick: Callable[[int], None],
) -> Iterator[tuple[Found, _Outcome]]:
    """Scan the planned files; a big cold scan is shared with a second process (the per-line
    Python work, not the disk, is what bounds it)."""
    if total < PARALLEL_MIN_BYTES or not _worker().usable(len(jobs), tz):
        yield from scan_in_order(jobs, tz, tick)
        return
    worker = _worker()
    mine, theirs = worker.split(jobs)
    child = worker.Child(jobs, theirs, tz)
    try:
        yield from scan_in_order([jobs[i] for i in mine], tz, tick)
        for i, answer in child.results():
            item, state = jobs[i]
            if answer is None:  # the child died: read this one here
                yield item, _scan_file(item, state, tz, tick)
                continue
            new_state, read, problem, mark = worker.outcome_fields(answer)
            tick(read)
            yield item, _Outcome(new_state, read, problem, mark)
    finally:
        child.stop()


def _prefetch(item: Found, offset: int) -> None:
    """Ask the kernel to start reading a file while the one before it is parsed: when the page
    cache no longer holds the logs, disk reads then overlap the Python work."""
    if not hasattr(os, "posix_fadvise") or item.compressed:
        return
    try:
        fd = os.open(item.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, offset, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass  # not a regular file, or a file system that cannot
    finally:
        os.close(fd)


def scan_in_order(
    jobs: list[tuple[Found, FileState]],
    tz: tzinfo | None,
    tick: Callable[[int], None] | None = None,
) -> Iterator[tuple[Found, _Outcome]]:
    """Scan files one after another, the next few megabytes already on their way."""
    ahead, queued = 0, 0  # the next job to prefetch; bytes asked for beyond the current file
    for number, (item, state) in enumerate(jobs):
        queued -= item.size - state.offset if number < ahead else 0
        if ahead <= number:
            ahead, queued = number + 1, 0
        while ahead < len(jobs) and queued < PREFETCH_BYTES and ahead - number <= PREFETCH_FILES:
            following, its_state = jobs[ahead]
            _prefetch(following, its_state.offset)
            queued += following.size - its_state.offset
            ahead += 1
        yield item, _scan_file(item, state, tz, tick)


def _still_the_same(item: Found, cached: CachedFile, offset: int) -> bool:
    """Whether the bytes parsed last time are still in place (only appended to)."""
    if cached.fingerprint is None:
        return False
    try:
        fd = os.open(item.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fingerprint(fd, offset) == cached.fingerprint
    except OSError:
        return False
    finally:
        os.close(fd)


def range_start_ms(since: date | None) -> int | None:
    """The earliest instant an event of the local day `since` can have, in any zone."""
    if since is None:
        return None
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) - timedelta(days=1)
    return int(start.timestamp() * 1000)


def _under(path: str, homes: list[Path]) -> bool:
    return any(path.startswith(os.path.join(home, "")) for home in homes)


def refresh(
    cache: CostCache,
    homes: list[Path],
    since: date | None,
    until: date | None,
    tz: tzinfo | None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Indexed:
    started = time.perf_counter()
    known = cache.files()
    since_ms = range_start_ms(since)
    found = discover(homes, since_ms, until, known, store_watcher(cache.store))
    result = Indexed(problems=list(found.problems))
    result.stats.files_listed = len(found.listed)
    if force:
        known = {}
    jobs: list[tuple[Found, FileState]] = []
    for item in found.files:
        cached = known.get(item.path)
        state = None
        if cached and (cached.dev, cached.ino) == (item.dev, item.ino):
            if (cached.size, cached.mtime_ns) == (item.size, item.mtime_ns):
                result.files[item.path] = (item, cached)
                result.stats.files_from_cache += 1
                continue
            if item.size > cached.size and not item.compressed:
                saved = cache.state(item.path)  # CacheError: the caller rebuilds, reads all
                if _still_the_same(item, cached, saved.offset):
                    state = saved
        jobs.append((item, state or FileState()))

    total = sum(item.size - state.offset for item, state in jobs)
    done = 0

    def tick(size: int) -> None:
        nonlocal done
        done += size
        if progress is not None:
            progress(done, total)

    updates: list[tuple[str, CachedFile, FileState]] = []
    for item, outcome in _scan_all(jobs, tz, total, tick):
        if outcome.problem is not None:
            result.problems.append(outcome.problem)
        if outcome.state is None:
            continue
        state = outcome.state
        result.stats.bytes_read += outcome.bytes_read
        meta = CachedFile(
            item.dev,
            item.ino,
            item.size,
            item.mtime_ns,
            state.session_id,
            state.project,
            state.last_event_ms,
            outcome.fingerprint,
        )
        updates.append((item.path, meta, state))
        result.fresh[item.path] = state
        result.files[item.path] = (item, meta)
    unlisted = known.keys() - found.listed  # cached, but not seen in the homes this time
    gone = [p for p in unlisted if _under(p, homes) and not os.path.lexists(p)]
    if updates or gone:
        cache.save(updates, gone)
    result.stats.files = len(result.files)
    result.stats.ms = round((time.perf_counter() - started) * 1000)
    return result
