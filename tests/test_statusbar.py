"""`codexbar bar` and `codexbar waybar` run as a status bar runs them: real processes, the real
store, a lived-in Codex home for the cost figures."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from codexbar.cost import cost_summary
from codexbar.engine import UsageReport
from codexbar.reading import choose
from codexbar.statusbar import (
    CRITICAL,
    ERROR,
    OK,
    STALE,
    WARNING,
    FormatError,
    field_values,
    format_fields,
    render,
    status_class,
)
from codexbar.store import Store
from tests.bars_helpers import run_codexbar, save_reading
from tests.dashboard_helpers import build_home
from tests.tray_helpers import reading as snapshot_at


def no_login_home(tmp_path: Path) -> Path:
    """A Codex home with no login: any fetch fails, so a current answer must come from the
    store."""
    home = tmp_path / "empty_home"
    home.mkdir()
    return home


def use_oauth_only(isolated_dirs: Path) -> None:
    config = isolated_dirs / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text('source = "oauth"\n')


# -- bar -----------------------------------------------------------------------------------------


def test_bar_reads_a_current_stored_reading_and_todays_cost(tmp_path, isolated_dirs):
    use_oauth_only(isolated_dirs)
    lived = build_home(tmp_path)
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC) - timedelta(seconds=30)))
    result = run_codexbar("bar", "--home", str(lived.home))
    assert result.returncode == 0, result.stderr
    store = Store()
    try:
        today = cost_summary([lived.home], days=7, store=store).today
    finally:
        store.close()
    assert today.cost_usd and today.cost_usd > 0
    assert result.stdout == f"82% · 55% · ${today.cost_usd:.2f}\n"


def test_bar_fields_and_an_old_reading_says_it_is_stale(tmp_path, isolated_dirs):
    use_oauth_only(isolated_dirs)
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC) - timedelta(hours=2)))
    result = run_codexbar(
        "bar",
        "--home",
        str(no_login_home(tmp_path)),
        "--format",
        "{left}% {binding} · {credits} · {account}",
    )
    # The fetch failed (no login): the stored figures are shown, and said to be old.
    assert result.returncode == 0, result.stderr
    assert result.stdout == "55% Weekly · 112.50 · dev.fixture@example.com (stale, 2 h ago)\n"


def test_bar_rejects_an_unknown_field_in_words(tmp_path):
    result = run_codexbar("bar", "--format", "{session_left}% {sesion_used}")
    assert result.returncode == 64
    assert "unknown field {sesion_used}" in result.stderr
    assert "{session_used}" in result.stderr and "Traceback" not in result.stderr


# -- waybar --------------------------------------------------------------------------------------


def test_waybar_object_from_a_current_reading(tmp_path, isolated_dirs):
    use_oauth_only(isolated_dirs)
    save_reading(snapshot_at(30, 88, at=datetime.now(UTC) - timedelta(seconds=10)))
    result = run_codexbar("waybar", "--home", str(no_login_home(tmp_path)))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["text"] == "70% · 12%"
    assert body["class"] == WARNING  # 12% left is below the lowest threshold (20)
    assert body["percentage"] == 12
    assert "Weekly:" in body["tooltip"] and "12% left" in body["tooltip"]
    assert "Cost today" in body["tooltip"]


def test_waybar_without_any_reading_is_an_error_not_full(tmp_path, isolated_dirs):
    use_oauth_only(isolated_dirs)
    result = run_codexbar("waybar", "--home", str(no_login_home(tmp_path)))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["class"] == ERROR and body["text"] == "Codex ?"
    assert "percentage" not in body
    assert "unavailable" in body["tooltip"]


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        raise AssertionError(f"no line within {timeout} s")
    return proc.stdout.readline()


def test_waybar_follow_prints_a_line_when_the_store_changes(tmp_path, isolated_dirs):
    use_oauth_only(isolated_dirs)
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC) - timedelta(seconds=5)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "codexbar", "waybar", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env={**os.environ, "CODEX_HOME": str(no_login_home(tmp_path))},
    )
    try:
        first = json.loads(_read_line(proc, 30))
        assert first["text"] == "82% · 55%" and first["class"] == OK
        assert first["tooltip"].startswith("Codex (OAuth)")  # sources named as people say
        save_reading(snapshot_at(60, 50, at=datetime.now(UTC)))
        second = json.loads(_read_line(proc, 20))
        assert second["text"] == "40% · 50%"
        # Nothing changes now: no further line (the loop sleeps between two `stat`s).
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert not selector.select(3)
    finally:
        proc.terminate()
        proc.wait(10)


# -- the rules, as functions ---------------------------------------------------------------------


def _reading(snapshot, now=None, stale_minutes=5):
    now = now or snapshot.observed_at + timedelta(seconds=1)
    return choose(UsageReport(snapshot=snapshot), None, now, stale_minutes)


def test_class_follows_the_tray_colours():
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert status_class(_reading(snapshot_at(18, 45, at=at)), {}, (50, 20)) == OK
    assert status_class(_reading(snapshot_at(85, 45, at=at)), {}, (50, 20)) == WARNING
    assert status_class(_reading(snapshot_at(100, 45, at=at)), {}, (50, 20)) == CRITICAL
    blocked = replace(snapshot_at(18, 45, at=at), blocked="Spend limit reached")
    assert status_class(_reading(blocked), {}, (50, 20)) == CRITICAL
    old = _reading(snapshot_at(100, 45, at=at), now=at + timedelta(hours=1))
    assert status_class(old, {}, (50, 20)) == STALE
    nothing = choose(UsageReport(snapshot=None), None, at, 5)
    assert status_class(nothing, {}, (50, 20)) == ERROR


def test_a_window_that_reset_since_the_reading_shows_no_old_figure():
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    snapshot = snapshot_at(90, 45, at=at)
    later = _reading(snapshot, now=at + timedelta(hours=2), stale_minutes=300)
    values = field_values(later, {}, (50, 20))
    assert values["session_left"] == "?"  # reset at 13:50: refilled, no new reading yet
    assert values["weekly_left"] == "55" and values["left"] == "55"


def test_format_checks_and_the_stale_marker():
    assert format_fields("{left}% {status}") == {"left", "status"}
    with pytest.raises(FormatError):
        format_fields("{left")
    values = dict.fromkeys(format_fields("{left}{stale}{status}"), "")
    values.update(left="55", stale="(stale, 2 h ago)", status="stale")
    assert render("{left}%", values) == "55% (stale, 2 h ago)"
    assert render("{left}% {status}", values) == "55% stale"


def test_bar_answers_quickly_from_the_store(tmp_path, isolated_dirs):
    """A hang guard and a measurement (printed with -s): the stored path never fetches."""
    use_oauth_only(isolated_dirs)
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC)))
    started = time.monotonic()
    result = run_codexbar("bar", "--home", str(no_login_home(tmp_path)), "--format", "{left}")
    elapsed = time.monotonic() - started
    assert result.stdout == "55\n", result.stderr
    print(f"codexbar bar from the store: {elapsed * 1000:.0f} ms including Python's start")
    assert elapsed < 20


def test_every_field_is_documented_in_the_readme():
    from codexbar.statusbar import FIELDS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [name for name in FIELDS if f"| `{{{name}}}` |" not in readme]
    assert not missing, f"README's bar table lacks {missing}"
