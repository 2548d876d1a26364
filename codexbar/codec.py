"""The one JSON shape of a snapshot, shared by the CLI's `--json` output and the store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from codexbar.models import Credits, Identity, RateWindow, UsageSnapshot


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, to the millisecond when the time has a fraction."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def window_to_dict(window: RateWindow) -> dict[str, Any]:
    return {
        "id": window.id,
        "label": window.label,
        "limit_id": window.limit_id,
        "limit_name": window.limit_name,
        "window_minutes": window.window_minutes,
        "used_percent": window.used_percent,
        "remaining_percent": window.remaining_percent,
        "resets_at": iso(window.resets_at),
        "reset_passed": window.reset_passed,
    }


def credits_to_dict(credits: Credits | None) -> dict[str, Any] | None:
    if credits is None:
        return None
    return {
        "balance": credits.balance_text,
        "has_credits": credits.has_credits,
        "unlimited": credits.unlimited,
    }


def snapshot_to_dict(snapshot: UsageSnapshot) -> dict[str, Any]:
    identity = snapshot.identity
    return {
        "source": snapshot.source,
        "fetched_at": iso(snapshot.fetched_at),
        "observed_at": iso(snapshot.observed_at),
        "identity": {
            "email": identity.email,
            "plan": identity.plan,
            "account_id": identity.account_id,
        },
        "windows": [window_to_dict(w) for w in snapshot.windows],
        "credits": credits_to_dict(snapshot.credits),
    }


def _decimal(text: Any) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def snapshot_from_dict(data: dict[str, Any]) -> UsageSnapshot:
    identity = data.get("identity") or {}
    credits = data.get("credits")
    windows = tuple(
        RateWindow(
            used_percent=float(w["used_percent"]),
            window_minutes=w.get("window_minutes"),
            resets_at=parse_iso(w.get("resets_at")),
            limit_id=w.get("limit_id") or "codex",
            limit_name=w.get("limit_name"),
            reset_passed=bool(w.get("reset_passed")),
        )
        for w in data.get("windows", [])
    )
    return UsageSnapshot(
        source=data["source"],
        fetched_at=parse_iso(data["fetched_at"]),
        observed_at=parse_iso(data["observed_at"]),
        windows=windows,
        credits=None
        if credits is None
        else Credits(
            balance=_decimal(credits.get("balance")),
            has_credits=bool(credits.get("has_credits")),
            unlimited=bool(credits.get("unlimited")),
        ),
        identity=Identity(
            email=identity.get("email"),
            plan=identity.get("plan"),
            account_id=identity.get("account_id"),
        ),
    )
