"""The usage model every source produces and every view reads.

Windows are identified by their *length*, never by the slot they arrived in: some plans send only a
weekly window in the "primary" slot, and a 5-hour reading must never be shown for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from codexbar.parsing import clean_text

MAIN_LIMIT_ID = "codex"

SESSION_MINUTES = 300
WEEKLY_MINUTES = 10080
MONTHLY_MINUTES = 43200
# Codex rounds window lengths up from seconds, and labels "within three minutes" as the same window.
_LENGTH_TOLERANCE = 3

_BASE_IDS = ((SESSION_MINUTES, "session"), (WEEKLY_MINUTES, "weekly"), (MONTHLY_MINUTES, "monthly"))


def window_base_id(minutes: int | None) -> str:
    """`session`, `weekly`, `monthly` or `window-<N>m` for a window of this many minutes."""
    if minutes is None:
        return "window"
    for length, name in _BASE_IDS:
        if abs(minutes - length) <= _LENGTH_TOLERANCE:
            return name
    return f"window-{minutes}m"


# Extra buckets known by their metered-feature id alone: Codex 0.171 writes the Spark bucket
# into rollouts as `limit_id: "codex_bengalfox"` with `limit_name: null`.
_KNOWN_SLUGS = {"codex_bengalfox": "spark"}


def limit_slug(limit_id: str | None, limit_name: str | None) -> str | None:
    """A short, stable prefix for an extra limit bucket; None for the main bucket."""
    if limit_id in (None, "", MAIN_LIMIT_ID):
        return None
    if limit_id in _KNOWN_SLUGS:
        return _KNOWN_SLUGS[limit_id]
    for text in (limit_name, limit_id):
        if text and "spark" in text.lower():
            return "spark"
    text = (limit_name or limit_id or "extra").lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "extra"


def _length_label(minutes: int | None) -> str:
    base = window_base_id(minutes)
    if base in ("session", "weekly", "monthly"):
        return base.capitalize()
    if minutes is None:
        return "Window"
    if minutes % 1440 == 0:
        return f"{minutes // 1440}-day"
    if minutes % 60 == 0:
        return f"{minutes // 60}-hour"
    return f"{minutes}-minute"


@dataclass(frozen=True)
class RateWindow:
    """One rate-limit window as the backend reported it."""

    used_percent: float
    window_minutes: int | None
    resets_at: datetime | None = None
    limit_id: str = MAIN_LIMIT_ID
    limit_name: str | None = None
    # True when the reading was taken before `resets_at` and that time has since passed: the figure
    # is what was true then, and the window has most likely refilled.
    reset_passed: bool = False

    def __post_init__(self) -> None:
        # Names come from servers and files: no control character may reach a report or a menu.
        object.__setattr__(self, "limit_id", clean_text(self.limit_id) or MAIN_LIMIT_ID)
        if self.limit_name is not None:
            object.__setattr__(self, "limit_name", clean_text(self.limit_name) or None)

    @property
    def id(self) -> str:
        base = window_base_id(self.window_minutes)
        slug = limit_slug(self.limit_id, self.limit_name)
        return f"{slug}-{base}" if slug else base

    @property
    def label(self) -> str:
        length = _length_label(self.window_minutes)
        slug = limit_slug(self.limit_id, self.limit_name)
        if slug is None:
            return length
        prefix = "Spark" if slug == "spark" else (self.limit_name or self.limit_id)
        return f"{prefix} {length.lower()}"

    @property
    def is_main(self) -> bool:
        return limit_slug(self.limit_id, self.limit_name) is None

    @property
    def remaining_percent(self) -> float:
        return max(0.0, min(100.0, 100.0 - self.used_percent))

    @property
    def clamped_used_percent(self) -> float:
        return max(0.0, min(100.0, self.used_percent))


@dataclass(frozen=True)
class Credits:
    """Prepaid credits. The backend sends the balance as a decimal string ("112.50", "0E-10")."""

    balance: Decimal | None
    has_credits: bool = False
    unlimited: bool = False
    # The backend's estimate of how many messages the balance buys, as (low, high).
    approx_local_messages: tuple[int, int] | None = None
    approx_cloud_messages: tuple[int, int] | None = None

    @property
    def balance_text(self) -> str | None:
        if self.balance is None:
            return None
        return format(self.balance, "f")


@dataclass(frozen=True)
class CreditPool:
    """A monthly credit allowance set by a workspace (Team/Enterprise spend controls):
    wham/usage `spend_control.individual_limit`, app-server `individualLimit`, the `/status`
    "Monthly credit limit" row. It is a limit of its own, shown like a window."""

    limit: Decimal
    used: Decimal
    resets_at: datetime | None = None
    reset_passed: bool = False

    id = "monthly-credits"
    label = "Monthly credits"

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.limit - self.used)

    @property
    def used_percent(self) -> float:
        if self.limit <= 0:
            return 100.0
        return float(self.used / self.limit * 100)

    @property
    def remaining_percent(self) -> float:
        return max(0.0, min(100.0, 100.0 - self.used_percent))


@dataclass(frozen=True)
class LimitResets:
    """Earned credits that reset a used-up window at once (`rate_limit_reset_credits`)."""

    available: int
    expires_at: datetime | None = None  # the soonest expiry among the available ones


@dataclass(frozen=True)
class Identity:
    email: str | None = None
    plan: str | None = None
    account_id: str | None = None

    def __post_init__(self) -> None:
        # Echoed by servers: a newline in a plan name must not forge a line of the report.
        for name in ("email", "plan", "account_id"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, clean_text(str(value)) or None)

    @property
    def account_key(self) -> str:
        """Who a reading belongs to, for what is remembered per account (history, notification
        memory): the account id, else the email, else "default"."""
        return self.account_id or self.email or "default"


def _window_sort_key(window: RateWindow) -> tuple:
    return (not window.is_main, window.limit_id, window.window_minutes or 0)


@dataclass(frozen=True)
class UsageSnapshot:
    """Everything one source learned in one reading."""

    source: str
    fetched_at: datetime
    observed_at: datetime
    windows: tuple[RateWindow, ...] = ()
    credits: Credits | None = None
    identity: Identity = field(default_factory=Identity)
    credit_pool: CreditPool | None = None
    # Why the user cannot work now whatever the percents say (`ordinaryUsageAllowed: false`,
    # `spend_control.reached`), in words; None when nothing blocks them.
    blocked: str | None = None
    limit_resets: LimitResets | None = None
    # What the decoder dropped and why ("Ignored the Session window: -5 is not a usable
    # percentage."), so a view can say a figure is missing rather than silently lack it.
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # One window per bucket and length (the first wins: a backend that repeats an extra
        # limit must not show it twice), main bucket first, shorter windows first.
        unique: dict[tuple[str, str], RateWindow] = {}
        for window in self.windows:
            unique.setdefault((window.limit_id, window_base_id(window.window_minutes)), window)
        ordered = tuple(sorted(unique.values(), key=_window_sort_key))
        object.__setattr__(self, "windows", ordered)
        if self.blocked is not None:
            object.__setattr__(self, "blocked", clean_text(self.blocked) or None)
        object.__setattr__(self, "notes", tuple(clean_text(n, 300) for n in self.notes))

    def window(self, window_id: str) -> RateWindow | None:
        return next((w for w in self.windows if w.id == window_id), None)

    @property
    def main_windows(self) -> tuple[RateWindow, ...]:
        return tuple(w for w in self.windows if w.is_main)

    def with_reset_flags(self, now: datetime) -> UsageSnapshot:
        """Flag windows whose reset time lies between the reading and `now`."""
        flagged = tuple(
            replace(w, reset_passed=w.resets_at is not None and w.resets_at <= now)
            for w in self.windows
        )
        pool = self.credit_pool
        if pool is not None:
            pool = replace(pool, reset_passed=pool.resets_at is not None and pool.resets_at <= now)
        return replace(self, windows=flagged, credit_pool=pool)
