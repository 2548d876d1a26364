"""The decoder of chatgpt.com's `wham/usage` body, shared by every source that receives one.

Every field is optional: a malformed window is dropped without losing the other, unknown plan
types are kept as they are, and nothing but SourceError ever escapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from codexbar.errors import ErrorKind, SourceError
from codexbar.models import MAIN_LIMIT_ID, Identity, RateWindow, UsageSnapshot
from codexbar.parsing import (
    after_seconds,
    as_float,
    as_str,
    from_epoch,
    window_minutes_from_seconds,
)
from codexbar.rate_limits import parse_credits

CODE_REVIEW_LIMIT_ID = "code_review"


def parse_window(
    raw: Any, *, fetched_at: datetime, limit_id: str = MAIN_LIMIT_ID, limit_name: str | None = None
) -> RateWindow | None:
    if not isinstance(raw, dict):
        return None
    used = as_float(raw.get("used_percent"))
    if used is None:
        return None
    resets_at = from_epoch(raw.get("reset_at"))
    if resets_at is None:
        resets_at = after_seconds(fetched_at, raw.get("reset_after_seconds"))
    return RateWindow(
        used_percent=used,
        window_minutes=window_minutes_from_seconds(raw.get("limit_window_seconds")),
        resets_at=resets_at,
        limit_id=limit_id,
        limit_name=limit_name,
    )


def _bucket_windows(
    rate_limit: Any, *, fetched_at: datetime, limit_id: str, limit_name: str | None
) -> list[RateWindow]:
    if not isinstance(rate_limit, dict):
        return []
    windows = []
    for slot in ("primary_window", "secondary_window"):
        window = parse_window(
            rate_limit.get(slot), fetched_at=fetched_at, limit_id=limit_id, limit_name=limit_name
        )
        if window is not None:
            windows.append(window)
    return windows


def parse_wham_usage(
    body: Any, *, source: str, fetched_at: datetime, identity: Identity | None = None
) -> UsageSnapshot:
    """Map a `wham/usage` body to a snapshot; `identity` fills what the body does not echo."""
    if not isinstance(body, dict):
        raise SourceError(
            ErrorKind.PARSE,
            f"The usage API answered with {type(body).__name__} instead of an object.",
        )
    windows = _bucket_windows(
        body.get("rate_limit"), fetched_at=fetched_at, limit_id=MAIN_LIMIT_ID, limit_name=None
    )
    extras = body.get("additional_rate_limits")
    for extra in extras if isinstance(extras, list) else ():
        if not isinstance(extra, dict):
            continue
        name = as_str(extra.get("limit_name"))
        limit_id = as_str(extra.get("metered_feature")) or name
        if limit_id is None or limit_id == MAIN_LIMIT_ID:
            continue
        windows += _bucket_windows(
            extra.get("rate_limit"), fetched_at=fetched_at, limit_id=limit_id, limit_name=name
        )
    windows += _bucket_windows(
        body.get("code_review_rate_limit"),
        fetched_at=fetched_at,
        limit_id=CODE_REVIEW_LIMIT_ID,
        limit_name="Code review",
    )

    credits = parse_credits(body.get("credits"))
    if not windows and (credits is None or (credits.balance is None and not credits.unlimited)):
        raise SourceError(
            ErrorKind.PARSE,
            "The usage API answered without any limits or credits.",
            "Codex may have changed its format; try `--source rpc`.",
        )
    known = identity or Identity()
    merged = Identity(
        email=known.email or as_str(body.get("email")),
        plan=as_str(body.get("plan_type")) or known.plan,
        account_id=known.account_id or as_str(body.get("account_id")),
    )
    return UsageSnapshot(
        source=source,
        fetched_at=fetched_at,
        observed_at=fetched_at,
        windows=tuple(windows),
        credits=credits,
        identity=merged,
    )
