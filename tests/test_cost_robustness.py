"""Property: garbage, cut lines, huge lines, invalid UTF-8 and deleted files never change the
totals of the valid events around them."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codexbar.cost import cost_summary
from codexbar.store import Store
from tests.cost_helpers import meta, token_count, turn, usage

NOISE = st.one_of(
    st.just(b"not json at all"),
    st.just(b'{"timestamp":"2026-11-20T10:00:00.000Z","type":"event_msg","payload":{"type":"tok'),
    st.just(b'{"timestamp":"2026-11-20T10:00:00.000Z","type":"turn_context","payload":{"mo'),
    st.just(b"\xff\xfe\x80 invalid utf-8 \xc3\x28"),
    st.just(b'{"type":"response_item","payload":{"text":"' + b"x" * (11 << 20) + b'"}}'),
    st.just(b'{"type":"event_msg","payload":{"type":"token_count","info":' + b"9" * (2 << 20)),
    st.binary(max_size=200).filter(lambda b: b"\n" not in b),
)


@st.composite
def sessions(draw):
    files = []
    for n in range(draw(st.integers(1, 3))):
        sid = f"sess-{n}"
        valid = [
            meta("2026-11-20T09:00:00.000Z", sid).encode(),
            turn("2026-11-20T09:00:01.000Z", "gpt-5.5").encode(),
        ]
        total = 0
        for i in range(draw(st.integers(1, 4))):
            total += draw(st.integers(1, 1000))
            valid.append(token_count(f"2026-11-20T10:{i:02d}:00.000Z", usage(total, 0, i)).encode())
        lines = [valid[0]]
        for item in valid[1:]:
            lines += draw(st.lists(NOISE, max_size=2))
            lines.append(item)
        tail = draw(st.one_of(st.none(), NOISE))
        files.append((sid, lines, tail, total + len(valid) - 3, draw(st.booleans())))
    return files


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sessions())
def test_noise_never_changes_valid_totals(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("prop")
    home = root / "home"
    expected = 0
    for sid, lines, tail, total, delete in files:
        folder = home / "sessions" / "2026" / "11" / "20"
        folder.mkdir(parents=True, exist_ok=True)
        body = b"\n".join(lines) + b"\n" + (tail or b"")
        (folder / f"rollout-2026-11-20T09-00-00-{sid}.jsonl").write_bytes(body)
        if not delete:
            expected += total
    store = Store(root / "db.sqlite3")
    try:
        now = datetime(2026, 11, 21, tzinfo=UTC)
        first = cost_summary([home], store=store, tz=UTC, now=now, all_time=True)
        for sid, _, _, _, delete in files:
            if delete:
                next(home.rglob(f"*{sid}.jsonl")).unlink()
        again = cost_summary([home], store=store, tz=UTC, now=now, all_time=True)
        assert again.range.total_tokens == expected
        assert first.range.total_tokens >= expected
    finally:
        store.close()
        shutil.rmtree(root)
