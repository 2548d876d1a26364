"""Pace of a window: the four fields at 25%, 50% and 90% elapsed, with and without history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from codexbar.models import RateWindow
from codexbar.pace import RECENT, WINDOW_AVERAGE, UsagePoint, pace_text, runs_out_early, window_pace

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SESSION = timedelta(minutes=300)


def session(used: float, elapsed_share: float) -> RateWindow:
    return RateWindow(
        used_percent=used, window_minutes=300, resets_at=NOW + SESSION * (1 - elapsed_share)
    )


@pytest.mark.parametrize(
    ("share", "used", "expected", "delta", "runs_out_in", "lasts"),
    [
        # 25% elapsed (75 min), 50% used: 40 min per 1% ... rate 2/3 %/min, 75 min to 100%.
        (0.25, 50, 25, 25, timedelta(minutes=75), False),
        # 50% elapsed, 40% used: at 0.2667 %/min the last 60% take 225 min > 150 left.
        (0.50, 40, 50, -10, None, True),
        # 90% elapsed (270 min), 95% used: 5% more at 95/270 %/min is 14.2 min < 30 left.
        (0.90, 95, 90, 5, timedelta(minutes=5 * 270 / 95), False),
    ],
)
def test_pace_from_the_window_average(share, used, expected, delta, runs_out_in, lasts):
    pace = window_pace(session(used, share), NOW)
    assert pace is not None
    assert pace.expected_used_percent == pytest.approx(expected)
    assert pace.delta_percent == pytest.approx(delta)
    assert pace.lasts_until_reset is lasts
    assert pace.basis == WINDOW_AVERAGE
    if runs_out_in is None:
        assert pace.runs_out_at is None
    else:
        assert abs(pace.runs_out_at - (NOW + runs_out_in)) < timedelta(seconds=1)


@pytest.mark.parametrize(
    ("share", "history", "used", "runs_out_in", "lasts"),
    [
        # 25% elapsed, 30% used, but the last 40 minutes went from 10% to 30%: 0.5 %/min,
        # so 140 min to 100%, before the reset in 225 min (the average alone says it lasts).
        (0.25, [(40, 10), (20, 20)], 30, timedelta(minutes=140), False),
        # 50% elapsed, 60% used (in deficit) but nothing moved in the last hour: it lasts.
        (0.50, [(60, 60), (30, 60)], 60, None, True),
        # 90% elapsed, 80% used: +10 points in the last 30 min -> 60 min to 100% > 30 left.
        (0.90, [(30, 70)], 80, None, True),
    ],
)
def test_pace_from_recent_history(share, history, used, runs_out_in, lasts):
    readings = [UsagePoint(NOW - timedelta(minutes=m), u) for m, u in history]
    pace = window_pace(session(used, share), NOW, readings)
    assert pace is not None
    assert pace.basis == RECENT
    assert pace.expected_used_percent == pytest.approx(share * 100)
    assert pace.delta_percent == pytest.approx(used - share * 100)
    assert pace.lasts_until_reset is lasts
    if runs_out_in is None:
        assert pace.runs_out_at is None
    else:
        assert abs(pace.runs_out_at - (NOW + runs_out_in)) < timedelta(seconds=1)


def test_too_little_history_falls_back_to_the_window_average():
    # One reading 10 minutes back spans less than a tenth of a 5-hour window.
    pace = window_pace(session(30, 0.25), NOW, [UsagePoint(NOW - timedelta(minutes=10), 29)])
    assert pace.basis == WINDOW_AVERAGE
    # Readings from before this window started do not count either.
    old = [UsagePoint(NOW - timedelta(minutes=100), 90)]
    assert window_pace(session(30, 0.25), NOW, old).basis == WINDOW_AVERAGE


def test_weekly_window_at_half_time():
    weekly = RateWindow(used_percent=20, window_minutes=10080, resets_at=NOW + timedelta(days=3.5))
    pace = window_pace(weekly, NOW)
    assert pace.expected_used_percent == pytest.approx(50)
    assert pace.stage == "reserve"
    assert pace.to_json() == {
        "expected_used_percent": 50.0,
        "delta_percent": -30.0,
        "runs_out_at": None,
        "lasts_until_reset": True,
    }


def test_no_pace_without_a_usable_reset():
    assert window_pace(RateWindow(10, 300, None), NOW) is None
    assert window_pace(RateWindow(10, None, NOW + SESSION), NOW) is None
    assert window_pace(RateWindow(10, 300, NOW - timedelta(minutes=1)), NOW) is None
    assert window_pace(RateWindow(10, 300, NOW + SESSION * 2), NOW) is None


def test_a_used_up_window_has_run_out():
    pace = window_pace(session(100, 0.5), NOW)
    assert pace.runs_out_at == NOW and pace.lasts_until_reset is False


def test_pace_texts():
    deficit = window_pace(session(35, 0.25), NOW)  # 10 points ahead; runs out in 139 min
    assert pace_text(deficit, NOW) == "Pace: 10% in deficit · runs out in 2h 20m"
    reserve = window_pace(session(41, 0.5), NOW)
    assert pace_text(reserve, NOW) == "Pace: 9% in reserve · lasts until reset"
    even = window_pace(session(49, 0.5), NOW)
    assert pace_text(even, NOW) == "Pace: on pace · lasts until reset"
    assert pace_text(window_pace(session(100, 0.5), NOW), NOW) == "Pace: 50% in deficit · used up"


def test_runs_out_early_needs_more_than_the_margin():
    window = session(50, 0.25)  # runs out in 75 min, resets in 225 min
    pace = window_pace(window, NOW)
    assert runs_out_early(pace, window.resets_at, timedelta(minutes=30))
    assert not runs_out_early(pace, window.resets_at, timedelta(minutes=150))
    lasting = window_pace(session(10, 0.5), NOW)
    assert not runs_out_early(lasting, NOW + SESSION, timedelta(minutes=30))
