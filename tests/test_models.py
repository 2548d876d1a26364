"""Windows are named by their length and bucket, never by their slot."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from codexbar.models import RateWindow, UsageSnapshot
from codexbar.report import display_windows

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "minutes, window_id, label",
    [
        (300, "session", "Session"),
        (10080, "weekly", "Weekly"),
        (43200, "monthly", "Monthly"),
        (301, "session", "Session"),
        (540, "window-540m", "9-hour"),
        (4320, "window-4320m", "3-day"),
        (None, "window", "Window"),
    ],
)
def test_window_ids_by_length(minutes, window_id, label):
    window = RateWindow(10.0, minutes)
    assert (window.id, window.label) == (window_id, label)


def test_extra_buckets_are_prefixed_with_a_slug():
    spark = RateWindow(1.0, 300, limit_id="codex_bengalfox", limit_name="GPT-5.3-Codex-Spark")
    other = RateWindow(1.0, 10080, limit_id="codex_premium", limit_name="Premium Reasoning")
    assert (spark.id, spark.label) == ("spark-session", "Spark session")
    assert other.id == "premium-reasoning-weekly" and not other.is_main


def test_snapshot_orders_main_windows_first_and_shorter_first():
    snap = UsageSnapshot(
        "oauth",
        NOW,
        NOW,
        windows=(
            RateWindow(1.0, 300, limit_id="codex_bengalfox", limit_name="GPT-5.3-Codex-Spark"),
            RateWindow(45.0, 10080),
            RateWindow(18.0, 300),
        ),
    )
    assert [w.id for w in snap.windows] == ["session", "weekly", "spark-session"]


def test_remaining_is_clamped():
    assert RateWindow(120.0, 300).remaining_percent == 0.0
    assert RateWindow(-5.0, 300).remaining_percent == 100.0


def test_weekly_used_up_shows_session_as_empty_until_the_weekly_reset():
    weekly_reset = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
    snap = UsageSnapshot(
        "oauth",
        NOW,
        NOW,
        windows=(
            RateWindow(10.0, 300, resets_at=datetime(2026, 11, 21, 1, 0, tzinfo=UTC)),
            RateWindow(100.0, 10080, resets_at=weekly_reset),
        ),
    )
    session = display_windows(snap)[0]
    assert session.remaining_percent == 0.0 and session.resets_at == weekly_reset
    # Once the weekly reset has passed, the rule no longer applies.
    later = snap.with_reset_flags(datetime(2026, 11, 25, tzinfo=UTC))
    assert display_windows(later)[0].used_percent == 10.0
