"""The usage report as text and as JSON: what `codexbar usage` prints and the tray summarises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from codexbar import formatting as fmt
from codexbar.codec import snapshot_to_dict
from codexbar.engine import UsageReport
from codexbar.models import Credits, RateWindow, UsageSnapshot
from codexbar.pace import Pace, pace_text


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


def window_line_parts(
    window: RateWindow, now: datetime, *, show_used: bool = False
) -> tuple[str, str]:
    """(`82% left`, `resets in 1h 50m`) for one window."""
    amount = (
        f"{fmt.percent(window.used_percent)} used"
        if show_used
        else f"{fmt.percent(window.remaining_percent)} left"
    )
    if window.resets_at is None:
        reset = ""
    elif window.reset_passed:
        local = window.resets_at.astimezone()
        reset = f"reset at {local:%H:%M} has passed; likely refilled"
    else:
        reset = f"resets {fmt.reset_countdown(window.resets_at, now)}"
    return amount, reset


def credits_messages_text(credits: Credits) -> str | None:
    """`≈22–137 local messages left · ≈5–30 cloud messages left`, where the backend says."""
    parts = [
        f"≈{low:,}–{high:,} {where} messages left"
        for where, pair in (
            ("local", credits.approx_local_messages),
            ("cloud", credits.approx_cloud_messages),
        )
        if pair is not None
        for low, high in [pair]
    ]
    return " · ".join(parts) or None


def render_text(
    report: UsageReport,
    now: datetime,
    titles: Mapping[str, str] | None = None,
    paces: Mapping[str, Pace] | None = None,
) -> str:
    """The report for a terminal; `titles` maps source names to what people call them, `paces`
    window ids to their pace (codexbar.history.snapshot_paces)."""
    titles = titles or {}
    paces = paces or {}
    snapshot = report.snapshot
    lines: list[str] = []
    if snapshot is None:
        lines.append("Codex usage is unavailable.")
        if report.error is not None:
            lines.append(f"Error: {report.error.text}")
        tried = [f"{a.source} ({a.kind})" for a in report.attempts if not a.ok]
        if len(tried) > 1:
            lines.append("Tried: " + ", ".join(tried) + ". See `codexbar doctor` for details.")
        return "\n".join(lines) + "\n"

    rows: list[tuple[str, str]] = []
    for window in display_windows(snapshot):
        amount, reset = window_line_parts(window, now)
        text = f"{amount:<9}  {fmt.bar(window.remaining_percent)}"
        if reset:
            text += f"  {reset[0].upper()}{reset[1:]}"
        rows.append((window.label, text))
        pace = paces.get(window.id)
        if pace is not None and not window.reset_passed:
            rows.append(("", pace_text(pace, now)))
    if not snapshot.windows:
        rows.append(("Limits", "not available for this account"))
    credits = snapshot.credits
    if credits is not None:
        if credits.unlimited:
            rows.append(("Credits", "unlimited"))
        elif credits.balance is not None:
            rows.append(("Credits", fmt.credits_balance(credits.balance) or "0"))
        if (messages := credits_messages_text(credits)) is not None:
            rows.append(("", messages))
    if snapshot.identity.email:
        rows.append(("Account", snapshot.identity.email))
    plan = fmt.plan_name(snapshot.identity.plan)
    if plan:
        rows.append(("Plan", plan))
    title = titles.get(snapshot.source, snapshot.source)
    updated = f"{fmt.age(snapshot.observed_at, now)} via {title}"
    if (now - snapshot.observed_at).total_seconds() >= 3600:
        updated += f" (as of {snapshot.observed_at.astimezone():%Y-%m-%d %H:%M})"
    rows.append(("Updated", updated))

    width = max(len(label) for label, _ in rows) + 1
    lines.append(f"Codex ({title})")
    lines += [f"{label + ':' if label else '':<{width}} {value}".rstrip() for label, value in rows]
    return "\n".join(lines) + "\n"


def report_to_json(report: UsageReport, paces: Mapping[str, Pace] | None = None) -> dict[str, Any]:
    """`usage --json`: the snapshot, each window with its `pace` (null without one), attempts."""
    paces = paces or {}
    if report.snapshot is not None:
        body = snapshot_to_dict(report.snapshot)
        for window in body["windows"]:
            pace = paces.get(window["id"])
            window["pace"] = None if pace is None or window["reset_passed"] else pace.to_json()
    else:
        body = {
            "source": None,
            "fetched_at": None,
            "observed_at": None,
            "identity": {"email": None, "plan": None, "account_id": None},
            "windows": [],
            "credits": None,
        }
    body["attempts"] = [
        {"source": a.source, "ok": a.ok, "kind": a.kind, "message": a.message, "ms": a.ms}
        for a in report.attempts
    ]
    body["error"] = (
        None
        if report.error is None
        else {"kind": report.error.kind.value, "message": report.error.text}
    )
    return body
