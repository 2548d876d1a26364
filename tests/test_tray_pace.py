"""Pace in the tray: a row under each window, the tooltip, and the run-out-early notification."""

from __future__ import annotations

from datetime import timedelta

from codexbar.models import RateWindow, UsageSnapshot
from codexbar.pace import window_pace
from codexbar.settings import lookup
from codexbar.store import Store
from codexbar.tray.icon import summary_line
from codexbar.tray.menu import TrayState, build_menu
from codexbar.tray.notifications import NotificationMemory, TransitionPlanner
from tests.tray_helpers import NOW, reading


def paces(snapshot: UsageSnapshot) -> dict:
    return {w.id: p for w in snapshot.windows if (p := window_pace(w, NOW)) is not None}


def test_menu_has_a_pace_row_under_each_window():
    snapshot = reading(90, 10)  # session: 190 of 300 minutes gone, 90% used
    rows = [r.text for r in build_menu(TrayState(snapshot=snapshot, paces=paces(snapshot)), NOW)]
    session = rows.index("Session: 10% left · resets in 1h 50m")
    assert rows[session + 1] == "    Pace: 27% in deficit · runs out in 22m"
    weekly = rows.index("Weekly: 90% left · resets in 2d 6h")
    assert rows[weekly + 1] == "    Pace: 58% in reserve · lasts until reset"
    # Without paces (an older caller), the menu is as it was.
    plain = [r.text for r in build_menu(TrayState(snapshot=snapshot), NOW)]
    assert not any("Pace:" in text for text in plain)


def test_tooltip_says_when_a_window_runs_out():
    snapshot = reading(90, 10)
    assert summary_line(snapshot, paces=paces(snapshot), now=NOW) == (
        "Codex: session 10% left · weekly 90% left · session runs out in 22m"
    )
    assert summary_line(snapshot) == "Codex: session 10% left · weekly 90% left"
    assert summary_line(snapshot, paces=paces(snapshot), now=NOW, stale=True).endswith("(stale)")


def planner(path, pace_warnings=True) -> TransitionPlanner:
    return TransitionPlanner(NotificationMemory(Store(path)), (50, 20), pace_warnings=pace_warnings)


def test_run_out_early_is_announced_once_per_window(tmp_path):
    p = planner(tmp_path / "db")
    notices = [n for n in p.observe(reading(90, 10), NOW) if n.level == "pace"]
    assert [(n.title, n.body) for n in notices] == [
        (
            "Codex session window may run out early",
            "At this pace it runs out in 22m, 1h 29m before it resets.",
        )
    ]
    later = NOW + timedelta(minutes=5)
    assert [n for n in p.observe(reading(92, 10, at=NOW), later) if n.level == "pace"] == []
    # The restarted tray remembers; the next window instance may warn again.
    assert [
        n for n in planner(tmp_path / "db").observe(reading(90, 10), NOW) if n.level == "pace"
    ] == []
    next_window = NOW + timedelta(hours=5)
    fresh = [
        n for n in p.observe(reading(90, 10, at=next_window), next_window) if n.level == "pace"
    ]
    assert len(fresh) == 1


def test_no_pace_warning_when_off_early_in_a_window_or_lasting(tmp_path):
    assert [
        n
        for n in planner(tmp_path / "a", pace_warnings=False).observe(reading(90, 10), NOW)
        if n.level == "pace"
    ] == []
    early = UsageSnapshot("oauth", NOW, NOW, (RateWindow(8, 300, NOW + timedelta(minutes=280)),))
    assert planner(tmp_path / "b").observe(early, NOW) == []  # 7% of the window gone: noise
    assert [
        n for n in planner(tmp_path / "c").observe(reading(30, 10), NOW) if n.level == "pace"
    ] == []


def test_the_pace_notification_setting():
    setting = lookup("notify.pace")
    assert setting.default is True and setting.parse_text("off") is False
