"""Decoding Codex's `RateLimitSnapshot`, as written in session logs (snake_case) and sent by
`codex app-server` (camelCase), across every shape it has had since late 2025."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from codexbar.models import (
    MAIN_LIMIT_ID,
    CreditPool,
    Credits,
    LimitResets,
    RateWindow,
    window_base_id,
)
from codexbar.parsing import (
    after_seconds,
    as_bool,
    as_decimal,
    as_int,
    as_percent,
    as_str,
    describe_value,
    from_epoch,
    parse_timestamp,
)


def _field(raw: dict[str, Any], *names: str) -> Any:
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None


def window_description(limit_id: str, limit_name: str | None, minutes: int | None) -> str:
    """`the session window`, `the GPT-5.3-Codex-Spark weekly window`: for notes."""
    bucket = "" if limit_id == MAIN_LIMIT_ID else f"{limit_name or limit_id} "
    return f"the {bucket}{window_base_id(minutes).replace('-', ' ')} window"


@dataclass(frozen=True)
class RateLimitReading:
    limit_id: str
    limit_name: str | None
    windows: tuple[RateWindow, ...]
    credits: Credits | None
    plan: str | None
    credit_pool: CreditPool | None = None
    blocked: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_main(self) -> bool:
        return self.limit_id == MAIN_LIMIT_ID


def _window(
    raw: Any,
    observed_at: datetime,
    limit_id: str,
    limit_name: str | None,
    notes: list[str] | None = None,
) -> RateWindow | None:
    if not isinstance(raw, dict):
        return None
    minutes = as_int(_field(raw, "window_minutes", "windowDurationMins", "window_duration_mins"))
    used = as_percent(
        _field(raw, "used_percent", "usedPercent"),
        window_description(limit_id, limit_name, minutes),
        notes,
    )
    if used is None:
        return None
    resets_at = from_epoch(_field(raw, "resets_at", "resetsAt"))
    if resets_at is None:  # ~v0.45-0.5x wrote the reset relative to the line's own timestamp
        resets_at = after_seconds(observed_at, _field(raw, "resets_in_seconds", "resetsInSeconds"))
    return RateWindow(
        used_percent=used,
        window_minutes=minutes if minutes and minutes > 0 else None,
        resets_at=resets_at,
        limit_id=limit_id,
        limit_name=limit_name,
    )


def _flat_v040_windows(
    raw: dict[str, Any], limit_id: str, notes: list[str] | None = None
) -> list[RateWindow]:
    """~v0.40 wrote `primary_used_percent` / `primary_window_minutes` with no reset time."""
    windows = []
    for slot in ("primary", "secondary"):
        used = as_percent(raw.get(f"{slot}_used_percent"), f"the {slot} window", notes)
        if used is None:
            continue
        minutes = as_int(raw.get(f"{slot}_window_minutes"))
        windows.append(
            RateWindow(
                used_percent=used,
                window_minutes=minutes if minutes and minutes > 0 else None,
                limit_id=limit_id,
            )
        )
    return windows


def _message_range(raw: Any) -> tuple[int, int] | None:
    """`[22, 137]`: the backend's estimate of how many messages the balance buys."""
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        return None
    low, high = as_int(raw[0]), as_int(raw[1])
    if low is None or high is None or not 0 <= low <= high:
        return None
    return (low, high)


def parse_credits(raw: Any, notes: list[str] | None = None) -> Credits | None:
    if not isinstance(raw, dict):
        return None
    balance = as_decimal(raw.get("balance"))
    if balance is not None and balance < 0:
        if notes is not None:
            notes.append(
                f"Ignored the credit balance: {describe_value(raw.get('balance'))} "
                "is not a usable amount."
            )
        balance = None
    return Credits(
        balance=balance,
        has_credits=as_bool(_field(raw, "has_credits", "hasCredits")),
        unlimited=as_bool(raw.get("unlimited")),
        approx_local_messages=_message_range(
            _field(raw, "approx_local_messages", "approxLocalMessages")
        ),
        approx_cloud_messages=_message_range(
            _field(raw, "approx_cloud_messages", "approxCloudMessages")
        ),
    )


def _moment(value: Any) -> datetime | None:
    """A time sent either as unix seconds or as ISO-8601 text."""
    return (
        from_epoch(value)
        if not isinstance(value, str)
        else (parse_timestamp(value) or from_epoch(value))
    )


def parse_credit_pool(
    raw: Any, observed_at: datetime, notes: list[str] | None = None
) -> CreditPool | None:
    """A monthly credit allowance: wham `spend_control.individual_limit`, the snapshots'
    `individual_limit` / `individualLimit` / `spendControl`. Amounts are decimal strings."""
    if not isinstance(raw, dict):
        return None
    limit = as_decimal(raw.get("limit"))
    used = as_decimal(raw.get("used"))
    remaining = as_decimal(raw.get("remaining"))
    if used is None and limit is not None and remaining is not None:
        used = limit - remaining
    if used is None and limit is not None:
        percent = as_percent(
            _field(raw, "remaining_percent", "remainingPercent"), "the monthly credit pool"
        )
        if percent is not None and percent <= 100:
            used = limit * (Decimal(100) - Decimal(str(percent))) / 100
    if limit is None or used is None or limit <= 0 or used < 0:
        if notes is not None and (limit is not None or used is not None):
            notes.append(
                "Ignored the monthly credit pool: its limit "
                f"{describe_value(raw.get('limit'))} and use {describe_value(raw.get('used'))} "
                "are not usable amounts."
            )
        return None
    resets_at = _moment(_field(raw, "resets_at", "resetsAt", "reset_at", "resetAt"))
    if resets_at is None:
        resets_at = after_seconds(
            observed_at, _field(raw, "reset_after_seconds", "resetAfterSeconds")
        )
    return CreditPool(limit=limit, used=used, resets_at=resets_at)


# Why Codex says the user cannot work, in words (`rate_limit_reached_type`).
_REACHED_REASONS = {
    "workspace_owner_credits_depleted": "the workspace has run out of credits",
    "workspace_member_credits_depleted": (
        "the workspace has run out of credits; its owner can add more"
    ),
    "workspace_owner_usage_limit_reached": "the workspace's usage limit is reached",
    "workspace_member_usage_limit_reached": (
        "the workspace's usage limit is reached; its owner can raise it"
    ),
}
SPEND_CONTROL_REASON = "the monthly credit limit set by the workspace is used up"
NOT_ALLOWED_REASON = "Codex says this account cannot be used right now"


def reached_type(raw: Any) -> str | None:
    """`rate_limit_reached_type` as a plain string (wham sends `{"type": …}`)."""
    if isinstance(raw, dict):
        raw = raw.get("type")
    return as_str(raw)


def blocked_reason(
    *, spend_control_reached: Any = None, usage_allowed: Any = None, reached: Any = None
) -> str | None:
    """Why the user cannot work now whatever the percents say, or None when nothing blocks.

    `spend_control.reached` / `spendControlReached` and `ordinaryUsageAllowed: false` block; a
    workspace-level `rate_limit_reached_type` does too (the percents do not show it)."""
    kind = reached_type(reached)
    if kind in _REACHED_REASONS:
        return _REACHED_REASONS[kind]
    if spend_control_reached is True:
        return SPEND_CONTROL_REASON
    if usage_allowed is False:
        return NOT_ALLOWED_REASON
    return None


def parse_limit_resets(raw: Any) -> LimitResets | None:
    """Earned credits that reset a used-up limit at once: wham `rate_limit_reset_credits`
    `{available_count}`, app-server `rateLimitResetCredits {availableCount, credits: [...]}`;
    `expires_at` is the soonest expiry among the available ones."""
    if not isinstance(raw, dict):
        return None
    count = as_int(_field(raw, "available_count", "availableCount"))
    details = raw.get("credits")
    expiries = []
    if isinstance(details, list):
        available = [
            d
            for d in details
            if isinstance(d, dict) and (as_str(d.get("status")) or "available") == "available"
        ]
        if count is None:
            count = len(available)
        for detail in available:
            expires = _moment(_field(detail, "expiresAt", "expires_at"))
            if expires is not None:
                expiries.append(expires)
    if count is None or count < 0:
        return None
    return LimitResets(available=count, expires_at=min(expiries) if expiries else None)


def parse_rate_limit_snapshot(raw: Any, observed_at: datetime) -> RateLimitReading | None:
    """One bucket's reading, or None when it holds no limit at all (API-key and `exec` runs
    write every window as null). A bucket whose only limit is a credit pool is a reading."""
    if not isinstance(raw, dict):
        return None
    notes: list[str] = []
    limit_id = as_str(_field(raw, "limit_id", "limitId")) or MAIN_LIMIT_ID
    limit_name = as_str(_field(raw, "limit_name", "limitName"))
    windows = [
        w
        for slot in ("primary", "secondary")
        if (w := _window(raw.get(slot), observed_at, limit_id, limit_name, notes)) is not None
    ]
    if not windows:
        windows = _flat_v040_windows(raw, limit_id, notes)
    pool = parse_credit_pool(
        _field(raw, "individual_limit", "individualLimit", "spendControl", "spend_control"),
        observed_at,
        notes,
    )
    if not windows and pool is None:
        return None
    return RateLimitReading(
        limit_id=limit_id,
        limit_name=limit_name,
        windows=tuple(windows),
        credits=parse_credits(raw.get("credits"), notes),
        plan=as_str(_field(raw, "plan_type", "planType")),
        credit_pool=pool,
        blocked=blocked_reason(
            spend_control_reached=_field(raw, "spend_control_reached", "spendControlReached"),
            reached=_field(raw, "rate_limit_reached_type", "rateLimitReachedType"),
        ),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class AccountLimits:
    """What an `account/rateLimits/read` result says beyond its buckets' windows."""

    credit_pool: CreditPool | None
    blocked: str | None
    limit_resets: LimitResets | None
    notes: tuple[str, ...]


def account_limits(result: dict[str, Any], readings: list[RateLimitReading]) -> AccountLimits:
    """The main bucket's credit pool and block, `ordinaryUsageAllowed`, and the reset credits
    of an app-server `account/rateLimits/read` result (or a merged notification)."""
    main = next((r for r in readings if r.is_main), None)
    blocked = main.blocked if main else None
    blocked = blocked or blocked_reason(usage_allowed=result.get("ordinaryUsageAllowed"))
    notes = tuple(n for r in readings for n in r.notes)
    return AccountLimits(
        credit_pool=main.credit_pool if main else None,
        blocked=blocked,
        limit_resets=parse_limit_resets(result.get("rateLimitResetCredits")),
        notes=notes,
    )
