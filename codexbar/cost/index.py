"""Bring the cache up to date with the rollout files of a range: unchanged files cost one stat,
grown files are read from where parsing stopped (after checking that the bytes before that point
are still the ones parsed), shrunk, replaced or rewritten files are read again.

Small scans (a warm run, an append) read in this process. A big cold scan shares the files
with one child process (codexbar/cost/worker.py), which dies with this one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from codexbar.cost.cache import CachedFile, CostCache
from codexbar.cost.changes import store_watcher
from codexbar.cost.discovery import Found, discover
from codexbar.cost.files import Job, Outcome, fingerprint, scan_in_order
from codexbar.cost.scanner import FileState

Progress = Callable[[int, int], None]  # (bytes done, bytes to read)

# Below this much to read, starting the second process costs more than it saves.
PARALLEL_MIN_BYTES = 96 << 20


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


def _scan_all(
    jobs: list[Job],
    tz: tzinfo | None,
    total: int,
    tick: Callable[[int], None],
) -> Iterator[tuple[Found, Outcome]]:
    """Scan the planned files; a big cold scan is shared with a second process (the per-line
    Python work, not the disk, is what bounds it)."""
    if total >= PARALLEL_MIN_BYTES:
        # imported only for a big scan (subprocess, threads, ctypes)
        from codexbar.cost import worker

        if worker.usable(len(jobs), tz):
            yield from worker.scan_shared(jobs, tz, tick)
            return
    yield from scan_in_order(jobs, tz, tick)


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
    # The files that have rows to replace, even when forced: a view, not a copy (a warm
    # refresh of 8,000 files would copy them all for nothing); the dict behind it changes
    # only when the writer commits, after the last use below.
    stored = known.keys()
    since_ms = range_start_ms(since)
    found = discover(homes, since_ms, until, known, store_watcher(cache.store))
    result = Indexed(problems=list(found.problems))
    result.stats.files_listed = len(found.listed)
    if force:
        known = {}
    jobs: list[Job] = []
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

    writer = cache.writer(stored)
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
        writer.add(item.path, meta, state)
        result.fresh[item.path] = state
        result.files[item.path] = (item, meta)
    unlisted = stored - found.listed  # cached, but not seen in the homes this time
    gone = [p for p in unlisted if _under(p, homes) and not os.path.lexists(p)]
    writer.finish(gone)
    result.stats.files = len(result.files)
    result.stats.ms = round((time.perf_counter() - started) * 1000)
    return result
