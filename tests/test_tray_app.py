"""The wired tray against a real local server, a real store and real settings files; only the
pystray adapter is replaced by a recorder (there is no display here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from codexbar import settings as settings_module
from codexbar.app import App
from codexbar.store import Store
from codexbar.tray.app import TrayApp, real_cost_view
from codexbar.tray.menu import Action, CostFigures, CostView
from codexbar.tray.single_instance import InstanceLock, ask_running_instance
from tests.conftest import FIXTURES, SECRET_VALUES, point_home_at, write_fresh_auth
from tests.cost_helpers import inotify_descriptors
from tests.fake_backend import Reply
from tests.tray_helpers import RecordingTray, fresh_wham, reading

USAGE_PATH = "/backend-api/wham/usage"
WHAM = fresh_wham(FIXTURES / "wham_usage.json")


@pytest.fixture
def oauth_home(tmp_path, backend, monkeypatch):
    home = tmp_path / "home"
    write_fresh_auth(home)
    point_home_at(home, backend)
    monkeypatch.setenv("CODEX_HOME", str(home))
    backend.routes[USAGE_PATH] = Reply(200, WHAM)
    settings_module.save_value("source", "oauth")
    return home


def fake_cost(homes, days, store):
    return CostView(
        CostFigures(456_000, Decimal("1.23")), CostFigures(12_000_000, Decimal("45.67")), days
    )


def make(tray=None, **kwargs) -> tuple[TrayApp, RecordingTray]:
    tray = tray or RecordingTray()
    kwargs.setdefault("cost", fake_cost)
    return TrayApp(App.load(), tray, **kwargs), tray


def test_a_refresh_draws_the_menu_icon_and_tooltip(oauth_home, backend):
    app, tray = make()
    assert app.refresh_once()
    texts = [t for t in tray.texts if "Pace:" not in t]  # pace rows: tests/test_tray_pace.py
    assert texts[0] == "Codex — dev.fixture@example.com · Plus"
    assert texts[1].startswith("Session: 82% left · resets in")
    assert texts[2].startswith("Weekly: 55% left · resets in")
    assert "Updated just now via OAuth" in texts
    image, title, _ = tray.updates[-1]
    assert title == "Codex: session 82% left · weekly 55% left" and image.size == (36, 36)
    tip = tray.views[-1].tooltip
    assert tip.title == "Codex usage"
    assert tip.lines[0].startswith("Session: 82% left · resets in")
    assert tip.lines[1].strip().startswith("Pace: ")  # each window's pace follows it
    assert tip.lines[2].startswith("Weekly: 55% left · resets in")
    assert Store().last_snapshot().source == "oauth"
    app.cost.join(5)
    assert "Today: $1.23 · 456K tokens" in tray.texts


def test_start_shows_the_stored_reading_at_once_marked_with_its_age(oauth_home):
    store = Store()
    store.save_snapshot(reading(at=datetime.now(UTC) - timedelta(minutes=30)))
    store.close()
    app, tray = make()
    app.redraw()
    assert "Session: 82% left" in " ".join(tray.texts)
    assert any(t.startswith("Showing the reading from") for t in tray.texts)
    assert tray.updates[-1][1].endswith("(stale)")


def test_a_failed_refresh_keeps_the_last_reading_and_shows_the_error(oauth_home, backend):
    app, tray = make()
    assert app.refresh_once()
    backend.routes[USAGE_PATH] = Reply(503, {"detail": "down"})
    assert not app.refresh_once()
    texts = tray.texts
    assert texts[1].startswith("Session: 82% left")
    assert any(t.startswith("Showing the reading from just now via OAuth") for t in texts)
    assert tray.updates[-1][1].endswith("(stale)")
    assert app.loop.plan.failures == 0  # the loop records; refresh_once only reports


def test_settings_changes_apply_without_a_restart(oauth_home):
    app, tray = make()
    app.refresh_once()
    settings_module.save_value("show_used", True)
    assert app.check_settings()
    assert any(t.startswith("Session: 18% used") for t in tray.texts)
    settings_module.save_value("refresh_minutes", 15)
    app.check_settings()
    assert app.loop.plan.interval_minutes == 15
    assert not app.check_settings()  # nothing new


def test_menu_actions_write_settings(oauth_home):
    app, tray = make()
    app.handle(Action("set_source", "logs"))
    app.handle(Action("set_interval", 0))
    app.handle(Action("toggle_show_used"))
    loaded = settings_module.load()
    assert (loaded["source"], loaded["refresh_minutes"], loaded["show_used"]) == ("logs", 0, True)
    menu = {r.text: r for r in tray.updates[-1][2]}
    assert [r.checked for r in menu["Refresh every"].submenu][-1] is True


def test_notification_on_a_threshold_crossing(oauth_home, backend):
    app, _tray = make(notifier=None)
    sent = []
    app.notifier.send = lambda title, body, icon=None: sent.append(title) or True
    app.refresh_once()  # baseline
    body = json.loads(json.dumps(WHAM))
    body["rate_limit"]["primary_window"]["used_percent"] = 85
    backend.routes[USAGE_PATH] = Reply(200, body)
    app.refresh_once()
    # 85% used with 63% of the window gone also projects a run-out long before the reset.
    expected = ["Codex session window: 15% left", "Codex session window may run out early"]
    assert sent == expected
    app.refresh_once()
    assert sent == expected


def test_used_up_raises_attention_and_its_notification_shows_the_red_icon(oauth_home, backend):
    app, tray = make(notifier=None)
    sent = []
    app.notifier.send = lambda title, body, icon=None: sent.append((title, icon)) or True
    app.refresh_once()  # baseline
    assert not tray.views[-1].drawing.state.needs_attention
    body = json.loads(json.dumps(WHAM))
    body["rate_limit"]["primary_window"]["used_percent"] = 100
    backend.routes[USAGE_PATH] = Reply(200, body)
    app.refresh_once()
    view = tray.views[-1]
    assert view.drawing.state.needs_attention and view.drawing.state.top.level == "out"
    ((title, icon),) = sent  # and no "may run out early" on top of "used up"
    assert title == "Codex session window used up"
    assert icon is not None and icon.exists() and icon.suffix == ".png"


def test_quit_stops_every_thread_quickly(oauth_home):
    app, tray = make(tick_seconds=0.05)
    app.start()
    app.loop.request()
    started = time.monotonic()
    app.quit()
    assert time.monotonic() - started < 2.0
    assert app.threads_alive() == [] and tray.stopped


def test_real_cost_adapter_on_the_fixture_home(tmp_path):
    from tests.conftest import FIXTURE_HOME

    view = real_cost_view([FIXTURE_HOME], 30, Store(tmp_path / "db"))
    assert view.days == 30 and view.range.tokens >= view.today.tokens >= 0


def test_the_trays_cost_scans_keep_one_connection_that_watches_the_logs(tmp_path, monkeypatch):
    """From its second cost scan on, the tray watches the session folders (no stat of every
    rollout per refresh): its scans share one connection, closed when it quits; and an append
    between scans is in the very next figures."""
    from tests.cost_helpers import meta, token_count, usage, write

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to count inotify descriptors")
    home = tmp_path / "home"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    at = f"{today}T00:00:01.000Z"
    log = write(home, today, "s", [meta(at, "s"), token_count(at, usage(1000, 0, 10))])
    monkeypatch.setenv("CODEX_HOME", str(home))
    app, _tray = make(cost=real_cost_view)
    before = inotify_descriptors()
    tokens = []
    for step in range(3):
        app._scan_cost()
        tokens.append(app.state.cost.range.tokens)
        if step == 1:
            with log.open("a") as handle:
                handle.write(token_count(at, usage(2000, 0, 20)) + "\n")
    assert tokens == [1010, 1010, 2020]
    assert inotify_descriptors() == before + 1  # one watcher, on the kept connection
    app.quit()
    assert inotify_descriptors() == before


def test_second_instance_asks_the_first_to_refresh():
    asked = threading.Event()
    lock = InstanceLock.acquire(asked.set)
    assert lock is not None
    try:
        assert InstanceLock.acquire(lambda: None) is None
        assert ask_running_instance()
        assert asked.wait(5)
    finally:
        lock.close()
    assert not ask_running_instance()
    again = InstanceLock.acquire(lambda: None)  # the socket file was cleaned up
    assert again is not None
    again.close()


def test_no_display_prints_the_report_once_and_how_to_start_the_tray(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYSTRAY_BACKEND")
    }
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "--home", str(tmp_path)]
        if False
        else [sys.executable, "-m", "codexbar"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    for secret in SECRET_VALUES:
        assert secret not in result.stdout + result.stderr
    assert "No desktop session was found" in result.stderr
    assert "Codex usage is unavailable." in result.stdout or "Codex (" in result.stdout
    assert result.stdout.count("Codex") >= 1 and "Traceback" not in result.stderr
