"""The one JSON shape of a snapshot, shared by the CLI's `--json` output and the store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from codexbar.models import CreditPool, Credits, Identity, LimitResets, RateWindow, UsageSnapshot


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


def window_to_dict(window: RateWindow, window_id: str | None = None) -> dict[str, Any]:
    return {
        "id": window_id or window.id,
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
        "approx_local_messages": _pair_to_list(credits.approx_local_messages),
        "approx_cloud_messages": _pair_to_list(credits.approx_cloud_messages),
    }


def credit_pool_to_dict(pool: CreditPool | None) -> dict[str, Any] | None:
    """A window-like entry (`id` "monthly-credits") with the pool's amounts as decimal strings."""
    if pool is None:
        return None
    return {
        "id": pool.id,
        "label": pool.label,
        "limit": format(pool.limit, "f"),
        "used": format(pool.used, "f"),
        "remaining": format(pool.remaining, "f"),
        "used_percent": pool.used_percent,
        "remaining_percent": pool.remaining_percent,
        "resets_at": iso(pool.resets_at),
        "reset_passed": pool.reset_passed,
    }


def limit_resets_to_dict(resets: LimitResets | None) -> dict[str, Any] | None:
    if resets is None:
        return None
    return {"available": resets.available, "expires_at": iso(resets.expires_at)}


def _pair_to_list(pair: tuple[int, int] | None) -> list[int] | None:
    return list(pair) if pair is not None else None


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            return (int(value[0]), int(value[1]))
        except (TypeError, ValueError, OverflowError):
            return None
    return None


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
        "windows": [
            window_to_dict(w, i)
            for w, i in zip(snapshot.windows, unique_ids(snapshot), strict=True)
        ],
        "credits": credits_to_dict(snapshot.credits),
        "credit_pool": credit_pool_to_dict(snapshot.credit_pool),
        "blocked": snapshot.blocked,
        "limit_resets": limit_resets_to_dict(snapshot.limit_resets),
        "notes": list(snapshot.notes),
    }


def unique_ids(snapshot: UsageSnapshot) -> list[str]:
    """The windows' ids, made unique: two extra buckets whose names both mention Spark would
    both be `spark-session`; the later one becomes `spark-session-2`."""
    seen: dict[str, int] = {}
    ids = []
    for window in snapshot.windows:
        count = seen.get(window.id, 0) + 1
        seen[window.id] = count
        ids.append(window.id if count == 1 else f"{window.id}-{count}")
    return ids


def _decimal(text: Any) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def snapshot_from_dict(data: Any) -> UsageSnapshot:
    """The snapshot `snapshot_to_dict` wrote; ValueError for anything that is not one."""
    if not isinstance(data, dict):
        raise ValueError(f"a stored reading is {type(data).__name__}, not an object")
    identity = data.get("identity") or {}
    credits = data.get("credits")
    pool = data.get("credit_pool")
    resets = data.get("limit_resets")
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
            approx_local_messages=_pair(credits.get("approx_local_messages")),
            approx_cloud_messages=_pair(credits.get("approx_cloud_messages")),
        ),
        identity=Identity(
            email=identity.get("email"),
            plan=identity.get("plan"),
            account_id=identity.get("account_id"),
        ),
        credit_pool=None
        if not pool
        else CreditPool(
            limit=_decimal(pool.get("limit")) or Decimal(0),
            used=_decimal(pool.get("used")) or Decimal(0),
            resets_at=parse_iso(pool.get("resets_at")),
            reset_passed=bool(pool.get("reset_passed")),
        ),
        blocked=data.get("blocked"),
        limit_resets=None
        if not resets
        else LimitResets(
            available=int(resets.get("available") or 0),
            expires_at=parse_iso(resets.get("expires_at")),
        ),
        notes=tuple(str(n) for n in data.get("notes") or ()),
    )
