"""What the day-level cost cache cannot tell: hour buckets, single responses and live sessions.

The lines are decoded and counted by the cost scanner's own `Parser` (codexbar/cost/scanner.py),
so every response here is one the cost totals count, with the same tokens. A subclass only
watches what the parser already does: each counted response (`_add`), and the context-window
size Codex states with each token count. Nothing is parsed twice by other rules.

Files are indexed on demand and kept in memory for the dashboard's lifetime: an unchanged file
costs one `stat`, a grown one is read from where parsing stopped.
"""

from __future__ import annotations

import heapq
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path

from codexbar.cost.discovery import Found, discover
from codexbar.cost.index import range_start_ms
from codexbar.cost.scanner import LONG_CONTEXT_INPUT, DayResolver, FileState, Parser, When
from codexbar.safe_files import UnreadableFile, open_regular


@dataclass(frozen=True)
class Event:
    """One model response as the cost scanner counted it."""

    ms: int  # epoch milliseconds
    day: str  # local day
    utc_day: str
    model: str
    effort: str
    input_tokens: int  # includes cached and cache-write input
    cached_input_tokens: int
    cache_write_input_tokens: int
    output_tokens: int  # includes reasoning
    reasoning_output_tokens: int

    @property
    def long_context(self) -> bool:
        return self.input_tokens > LONG_CONTEXT_INPUT

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class FileIndex:
    """Everything the dashboard knows about one rollout file."""

    found: Found
    state: FileState
    events: list[Event] = field(default_factory=list)  # in the order the file holds them
    # (local day, UTC hour as epoch hours, model, UTC day, long context) -> the five token
    # counters and the response count: what hour charts add up, without walking every event.
    hours: dict[tuple[str, int, str, str, bool], list[int]] = field(default_factory=dict)

    @property
    def last_event(self) -> Event | None:
        return self.events[-1] if self.events else None


# Codex states the model's context window when a turn starts and in every token count; the
# counting rules skip those lines, so it is looked up in the file's tail, for live sessions only.
_CONTEXT_WINDOW = re.compile(rb'"model_context_window":(\d{1,12})')
_TAIL_BYTES = 256 * 1024


def last_context_window(path: str) -> int | None:
    """The last context-window size stated in the final 256 KB of a rollout, if any."""
    try:
        fd = open_regular(Path(path))
    except UnreadableFile:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read(_TAIL_BYTES)
        except OSError:
            return None
    matches = _CONTEXT_WINDOW.findall(tail)
    if not matches or int(matches[-1]) == 0:
        return None
    return int(matches[-1])


class _WatchingParser(Parser):
    """The scanner's parser, also keeping each counted response."""

    def __init__(self, index: FileIndex, days: DayResolver) -> None:
        super().__init__(index.state, days)
        self.index = index

    def _add(self, when: When, usage: list[int], hint: str | None) -> None:
        super()._add(when, usage, hint)
        state = self.state
        day, _hour, utc_day, ms = when
        model = state.model or hint or "unknown"
        event = Event(ms, day, utc_day, model, state.effort or "", *usage)
        self.index.events.append(event)
        key = (event.day, event.ms // 3_600_000, event.model, event.utc_day, event.long_context)
        cell = self.index.hours.get(key)
        if cell is None:
            self.index.hours[key] = [*usage, 1]
        else:
            for i in range(5):
                cell[i] += usage[i]
            cell[5] += 1


class RecentIndex:
    """Per-file events of the Codex homes, refreshed on demand; safe to share between threads."""

    def __init__(self, homes: Sequence[Path], tz: tzinfo | None = None) -> None:
        self.homes = [Path(h) for h in homes]
        self.tz = tz
        self.files: dict[str, FileIndex] = {}
        self.problems: list[str] = []
        self._lock = threading.Lock()

    def refresh(self, since: date | None, until: date | None) -> list[FileIndex]:
        """The files that can hold events between `since` and `until` (local days), up to date;
        one file per session (the longer copy wins, as in the cost totals)."""
        found = discover(self.homes, range_start_ms(since), until)
        with self._lock:
            self.problems = list(found.problems)
            for item in found.files:
                self._update(item)
            chosen = [self.files[f.path] for f in found.files if f.path in self.files]
        return _one_file_per_session(chosen)

    def refresh_newest(
        self, since: date | None, until: date | None, homes: set[str], limit: int
    ) -> list[FileIndex]:
        """Enough of the newest files of the range to hold its `limit` newest events: files are
        read newest first (by modification time, which no event in a file is later than) until
        the next one cannot hold an event newer than the `limit`-th collected."""
        found = discover(self.homes, range_start_ms(since), until)
        lo = since.isoformat() if since else None
        hi = (until or date.max).isoformat()
        candidates = sorted(
            (f for f in found.files if any(f.path.startswith(h + "/") for h in homes)),
            key=lambda f: -f.mtime_ns,
        )
        chosen: list[FileIndex] = []
        newest: list[int] = []  # a min-heap of the `limit` newest event times seen so far
        with self._lock:
            self.problems = list(found.problems)
            for item in candidates:
                if len(newest) >= limit and item.mtime_ns // 1_000_000 < newest[0]:
                    break
                self._update(item)
                index = self.files.get(item.path)
                if index is None:
                    continue
                chosen.append(index)
                for ms in _newest_times(index, lo, hi, limit):
                    if len(newest) < limit:
                        heapq.heappush(newest, ms)
                    elif ms > newest[0]:
                        heapq.heapreplace(newest, ms)
                    else:
                        break  # the file's older events cannot enter either
        return _one_file_per_session(chosen)

    def recently_written(self, since_epoch: float, days: tuple[date, date]) -> list[FileIndex]:
        """Files written to after `since_epoch` (for active sessions): only those are parsed."""
        found = discover(self.homes, int(since_epoch * 1000), days[1])
        fresh = [f for f in found.files if f.mtime_ns / 1e9 >= since_epoch]
        with self._lock:
            for item in fresh:
                self._update(item)
            chosen = [self.files[f.path] for f in fresh if f.path in self.files]
        return _one_file_per_session(chosen)

    def _update(self, item: Found) -> None:
        known = self.files.get(item.path)
        if known is not None:
            same_file = (known.found.dev, known.found.ino) == (item.dev, item.ino)
            if same_file and (known.found.size, known.found.mtime_ns) == (item.size, item.mtime_ns):
                return
            if not (same_file and item.size > known.found.size and not item.compressed):
                known = None  # shrunk, replaced or compressed: read it again from the start
        index = known or FileIndex(item, FileState())
        index.found = item
        try:
            self._parse(index)
        except OSError as error:
            self.problems.append(f"{item.path}: {error.strerror or error}; skipped")
            self.files.pop(item.path, None)
            return
        self.files[item.path] = index

    def _parse(self, index: FileIndex) -> None:
        item = index.found
        with open(item.path, "rb", buffering=0) as handle:
            if item.compressed:
                import zstandard

                index.state, index.events, index.hours = FileState(), [], {}
                stream = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)
            else:
                handle.seek(index.state.offset)
                stream = handle
            parser = _WatchingParser(index, DayResolver(self.tz))
            parser.run(stream)
        index.state.buckets = {}  # the day sums belong to the cost cache; keep memory small


def _one_file_per_session(files: Iterable[FileIndex]) -> list[FileIndex]:
    """The same session in sessions/ and archived_sessions/ counts once: the longer copy, and on
    a tie the live one (the rule of codexbar.cost.summary's file choice)."""
    best: dict[str, tuple[tuple[int, int, str], FileIndex]] = {}
    for index in files:
        key = index.state.session_id or index.found.path
        rank = (index.found.size, 0 if index.found.archived else 1, index.found.path)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, index)
    return [index for _, index in best.values()]


def _newest_times(index: FileIndex, lo: str | None, hi: str, limit: int) -> Iterable[int]:
    """Up to `limit` event times of lo..hi from the end of one file, newest first."""
    taken = 0
    for event in reversed(index.events):
        if (lo is None or event.day >= lo) and event.day <= hi:
            yield event.ms
            taken += 1
            if taken >= limit:
                return


def newest_events(
    files: Iterable[FileIndex], lo: str | None, hi: str, limit: int
) -> list[tuple[FileIndex, Event]]:
    """The `limit` newest events of lo..hi, newest first. A file holds its events in time order,
    so each file is read backwards, and only while its events can still be among the newest."""
    heap: list[tuple[int, int, int]] = []  # (ms, file number, event number): the newest so far
    files = list(files)
    for n, index in enumerate(files):
        events = index.events
        taken = 0
        for i in range(len(events) - 1, -1, -1):
            event = events[i]
            if (lo is not None and event.day < lo) or event.day > hi:
                continue
            item = (event.ms, n, i)
            if len(heap) < limit:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
            else:
                break
            taken += 1
            if taken >= limit:
                break
    return [(files[n], files[n].events[i]) for _, n, i in sorted(heap, reverse=True)]


def project_name(index: FileIndex) -> str:
    return index.state.project or "unknown"


def session_name(index: FileIndex) -> str:
    return index.state.session_id or os.path.basename(index.found.path)
