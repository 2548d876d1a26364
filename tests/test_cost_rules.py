"""Counting rules of the cost scanner, each pinned by a minimal rollout of the shape Codex (or a
damaged file) really writes: codex-formats.md §2.5/§2.7 and issue 12 §1–§2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from codexbar.cost import cost_summary
from codexbar.cost import scanner as scanner_module
from codexbar.store import Store
from tests.cost_helpers import line, meta, record, token_count, turn, usage, write

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "cost.sqlite3")
    yield s
    s.close()


def scan(home: Path, store: Store, **kw):
    kw.setdefault("all_time", True)
    return cost_summary([home], store=store, tz=UTC, now=NOW, **kw)


def by_day(summary) -> dict[str, int]:
    return {d.date: d.figures.total_tokens for d in summary.days}


def set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


# -- §1: discovery by time -------------------------------------------------------------------


def test_a_session_resumed_inside_the_window_counts_whatever_its_folder(tmp_path, store):
    home = tmp_path / "home"
    path = write(
        home,
        "2026-10-01",
        "resumed",
        [
            meta("2026-10-01T10:00:00.000Z", "resumed"),
            turn("2026-10-01T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-10-01T10:05:00.000Z", usage(1000, 0, 100)),
            # `codex resume` seven weeks later: the same file, a folder far before the window
            token_count("2026-11-20T09:00:00.000Z", usage(1400, 0, 150)),
            token_count("2026-11-21T08:00:00.000Z", usage(1500, 0, 160)),
        ],
    )
    set_mtime(path, datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    week = scan(home, store, all_time=False, days=7)
    assert by_day(week) == {"2026-11-20": 450, "2026-11-21": 110}
    assert week.today.total_tokens == 110
    # An old file costs one stat and is never read.
    old = write(
        home,
        "2026-09-01",
        "old",
        [
            meta("2026-09-01T10:00:00.000Z", "old"),
            token_count("2026-09-01T10:01:00.000Z", usage(9)),
        ],
    )
    set_mtime(old, datetime(2026, 9, 1, 10, 1, tzinfo=UTC))
    again = scan(home, store, all_time=False, days=7)
    assert again.scan.files_listed == 2 and again.scan.files == 1
    assert again.scan.bytes_read == 0 and by_day(again) == by_day(week)


def test_the_tray_rows_count_a_session_resumed_today(tmp_path, store):
    from codexbar.tray.app import real_cost_view

    home = tmp_path / "home"
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(days=60)

    def ts(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    path = write(
        home,
        started.strftime("%Y-%m-%d"),
        "tray",
        [
            meta(ts(started), "tray"),
            turn(ts(started), "gpt-5.5"),
            token_count(ts(started + timedelta(minutes=1)), usage(5000, 0, 500)),
            token_count(ts(now - timedelta(seconds=30)), usage(5200, 0, 520)),
        ],
    )
    set_mtime(path, now)
    view = real_cost_view([home], 30, store)
    assert view.range.tokens == 220
    assert view.today.tokens == 220


# -- §2: counting rules ----------------------------------------------------------------------


def test_a_subagent_replay_in_its_first_second_is_a_baseline(tmp_path, store):
    home = tmp_path / "home"
    spawn = {"subagent": {"thread_spawn": {"parent_thread_id": "p", "depth": 1}}}
    write(
        home,
        "2026-11-20",
        "agent",
        [
            meta("2026-11-20T10:00:00.100Z", "agent", source=spawn),
            turn("2026-11-20T10:00:00.150Z", "gpt-5.5"),
            # the parent's history, replayed within the second the file starts
            token_count("2026-11-20T10:00:00.200Z", usage(500, 0, 50), usage(500, 0, 50)),
            token_count("2026-11-20T10:00:00.900Z", usage(700, 0, 70), usage(200, 0, 20)),
            # the agent's own first response
            token_count("2026-11-20T10:00:31.000Z", usage(750, 0, 75), usage(50, 0, 5)),
        ],
    )
    assert scan(home, store).range.total_tokens == 55


def test_a_subagent_without_replay_counts_from_its_first_response(tmp_path, store):
    home = tmp_path / "home"
    spawn = {"subagent": {"thread_spawn": {"parent_thread_id": "p", "depth": 1}}}
    write(
        home,
        "2026-11-20",
        "agent2",
        [
            meta("2026-11-20T10:00:00.100Z", "agent2", source=spawn),
            turn("2026-11-20T10:00:00.150Z", "gpt-5.5"),
            token_count("2026-11-20T10:00:09.000Z", usage(80, 0, 8), usage(80, 0, 8)),
        ],
    )
    assert scan(home, store).range.total_tokens == 88


def test_last_only_usage_moves_the_running_totals(tmp_path, store):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "last",
        [
            meta("2026-11-20T10:00:00.000Z", "last"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10), usage(100, 0, 10)),
            token_count("2026-11-20T10:02:00.000Z", None, usage(30, 0, 3)),  # last only
            token_count("2026-11-20T10:03:00.000Z", usage(130, 0, 13), usage(30, 0, 3)),
            token_count("2026-11-20T10:04:00.000Z", usage(160, 0, 16), usage(30, 0, 3)),
        ],
    )
    f = scan(home, store).range
    assert (f.input_tokens, f.output_tokens, f.responses) == (160, 16, 3)


def test_reemitted_totals_count_once(tmp_path, store):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "again",
        [
            meta("2026-11-20T10:00:00.000Z", "again"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 20, 10), usage(100, 20, 10)),
            token_count("2026-11-20T10:01:00.004Z", usage(100, 20, 10), usage(100, 20, 10)),
            token_count("2026-11-20T10:02:00.000Z", usage(130, 20, 12), usage(30, 0, 2)),
            token_count("2026-11-20T10:02:00.030Z", usage(130, 20, 12), usage(30, 0, 2)),
            token_count("2026-11-20T10:02:00.031Z", usage(130, 20, 12), usage(30, 0, 2)),
        ],
    )
    f = scan(home, store).range
    assert (f.input_tokens, f.cached_input_tokens, f.output_tokens) == (130, 20, 12)
    assert f.responses == 2


def test_a_complete_last_line_without_newline_counts_once(tmp_path, store):
    home = tmp_path / "home"
    path = write(
        home,
        "2026-11-20",
        "tail",
        [meta("2026-11-20T10:00:00.000Z", "tail"), turn("2026-11-20T10:00:01.000Z", "gpt-5.5")],
    )
    with open(path, "a") as handle:
        handle.write(token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10)))  # no newline
    assert scan(home, store).range.total_tokens == 110
    with open(path, "a") as handle:
        handle.write("\n")
    after = scan(home, store)
    assert after.range.total_tokens == 110 and after.scan.bytes_read == 1
    with open(path, "a") as handle:
        handle.write(token_count("2026-11-20T10:02:00.000Z", usage(150, 0, 15)) + "\n")
    assert scan(home, store).range.total_tokens == 165


def test_a_session_meta_alone_without_newline_is_the_identity(tmp_path, store):
    home = tmp_path / "home"
    path = home / "sessions" / "2026" / "11" / "20" / "rollout-2026-11-20T10-00-00-solo.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(meta("2026-11-20T10:00:00.000Z", "solo"))
    first = scan(home, store)
    assert first.range.total_tokens == 0 and first.has_sessions
    with open(path, "a") as handle:
        handle.write("\n" + token_count("2026-11-20T10:01:00.000Z", usage(40, 0, 4)) + "\n")
    assert scan(home, store).range.total_tokens == 44


@pytest.mark.parametrize("huge", ["1" + "0" * 100, str(2**63), str(2**64), "1e400"])
def test_an_absurd_counter_is_dropped_and_the_rest_counts(tmp_path, store, huge):
    home = tmp_path / "home"
    bad = token_count("2026-11-20T10:02:00.000Z", usage(1, 0, 1), usage(1, 0, 1))
    bad = bad.replace('"input_tokens":1,', f'"input_tokens":{huge},', 1)
    write(
        home,
        "2026-11-20",
        "huge",
        [
            meta("2026-11-20T10:00:00.000Z", "huge"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10), usage(100, 0, 10)),
            bad,
            token_count("2026-11-20T10:03:00.000Z", usage(150, 0, 15), usage(50, 0, 5)),
        ],
    )
    summary = scan(home, store)
    assert summary.range.total_tokens == 165
    assert summary.warnings == []
    again = scan(home, store)  # and the cache holds nothing it cannot read back
    assert again.range.total_tokens == 165 and again.scan.files_from_cache == 1


def test_an_absurd_counter_never_crashes_the_command(tmp_path):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "cli",
        [
            meta("2026-11-20T10:00:00.000Z", "cli"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            line(
                "2026-11-20T10:01:00.000Z",
                "token_usage_record",
                {"thread_id": "cli", "response_id": "r", "usage": usage(10**30, 0, 1)},
            ),
            token_count("2026-11-20T10:02:00.000Z", usage(7, 0, 3)),
        ],
    )
    done = subprocess.run(
        [sys.executable, "-m", "codexbar", "cost", "--all", "--json", "--tz=UTC", f"--home={home}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stderr == ""
    assert json.loads(done.stdout)["totals"]["total_tokens"] == 10


def test_days_are_cut_exactly_in_a_zone_whose_offset_has_seconds(tmp_path):
    """Local midnight of UTC+7:10:21 falls at 16:49:39 UTC, inside a UTC minute."""
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "tz",
        [
            meta("2026-11-20T16:00:00.000Z", "tz"),
            turn("2026-11-20T16:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T16:49:38.999Z", usage(100, 0, 10)),
            token_count("2026-11-20T16:49:39.000Z", usage(150, 0, 15)),
        ],
    )
    done = subprocess.run(
        [sys.executable, "-m", "codexbar", "cost", "--all", "--json", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "XXX-7:10:21"},
    )
    assert done.returncode == 0, done.stderr
    days = {d["date"]: d["total_tokens"] for d in json.loads(done.stdout)["days"]}
    assert days == {"2026-11-20": 110, "2026-11-21": 55}


def test_a_line_straddling_the_read_buffer_boundary_counts(tmp_path, store):
    """Lines that begin before, end at, or end just after each buffer boundary."""
    chunk = scanner_module.CHUNK
    home = tmp_path / "home"
    head = [
        meta("2026-11-20T10:00:00.000Z", "b") + "\n",
        turn("2026-11-20T10:00:01.000Z", "x") + "\n",
    ]
    counted = token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10)) + "\n"
    later = token_count("2026-11-20T10:02:00.000Z", usage(130, 0, 13)) + "\n"
    prefix = len("".join(head))
    filler_line = '{"timestamp":"2026-11-20T10:00:02.000Z","type":"response_item","payload":"'
    for before in (1, 40, len(counted) - 1, len(counted), len(counted) + 1):
        # the counted line starts `before` bytes ahead of the first boundary
        pad = chunk - before - prefix - len(filler_line) - 3
        filler = filler_line + "x" * pad + '"}\n'
        body = "".join(head) + filler + counted + "y" * 100 + "\n" + later
        assert len(body) > chunk
        path = (
            home
            / "sessions"
            / "2026"
            / "11"
            / "20"
            / f"rollout-2026-11-20T10-00-00-b{before}.jsonl"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.replace('"b"', f'"b{before}"', 2))
    summary = scan(home, store)
    assert summary.range.total_tokens == 5 * 143, by_day(summary)


def test_the_resume_offset_moves_past_what_was_read(tmp_path, store):
    home = tmp_path / "home"
    path = write(
        home,
        "2026-11-20",
        "grow",
        [meta("2026-11-20T10:00:00.000Z", "grow"), turn("2026-11-20T10:00:01.000Z", "gpt-5.5")],
    )
    assert scan(home, store).range.total_tokens == 0
    total = 0
    for i in range(1, 6):
        event = token_count(f"2026-11-20T10:0{i}:00.000Z", usage(100 * i, 0, 10 * i)) + "\n"
        with open(path, "a") as handle:
            handle.write(event)
        summary = scan(home, store)
        total = 110 * i
        assert summary.range.total_tokens == total
        assert summary.scan.bytes_read == len(event)  # only the new bytes were read
    assert total == 550


def test_records_before_a_fork_point_never_count_and_the_window_limits_days(tmp_path, store):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "w",
        [
            meta("2026-11-19T23:59:00.000Z", "w"),
            turn("2026-11-19T23:59:01.000Z", "gpt-5.5"),
            record("2026-11-19T23:59:30.000Z", "w", "r1", usage(10, 0, 1), usage(10, 0, 1)),
            token_count("2026-11-19T23:59:30.001Z", usage(10, 0, 1), usage(10, 0, 1)),
            record("2026-11-20T00:00:30.000Z", "w", "r2", usage(20, 0, 2), usage(30, 0, 3)),
            token_count("2026-11-20T00:00:30.001Z", usage(30, 0, 3), usage(20, 0, 2)),
        ],
    )
    only = scan(home, store, all_time=False, since=date(2026, 11, 20), until=date(2026, 11, 20))
    assert by_day(only) == {"2026-11-20": 22}


def test_the_cache_answers_hourly_and_per_project_series_for_the_counted_files(tmp_path, store):
    """What the dashboard queries: grouped sums of exactly the files a summary counted."""
    from codexbar.cost.cache import CostCache

    home = tmp_path / "home"
    lines = [
        meta("2026-11-20T09:00:00.000Z", "h", cwd="/work/api"),
        turn("2026-11-20T09:00:01.000Z", "gpt-5.5"),
        token_count("2026-11-20T09:10:00.000Z", usage(100, 0, 10)),
        token_count("2026-11-20T11:20:00.000Z", usage(300, 0, 30)),
    ]
    write(home, "2026-11-20", "h", lines)
    write(home, "2026-11-20", "h", lines, archived=True)  # the same session: counted once
    summary = scan(home, store)
    assert len(summary.counted_paths) == 1
    cache = CostCache(store, "UTC")
    hours = cache.grouped(summary.counted_paths, "2026-11-20", "2026-11-20", by=("day", "hour"))
    assert sorted((d, h, inp + out) for d, h, inp, _c, _w, out, _r, _n in hours) == [
        ("2026-11-20", 9, 110),
        ("2026-11-20", 11, 220),
    ]
    projects = cache.grouped(summary.counted_paths, None, None, by=("project", "model"))
    assert [(p, m, n) for p, m, *_v, n in projects] == [("/work/api", "gpt-5.5", 2)]
