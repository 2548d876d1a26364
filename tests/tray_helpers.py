"""Readings and a recording tray shared by the tray tests."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from codexbar.models import Credits, Identity, RateWindow, UsageSnapshot

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def fresh_wham(path) -> dict:
    """A wham/usage fixture body whose reset times lie ahead of the real clock (the fixture's
    absolute `reset_at` values are in the past by now)."""
    body = json.loads(path.read_text())
    for name in ("primary_window", "secondary_window"):
        window = (body.get("rate_limit") or {}).get(name)
        if window:
            window["reset_at"] = int(time.time()) + int(window["reset_after_seconds"])
    return body


def reading(
    session_used: float | None = 18,
    weekly_used: float | None = 45,
    *,
    at: datetime = NOW,
    spark: bool = False,
    credits: str | None = "112.50",
    source: str = "oauth",
) -> UsageSnapshot:
    windows = []
    if session_used is not None:
        windows.append(RateWindow(session_used, 300, at + timedelta(hours=1, minutes=50)))
    if weekly_used is not None:
        windows.append(RateWindow(weekly_used, 10080, at + timedelta(days=2, hours=6)))
    if spark:
        windows.append(
            RateWindow(12, 300, at + timedelta(hours=3), "codex_spark", "GPT-5.3-Codex-Spark")
        )
    return UsageSnapshot(
        source=source,
        fetched_at=at,
        observed_at=at,
        windows=tuple(windows),
        credits=None if credits is None else Credits(Decimal(credits), has_credits=True),
        identity=Identity("dev.fixture@example.com", "plus", "acct-1"),
    )


class RecordingTray:
    """Stands in for a tray backend: records what the app drew, as (image, title, rows) with
    the icon drawn at 36 px, plus the whole views."""

    def __init__(self) -> None:
        self.updates: list[tuple] = []
        self.views: list = []
        self.notified: list[tuple[str, str]] = []
        self.stopped = False

    def update(self, view) -> None:
        self.views.append(view)
        self.updates.append((view.drawing.image(36), view.title, view.rows))

    def notify(self, title: str, body: str) -> bool:
        self.notified.append((title, body))
        return True

    def stop(self) -> None:
        self.stopped = True

    @property
    def texts(self) -> list[str]:
        return [row.text for row in self.updates[-1][2]]
