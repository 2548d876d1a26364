"""One rollout file at a time: find the few lines that carry usage, turn them into exact sums.

A rollout is mostly bulky conversation lines (tool output, encrypted reasoning). Python never
looks inside those: C code (`bytearray.find` of a newline, which is memchr) jumps from one line
to the next, and only the first bytes of a line are looked at to learn its type. Only the small
usage-carrying lines (`token_usage_record`, `token_count`, `turn_context`,
`thread_settings_applied`) are decoded. One read buffer serves every file of a process.

Counting rules (see codex-formats.md §2.5 and §2.7):
* a `token_usage_record` is one model response: counted once per `response_id`, and only when it
  belongs to this thread (a fork copies its parent's records, which carry the parent's thread id);
* a `token_count` counts the field-wise growth of `total_token_usage` since the highest totals
  seen, unless a record already counted that response; re-emitted totals add nothing, a counter
  that goes backwards falls back to `last_token_usage` (never more than the new totals), and
  estimate-only usage (input = output = 0) is ignored;
* a `token_count` with only `last_token_usage` counts that response and moves the running totals
  on by it, so a later cumulative total does not count it again;
* a fork's first burst of lines replays its parent's history, and so does the first second of a
  sub-agent's file (builds up to about 0.147): those counters set the baseline and add nothing;
* a complete JSON object on the last line counts even before its newline is written (it is then
  consumed, so the newline adds nothing); a partial line is never consumed;
* a counter beyond any real size (a 100-digit number, infinity) makes that usage object unusable;
  the rest of the line and the file still count.

The parser's whole state is a small JSON-able dict, so a grown file resumes where it stopped.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, BinaryIO

import orjson

# Bump when counting changes: every cached file is then read again.
PARSER_VERSION = 4

# The read buffer; also the longest line that is looked at (a longer one is skipped whole).
CHUNK = 8 << 20
# A line's type is in its first bytes: `{"timestamp":"…","ordinal":N,"type":"…"`.
HEAD = 160
TYPE_KEY = b'"type":"'
# The bytes right after a line's first `"type":"`, for the lines that carry usage.
EVENT_TOKEN_COUNT = b'event_msg","payload":{"type":"token_count"'
EVENT_SETTINGS = b'event_msg","payload":{"type":"thread_settings_applied"'
TURN_CONTEXT = b'turn_context"'
USAGE_RECORD = b'token_usage_record"'
USAGE_KIND = "token_usage_record"
SESSION_META = b'session_meta"'
# A line without a recognisable head (older shapes) is decoded only if it mentions one of these.
FALLBACK_NEEDLE = b'"type":"t'
LONG_CONTEXT_INPUT = 272_000
# A fork's replayed lines are written in one burst; a real model response takes longer.
BURST_GAP_MS = 1000
RECENT_TOTALS = 16
RECENT_RESPONSES = 16  # a re-emitted record follows its original closely
# No real counter comes near this (10 trillion tokens); a bigger one is garbage, not usage.
MAX_TOKENS = 10**13

# input (incl. cached), cached input, cache-write input, output (incl. reasoning), reasoning
FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)

# (local day, local hour, UTC day, model, effort, long-context) -> [input, cached, cache_write,
# output, reasoning, responses]
BucketKey = tuple[str, int, str, str, str, int]
Buckets = dict[BucketKey, list[int]]
When = tuple[str, int, str, int]  # (local day, local hour, UTC day, epoch ms)


def _count(value: Any) -> int | None:
    """A token counter as a non-negative int; None when it cannot be a real count."""
    if type(value) is int:
        return value if 0 <= value <= MAX_TOKENS else (0 if value < 0 else None)
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, float):
        if not math.isfinite(value) or value > MAX_TOKENS:
            return None
        return max(0, int(value))
    return 0


def usage_vector(usage: Any) -> list[int] | None:
    """The five counters of a TokenUsage object, clamped so the subsets stay subsets; None when
    it is not an object or a counter is out of any real range."""
    if not isinstance(usage, dict):
        return None
    plain = _plain_usage(usage)
    return list(plain) if plain is not None else _usage_vector_slow(usage.get)


def _plain_usage(usage: dict[str, Any]) -> tuple[int, int, int, int, int] | None:
    """The five counters when they are plain ints in range — what `usage_vector` returns then,
    as a tuple; None for any other usage object (which `usage_vector` is left to judge)."""
    get = usage.get
    inp, cached, write = (
        get("input_tokens"),
        get("cached_input_tokens"),
        get("cache_write_input_tokens", 0),
    )
    out, reasoning = get("output_tokens"), get("reasoning_output_tokens")
    if (
        type(inp) is int
        and type(cached) is int
        and type(write) is int
        and type(out) is int
        and type(reasoning) is int
        and 0 < inp <= MAX_TOKENS
        and 0 <= cached <= inp
        and 0 <= write <= inp - cached
        and 0 <= reasoning <= out <= MAX_TOKENS
    ):
        return inp, cached, write, out, reasoning
    return None


def _usage_vector_slow(get: Callable[[str], Any]) -> list[int] | None:
    cached = get("cached_input_tokens")
    if cached is None:
        cached = get("cache_read_input_tokens")
    values = [
        _count(get("input_tokens")),
        _count(cached),
        _count(get("cache_write_input_tokens")),
        _count(get("output_tokens")),
        _count(get("reasoning_output_tokens")),
    ]
    if None in values:
        return None
    inp, cached, write, out, reasoning = values  # type: ignore[misc]
    if not inp and not out and not cached and _count(get("total_tokens")):
        return [0, 0, 0, 0, 0]  # an estimate: a total with no input or output behind it
    if cached > inp:
        cached = inp
    if write > inp - cached:
        write = inp - cached
    return [inp, cached, write, out, reasoning if reasoning <= out else out]


# "MM:SS" -> ms into the hour, "fff" -> ms: a dict lookup where int() on three slices cost a
# tenth of parsing a usage line.
_MS_OF_SECOND = {f"{m:02d}:{s:02d}": m * 60_000 + s * 1000 for m in range(60) for s in range(60)}
_MS_OF_MILLI = {f"{n:03d}": n for n in range(1000)}


class DayResolver:
    """UTC timestamp text -> (local day, local hour, UTC day, epoch ms).

    Memoised per UTC hour: the zone's offset at the hour's first and last second. When the two
    agree, an event's local time is its UTC time plus that offset, to the second — right for a
    zone whose offset has seconds (a POSIX TZ such as `XXX-7:10:21`), whose local midnight falls
    inside a UTC minute. An hour in which the offset changes is resolved event by event. Nothing
    is memoised per local day, so no memo spans a local midnight."""

    def __init__(self, tz: tzinfo | None) -> None:
        self.tz = tz
        self._hours: dict[str, tuple[int, str, int | None, str | None, int]] = {}
        self._days: dict[int, str] = {}

    def _offset(self, epoch: int) -> int:
        if self.tz is None:
            return time.localtime(epoch).tm_gmtoff
        offset = datetime.fromtimestamp(epoch, self.tz).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def _hour(self, key: str) -> tuple[int, str, int | None, str | None, int]:
        """(epoch of the UTC hour, UTC day, offset or None, local day, local hour); the local day
        and hour are filled in only when the whole UTC hour is one local hour (a whole-hour
        offset that does not change within it)."""
        y, m, d, h = int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13])
        datetime(y, m, d, h)  # ValueError for month 13, hour 25, ...
        epoch = calendar.timegm((y, m, d, h, 0, 0, 0, 0, 0))
        offset = self._offset(epoch)
        if self._offset(epoch + 3599) != offset:
            return epoch, key[:10], None, None, 0  # the offset changes within this hour
        if offset % 3600:
            return epoch, key[:10], offset, None, 0  # local hours start inside UTC hours
        day, hour = self._local(epoch, offset)
        return epoch, key[:10], offset, day, hour

    def _local(self, epoch: int, offset: int | None) -> tuple[str, int]:
        if offset is None:
            offset = self._offset(epoch)
        local = epoch + offset
        number = local // 86400
        day = self._days.get(number)
        if day is None:
            day = self._days[number] = time.strftime("%Y-%m-%d", time.gmtime(number * 86400))
        return day, local % 86400 // 3600

    def resolve(self, ts: Any) -> When | None:
        if not isinstance(ts, str) or len(ts) < 16:
            return None
        if len(ts) >= 20 and ts[-1] == "Z" and ts[10] == "T" and ts[13] == ":" and ts[16] == ":":
            key = ts[:13]
            hit = self._hours.get(key)
            try:
                if hit is None:
                    hit = self._hour(key)
                    if len(self._hours) > 100_000:
                        self._hours.clear()
                    self._hours[key] = hit
                if len(ts) == 24 and ts[19] == ".":  # Codex's own: milliseconds
                    second, milli = _MS_OF_SECOND.get(ts[14:19]), _MS_OF_MILLI.get(ts[20:23])
                    if second is not None and milli is not None:
                        ms = second + milli
                    else:  # a leap second, or not digits: what int() makes of it
                        ms = int(ts[14:16]) * 60_000 + int(ts[17:19]) * 1000 + int(ts[20:23])
                else:
                    frac = ts[20:23] if ts[19:20] == "." else ""
                    ms = int(ts[14:16]) * 60_000 + int(ts[17:19]) * 1000
                    ms += int(frac.ljust(3, "0")) if frac else 0
            except ValueError:
                return None
            if ms >= 3_600_000 or ms < 0:
                return None
            epoch_ms = hit[0] * 1000 + ms
            if hit[3] is not None:
                return hit[3], hit[4], hit[1], epoch_ms
            day, hour = self._local(epoch_ms // 1000, hit[2])
            return day, hour, hit[1], epoch_ms
        try:
            moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None  # Codex writes UTC with a zone; a bare time is ambiguous
        epoch = moment.timestamp()
        utc_day = time.strftime("%Y-%m-%d", time.gmtime(int(epoch)))
        day, hour = self._local(math.floor(epoch), None)
        return day, hour, utc_day, int(epoch * 1000)


@dataclass
class FileState:
    """Everything needed to resume parsing a file after its last complete line."""

    offset: int = 0
    started: bool = False
    session_id: str | None = None
    project: str | None = None
    forked: bool = False
    burst: bool = False
    replay_end_ms: int | None = None  # a sub-agent's replayed history ends at this instant
    last_ms: int | None = None
    last_event_ms: int | None = None  # the newest timestamp of a line that carries usage
    model: str | None = None
    effort: str | None = None
    watermark: list[int] | None = None
    recent: list[list[int]] = field(default_factory=list)
    record_pending: int = 0
    response_ids: list[str] = field(default_factory=list)
    buckets: Buckets = field(default_factory=dict)
    # `recent` and `response_ids` as sets, for the membership test every response makes; not
    # saved, rebuilt from the lists when needed.
    _recent_set: set[tuple[int, ...]] | None = field(default=None, repr=False, compare=False)
    _response_set: set[str] | None = field(default=None, repr=False, compare=False)
    # Running totals of records not yet folded into `recent` and `watermark` (see `fold`).
    _unfolded: list[tuple[int, ...]] | None = field(default=None, repr=False, compare=False)

    def fields(self) -> dict[str, Any]:
        """Everything but the sums, as JSON-able values."""
        self.fold()
        return {k: v for k, v in self.__dict__.items() if k not in _UNSAVED}

    def note_totals(self, total: tuple[int, ...]) -> None:
        """Running totals that only move the baseline on (a record's: it counts its own usage).
        Kept aside and folded in by `fold`, in one go, before anything reads the baseline."""
        unfolded = self._unfolded
        if unfolded is None:
            self._unfolded = [total]
        else:
            unfolded.append(total)

    def fold(self) -> None:
        """What `Parser._total_delta` would have done with each noted total, in order: a total
        seen lately changes nothing; any other joins `recent` and raises `watermark` to the
        field-wise maximum (whether or not it went backwards)."""
        unfolded = self._unfolded
        if not unfolded:
            return
        self._unfolded = None
        seen = self._recent_set
        if seen is None:
            seen = self._recent_set = {tuple(t) for t in self.recent}
        if len(set(unfolded)) == len(unfolded) and seen.isdisjoint(unfolded):
            # The usual run of new totals: all of them join, the oldest fall out.
            recent = self.recent
            recent.extend([list(t) for t in unfolded])
            seen.update(unfolded)
            if len(recent) > RECENT_TOTALS:
                for old in recent[: len(recent) - RECENT_TOTALS]:
                    seen.discard(tuple(old))
                del recent[: len(recent) - RECENT_TOTALS]
            fresh = unfolded
        else:
            fresh = [t for t in unfolded if not self.seen_total(list(t))]
        if fresh:
            mark = self.watermark
            columns = zip(*fresh, strict=True) if mark is None else zip(mark, *fresh, strict=True)
            self.watermark = [max(column) for column in columns]

    def seen_response(self, rid: str) -> bool:
        """Whether `rid` is one of the last RECENT_RESPONSES responses counted; remembers it."""
        seen = self._response_set
        if seen is None:
            seen = self._response_set = set(self.response_ids)
        if rid in seen:
            return True
        ids = self.response_ids
        ids.append(rid)
        seen.add(rid)
        if len(ids) > RECENT_RESPONSES:
            seen.discard(ids.pop(0))
        return False

    def seen_total(self, total: list[int]) -> bool:
        """Whether these running totals are among the last RECENT_TOTALS; remembers them."""
        seen = self._recent_set
        if seen is None:
            seen = self._recent_set = {tuple(t) for t in self.recent}
        key = tuple(total)
        if key in seen:
            return True
        recent = self.recent
        recent.append(total)
        seen.add(key)
        if len(recent) > RECENT_TOTALS:
            seen.discard(tuple(recent.pop(0)))
        return False

    def to_json(self) -> bytes:
        return orjson.dumps(self.fields())

    @classmethod
    def from_fields(cls, data: Any, buckets: Buckets) -> FileState:
        if not isinstance(data, dict):
            raise ValueError("the saved parser state is not an object")
        state = cls(**data)
        state.buckets = buckets
        return state

    @classmethod
    def from_json(cls, raw: bytes | str, buckets: Buckets) -> FileState:
        return cls.from_fields(orjson.loads(raw), buckets)


_UNSAVED = frozenset(("buckets", "_recent_set", "_response_set", "_unfolded"))

_buffer: bytearray | None = None


def _shared_buffer() -> bytearray:
    """The process's read buffer: allocating 8 MB per file cost a seventh of a cold scan of many
    small files."""
    global _buffer
    if _buffer is None or len(_buffer) != CHUNK:
        _buffer = bytearray(CHUNK)
    return _buffer


class Parser:
    """Feeds one file's bytes (from `state.offset`) through the counting rules."""

    def __init__(self, state: FileState, days: DayResolver) -> None:
        self.state = state
        self.days = days
        self.bytes_read = 0

    # -- reading ------------------------------------------------------------------------------

    def run(
        self,
        stream: BinaryIO,
        progress: Callable[[int], None] | None = None,
        limit: int | None = None,
    ) -> bool:
        """Read to the end (or `limit` bytes); `state.offset` ends just past the last complete
        line. Returns False when `limit` stopped the read."""
        state = self.state
        buffer = _shared_buffer()
        view = memoryview(buffer)
        base = state.offset  # file offset of buffer[0]
        filled = 0  # buffer[:filled] holds a line whose end has not been read yet
        skipping = False  # inside a line longer than the buffer: never a usage line
        try:
            while True:
                size = stream.readinto(view[filled:])
                if not size:
                    break
                self.bytes_read += size
                if progress is not None:
                    progress(size)
                if limit is not None and self.bytes_read > limit:
                    return False
                size += filled
                start = 0
                if skipping:
                    newline = buffer.find(b"\n", 0, size)
                    if newline < 0:
                        base, filled = base + size, 0
                        continue
                    skipping, start = False, newline + 1
                    state.offset = base + start
                    state.started = True
                end = buffer.rfind(b"\n", start, size) + 1
                if end:
                    self._lines(buffer, start, end)
                    state.offset = base + end
                    start = end
                if start == 0 and size == CHUNK:
                    skipping, base, filled = True, base + size, 0
                else:
                    filled = size - start
                    if filled:
                        buffer[:filled] = view[start:size]
                    base += start
            if filled and not skipping and self._last_line(buffer, filled):
                state.offset = base + filled  # a complete object whose newline is not written
        finally:
            view.release()
        return True

    def _lines(self, data: bytearray, start: int, end: int) -> None:
        """Handle the complete lines in data[start:end] (end is just past a newline)."""
        state = self.state
        if not state.started:
            newline = data.find(b"\n", start, end)
            self._first_line(data, start, newline)
            state.started = True
            start = newline + 1
        find, startswith = data.find, data.startswith
        while start < end:
            newline = find(b"\n", start, end)
            limit = start + HEAD
            head = find(TYPE_KEY, start, newline if newline < limit else limit)
            if head < 0:
                if newline - start > 1 and find(FALLBACK_NEEDLE, start, newline) >= 0:
                    self._decode_dispatch(data, start, newline)
            else:
                value = head + 8
                first = data[value]
                if first == 101:  # "e": event_msg
                    if startswith(EVENT_TOKEN_COUNT, value):
                        if state.record_pending == 2:
                            # The record just before it carried the thread's totals.
                            state.record_pending = 0
                        else:
                            self._decode_dispatch(data, start, newline)
                    elif startswith(EVENT_SETTINGS, value):
                        self._decode_dispatch(data, start, newline)
                elif first == 116:  # "t": token_usage_record, turn_context
                    if startswith(USAGE_RECORD, value):
                        self._record_line(data, start, newline)
                    elif startswith(TURN_CONTEXT, value):
                        self._decode_dispatch(data, start, newline)
            start = newline + 1

    def _last_line(self, data: bytearray, end: int) -> bool:
        """A last line without its newline: handled, and consumed (True), only when it is a
        complete JSON object of a kind that carries usage. A prefix of a line is never a whole
        JSON object, so a line still being written is left for the next read."""
        head = data.find(TYPE_KEY, 0, min(end, HEAD))
        if head >= 0:
            value = head + 8
            if not any(
                data.startswith(kind, value)
                for kind in (EVENT_TOKEN_COUNT, EVENT_SETTINGS, USAGE_RECORD, TURN_CONTEXT)
            ) and not (not self.state.started and data.startswith(SESSION_META, value)):
                return False
        obj = self._decode(data, 0, end)
        if not isinstance(obj, dict):
            return False
        if not self.state.started:
            self.state.started = True
            self._first_object(obj)
        else:
            if obj.get("type") == "event_msg" and self.state.record_pending == 2:
                payload = obj.get("payload")
                if isinstance(payload, dict) and payload.get("type") == "token_count":
                    self.state.record_pending = 0
                    return True
            self._dispatch(obj)
        return True

    def _first_line(self, data: bytearray, start: int, end: int) -> None:
        obj = self._decode(data, start, end)
        if isinstance(obj, dict):
            self._first_object(obj)

    def _first_object(self, obj: dict[str, Any]) -> None:
        if obj.get("type") == "session_meta":
            meta = obj.get("payload")
            self._session_meta(meta if isinstance(meta, dict) else {}, obj.get("timestamp"))
        elif isinstance(obj.get("id"), str) and "type" not in obj:
            # bare-era first line: {id, timestamp, instructions, git}
            self._session_meta(obj, obj.get("timestamp"))
        else:
            self._dispatch(obj)

    def _decode_dispatch(self, data: bytearray, start: int, end: int) -> None:
        try:
            obj = orjson.loads(memoryview(data)[start:end])
        except orjson.JSONDecodeError:
            return
        if type(obj) is dict:
            self._dispatch(obj)

    def _record_line(self, data: bytearray, start: int, end: int) -> None:
        """A `token_usage_record` line: what `_dispatch` and `_record` do, written out for the
        shape nearly every one has (two usage objects of five plain counters in range, a known
        model, no replay going on), since records are most of what a scan decodes. Any other
        shape is left to `_dispatch`, so that the rules stay there."""
        try:
            obj = orjson.loads(memoryview(data)[start:end])
        except orjson.JSONDecodeError:
            return
        if type(obj) is not dict:
            return
        state = self.state
        payload = obj.get("payload")
        if type(payload) is not dict or state.burst or not state.model:
            self._dispatch(obj)
            return
        usage, totals = payload.get("usage"), payload.get("thread_token_usage")
        when = self.days.resolve(obj.get("timestamp"))
        counted = _plain_usage(usage) if type(usage) is dict else None
        total = _plain_usage(totals) if type(totals) is dict else None
        if counted is None or total is None or when is None or obj.get("type") != USAGE_KIND:
            self._dispatch(obj)
            return
        ms = when[3]
        state.last_ms = ms
        newest = state.last_event_ms
        if newest is None or ms > newest:
            state.last_event_ms = ms
        state.note_totals(total)
        state.record_pending = 2
        if not self._new_response(payload):
            return
        self._add(when, counted, None)  # type: ignore[arg-type]

    @staticmethod
    def _decode(data: bytearray, start: int, end: int) -> Any:
        if end <= start:
            return None
        try:
            return orjson.loads(memoryview(data)[start:end])
        except orjson.JSONDecodeError:
            return None

    # -- counting -----------------------------------------------------------------------------

    def _session_meta(self, meta: dict[str, Any], timestamp: Any) -> None:
        state = self.state
        sid = meta.get("id") or meta.get("session_id") or meta.get("sessionId")
        state.session_id = sid if isinstance(sid, str) and sid else None
        cwd = meta.get("cwd")
        state.project = cwd if isinstance(cwd, str) and cwd else None
        parent = next(
            (
                meta.get(k)
                for k in ("forked_from_id", "forkedFromId", "parent_session_id", "parentSessionId")
                if meta.get(k)
            ),
            None,
        )
        state.forked = bool(parent)
        when = self.days.resolve(timestamp) or self.days.resolve(meta.get("timestamp"))
        state.last_ms = when[3] if when else None
        state.burst = state.forked
        if not parent and _spawned_subagent(meta.get("source")) and when is not None:
            # Older builds start a spawned agent's file by replaying its parent's history, all
            # within the second the file is created.
            state.burst = True
            state.replay_end_ms = (when[3] // 1000 + 1) * 1000

    def _dispatch(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return
        state = self.state
        when = self.days.resolve(obj.get("timestamp"))
        if when is not None:
            ms = when[3]
            if state.burst:
                if state.replay_end_ms is not None:
                    state.burst = ms < state.replay_end_ms
                elif state.last_ms is not None and ms - state.last_ms > BURST_GAP_MS:
                    state.burst = False
            state.last_ms = ms
            newest = state.last_event_ms
            if newest is None or ms > newest:
                state.last_event_ms = ms
        if kind == "token_usage_record":
            self._record(payload, when)
        elif kind == "turn_context":
            self._turn_context(payload)
        elif kind == "event_msg":
            sub = payload.get("type")
            if sub == "token_count":
                self._token_count(obj, payload, when)
            elif sub == "thread_settings_applied":
                settings = payload.get("thread_settings")
                if isinstance(settings, dict):
                    model = settings.get("model")
                    if isinstance(model, str) and model.strip():
                        state.model = model.strip()
                    effort = _effort_of(settings)
                    if effort:
                        state.effort = effort

    def _turn_context(self, payload: dict[str, Any]) -> None:
        info = payload.get("info") if isinstance(payload.get("info"), dict) else {}
        present = False
        for source, key in (
            (payload, "model"),
            (payload, "model_name"),
            (info, "model"),
            (info, "model_name"),
        ):
            if key in source:
                present = True
                value = source[key]
                if isinstance(value, str) and value.strip():
                    self.state.model = value.strip()
                    break
        else:
            if present:  # a turn_context that names a blank model clears it
                self.state.model = None
        self.state.effort = _effort_of(payload)

    def _record(self, payload: dict[str, Any], when: When | None) -> None:
        state = self.state
        # 1: the next token_count repeats a counted response; 2: and its totals are known here.
        totals = usage_vector(payload.get("thread_token_usage"))
        if totals is not None and any(totals):
            self._total_delta(totals, None)
            state.record_pending = 2
        else:
            state.record_pending = 1
        if not self._new_response(payload):
            return
        usage = usage_vector(payload.get("usage"))
        if usage is None or when is None:
            if state.record_pending == 1:
                state.record_pending = 0  # unusable: let the token_count after it count instead
            return
        self._add(when, usage, None if state.model else self._model_hint(payload))

    def _new_response(self, payload: dict[str, Any]) -> bool:
        """Whether a record is this thread's, and a response not counted yet (remembered)."""
        state = self.state
        thread = payload.get("thread_id") or payload.get("session_id")
        if state.session_id and isinstance(thread, str) and thread and thread != state.session_id:
            return False  # a fork's copy of its parent's response
        rid = payload.get("response_id")
        return not (isinstance(rid, str) and rid and state.seen_response(rid))

    def _token_count(self, obj: dict[str, Any], payload: dict[str, Any], when: When | None) -> None:
        state = self.state
        state.fold()
        covered, state.record_pending = bool(state.record_pending), 0
        info = payload.get("info")
        if info is None:
            if "input_tokens" in payload or "output_tokens" in payload:
                info = {"last_token_usage": payload}  # the early flat shape: one response
            else:
                return  # a rate-limit-only event
        if not isinstance(info, dict):
            return
        last = usage_vector(info.get("last_token_usage"))
        total = usage_vector(info.get("total_token_usage"))
        delta: list[int] | None
        if total is not None and any(total):
            delta = self._total_delta(total, last)
        elif total is not None:
            delta = None  # the "context full" display hack or an empty counter
        else:
            delta = last  # only this response's usage: the running totals move on by it
            if last is not None and any(last):
                mark = state.watermark
                state.watermark = (
                    last if mark is None else [m + x for m, x in zip(mark, last, strict=True)]
                )
        if covered or state.burst or delta is None or when is None or not any(delta):
            return
        hint = None
        if not state.model:  # only then does the event's own model name matter
            hint = next((h for x in (info, payload, obj) if (h := self._model_hint(x))), None)
        self._add(when, delta, hint)

    def _total_delta(self, total: list[int], last: list[int] | None) -> list[int] | None:
        state = self.state
        state.fold()
        if state.seen_total(total):
            return None  # re-emitted (also: alternating repeats)
        mark = state.watermark
        if mark is None:
            state.watermark = total
            return total
        if (
            total[0] >= mark[0]
            and total[1] >= mark[1]
            and total[2] >= mark[2]
            and total[3] >= mark[3]
            and total[4] >= mark[4]
        ):
            state.watermark = total
            return [total[0] - mark[0], total[1] - mark[1], total[2] - mark[2],
                    total[3] - mark[3], total[4] - mark[4]]  # fmt: skip
        # The counter went backwards (a resumed or interleaved stream). Count this response from
        # its own usage, which can never exceed the new totals; keep the high watermark so the
        # old totals are not counted again when the stream catches up.
        state.watermark = [max(t, m) for t, m in zip(total, mark, strict=True)]
        if last is not None and all(x <= t for x, t in zip(last, total, strict=True)):
            return last
        return None

    @staticmethod
    def _model_hint(source: dict[str, Any]) -> str | None:
        for key in ("model", "model_name"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def _add(self, when: When, usage: list[int], hint: str | None) -> None:
        state = self.state
        model = state.model or hint or "unknown"
        long = int(usage[0] > LONG_CONTEXT_INPUT)
        key = (when[0], when[1], when[2], model, state.effort or "", long)
        cell = state.buckets.get(key)
        if cell is None:
            state.buckets[key] = [*usage, 1]
        else:
            cell[0] += usage[0]
            cell[1] += usage[1]
            cell[2] += usage[2]
            cell[3] += usage[3]
            cell[4] += usage[4]
            cell[5] += 1
            if cell[0] > MAX_TOKENS or cell[3] > MAX_TOKENS:
                # Capped so that sums of many cells stay far inside SQLite's 64-bit integers.
                cell[:5] = [min(v, MAX_TOKENS) for v in cell[:5]]


def _spawned_subagent(source: Any) -> bool:
    """`source: {"subagent": {"thread_spawn": {...}}}`: an agent spawned by another thread."""
    if not isinstance(source, dict):
        return False
    sub = source.get("subagent")
    return isinstance(sub, dict) and "thread_spawn" in sub


def _effort_of(payload: dict[str, Any]) -> str | None:
    effort = payload.get("effort") or payload.get("reasoning_effort")
    if not effort:
        mode = payload.get("collaboration_mode")
        settings = mode.get("settings") if isinstance(mode, dict) else None
        if isinstance(settings, dict):
            effort = settings.get("reasoning_effort")
    return effort.strip().lower() if isinstance(effort, str) and effort.strip() else None


def scan_stream(
    stream: BinaryIO,
    state: FileState,
    days: DayResolver,
    progress: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> tuple[int, bool]:
    """Parse `stream` (positioned at `state.offset`) to its end; return (bytes read, whether the
    end was reached before `limit`)."""
    parser = Parser(state, days)
    complete = parser.run(stream, progress, limit)
    return parser.bytes_read, complete
