"""Lenient readers for numbers and times in JSON from Codex and its backend.

The backend and the CLI have sent the same field as an int, a float or a decimal string across
versions; these helpers accept every such spelling and return None for anything else, so one bad
field never costs the rest of a reading.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

# Far enough either way to cover any real reading, near enough that datetime never overflows.
_MIN_EPOCH = 0
_MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z


def _as_float_unchecked(value: Any) -> float | None:
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


def as_float(value: Any) -> float | None:
    """A finite number from an int, float or numeric string; None for anything else."""
    try:
        return _as_float_unchecked(value)
    except OverflowError:  # an integer with hundreds of digits does not fit a float
        return None


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
        except (InvalidOperation, ValueError):  # ValueError: an int too long to print
            return None
        # A balance is a money-like figure: refuse absurd exponents (1E+999999 would print a
        # million digits) along with NaN and infinities.
        return number if number.is_finite() and abs(number.adjusted()) <= 30 else None
    return None


def as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# Line breaks, tabs, escapes: they could forge lines in a report or a menu.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_TEXT = 200  # a plan name, an email, a limit name: never longer than this in a real reply


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` from outside (a server, Codex's files) made safe to print: control characters and
    invisible format characters (bidi overrides, zero-width) become spaces, runs of spaces
    collapse, and it is cut to `limit` characters."""
    text = _CONTROL.sub(" ", text)
    text = "".join(" " if unicodedata.category(c) == "Cf" else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_str(value: Any) -> str | None:
    """A non-empty string, stripped; None for anything else. Not cleaned for display: tokens
    pass through here too. Display strings are cleaned where they enter the model."""
    return value.strip() or None if isinstance(value, str) else None


def describe_value(value: Any) -> str:
    """A short, printable rendering of a bad value for a note (never a million digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a number too large to be real"
    return clean_text(value if isinstance(value, str) else repr(value), 40)


def as_percent(value: Any, what: str, notes: list[str] | None = None) -> float | None:
    """A used-percent figure, or None with a note when it is not one a backend could mean.

    Negative values would read as "more than 100% left" and NaN/Infinity as nothing at all: both
    are dropped, never shown as a healthy figure. Above 100 is kept (the window is used up, and
    every view clamps it); beyond 1000 it is nonsense and dropped too."""
    if value is None:
        return None
    number = as_float(value)
    if number is None or not 0 <= number <= 1000:
        if notes is not None:
            notes.append(f"Ignored the {what}: {describe_value(value)} is not a usable percentage.")
        return None
    return number


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
