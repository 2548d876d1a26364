"""The session-log source on the fixture homes and on every shape of rate-limit line."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from codexbar.errors import ErrorKind, SourceError
from codexbar.settings import Settings
from codexbar.sources import SourceContext
from providers.logs import SessionLogSource, lines_backwards
from tests.conftest import FIXTURE_HOME, FIXTURES

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
LEGACY = (FIXTURES / "legacy_rollout_lines.jsonl").read_text().splitlines()


def fetch(home: Path, now: datetime = NOW):
    ctx = SourceContext(home=home, settings=Settings(), env={}, now=lambda: now)
    return SessionLogSource().fetch(ctx).with_reset_flags(now)


def write_session(
    home: Path,
    lines: list[str],
    name: str = "rollout-x.jsonl",
    day: str = "2026/11/21",
    newline_at_end: bool = True,
) -> Path:
    folder = home / "sessions" / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + ("\n" if newline_at_end else ""))
    return path


def test_fixture_home_gives_the_last_main_bucket_reading():
    snapshot = fetch(FIXTURE_HOME)
    assert snapshot.observed_at == datetime(2026, 11, 21, 0, 2, 13, 470000, tzinfo=UTC)
    assert snapshot.window("session").used_percent == 18.0
    assert snapshot.window("session").resets_at == datetime(2026, 11, 21, 1, 55, tzinfo=UTC)
    assert snapshot.window("weekly").used_percent == 45.0
    assert snapshot.credits.balance == Decimal("112.50")
    assert snapshot.identity.plan == "plus"
    assert snapshot.identity.email == "dev.fixture@example.com"
    assert not snapshot.window("session").reset_passed


def test_a_passed_reset_keeps_the_figure_and_is_flagged():
    snapshot = fetch(FIXTURE_HOME, now=datetime(2026, 11, 21, 3, 0, tzinfo=UTC))
    session = snapshot.window("session")
    assert session.used_percent == 18.0 and session.reset_passed
    assert not snapshot.window("weekly").reset_passed


def test_real_cli_logs_give_their_latest_reading():
    home = FIXTURES / "real_cli_0.169.0" / "codex_home"
    snapshot = fetch(home, now=datetime(2026, 11, 21, 16, 30, tzinfo=UTC))
    assert snapshot.window("session").used_percent == 22.4
    assert snapshot.window("weekly").used_percent == 27.1


def test_logs_whose_windows_are_all_null_say_so(tmp_path):
    # What the real CLI 0.169.0 writes when the model response carries no rate-limit headers.
    line = {
        "timestamp": "2026-11-21T16:08:53.000Z",
        "type": "event_msg",
        "payload": {
            "type": "token_count",
            "info": None,
            "rate_limits": {
                "limit_id": "codex",
                "limit_name": None,
                "primary": None,
                "secondary": None,
                "credits": None,
                "plan_type": None,
            },
        },
    }
    write_session(tmp_path, [json.dumps(line)])
    with pytest.raises(SourceError) as raised:
        fetch(tmp_path)
    assert raised.value.kind is ErrorKind.PARSE
    assert "no rate-limit reading in the logs" in raised.value.text.lower()


def test_no_sessions_at_all(tmp_path):
    with pytest.raises(SourceError) as raised:
        fetch(tmp_path)
    assert raised.value.kind is ErrorKind.PARSE
    assert "no codex sessions" in raised.value.text.lower()


@pytest.mark.parametrize(
    "index, expected",
    [
        (7, {"session": (12.0, None), "weekly": (30.0, None)}),  # ~v0.40 flat fields
        (
            8,
            {
                "session": (5.0, datetime(2025, 10, 20, 19, 55, 0, 100000, tzinfo=UTC)),
                "weekly": (50.0, datetime(2025, 10, 21, 19, 45, 0, 100000, tzinfo=UTC)),
            },
        ),
        (
            9,
            {
                "session": (21.0, datetime.fromtimestamp(1765288800, UTC)),
                "weekly": (9.0, datetime.fromtimestamp(1765807200, UTC)),
            },
        ),
        (10, {"weekly": (3.0, datetime.fromtimestamp(1779344602, UTC))}),  # weekly-only primary
    ],
)
def test_every_legacy_shape(tmp_path, index, expected):
    write_session(tmp_path, [LEGACY[index]])
    snapshot = fetch(tmp_path)
    assert {w.id: (w.used_percent, w.resets_at) for w in snapshot.windows} == expected


def test_non_main_bucket_is_never_the_main_reading(tmp_path):
    # Line 14 is a Spark-bucket reading; the main reading before it must win, and the Spark
    # reading comes along as the extra bucket it is.
    write_session(tmp_path, [LEGACY[9], LEGACY[12], LEGACY[13]])
    snapshot = fetch(tmp_path)
    assert snapshot.window("session").used_percent == 21.0
    assert snapshot.observed_at == datetime(2025, 12, 9, 11, 0, tzinfo=UTC)
    main = [w.id for w in snapshot.windows if w.is_main]
    assert "session" in main
    assert {w.id for w in snapshot.windows if not w.is_main} >= {"spark-session"}


def test_bare_era_and_junk_lines_are_ignored(tmp_path):
    write_session(tmp_path, [LEGACY[9], *LEGACY[0:7], "garbage {", "[1,2]", '"text"'])
    assert fetch(tmp_path).window("session").used_percent == 21.0


def test_truncated_last_line_is_skipped_until_complete(tmp_path):
    complete = LEGACY[9]
    later = json.loads(complete)
    later["timestamp"] = "2025-12-09T12:00:00.000Z"
    later["payload"]["rate_limits"]["primary"]["used_percent"] = 40.0
    half = json.dumps(later)[:-20]
    path = write_session(tmp_path, [complete, half], newline_at_end=False)
    assert fetch(tmp_path).window("session").used_percent == 21.0
    path.write_text(complete + "\n" + json.dumps(later) + "\n")
    assert fetch(tmp_path).window("session").used_percent == 40.0


def test_newest_reading_wins_across_files_and_archive(tmp_path):
    old = json.loads(LEGACY[9])
    new = json.loads(LEGACY[9])
    new["timestamp"] = "2026-01-01T00:00:00.000Z"
    new["payload"]["rate_limits"]["primary"]["used_percent"] = 77.0
    # The archived file holds the newer reading but is the older file on disk.
    archived = tmp_path / "archived_sessions"
    archived.mkdir()
    (archived / "rollout-a.jsonl").write_text(json.dumps(new) + "\n")
    live = write_session(tmp_path, [json.dumps(old)], day="2025/12/09")
    os.utime(archived / "rollout-a.jsonl", (1767225600, 1767225600))
    os.utime(live, (1767225700, 1767225700))
    assert fetch(tmp_path).window("session").used_percent == 77.0


def test_huge_lines_are_skipped_without_losing_the_reading(tmp_path):
    bulky = json.dumps(
        {
            "timestamp": "2025-12-09T11:00:01.000Z",
            "type": "response_item",
            "payload": {"type": "message", "text": "x" * (3 * 1024 * 1024)},
        }
    )
    write_session(tmp_path, [LEGACY[9], bulky, bulky])
    assert fetch(tmp_path).window("session").used_percent == 21.0


def test_backwards_reader_yields_every_marked_line_across_block_edges(tmp_path):
    lines = [json.dumps({"n": i, "rate_limits": "y" * (i * 997 % 5000)}) for i in range(400)]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert [json.loads(x)["n"] for x in lines_backwards(path)] == list(range(399, -1, -1))


def test_reading_from_a_copy_of_the_fixture_home_does_not_write_it(tmp_path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURE_HOME, home)
    before = {p: p.stat().st_mtime_ns for p in home.rglob("*")}
    fetch(home, now=NOW + timedelta(days=1))
    assert {p: p.stat().st_mtime_ns for p in home.rglob("*")} == before
