"""Bring the cache up to date with the rollout files of a range: unchanged files cost one stat,
grown files are read from where parsing stopped, shrunk or replaced files are read again."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path

from codexbar.cost.cache import CachedFile, CacheError, CostCache
from codexbar.cost.discovery import Found, discover
from codexbar.cost.scanner import DayResolver, FileState, scan_stream

Progress = Callable[[int, int], None]  # (bytes done, bytes to read)

# Below this much to read, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 256 * 1024 * 1024
MAX_WORKERS = 4


@dataclass
class ScanStats:
    files: int = 0
    files_from_cache: int = 0
    bytes_read: int = 0
    ms: int = 0


@dataclass
class Indexed:
    """The files of the range as the cache now knows them."""

    files: dict[str, tuple[Found, CachedFile]] = field(default_factory=dict)
    stats: ScanStats = field(default_factory=ScanStats)
    problems: list[str] = field(default_factory=list)
    # Sums of the files read this time, for when the cache cannot be written.
    fresh: dict[str, FileState] = field(default_factory=dict)


def _open(found: Found):
    handle = open(found.path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
    if not found.compressed:
        return handle, handle
    import zstandard

    return handle, zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)


_resolvers: dict[object, DayResolver] = {}
_MAX_MEMO_MINUTES = 200_000


def _day_resolver(tz: tzinfo | None) -> DayResolver:
    """One resolver per zone and process, so its per-minute memo serves every file. The
    system zone is keyed by its current offsets: a laptop that changes zone gets a new one."""
    key = tz if tz is not None else ("system", time.timezone, time.altzone, time.tzname)
    resolver = _resolvers.get(key)
    if resolver is None or len(resolver._minutes) > _MAX_MEMO_MINUTES:
        resolver = _resolvers[key] = DayResolver(tz)
    return resolver


@dataclass
class _Outcome:
    state: FileState | None  # None: the file was skipped (gone, unreadable)
    bytes_read: int = 0
    problem: str | None = None


def _scan_file(
    item: Found, state: FileState, tz: tzinfo | None, tick: Callable[[int], None] | None = None
) -> _Outcome:
    """Parse one file from its saved state to its end."""
    try:
        handle, stream = _open(item)
    except FileNotFoundError:
        return _Outcome(None)  # deleted since it was listed
    except OSError as error:
        return _Outcome(None, problem=f"{item.path}: {error.strerror or error}; skipped")
    try:
        if state.offset and not item.compressed:
            handle.seek(state.offset)
        elif item.compressed:
            state = FileState()
        read = scan_stream(stream, state, _day_resolver(tz), tick)
    except OSError as error:
        return _Outcome(None, problem=f"{item.path}: {error.strerror or error}; skipped")
    except Exception as error:  # a corrupt .zst stream, for one
        return _Outcome(None, problem=f"{item.path}: unreadable ({error}); skipped")
    finally:
        handle.close()
    return _Outcome(state, read)


def _scan_one_job(job: tuple[Found, FileState, tzinfo | None]) -> _Outcome:
    return _scan_file(*job)


def _scan_all(
    jobs: list[tuple[Found, FileState]],
    tz: tzinfo | None,
    total: int,
    tick: Callable[[int], None],
) -> Iterator[tuple[Found, _Outcome]]:
    """Scan the planned files; a big cold scan is spread over the cores, since the per-line
    Python work, not the disk, is what bounds it."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2 or total < PARALLEL_MIN_BYTES or len(jobs) < 2:
        for item, state in jobs:
            yield item, _scan_file(item, state, tz, tick)
        return
    # Largest files first, so no worker is left with one big file at the end.
    jobs = sorted(jobs, key=lambda job: job[0].size, reverse=True)
    # Not "fork": the tray scans from a background thread, and forking a threaded process can
    # copy a held lock into the child.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        outcomes = pool.map(_scan_one_job, [(item, state, tz) for item, state in jobs], chunksize=4)
        for (item, _state), outcome in zip(jobs, outcomes, strict=True):
            tick(item.size)
            yield item, outcome


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
    found = discover(homes, since, until)
    result = Indexed(problems=list(found.problems))
    known = {} if force else cache.files()
    plan: list[tuple[Found, bool]] = []  # (file, resume from the saved offset)
    for item in found.files:
        cached = known.get(item.path)
        if cached and (cached.dev, cached.ino) == (item.dev, item.ino):
            if (cached.size, cached.mtime_ns) == (item.size, item.mtime_ns):
                result.files[item.path] = (item, cached)
                result.stats.files_from_cache += 1
                continue
            if item.size > cached.size and not item.compressed:
                plan.append((item, True))
                continue
        plan.append((item, False))
    total = sum(item.size for item, _ in plan)
    done = 0

    def tick(size: int) -> None:
        nonlocal done
        done += size
        if progress is not None:
            progress(done, total)

    jobs: list[tuple[Found, FileState]] = []
    for item, resume in plan:
        state = FileState()
        if resume:
            try:
                state = cache.state(item.path)
            except CacheError as error:
                cache.rebuild(error)
                state = FileState()
        jobs.append((item, state))

    updates: list[tuple[str, CachedFile, FileState]] = []
    for item, outcome in _scan_all(jobs, tz, total, tick):
        if outcome.problem is not None:
            result.problems.append(outcome.problem)
        if outcome.state is None:
            continue
        state = outcome.state
        result.stats.bytes_read += outcome.bytes_read
        meta = CachedFile(
            item.dev, item.ino, item.size, item.mtime_ns, state.session_id, state.project
        )
        updates.append((item.path, meta, state))
        result.fresh[item.path] = state
        result.files[item.path] = (item, meta)
    if updates:
        gone = [p for p in known if p not in result.files and not os.path.exists(p)]
        cache.save(updates, gone)
    result.stats.files = len(result.files)
    result.stats.ms = round((time.perf_counter() - started) * 1000)
    return result
