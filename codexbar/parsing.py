"""Lenient readers for numbers and times in JSON from Codex and its backend.

The backend and the CLI have sent the same field as an int, a float or a decimal string across
versions; these helpers accept every such spelling and return None for anything else, so one bad
field never costs the rest of a reading.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

# Far enough either way to cover any real reading, near enough that datetime never overflows.
_MIN_EPOCH = 0
_MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    number = as_float(value)
    if number is None or abs(number) > 2**53:
        return None
    return int(number)


def as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) or (isinstance(value, float) and math.isfinite(value)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        # A balance is a money-like figure: refuse absurd exponents (1E+999999 would print a
        # million digits) along with NaN and infinities.
        return number if number.is_finite() and abs(number.adjusted()) <= 30 else None
    return None


def as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def as_str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def from_epoch(value: Any) -> datetime | None:
    seconds = as_float(value)
    if seconds is None or not _MIN_EPOCH < seconds <= _MAX_EPOCH:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def after_seconds(start: datetime, value: Any) -> datetime | None:
    seconds = as_float(value)
    if seconds is None or not 0 <= seconds <= 10 * 365 * 86400:
        return None
    return start + timedelta(seconds=seconds)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 time as Codex writes it (`2026-11-21T00:02:13.470Z`), always timezone-aware."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def window_minutes_from_seconds(value: Any) -> int | None:
    seconds = as_float(value)
    if seconds is None or seconds <= 0 or seconds > 10 * 365 * 86400:
        return None
    return math.ceil(seconds / 60)
