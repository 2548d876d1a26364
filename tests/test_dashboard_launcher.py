"""The tray's "Open dashboard": one real `codexbar dashboard` child, reused, then stopped."""

from __future__ import annotations

import httpx

from codexbar.dashboard.launcher import LocalDashboard
from tests.conftest import FIXTURE_HOME
from tests.dashboard_helpers import use_logs_source


def test_one_child_serves_every_click_and_stops(isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    launcher = LocalDashboard([FIXTURE_HOME])
    try:
        url = launcher.url()
        assert url is not None and url.startswith("http://127.0.0.1:") and "token=" in url
        process = launcher.process
        assert launcher.url() == url and launcher.process is process  # reused, not restarted
        page = httpx.get(url, follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "Codex dashboard" in page.text
    finally:
        launcher.stop()
    assert process.poll() is not None
    assert launcher.url() != url  # a new run, with a new secret
    launcher.stop()
