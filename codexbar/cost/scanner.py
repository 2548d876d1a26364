"""One rollout file at a time: find the few lines that carry usage, turn them into exact sums.

A rollout is mostly bulky conversation lines (tool output, encrypted reasoning). Python never loops
over those: C code (`bytes.find`) jumps from one candidate to the next, and only a candidate's
first few hundred bytes are looked at before the (small) line is decoded. Every usage-carrying
line type contains the needle `"type":"t` (`turn_context`, `token_usage_record`, `token_count`,
`thread_settings_applied`); the session's identity is its first line, read on its own.

Counting rules (see codex-formats.md §2.5 and §2.7):
* a `token_usage_record` is one model response: counted once per `response_id`, and only when it
  belongs to this thread (a fork copies its parent's records, which carry the parent's thread id);
* a `token_count` counts the field-wise growth of `total_token_usage` since the highest totals
  seen, unless a record already counted that response; re-emitted totals add nothing, a counter
  that goes backwards falls back to `last_token_usage` (never more than the new totals), and
  estimate-only usage (input = output = 0) is ignored;
* a fork's first burst of lines replays its parent's history: those counters set the baseline
  and add nothing, whether or not the parent file is around.

The parser's whole state is a small JSON-able dict, so a grown file resumes where it stopped.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, BinaryIO

import orjson

# Bump when counting changes: every cached file is then read again.
PARSER_VERSION = 3

NEEDLE = b'"type":"t'
CHUNK = 8 << 20
# A line longer than this whose start does not look interesting is skipped without being kept.
KEEP_PARTIAL = 1 << 20
# Interesting lines are small (a few KB); a bigger one is decoded only up to this size.
MAX_DECODE = 64 << 20
HEAD = 400
HEAD_RE = re.compile(rb'"type":"([A-Za-z_]+)"(?:,"payload":\{"type":"([A-Za-z_]+)")?')
TOP_TYPES = {b"turn_context", b"token_usage_record", b"session_meta"}
EVENT_TYPES = {b"token_count", b"thread_settings_applied"}
LONG_CONTEXT_INPUT = 272_000
# A fork's replayed lines are written in one burst; a real model response takes longer.
BURST_GAP_MS = 1000
RECENT_TOTALS = 16

# input (incl. cached), cached input, cache-write input, output (incl. reasoning), reasoning
FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)

# (local day, UTC day, model, effort, long-context) -> [input, cached, cache_write, output,
# reasoning, responses]
BucketKey = tuple[str, str, str, str, int]
Buckets = dict[BucketKey, list[int]]


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and value == value:
        return max(0, int(value))
    return 0


def usage_vector(usage: Any) -> list[int] | None:
    """The five counters of a TokenUsage object, clamped so the subsets stay subsets."""
    if not isinstance(usage, dict):
        return None
    get = usage.get
    inp = get("input_tokens") or 0
    cached = get("cached_input_tokens")
    if cached is None:
        cached = get("cache_read_input_tokens")
    cached = cached or 0
    write = get("cache_write_input_tokens") or 0
    out = get("output_tokens") or 0
    reasoning = get("reasoning_output_tokens") or 0
    if not (type(inp) is type(cached) is type(write) is type(out) is type(reasoning) is int):
        inp, cached, write, out, reasoning = map(_int, (inp, cached, write, out, reasoning))
    elif inp < 0 or cached < 0 or write < 0 or out < 0 or reasoning < 0:
        inp, cached, write, out, reasoning = (
            max(0, v) for v in (inp, cached, write, out, reasoning)
        )
    if not inp and not out and not cached and _int(get("total_tokens")):
        return [0, 0, 0, 0, 0]  # an estimate: a total with no input or output behind it
    if cached > inp:
        cached = inp
    if write > inp - cached:
        write = inp - cached
    return [inp, cached, write, out, reasoning if reasoning <= out else out]


class DayResolver:
    """UTC timestamp text -> (local day, UTC day, epoch ms), memoised per minute."""

    def __init__(self, tz: tzinfo | None) -> None:
        self.tz = tz
        self._minutes: dict[str, tuple[str, str, int]] = {}

    def _local_day(self, epoch: float) -> str:
        if self.tz is None:
            import time

            return time.strftime("%Y-%m-%d", time.localtime(epoch))
        return datetime.fromtimestamp(epoch, self.tz).date().isoformat()

    def resolve(self, ts: Any) -> tuple[str, str, int] | None:
        if not isinstance(ts, str) or len(ts) < 16:
            return None
        if len(ts) >= 20 and ts[-1] == "Z" and ts[10] == "T" and ts[13] == ":" and ts[16] == ":":
            minute = ts[:16]
            hit = self._minutes.get(minute)
            if hit is None:
                try:  # by hand: strptime was a tenth of a cold scan
                    fields = (minute[0:4], minute[5:7], minute[8:10], minute[11:13], minute[14:16])
                    epoch = calendar.timegm(datetime(*map(int, fields)).timetuple())
                except ValueError:
                    return None
                hit = (self._local_day(epoch), minute[:10], epoch * 1000)
                self._minutes[minute] = hit
            try:
                second = float(ts[17:-1])
            except ValueError:
                second = 0.0
            return hit[0], hit[1], hit[2] + int(second * 1000)
        try:
            moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None  # Codex writes UTC with a zone; a bare time is ambiguous
        epoch = moment.timestamp()
        utc_day = datetime.utcfromtimestamp(int(epoch)).date().isoformat()
        return self._local_day(epoch), utc_day, int(epoch * 1000)


@dataclass
class FileState:
    """Everything needed to resume parsing a file after its last complete line."""

    offset: int = 0
    started: bool = False
    session_id: str | None = None
    project: str | None = None
    forked: bool = False
    burst: bool = False
    last_ms: int | None = None
    model: str | None = None
    effort: str | None = None
    watermark: list[int] | None = None
    recent: list[list[int]] = field(default_factory=list)
    record_pending: int = 0
    response_ids: set[str] = field(default_factory=set)
    buckets: Buckets = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = {k: v for k, v in self.__dict__.items() if k != "buckets"}
        data["response_ids"] = sorted(self.response_ids)
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str, buckets: Buckets) -> FileState:
        data = orjson.loads(raw)
        data["response_ids"] = set(data.get("response_ids") or ())
        state = cls(**data)
        state.buckets = buckets
        return state


class Parser:
    """Feeds one file's bytes (from `state.offset`) through the counting rules."""

    def __init__(self, state: FileState, days: DayResolver) -> None:
        self.state = state
        self.days = days
        self.bytes_read = 0

    # -- reading ------------------------------------------------------------------------------

    def run(self, stream: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
        """Read to the end; `state.offset` ends just past the last complete line."""
        state = self.state
        buffer = bytearray(CHUNK)  # reused: no fresh 8 MB allocation per chunk
        view = memoryview(buffer)
        carry = b""  # an incomplete line kept from the previous chunk
        skipping = False  # inside a long uninteresting line whose start was dropped
        base = state.offset  # file offset of buffer[0] (or of carry[0] while carrying)
        while True:
            size = stream.readinto(view)
            if not size:
                break
            self.bytes_read += size
            if progress is not None:
                progress(size)
            start = 0
            if skipping or carry:
                newline = buffer.find(b"\n", 0, size)
                if newline < 0:
                    if skipping:
                        base += size
                    else:
                        carry += bytes(view[:size])
                        if len(carry) > KEEP_PARTIAL and not self._interesting_head(carry, 0):
                            skipping, base, carry = True, base + len(carry), b""
                    continue
                if carry:
                    line = carry + bytes(view[: newline + 1])
                    self._lines(line, 0, len(line))
                    base += len(carry)
                    carry = b""
                state.offset = base + newline + 1
                skipping = False
                start = newline + 1
            end = buffer.rfind(b"\n", start, size) + 1
            if end:
                self._lines(buffer, start, end)
                state.offset = base + end
                start = end
            if size - start > KEEP_PARTIAL and not self._interesting_head(buffer, start):
                skipping = True
                base += size
            else:
                if size > start:
                    carry = bytes(view[start:size])
                base += start

    @staticmethod
    def _interesting_head(data: bytes, start: int) -> bool:
        match = HEAD_RE.search(data, start, start + HEAD)
        if match is None:
            return True  # not recognisable: keep it, it may be a bare-era line
        top, sub = match.group(1), match.group(2)
        return top in TOP_TYPES or (top == b"event_msg" and sub in EVENT_TYPES)

    def _lines(self, data: bytes, start: int, end: int) -> None:
        """Handle the complete lines in data[start:end] (end is just past a newline)."""
        state = self.state
        if not state.started:
            newline = data.find(b"\n", start, end)
            self._first_line(data, start, newline)
            state.started = True
            start = newline + 1
        find, rfind = data.find, data.rfind
        hit = find(NEEDLE, start, end)
        while hit >= 0:
            line_start = rfind(b"\n", start, hit) + 1 or start
            line_end = find(b"\n", hit, end)
            self._candidate(data, line_start, line_end)
            hit = find(NEEDLE, line_end + 1, end)

    def _first_line(self, data: bytes, start: int, end: int) -> None:
        obj = self._decode(data, start, end)
        if not isinstance(obj, dict):
            return
        if obj.get("type") == "session_meta":
            meta = obj.get("payload")
            self._session_meta(meta if isinstance(meta, dict) else {}, obj.get("timestamp"))
        elif isinstance(obj.get("id"), str) and "type" not in obj:
            # bare-era first line: {id, timestamp, instructions, git}
            self._session_meta(obj, obj.get("timestamp"))
        else:
            self._dispatch(obj)

    def _candidate(self, data: bytes, start: int, end: int) -> None:
        match = HEAD_RE.search(data, start, min(end, start + HEAD))
        if match is not None:
            top, sub = match.group(1), match.group(2)
            if not (top in TOP_TYPES or (top == b"event_msg" and sub in EVENT_TYPES)):
                return
            if top == b"session_meta":
                return  # an ancestor's meta replayed by a fork: this file's identity is line 1
            if sub == b"token_count" and self.state.record_pending == 2:
                # The record just before it carried the thread's totals: nothing left to learn.
                self.state.record_pending = 0
                return
        elif end - start > KEEP_PARTIAL:
            return
        obj = self._decode(data, start, end)
        if isinstance(obj, dict):
            self._dispatch(obj)

    @staticmethod
    def _decode(data: bytes, start: int, end: int) -> Any:
        if end - start > MAX_DECODE or end <= start:
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
        state.burst = state.forked
        when = self.days.resolve(timestamp)
        state.last_ms = when[2] if when else None

    def _dispatch(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return
        when = self.days.resolve(obj.get("timestamp"))
        if self.state.burst and when is not None:
            last = self.state.last_ms
            if last is not None and when[2] - last > BURST_GAP_MS:
                self.state.burst = False
            self.state.last_ms = when[2]
        if kind == "turn_context":
            self._turn_context(payload)
        elif kind == "token_usage_record":
            self._record(payload, when)
        elif kind == "event_msg":
            sub = payload.get("type")
            if sub == "token_count":
                self._token_count(obj, payload, when)
            elif sub == "thread_settings_applied":
                settings = payload.get("thread_settings")
                if isinstance(settings, dict):
                    model = settings.get("model")
                    if isinstance(model, str) and model.strip():
                        self.state.model = model.strip()
                    effort = _effort_of(settings)
                    if effort:
                        self.state.effort = effort

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

    def _record(self, payload: dict[str, Any], when: tuple[str, str, int] | None) -> None:
        state = self.state
        # 1: the next token_count repeats a counted response; 2: and its totals are known here.
        totals = usage_vector(payload.get("thread_token_usage"))
        if totals is not None and any(totals):
            self._total_delta(totals, None)
            state.record_pending = 2
        else:
            state.record_pending = 1
        thread = payload.get("thread_id") or payload.get("session_id")
        if state.session_id and isinstance(thread, str) and thread and thread != state.session_id:
            return  # a fork's copy of its parent's response
        rid = payload.get("response_id")
        if isinstance(rid, str) and rid:
            if rid in state.response_ids:
                return
            state.response_ids.add(rid)
        usage = usage_vector(payload.get("usage"))
        if usage is None or when is None:
            return
        self._add(when, usage, self._model_hint(payload))

    def _token_count(
        self, obj: dict[str, Any], payload: dict[str, Any], when: tuple[str, str, int] | None
    ) -> None:
        state = self.state
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
            delta = last
        if covered or state.burst or delta is None or when is None or not any(delta):
            return
        hints = (info, payload, obj)
        self._add(when, delta, next((h for x in hints if (h := self._model_hint(x))), None))

    def _total_delta(self, total: list[int], last: list[int] | None) -> list[int] | None:
        state = self.state
        if total in state.recent:
            return None  # re-emitted (also: alternating repeats)
        state.recent.append(total)
        if len(state.recent) > RECENT_TOTALS:
            del state.recent[0]
        mark = state.watermark
        if mark is None:
            state.watermark = total
            return total
        if all(t >= m for t, m in zip(total, mark, strict=True)):
            state.watermark = total
            return [t - m for t, m in zip(total, mark, strict=True)]
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

    def _add(self, when: tuple[str, str, int], usage: list[int], hint: str | None) -> None:
        state = self.state
        model = state.model or hint or "unknown"
        key = (when[0], when[1], model, state.effort or "", int(usage[0] > LONG_CONTEXT_INPUT))
        cell = state.buckets.get(key)
        if cell is None:
            state.buckets[key] = [*usage, 1]
        else:
            for i in range(5):
                cell[i] += usage[i]
            cell[5] += 1


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
) -> int:
    """Parse `stream` (positioned at `state.offset`) to its end; return the bytes read."""
    parser = Parser(state, days)
    parser.run(stream, progress)
    return parser.bytes_read
