"""The usage report as text and as JSON: what `codexbar usage` prints and the tray summarises.

Both start from a `Reading` (codexbar.reading): the reading to show, whether it is current, and
what failed. A figure that is not current is never printed without saying so first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from codexbar import formatting as fmt
from codexbar.codec import credit_pool_to_dict, iso, snapshot_to_dict
from codexbar.errors import SourceError
from codexbar.models import CreditPool, Credits, LimitResets, RateWindow, UsageSnapshot
from codexbar.pace import Pace, pace_text
from codexbar.reading import Reading

REFILLED = "refilled, no new reading yet"


def display_windows(snapshot: UsageSnapshot) -> tuple[RateWindow, ...]:
    """Windows as a person should read them: when the weekly window is used up (and has not
    reset), the session window cannot be used either, so it shows 0% left until the weekly
    reset, as CodexBar shows it."""
    weekly = snapshot.window("weekly")
    if weekly is None or weekly.remaining_percent > 0 or weekly.reset_passed:
        return snapshot.windows
    return tuple(
        replace(w, used_percent=100.0, resets_at=weekly.resets_at) if w.id == "session" else w
        for w in snapshot.windows
    )


def amount_text(used_percent: float, remaining_percent: float, show_used: bool) -> str:
    """`82% left`, or `18% used` when the user prefers it."""
    if show_used:
        return f"{fmt.percent(used_percent)} used"
    return f"{fmt.percent(remaining_percent)} left"


def binding_window(snapshot: UsageSnapshot) -> RateWindow | CreditPool | None:
    """The window that matters with the least left (a main window or the monthly credit pool
    whose reset has not passed), or None."""
    candidates = [w for w in display_windows(snapshot) if w.is_main and not w.reset_passed]
    pool = snapshot.credit_pool
    if pool is not None and not pool.reset_passed:
        candidates.append(pool)
    return min(candidates, key=lambda w: w.remaining_percent, default=None)


def window_line_parts(
    window: RateWindow | CreditPool, now: datetime, *, show_used: bool = False
) -> tuple[str, str]:
    """(`82% left`, `resets in 1h 50m`) for one window (or the credit pool).

    A window whose reset has passed since the reading says so instead of its old percent, which
    is no longer true: (`reset at 06:30 — refilled, no new reading yet`, ``)."""
    if window.reset_passed and window.resets_at is not None:
        return f"reset at {fmt.clock(window.resets_at, now)} — {REFILLED}", ""
    amount = amount_text(window.used_percent, window.remaining_percent, show_used)
    if window.resets_at is None:
        reset = ""
    else:
        reset = f"resets {fmt.reset_countdown(window.resets_at, now)}"
    return amount, reset


def credit_pool_text(pool: CreditPool, now: datetime, *, show_used: bool = False) -> str:
    """`31% used · 7,761 of 100,000 credits used · resets Dec 1`."""
    if pool.reset_passed and pool.resets_at is not None:
        return window_line_parts(pool, now)[0]
    parts = [
        amount_text(pool.used_percent, pool.remaining_percent, show_used),
        f"{fmt.credits_balance(pool.used)} of {fmt.credits_balance(pool.limit)} credits used",
    ]
    if pool.resets_at is not None:
        parts.append(f"resets {fmt.short_date(pool.resets_at)}")
    return " · ".join(parts)


def credits_text(credits: Credits) -> str | None:
    """`112.50 (≈22–137 local messages left · ≈5–30 cloud messages left)`, `unlimited`, or None
    when there is no figure. The estimates show wherever the backend sends them."""
    if credits.unlimited:
        return "unlimited"
    parts = []
    if credits.balance is not None:
        parts.append(fmt.credits_balance(credits.balance) or "0")
    estimates = [
        f"{fmt.message_range(pair)} {where} messages left"
        for where, pair in (
            ("local", credits.approx_local_messages),
            ("cloud", credits.approx_cloud_messages),
        )
        if pair is not None
    ]
    if estimates and (credits.balance is None or credits.balance > 0):
        text = " · ".join(estimates)
        parts.append(f"({text})" if parts else text)
    return " ".join(parts) or None


def limit_resets_text(resets: LimitResets) -> str | None:
    """`1 available (expires Dec 9)`; None when none is available."""
    if resets.available <= 0:
        return None
    text = f"{resets.available} available"
    if resets.expires_at is not None:
        text += f" (expires {fmt.short_date(resets.expires_at)})"
    return text


def _failed_source(reading: Reading) -> str | None:
    """The name of the source whose failure is the headline."""
    failure = reading.failure
    if failure is None:
        return None
    return next(
        (a.source for a in reading.report.attempts if not a.ok and a.message == failure.text),
        None,
    )


def status_lines(reading: Reading, titles: Mapping[str, str]) -> list[str]:
    """What the user must read before any figure: what failed, and how old the figures are."""
    lines: list[str] = []
    snapshot, now = reading.snapshot, reading.now
    if reading.failure is not None:
        failed = _failed_source(reading)
        prefix = f"{titles.get(failed, failed)} failed: " if failed else "Failed: "
        lines.append(prefix + reading.failure.text)
    if snapshot is None:
        return lines
    title = titles.get(snapshot.source, snapshot.source)
    when = f"{fmt.age(snapshot.observed_at, now)} via {title}"
    if (now - snapshot.observed_at).total_seconds() >= 3600:
        when += f" (as of {snapshot.observed_at.astimezone():%Y-%m-%d %H:%M})"
    if reading.from_store:
        lines.append(f"Not current: showing the last good reading, from {when}.")
        if reading.refused is not None:
            older = reading.refused
            lines.append(
                f"({titles.get(older.source, older.source)} had only an older reading, "
                f"from {fmt.age(older.observed_at, now)}.)"
            )
    elif reading.stale:
        lines.append(f"Not current: this reading is from {when}.")
    return lines


def render_text(
    reading: Reading,
    titles: Mapping[str, str] | None = None,
    *,
    show_used: bool = False,
    paces: Mapping[str, Pace] | None = None,
) -> str:
    """The report for a terminal; `titles` maps source names to what people call them, `paces`
    window ids to their pace (codexbar.history.snapshot_paces)."""
    titles = {} if titles is None else titles
    paces = paces or {}
    now = reading.now
    lines: list[str] = []
    if reading.snapshot is None:
        lines.append("Codex usage is unavailable.")
        if reading.failure is not None:
            lines.append(f"Error: {reading.failure.text}")
        tried = [f"{a.source} ({a.kind})" for a in reading.report.attempts if not a.ok]
        if len(tried) > 1:
            lines.append("Tried: " + ", ".join(tried) + ". See `codexbar doctor` for details.")
        return "\n".join(lines) + "\n"

    snapshot = reading.snapshot.with_reset_flags(now)
    rows: list[tuple[str, str]] = []
    if snapshot.blocked:
        rows.append(("Blocked", snapshot.blocked))
    for window in display_windows(snapshot):
        amount, reset = window_line_parts(window, now, show_used=show_used)
        if window.reset_passed and window.resets_at is not None:
            rows.append((window.label, amount))  # no bar: the old percent is not true now
            continue
        shown = window.clamped_used_percent if show_used else window.remaining_percent
        text = f"{amount:<9}  {fmt.bar(shown)}"
        if reset:
            text += f"  {reset[0].upper()}{reset[1:]}"
        rows.append((window.label, text))
        pace = paces.get(window.id)
        if pace is not None and not window.reset_passed:
            rows.append(("", pace_text(pace, now)))
    if snapshot.credit_pool is not None:
        pool = snapshot.credit_pool
        rows.append((pool.label, credit_pool_text(pool, now, show_used=show_used)))
    if not snapshot.windows and snapshot.credit_pool is None:
        rows.append(("Limits", "not available for this account"))
    if snapshot.credits is not None and (credits := credits_text(snapshot.credits)):
        rows.append(("Credits", credits))
    if snapshot.limit_resets is not None and (resets := limit_resets_text(snapshot.limit_resets)):
        rows.append(("Limit resets", resets))
    if snapshot.identity.email:
        rows.append(("Account", snapshot.identity.email))
    plan = fmt.plan_name(snapshot.identity.plan)
    if plan:
        rows.append(("Plan", plan))
    title = titles.get(snapshot.source, snapshot.source)
    rows.append(("Updated", f"{fmt.age(snapshot.observed_at, now)} via {title}"))
    for note in snapshot.notes:
        rows.append(("Note", note))

    width = max(len(label) for label, _ in rows) + 1
    lines.append(f"Codex ({title})")
    lines += status_lines(reading, titles)
    lines += [f"{label + ':' if label else '':<{width}} {value}".rstrip() for label, value in rows]
    return "\n".join(lines) + "\n"


def _error_to_json(error: SourceError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"kind": error.kind.value, "message": error.text}


def report_to_json(reading: Reading, paces: Mapping[str, Pace] | None = None) -> dict[str, Any]:
    """One JSON object: the reading shown (the store's shape), whether it is current, what
    failed and every attempt. `windows` also lists the credit pool as a window-like entry, and
    each window its `pace` (null without one)."""
    paces = paces or {}
    snapshot = reading.snapshot
    if snapshot is not None:
        snapshot = snapshot.with_reset_flags(reading.now)
        body = snapshot_to_dict(snapshot)
        for window in body["windows"]:
            pace = paces.get(window["id"])
            window["pace"] = None if pace is None or window["reset_passed"] else pace.to_json()
        if snapshot.credit_pool is not None:
            body["windows"].append(credit_pool_to_dict(snapshot.credit_pool))
    else:
        body = {
            "source": None,
            "fetched_at": None,
            "observed_at": None,
            "identity": {"email": None, "plan": None, "account_id": None},
            "windows": [],
            "credits": None,
            "credit_pool": None,
            "limit_resets": None,
            "notes": [],
        }
    reason = snapshot.blocked if snapshot is not None else None
    body["blocked"] = reason is not None
    body["blocked_reason"] = reason
    body["stale"] = reading.stale
    body["from_store"] = reading.from_store
    age = reading.age_seconds
    body["age_seconds"] = None if age is None else round(age)
    body["refused"] = (
        None
        if reading.refused is None
        else {"source": reading.refused.source, "observed_at": iso(reading.refused.observed_at)}
    )
    body["attempts"] = [
        {"source": a.source, "ok": a.ok, "kind": a.kind, "message": a.message, "ms": a.ms}
        for a in reading.report.attempts
    ]
    body["error"] = _error_to_json(reading.failure)
    return body
