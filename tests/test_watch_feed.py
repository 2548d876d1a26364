"""What `codexbar watch` knows, without a terminal: readings turn stale on time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from codexbar.statusbar import BarSession
from codexbar.watch import feed as feed_module
from codexbar.watch.feed import Feed
from tests.bars_helpers import save_reading
from tests.tray_helpers import reading as snapshot_at


def test_a_reading_turns_stale_on_screen_without_a_database_change(
    tmp_path, isolated_dirs, monkeypatch
):
    config = isolated_dirs / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text('source = "oauth"\nrefresh_minutes = 1\n')
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC) - timedelta(seconds=50)))
    monkeypatch.setattr(feed_module, "RELOAD_SECONDS", 0.0)
    session = BarSession((str(tmp_path / "no-home"),))
    feed = Feed(session)  # not started: no background fetch, the database never changes
    try:
        feed.poll()
        assert feed.screen.reading.current
        deadline = time.monotonic() + 40  # a hang guard: it turns stale 10 s from now
        while feed.screen.reading.current and time.monotonic() < deadline:
            time.sleep(0.5)
            feed.poll()
        assert not feed.screen.reading.current
    finally:
        session.close()
