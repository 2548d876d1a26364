"""`codexbar watch` in a real terminal: tmux at 80×24, a lived-in Codex home, a rollout that
grows while the view runs, and q to quit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from codexbar.watch.feed import Response, Screen
from codexbar.watch.view import render
from tests.cost_helpers import record, usage
from tests.dashboard_helpers import _ts, build_home, use_logs_source

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian: tmux)")


class Pane:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "watch")

    def wait_for(self, check: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"the screen never got there; it shows:\n{screen}")


@pytest.fixture
def pane(tmp_path, isolated_dirs) -> Iterator[tuple[Pane, object]]:
    use_logs_source(isolated_dirs / "config")  # offline: the limits come from the session logs
    lived = build_home(tmp_path)
    env = {
        name: os.environ[name]
        for name in ("CODEXBAR_CONFIG_DIR", "CODEXBAR_DATA_DIR", "PATH", "HOME")
        if name in os.environ
    }
    command = " ".join(
        [
            "env",
            *(shlex.quote(f"{k}={v}") for k, v in env.items()),
            "TERM=xterm-256color",
            shlex.quote(sys.executable),
            "-m codexbar watch --home",
            shlex.quote(str(lived.home)),
            "; echo EXIT=$?; sleep 30",
        ]
    )
    pane = Pane(f"codexbar-test-{uuid.uuid4().hex[:8]}")
    pane.tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "watch", command)
    try:
        yield pane, lived
    finally:
        pane.tmux("kill-server")


def _active_rollout(home: Path, session_id: str) -> Path:
    (path,) = home.glob(f"sessions/*/*/*/rollout-*{session_id}.jsonl")
    return path


def test_watch_shows_the_limits_follows_a_growing_rollout_and_quits_on_q(pane):
    pane, lived = pane
    screen = pane.wait_for(lambda s: "Cost today" in s and "gpt-5.5" in s and "left" in s)
    # The lived-in home's own reading: 62% of the session used, 41% of the week.
    assert "Session" in screen and "38% left" in screen
    assert "Weekly" in screen and "59% left" in screen
    assert "Pace:" in screen
    assert "/home/dev/widget-api" in screen
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "779K" not in screen

    with _active_rollout(lived.home, lived.active_session).open("a") as rollout:
        line = record(
            _ts(datetime.now(UTC)), lived.active_session, "resp-new", usage(777_000, 0, 2000)
        )
        rollout.write(line + "\n")
    screen = pane.wait_for(lambda s: "779K" in s, timeout=30)
    newest = next(line for line in screen.splitlines() if "779K" in line)
    assert "gpt-5.5" in newest and "widget-api" in newest and "$" in newest
    # The new response is the first row of the table, under its heading.
    heading = next(i for i, line in enumerate(screen.splitlines()) if "Session folder" in line)
    assert "779K" in screen.splitlines()[heading + 1]

    pane.tmux("send-keys", "-t", "watch", "q")
    screen = pane.wait_for(lambda s: "EXIT=" in s, timeout=20)
    assert "EXIT=0" in screen
    assert "Cost today" not in screen  # the alternate screen is gone: the shell's screen is back


def test_watch_quits_on_ctrl_c(pane):
    pane, _ = pane
    pane.wait_for(lambda s: "Cost today" in s)
    pane.tmux("send-keys", "-t", "watch", "C-c")
    screen = pane.wait_for(lambda s: "EXIT=" in s, timeout=20)
    assert "EXIT=0" in screen and "Traceback" not in screen


def test_watch_refuses_without_a_terminal():
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "watch"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode != 0
    assert "needs a terminal" in result.stderr and "Traceback" not in result.stderr


def test_the_view_fits_80_columns_with_long_names():
    from rich.console import Console

    now = datetime.now(UTC)
    screen = Screen(
        responses=[
            Response(
                now,
                "/home/someone/a/very/long/path/to/the/project",
                "gpt-5.3-codex-spark-x",
                1_234_567,
                None,
            )
        ]
        * 30
    )
    console = Console(width=80, height=24, record=True, color_system=None)
    console.print(render(screen, now, height=24, titles={}))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "Reading the limits" in text and "…" in text and "—" in text  # unpriced: a dash
    assert text.count("1.2M") == 24 - 7  # as many rows as the terminal has left
