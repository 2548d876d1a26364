"""Bring the cache up to date with the rollout files of a range: unchanged files cost one stat,
grown files are read from where parsing stopped, shrunk or replaced files are read again."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path

from codexbar.cost.cache import CachedFile, CacheError, CostCache
from codexbar.cost.discovery import Found, discover
from codexbar.cost.scanner import DayResolver, FileState, scan_stream

Progress = Callable[[int, int], None]  # (bytes done, bytes to read)


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

    days = DayResolver(tz)
    updates: list[tuple[str, CachedFile, FileState]] = []
    for item, resume in plan:
        state = FileState()
        if resume:
            try:
                state = cache.state(item.path)
            except CacheError as error:
                cache.rebuild(error)
                state = FileState()
        try:
            handle, stream = _open(item)
        except FileNotFoundError:
            continue  # deleted since it was listed
        except OSError as error:
            result.problems.append(f"{item.path}: {error.strerror or error}; skipped")
            continue
        try:
            if state.offset and not item.compressed:
                handle.seek(state.offset)
            elif item.compressed:
                state = FileState()
            result.stats.bytes_read += scan_stream(stream, state, days, tick)
        except OSError as error:
            result.problems.append(f"{item.path}: {error.strerror or error}; skipped")
            continue
        except Exception as error:  # a corrupt .zst stream, for one
            result.problems.append(f"{item.path}: unreadable ({error}); skipped")
            continue
        finally:
            handle.close()
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
