"""Notification transitions against a real store: thresholds, once per transition, restart
memory, two agreeing readings before a reset is announced."""

from __future__ import annotations

import os
import stat
from dataclasses import replace

from PIL import Image

from codexbar.paths import data_dir
from codexbar.store import Store
from codexbar.tray.icon import FOR_DARK_PANELS, icon_state
from codexbar.tray.notifications import (
    DesktopNotifier,
    NotificationMemory,
    TransitionPlanner,
    notification_icon,
)
from tests.tray_helpers import NOW, reading


def planner(path) -> TransitionPlanner:
    return TransitionPlanner(NotificationMemory(Store(path)), (50, 20))


def titles(notices) -> list[str]:
    return [n.title for n in notices]


def test_first_reading_is_a_baseline(tmp_path):
    p = planner(tmp_path / "db")
    assert p.observe(reading(90, 95), NOW) == []  # 10% left, but nothing changed yet


def test_threshold_crossings_once_each(tmp_path):
    p = planner(tmp_path / "db")
    p.observe(reading(10, 10), NOW)
    assert titles(p.observe(reading(55, 10), NOW)) == ["Codex session window: 45% left"]
    assert p.observe(reading(56, 10), NOW) == []  # same level: nothing new
    notices = p.observe(reading(85, 10), NOW)
    assert titles(notices) == ["Codex session window: 15% left"]
    assert "Below your 20% warning" in notices[0].body and "Resets in 1h 50m" in notices[0].body
    assert titles(p.observe(reading(100, 10), NOW)) == ["Codex session window used up"]
    assert p.observe(reading(100, 10), NOW) == []


def test_a_jump_past_both_thresholds_is_one_notice(tmp_path):
    p = planner(tmp_path / "db")
    p.observe(reading(10, 10), NOW)
    assert titles(p.observe(reading(90, 10), NOW)) == ["Codex session window: 10% left"]


def test_reset_needs_two_agreeing_readings(tmp_path):
    p = planner(tmp_path / "db")
    p.observe(reading(50, 10), NOW)
    p.observe(reading(100, 10), NOW)
    assert p.observe(reading(0, 10), NOW) == []  # one odd reading says nothing
    assert p.observe(reading(100, 10), NOW) == []  # and the next one disagrees
    assert p.observe(reading(0, 10), NOW) == []
    assert titles(p.observe(reading(3, 10), NOW)) == ["Codex session window available again"]
    assert p.observe(reading(3, 10), NOW) == []


def test_memory_survives_a_restart(tmp_path):
    planner(tmp_path / "db").observe(reading(10, 10), NOW)
    planner(tmp_path / "db").observe(reading(85, 10), NOW)
    assert planner(tmp_path / "db").observe(reading(85, 10), NOW) == []
    assert titles(planner(tmp_path / "db").observe(reading(100, 10), NOW)) == [
        "Codex session window used up"
    ]


def test_weekly_is_tracked_separately(tmp_path):
    p = planner(tmp_path / "db")
    p.observe(reading(10, 10), NOW)
    assert titles(p.observe(reading(10, 60), NOW)) == ["Codex weekly window: 40% left"]


def recording_notify_send(tmp_path):
    """A notify-send that writes its arguments, one a line, to the returned file."""
    log = tmp_path / "calls"
    script = tmp_path / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def test_notify_send_is_called_with_title_and_body(tmp_path):
    script, log = recording_notify_send(tmp_path)
    notifier = DesktopNotifier(tmp_path / "icon.png", notify_send=str(script))
    assert notifier.send("Codex session window used up", "0% left.")
    args = log.read_text().splitlines()
    assert args[-2:] == ["Codex session window used up", "0% left."]
    assert f"--icon={tmp_path / 'icon.png'}" in args


def test_failing_notify_send_falls_back_to_the_tray(tmp_path):
    fallback = []
    notifier = DesktopNotifier(
        None, fallback=lambda t, b: fallback.append((t, b)) or True, notify_send="/bin/false"
    )
    assert notifier.send("t", "b") and fallback == [("t", "b")]
    assert os.path.exists("/bin/false")


def test_a_block_is_announced_when_it_starts_and_when_it_lifts(tmp_path):
    p = planner(tmp_path / "db")
    blocked = replace(reading(), blocked="Your workspace has reached its credit limit.")
    assert p.observe(reading(), NOW) == []  # baseline: not blocked
    notices = p.observe(blocked, NOW)
    assert [(n.title, n.body) for n in notices] == [
        ("Codex is blocked", "Your workspace has reached its credit limit.")
    ]
    assert p.observe(blocked, NOW) == []  # still blocked: nothing new
    assert titles(p.observe(reading(), NOW)) == ["Codex is available again"]
    first = planner(tmp_path / "other")
    assert first.observe(blocked, NOW) == []  # a first reading is only a baseline


def test_the_notification_icon_shows_the_announced_state(tmp_path):
    used_up = icon_state(reading(100, 60))
    path = notification_icon(used_up)
    assert path is not None and path.is_relative_to(data_dir())
    image = Image.open(path).convert("RGB")
    red = FOR_DARK_PANELS.out[:3]  # the app icon is a dark tile
    assert any(pixel == red for pixel in image.get_flattened_data())  # the red bar
    fine = notification_icon(icon_state(reading()))
    assert fine != path
    assert not any(p == red for p in Image.open(fine).convert("RGB").get_flattened_data())
    assert notification_icon(used_up) == path  # one file per look, reused


def test_send_uses_the_state_icon_over_the_app_icon(tmp_path):
    script, log = recording_notify_send(tmp_path)
    notifier = DesktopNotifier(tmp_path / "app.png", notify_send=str(script))
    notifier.send("t", "b", icon=tmp_path / "state.png")
    assert f"--icon={tmp_path / 'state.png'}" in log.read_text().splitlines()
