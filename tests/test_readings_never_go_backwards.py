"""Issue 9 §2: after a fresh reading, a failed refresh never brings back an older one.

The CLI runs as a user runs it (a real process against a real local server, real files, the
real store); the tray is the wired TrayApp with only the pystray adapter replaced. The Codex
home holds *older* session logs (the fixture's, from 2026-11-21, 82% left), which Auto's offline
fallback finds: they must never be shown as the answer after the fresh 60%-left reading.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codexbar import settings as settings_module
from codexbar.app import App
from codexbar.store import Store
from codexbar.tray.app import TrayApp
from tests.conftest import FIXTURE_HOME, FIXTURES, SECRET_VALUES, point_home_at, write_fresh_auth
from tests.fake_backend import Reply
from tests.tray_helpers import RecordingTray, fresh_wham

USAGE_PATH = "/backend-api/wham/usage"
OLD_LOGS_LEFT = 82  # what the fixture's session logs say about the session window
HANG_DEADLINE = 5  # auto_deadline_seconds for the hang case


def fresh_body() -> dict:
    """A current wham/usage body: the session window 60% left, the weekly 30% left."""
    body = fresh_wham(FIXTURES / "wham_usage.json")
    body["rate_limit"]["primary_window"]["used_percent"] = 40
    body["rate_limit"]["secondary_window"]["used_percent"] = 70
    return body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def home(tmp_path, backend, monkeypatch) -> Path:
    """A logged-in Codex home talking to the local backend, with older session logs in it and
    no Codex CLI (so Auto's only fallback is the logs)."""
    home = tmp_path / "codex-home"
    shutil.copytree(FIXTURE_HOME / "sessions", home / "sessions")
    write_fresh_auth(home)
    point_home_at(home, backend)
    monkeypatch.setenv("CODEX_HOME", str(home))
    settings_module.save_values(
        {
            "source": "auto",
            "codex_path": str(tmp_path / "no-codex-here"),
            "auto_deadline_seconds": HANG_DEADLINE,
        }
    )
    backend.routes[USAGE_PATH] = Reply(200, fresh_body())
    return home


def break_backend(case: str, home: Path, backend) -> int:
    """Make the next refresh fail as `case`; returns the exit code `usage` must end with."""
    if case == "503":
        backend.routes[USAGE_PATH] = Reply(503, "<html>Service Unavailable</html>")
        return 1
    if case == "401":
        backend.routes[USAGE_PATH] = Reply(401, {"detail": "token expired"})
        return 1
    if case == "hang":
        backend.routes[USAGE_PATH] = Reply(200, fresh_body(), delay=60)
        return 4
    assert case == "refused"
    (home / "config.toml").write_text(
        f'chatgpt_base_url = "http://127.0.0.1:{free_port()}/backend-api/"\n'
    )
    return 1


FAILURE_WORDS = {
    "503": "503",
    "401": "401",
    "hang": "did not answer",
    "refused": "could not reach",
}


def usage(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "usage", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    for secret in SECRET_VALUES:
        assert secret not in result.stdout + result.stderr, "a token reached the output"
    assert "Traceback" not in result.stderr
    return result, time.monotonic() - started


def session_left(body: dict) -> float:
    return next(w for w in body["windows"] if w["id"] == "session")["remaining_percent"]


@pytest.mark.parametrize("case", ["503", "401", "hang", "refused"])
def test_cli_keeps_the_last_good_reading_and_says_what_failed(case, home, backend):
    first, _ = usage("--json")
    assert first.returncode == 0, first.stdout
    body = json.loads(first.stdout)
    assert body["source"] == "oauth" and session_left(body) == 60
    assert body["stale"] is False and body["error"] is None

    expected_code = break_backend(case, home, backend)
    result, seconds = usage("--json")
    body = json.loads(result.stdout)
    assert result.returncode == expected_code, body["error"]
    assert seconds < 30, "a hung backend must not hold the CLI"
    # The answer is the last good (OAuth) reading, never the older session-log one.
    assert body["source"] == "oauth" and session_left(body) == 60
    assert body["stale"] is True and body["from_store"] is True
    assert body["refused"]["source"] == "logs"
    assert body["error"] is not None
    assert FAILURE_WORDS[case] in body["error"]["message"].lower()
    assert [a["source"] for a in body["attempts"] if a["ok"]] == ["logs"]

    text, _ = usage()
    assert text.returncode == expected_code
    lines = text.stdout.splitlines()
    first_window = next(i for i, line in enumerate(lines) if line.startswith("Session:"))
    failure = next(i for i, line in enumerate(lines) if line.startswith("OAuth failed:"))
    age = next(i for i, line in enumerate(lines) if line.startswith("Not current:"))
    assert failure < first_window and age < first_window  # said before any figure
    assert "60% left" in lines[first_window]
    assert f"{OLD_LOGS_LEFT}% left" not in text.stdout
    assert "Session logs had only an older reading" in text.stdout
    # The refused reading was not stored: the reference stays the OAuth one.
    assert Store().last_snapshot().source == "oauth"


@pytest.mark.parametrize("case", ["503", "401", "hang", "refused"])
def test_tray_keeps_the_last_good_reading_and_shows_the_failure(case, home, backend):
    tray = RecordingTray()
    app = TrayApp(App.load(), tray, cost=None)
    assert app.refresh_once()
    assert any(t.startswith("Session: 60% left") for t in tray.texts)
    assert "Updated just now via OAuth" in tray.texts

    break_backend(case, home, backend)
    app.apply_settings(settings_module.load())  # the home's config may point elsewhere now
    started = time.monotonic()
    assert not app.refresh_once()
    assert time.monotonic() - started < 30
    texts = tray.texts
    assert any(t.startswith("Session: 60% left") for t in texts), texts
    assert not any(f"{OLD_LOGS_LEFT}% left" in t for t in texts), texts
    assert not any("via Session logs" in t for t in texts)
    assert any(FAILURE_WORDS[case] in t.lower() for t in texts), texts
    assert any(t.startswith("Showing the reading from just now via OAuth") for t in texts)
    assert tray.updates[-1][1].endswith("(stale)")
    assert app.state.snapshot.source == "oauth"
    app.quit()
