"""Decoding Codex's `RateLimitSnapshot`, as written in session logs (snake_case) and sent by
`codex app-server` (camelCase), across every shape it has had since late 2025."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from codexbar.models import MAIN_LIMIT_ID, Credits, RateWindow
from codexbar.parsing import (
    after_seconds,
    as_bool,
    as_decimal,
    as_float,
    as_int,
    as_str,
    from_epoch,
)


def _field(raw: dict[str, Any], *names: str) -> Any:
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None


@dataclass(frozen=True)
class RateLimitReading:
    limit_id: str
    limit_name: str | None
    windows: tuple[RateWindow, ...]
    credits: Credits | None
    plan: str | None

    @property
    def is_main(self) -> bool:
        return self.limit_id == MAIN_LIMIT_ID


def _window(
    raw: Any, observed_at: datetime, limit_id: str, limit_name: str | None
) -> RateWindow | None:
    if not isinstance(raw, dict):
        return None
    used = as_float(_field(raw, "used_percent", "usedPercent"))
    if used is None:
        return None
    resets_at = from_epoch(_field(raw, "resets_at", "resetsAt"))
    if resets_at is None:  # ~v0.45-0.5x wrote the reset relative to the line's own timestamp
        resets_at = after_seconds(observed_at, _field(raw, "resets_in_seconds", "resetsInSeconds"))
    minutes = as_int(_field(raw, "window_minutes", "windowDurationMins", "window_duration_mins"))
    return RateWindow(
        used_percent=used,
        window_minutes=minutes if minutes and minutes > 0 else None,
        resets_at=resets_at,
        limit_id=limit_id,
        limit_name=limit_name,
    )


def _flat_v040_windows(raw: dict[str, Any], limit_id: str) -> list[RateWindow]:
    """~v0.40 wrote `primary_used_percent` / `primary_window_minutes` with no reset time."""
    windows = []
    for slot in ("primary", "secondary"):
        used = as_float(raw.get(f"{slot}_used_percent"))
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


def parse_credits(raw: Any) -> Credits | None:
    if not isinstance(raw, dict):
        return None
    return Credits(
        balance=as_decimal(raw.get("balance")),
        has_credits=as_bool(_field(raw, "has_credits", "hasCredits")),
        unlimited=as_bool(raw.get("unlimited")),
    )


def parse_rate_limit_snapshot(raw: Any, observed_at: datetime) -> RateLimitReading | None:
    """One bucket's reading, or None when it holds no window at all (API-key and `exec` runs
    write every window as null)."""
    if not isinstance(raw, dict):
        return None
    limit_id = as_str(_field(raw, "limit_id", "limitId")) or MAIN_LIMIT_ID
    limit_name = as_str(_field(raw, "limit_name", "limitName"))
    windows = [
        w
        for slot in ("primary", "secondary")
        if (w := _window(raw.get(slot), observed_at, limit_id, limit_name)) is not None
    ]
    if not windows:
        windows = _flat_v040_windows(raw, limit_id)
    if not windows:
        return None
    return RateLimitReading(
        limit_id=limit_id,
        limit_name=limit_name,
        windows=tuple(windows),
        credits=parse_credits(raw.get("credits")),
        plan=as_str(_field(raw, "plan_type", "planType")),
    )
