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
    as_percent,
    as_str,
    from_epoch,
    window_minutes_from_seconds,
)
from codexbar.rate_limits import (
    blocked_reason,
    parse_credit_pool,
    parse_credits,
    parse_limit_resets,
    window_description,
)

CODE_REVIEW_LIMIT_ID = "code_review"


def parse_window(
    raw: Any,
    *,
    fetched_at: datetime,
    limit_id: str = MAIN_LIMIT_ID,
    limit_name: str | None = None,
    notes: list[str] | None = None,
) -> RateWindow | None:
    if not isinstance(raw, dict):
        return None
    minutes = window_minutes_from_seconds(raw.get("limit_window_seconds"))
    used = as_percent(
        raw.get("used_percent"), window_description(limit_id, limit_name, minutes), notes
    )
    if used is None:
        return None
    resets_at = from_epoch(raw.get("reset_at"))
    if resets_at is None:
        resets_at = after_seconds(fetched_at, raw.get("reset_after_seconds"))
    return RateWindow(
        used_percent=used,
        window_minutes=minutes,
        resets_at=resets_at,
        limit_id=limit_id,
        limit_name=limit_name,
    )


def _bucket_windows(
    rate_limit: Any,
    *,
    fetched_at: datetime,
    limit_id: str,
    limit_name: str | None,
    notes: list[str],
) -> list[RateWindow]:
    if not isinstance(rate_limit, dict):
        return []
    windows = []
    for slot in ("primary_window", "secondary_window"):
        window = parse_window(
            rate_limit.get(slot),
            fetched_at=fetched_at,
            limit_id=limit_id,
            limit_name=limit_name,
            notes=notes,
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
    notes: list[str] = []
    windows = _bucket_windows(
        body.get("rate_limit"),
        fetched_at=fetched_at,
        limit_id=MAIN_LIMIT_ID,
        limit_name=None,
        notes=notes,
    )
    seen: set[str] = set()  # a bucket listed twice (by name or by id) counts once: the first
    extras = body.get("additional_rate_limits")
    for extra in extras if isinstance(extras, list) else ():
        if not isinstance(extra, dict):
            continue
        name = as_str(extra.get("limit_name"))
        limit_id = as_str(extra.get("metered_feature")) or name
        if limit_id is None or limit_id == MAIN_LIMIT_ID:
            continue
        keys = {limit_id.lower()} | ({name.lower()} if name else set())
        if keys & seen:
            continue
        seen |= keys
        windows += _bucket_windows(
            extra.get("rate_limit"),
            fetched_at=fetched_at,
            limit_id=limit_id,
            limit_name=name,
            notes=notes,
        )
    windows += _bucket_windows(
        body.get("code_review_rate_limit"),
        fetched_at=fetched_at,
        limit_id=CODE_REVIEW_LIMIT_ID,
        limit_name="Code review",
        notes=notes,
    )

    credits = parse_credits(body.get("credits"), notes)
    spend_control = body.get("spend_control")
    spend_control = spend_control if isinstance(spend_control, dict) else {}
    rate_limit = body.get("rate_limit") if isinstance(body.get("rate_limit"), dict) else {}
    pool = parse_credit_pool(
        body.get("individual_limit")
        or rate_limit.get("individual_limit")
        or spend_control.get("individual_limit"),
        fetched_at,
        notes,
    )
    has_balance = credits is not None and (credits.balance is not None or credits.unlimited)
    if not windows and pool is None and not has_balance:
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
        credit_pool=pool,
        blocked=blocked_reason(
            spend_control_reached=spend_control.get("reached"),
            reached=body.get("rate_limit_reached_type"),
        ),
        limit_resets=parse_limit_resets(body.get("rate_limit_reset_credits")),
        notes=tuple(notes),
    )
