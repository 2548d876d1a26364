"""Menu rows for fixture readings: fresh, stale, error, weekly used up, no reading, Spark."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from codexbar.errors import ErrorKind, SourceError
from codexbar.models import CreditPool, LimitResets
from codexbar.tray.menu import (
    Action,
    CostFigures,
    CostView,
    TrayState,
    build_menu,
    plain,
    tooltip,
    wrap_text,
)
from tests.tray_helpers import NOW, reading

TITLES = {
    "oauth": "OAuth",
    "rpc": "Codex CLI",
    "pty": "Codex CLI /status",
    "web": "chatgpt.com cookies",
    "logs": "Session logs",
}


def texts(state: TrayState, now=NOW) -> list[str]:
    return [row.text for row in build_menu(state, now)]


def test_fresh_reading():
    cost = CostView(
        CostFigures(456_000, Decimal("1.23")), CostFigures(12_000_000, Decimal("45.67")), 30
    )
    rows = texts(
        TrayState(snapshot=reading(), cost=cost, titles=TITLES), NOW + timedelta(minutes=2)
    )
    assert rows[:7] == [
        "Codex — dev.fixture@example.com · Plus",
        "Session: 82% left · resets in 1h 48m",
        "Weekly: 55% left · resets in 2d 5h",
        "Credits: 112.50",
        "Today: $1.23 · 456K tokens",
        "Last 30 days: $45.67 · 12M tokens",
        "Updated 2 min ago via OAuth",
    ]
    assert rows[7:] == [
        "-",
        "Refresh now",
        "Usage source",
        "Refresh every",
        "Show usage as used",
        "Preferences…",
        "Open Codex usage page",
        "Open dashboard",
        "Open Codex folder",
        "-",
        "Quit",
    ]


def test_figure_rows_are_normal_items_that_open_the_usage_page():
    menu = build_menu(TrayState(snapshot=reading(), titles=TITLES), NOW)
    by_text = {row.text: row for row in menu}
    for text in ("Session: 82% left · resets in 1h 50m", "Credits: 112.50"):
        assert by_text[text].enabled and by_text[text].action == Action("dashboard")
    assert all(row.enabled for row in menu if not row.is_separator)  # none in disabled grey
    assert by_text["Refresh now"].action == Action("refresh")
    assert by_text["Quit"].action == Action("quit")


def test_show_used():
    rows = texts(TrayState(snapshot=reading(), show_used=True))
    assert "Session: 18% used · resets in 1h 50m" in rows


def test_error_keeps_the_last_good_reading_and_says_so():
    error = SourceError(
        ErrorKind.NETWORK, "chatgpt.com could not be reached.", "Check your connection."
    )
    rows = texts(
        TrayState(snapshot=reading(), error=error, titles=TITLES), NOW + timedelta(minutes=12)
    )
    assert "Session: 82% left · resets in 1h 38m" in rows
    assert "chatgpt.com could not be reached." in rows
    assert "Check your connection." in rows
    assert "Showing the reading from 12 min ago via OAuth" in rows


def test_reading_restored_at_start_is_marked_with_its_age():
    rows = texts(
        TrayState(snapshot=reading(), from_store=True, refreshing=True, titles=TITLES),
        NOW + timedelta(hours=3),
    )
    assert "Showing the reading from 3 h ago via OAuth" in rows
    assert "Refreshing…" in rows
    # The session reset went by: its old percent is not shown as if it were still true.
    session = next(r for r in rows if r.startswith("Session:"))
    assert "reset at" in session and "refilled, no new reading yet" in session
    assert "%" not in session


def test_error_without_any_reading():
    error = SourceError(ErrorKind.AUTH, "Codex is not logged in.", "Run `codex login`.")
    rows = texts(TrayState(error=error))
    assert rows[:3] == ["Codex", "Codex is not logged in.", "Run “codex login”."]
    assert not any("`" in r for r in rows)
    assert not any("left" in r for r in rows)


def test_no_reading_yet():
    assert texts(TrayState(refreshing=True))[:2] == ["Codex", "Refreshing…"]
    assert texts(TrayState())[:2] == ["Codex", "No usage yet"]


def test_weekly_used_up_shows_session_at_zero_until_the_weekly_reset():
    rows = texts(TrayState(snapshot=reading(10, 100)))
    assert "Session: 0% left · resets in 2d 6h" in rows
    assert "Weekly: 0% left · resets in 2d 6h" in rows


def test_spark_rows():
    rows = texts(TrayState(snapshot=reading(spark=True)))
    assert "Spark session: 88% left · resets in 3h" in rows


def test_long_errors_wrap_into_several_rows():
    error = SourceError(ErrorKind.NETWORK, "word " * 40)
    rows = [r for r in texts(TrayState(error=error)) if r.startswith("word")]
    assert len(rows) > 1 and all(len(r) <= 64 for r in rows)


def test_source_radio_with_notes_and_interval_radio():
    state = TrayState(
        snapshot=reading(),
        source="rpc",
        titles=TITLES,
        refresh_minutes=0,
        source_notes={"rpc": "not installed", "web": "off"},
    )
    menu = {row.text: row for row in build_menu(state, NOW)}
    sources = menu["Usage source"].submenu
    assert [r.text for r in sources] == [
        "Auto",
        "OAuth",
        "Codex CLI — not installed",
        "Codex CLI /status",
        "chatgpt.com cookies — off",
        "Session logs",
    ]
    assert [r.checked for r in sources] == [False, False, True, False, False, False]
    assert all(r.radio for r in sources)
    assert sources[1].action == Action("set_source", "oauth")
    intervals = menu["Refresh every"].submenu
    assert [r.text for r in intervals] == ["1 min", "2 min", "5 min", "15 min", "30 min", "Manual"]
    assert intervals[-1].checked and intervals[-1].action == Action("set_interval", 0)


def test_unpriced_cost_shows_a_dash():
    cost = CostView(CostFigures(1200, None), CostFigures(1200, None), 7)
    rows = texts(TrayState(snapshot=reading(), cost=cost))
    assert "Today: — · 1.2K tokens" in rows and "Last 7 days: — · 1.2K tokens" in rows


def pool_reading(used="31", limit="100", **changes):
    pool = CreditPool(Decimal(limit), Decimal(used), NOW.replace(month=12, day=1, hour=12))
    return replace(reading(), credit_pool=pool, **changes)


def test_monthly_credit_pool_row_says_left_or_used():
    left = texts(TrayState(snapshot=pool_reading()))
    assert "Monthly credits: 69% left · 31 of 100 credits used · resets Dec 1" in left
    used = texts(TrayState(snapshot=pool_reading(), show_used=True))
    assert "Monthly credits: 31% used · 31 of 100 credits used · resets Dec 1" in used


def test_a_pool_reading_older_than_its_reset_uses_the_shared_wording():
    later = NOW.replace(month=12, day=2)
    rows = texts(TrayState(snapshot=pool_reading()), later)
    pool_row = next(r for r in rows if r.startswith("Monthly credits:"))
    assert "resets Dec 1" not in pool_row and "reset at" in pool_row


def test_blocked_comes_right_after_the_header():
    snapshot = pool_reading(blocked="Your workspace has reached its monthly credit limit.")
    rows = texts(TrayState(snapshot=snapshot))
    assert rows[1] == "Blocked: Your workspace has reached its monthly credit limit."


def test_limit_resets_row():
    expires = NOW.replace(month=12, day=9)
    snapshot = replace(reading(), limit_resets=LimitResets(1, expires))
    assert "Limit resets: 1 available (expires Dec 9)" in texts(TrayState(snapshot=snapshot))
    none_left = replace(reading(), limit_resets=LimitResets(0, None))
    assert not any(r.startswith("Limit resets") for r in texts(TrayState(snapshot=none_left)))


def test_raw_error_numbers_and_backticks_never_reach_the_menu():
    assert plain("Could not read x: [Errno 13] Permission denied") == (
        "Could not read x: Permission denied"
    )
    assert plain("Run `codex login` (os error 2)") == "Run “codex login”"
    error = SourceError(ErrorKind.NOT_INSTALLED, "Codex CLI not found; install it with `npm i`.")
    rows = texts(TrayState(error=error))
    assert "Codex CLI not found; install it with “npm i”." in rows


def test_long_paths_wrap_after_a_separator():
    path = "/home/someone/.codex/sessions/2026/11/21/rollout-2026-11-21T10-00-00-0123456789.jsonl"
    lines = wrap_text(f"Could not read {path}: permission denied", 40)
    assert all(len(line) <= 40 for line in lines)
    assert "".join(lines).replace(" ", "") == f"Couldnotread{path}:permissiondenied"
    assert all(line.endswith("/") for line in lines[:-2])  # paths break after a slash


def test_tooltip_says_left_or_used_and_why_it_is_stale():
    error = SourceError(ErrorKind.NETWORK, "chatgpt.com could not be reached.")
    state = TrayState(snapshot=reading(), error=error)
    tip = tooltip(state, NOW + timedelta(minutes=12), stale=True)
    assert tip.title == "Codex usage — stale"
    assert tip.lines[:2] == (
        "Session: 82% left · resets in 1h 38m",
        "Weekly: 55% left · resets in 2d 5h",
    )
    assert tip.lines[-2:] == ("chatgpt.com could not be reached.", "Reading from 12 min ago")
    used = tooltip(TrayState(snapshot=reading(), show_used=True), NOW, stale=False)
    assert used.title == "Codex usage" and used.lines[0].startswith("Session: 18% used")
