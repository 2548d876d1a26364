"""The scanner's fast path for `token_usage_record` lines (and the running totals it folds in
later, in one go) must count exactly what the general rules count: same sums, same saved state,
whether a file is read whole or resumed at any line."""

from __future__ import annotations

import io
import random

import pytest

from codexbar.cost import scanner
from tests.cost_helpers import meta, record, token_count, turn, usage

SID = "019d0f38-3f76-725a-affb-52af21300acd"


def _rollout(seed: int) -> bytes:
    """A session of the shapes records and counters really come in, plus the odd ones: usage
    that is zero, text, out of range or missing; a response id again; a fork's copy of its
    parent's record; totals re-emitted, going backwards, or only `last_token_usage`; a model
    change; a sub-agent's replay second."""
    rng = random.Random(seed)
    source = {"subagent": {"thread_spawn": {"parent_thread_id": "p"}}} if seed % 3 == 0 else "cli"
    lines = [meta("2026-11-20T08:00:00.000Z", SID, source=source)]
    totals = [0, 0, 0, 0]
    second = 0
    for n in range(rng.randint(20, 60)):
        second += rng.choice([0, 0, 1, 7, 40, 700, 4000])
        clock = f"{8 + second // 3600 % 16:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        ts = f"2026-11-20T{clock}.{n % 1000:03d}Z"
        kind = rng.random()
        if kind < 0.08:
            lines.append(
                turn(ts, rng.choice(["gpt-5.5", "gpt-5.4-mini", ""]), rng.choice(["low", None]))
            )
            continue
        inp, out = rng.randint(0, 400_000), rng.randint(0, 9000)
        cached = rng.randint(0, inp)
        use = usage(inp, cached, out, rng.randint(0, out))
        odd = rng.random()
        if odd < 0.05:
            use["input_tokens"] = "lots"
        elif odd < 0.08:
            use["output_tokens"] = 10**40
        elif odd < 0.1:
            use = {}
        if rng.random() < 0.9:  # (sometimes the totals miss a response)
            totals = [totals[0] + inp, totals[1] + cached, totals[2] + out, totals[3]]
        thread_total = usage(*totals) if rng.random() < 0.9 else None
        if rng.random() < 0.05 and thread_total:
            thread_total = usage(max(0, totals[0] - 5000), 0, totals[2])  # went backwards
        thread = SID if rng.random() < 0.9 else "parent-thread"
        rid = f"resp_{n if rng.random() < 0.9 else n - 1}"
        if rng.random() < 0.85:
            lines.append(record(ts, thread, rid, use, thread_total))
        follow = rng.random()
        if follow < 0.7:
            lines.append(token_count(ts, usage(*totals), use))
        elif follow < 0.8:
            lines.append(token_count(ts, None, use))  # only this response's usage
        elif follow < 0.9:
            lines.append(token_count(ts, usage(*totals), use))
            lines.append(token_count(ts, usage(*totals), use))  # re-emitted
    return ("\n".join(lines) + "\n").encode()


def _parse(data: bytes, cuts: list[int], general: bool, monkeypatch) -> scanner.FileState:
    """Parse `data`, stopping at each of `cuts` (byte offsets) and resuming from the saved
    state, as a growing file is read."""
    if general:
        monkeypatch.setattr(scanner.Parser, "_record_line", scanner.Parser._decode_dispatch)
    state = scanner.FileState()
    days = scanner.DayResolver(None)
    for cut in [*cuts, len(data)]:
        scanner.scan_stream(io.BytesIO(data[state.offset : cut]), state, days)
        state = scanner.FileState.from_json(state.to_json(), state.buckets)
    monkeypatch.undo()
    return state


@pytest.mark.parametrize("seed", range(40))
def test_the_record_fast_path_counts_what_the_general_rules_count(seed, monkeypatch):
    data = _rollout(seed)
    rng = random.Random(seed)
    ends = [i + 1 for i, byte in enumerate(data) if byte == 10]
    cuts = sorted(rng.sample(ends, k=min(len(ends), rng.randint(0, 4))))
    general_whole = _parse(data, [], True, monkeypatch)
    assert _parse(data, [], False, monkeypatch).buckets == general_whole.buckets
    fast = _parse(data, cuts, False, monkeypatch)
    general = _parse(data, cuts, True, monkeypatch)
    assert fast.buckets == general.buckets == general_whole.buckets
    assert fast.fields() == general.fields()  # what is saved, and resumed from


def test_the_fast_path_is_what_reads_real_records(monkeypatch):
    """The shape Codex writes goes the fast way (or this test file checks nothing)."""
    calls = []
    real = scanner.Parser._dispatch
    monkeypatch.setattr(
        scanner.Parser, "_dispatch", lambda self, obj: calls.append(obj) or real(self, obj)
    )
    lines = [
        meta("2026-11-20T08:00:00.000Z", SID),
        turn("2026-11-20T08:00:01.000Z", "gpt-5.5"),
        record("2026-11-20T08:00:05.000Z", SID, "resp_1", usage(100, 10, 5), usage(100, 10, 5)),
        token_count("2026-11-20T08:00:05.000Z", usage(100, 10, 5), usage(100, 10, 5)),
    ]
    state = scanner.FileState()
    scanner.scan_stream(
        io.BytesIO(("\n".join(lines) + "\n").encode()), state, scanner.DayResolver(None)
    )
    assert [obj["type"] for obj in calls] == ["turn_context"]
    assert sum(cell[0] + cell[3] for cell in state.buckets.values()) == 105
