"""Pace: is a window being used faster or slower than an even spread would allow?

Pure functions of one window reading and (optionally) the history of that window. Every view
(the usage report, the tray, the dashboard, notifications) formats what `window_pace` returns and
never computes pace on its own.

* `expected_used_percent`: the share of the window that has elapsed, as a percent.
* `delta_percent`: used − expected. Positive is ahead of pace ("in deficit"), negative is behind
  ("in reserve"); within ±2 points is "on pace".
* `runs_out_at`: when the window would reach 100% at the rate it is being used, or None when it
  lasts until the reset. The rate comes from the recent history when there is enough of it (the
  readings of the last quarter of the window, spanning at least a tenth of it), else from the
  average since the window started (used ÷ elapsed). Recent history follows a burst or a pause
  sooner than the window's average does.
* `lasts_until_reset`: True when the window does not run out before it resets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from codexbar import formatting as fmt
from codexbar.codec import iso
from codexbar.models import RateWindow

ON_PACE_POINTS = 2.0
# Recent history: readings from the last quarter of the window, covering at least a tenth of it
# (30 and 75 minutes of a 5-hour window; 17 and 42 hours of a weekly one).
RECENT_SHARE = 0.25
MIN_RECENT_SPAN_SHARE = 0.10

RECENT = "recent"
WINDOW_AVERAGE = "window_average"


@dataclass(frozen=True)
class UsagePoint:
    """One point of a window's history: how much was used at a moment."""

    at: datetime
    used_percent: float


@dataclass(frozen=True)
class Pace:
    expected_used_percent: float
    delta_percent: float
    runs_out_at: datetime | None
    lasts_until_reset: bool
    basis: str  # RECENT or WINDOW_AVERAGE: where the rate behind runs_out_at came from

    @property
    def stage(self) -> str:
        """`on_pace`, `deficit` (ahead of an even spread) or `reserve`."""
        if abs(self.delta_percent) <= ON_PACE_POINTS:
            return "on_pace"
        return "deficit" if self.delta_percent > 0 else "reserve"

    def to_json(self) -> dict[str, object]:
        """Exactly the four documented fields (`windows[].pace` in `usage --json`)."""
        return {
            "expected_used_percent": round(self.expected_used_percent, 2),
            "delta_percent": round(self.delta_percent, 2),
            "runs_out_at": iso(self.runs_out_at),
            "lasts_until_reset": self.lasts_until_reset,
        }


def window_pace(
    window: RateWindow, at: datetime, history: Sequence[UsagePoint] = ()
) -> Pace | None:
    """The pace of `window` as read at `at` (the reading's time); None for a window without a
    length or a reset time in (at, at + length], or whose reset has already passed."""
    if window.window_minutes is None or window.resets_at is None or window.reset_passed:
        return None
    length = timedelta(minutes=window.window_minutes)
    left = window.resets_at - at
    if left <= timedelta(0) or left > length:
        return None
    elapsed = length - left
    expected = elapsed / length * 100
    used = window.clamped_used_percent
    delta = used - expected
    if used >= 100:
        return Pace(expected, delta, at, False, WINDOW_AVERAGE)
    basis, rate = _rate(window, at, elapsed, length, history)  # percent per second
    if rate <= 0:
        return Pace(expected, delta, None, True, basis)
    runs_out_at = at + timedelta(seconds=(100 - used) / rate)
    if runs_out_at >= window.resets_at:
        return Pace(expected, delta, None, True, basis)
    return Pace(expected, delta, runs_out_at, False, basis)


def _rate(
    window: RateWindow,
    at: datetime,
    elapsed: timedelta,
    length: timedelta,
    history: Sequence[UsagePoint],
) -> tuple[str, float]:
    started = window.resets_at - length
    since = max(started, at - length * RECENT_SHARE)
    recent = [r for r in history if since <= r.at < at]
    if recent:
        oldest = min(recent, key=lambda r: r.at)
        span = (at - oldest.at).total_seconds()
        # A reading above the current one belongs to an earlier window instance: not usable.
        if span >= length.total_seconds() * MIN_RECENT_SPAN_SHARE and (
            oldest.used_percent <= window.used_percent
        ):
            return RECENT, (window.clamped_used_percent - oldest.used_percent) / span
    seconds = elapsed.total_seconds()
    return WINDOW_AVERAGE, (window.clamped_used_percent / seconds if seconds > 0 else 0.0)


def pace_text(pace: Pace, now: datetime) -> str:
    """`Pace: 10% in deficit · runs out in 1h 40m`, `Pace: 9% in reserve · lasts until reset`,
    `Pace: on pace · lasts until reset`."""
    points = fmt.percent(abs(pace.delta_percent))
    stage = {"on_pace": "on pace", "deficit": f"{points} in deficit"}.get(
        pace.stage, f"{points} in reserve"
    )
    if pace.runs_out_at is None:
        outlook = "lasts until reset"
    elif pace.runs_out_at <= now:
        outlook = "used up"
    else:
        outlook = "runs out " + fmt.reset_countdown(pace.runs_out_at, now)
    return f"Pace: {stage} · {outlook}"


def runs_out_early(pace: Pace, resets_at: datetime | None, margin: timedelta) -> bool:
    """Whether the window is projected to run out more than `margin` before it resets."""
    if pace.runs_out_at is None or resets_at is None:
        return False
    return resets_at - pace.runs_out_at > margin
