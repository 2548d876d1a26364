"""`codexbar history`: how the windows filled over time, and how full each was when it reset."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from codexbar import formatting as fmt
from codexbar.codec import iso
from codexbar.history import HistoryRow, past_windows, rows
from codexbar.sources import utc_now
from codexbar.store import Store


def _json(items: list[HistoryRow], now) -> dict[str, object]:
    accounts: dict[str, dict[str, list[HistoryRow]]] = {}
    for row in items:
        accounts.setdefault(row.account, {}).setdefault(row.window, []).append(row)
    return {
        "accounts": [
            {
                "account": account,
                "windows": [
                    {
                        "id": window,
                        "window_minutes": history[-1].window_minutes,
                        "readings": [
                            {
                                "at": iso(r.at),
                                "last_seen": iso(r.last_seen),
                                "used_percent": r.used_percent,
                                "resets_at": iso(r.resets_at),
                            }
                            for r in history
                        ],
                        "past": [
                            {"resets_at": iso(p.resets_at), "used_percent": p.used_percent}
                            for p in past_windows(history, now)
                        ],
                    }
                    for window, history in sorted(windows.items())
                ],
            }
            for account, windows in sorted(accounts.items())
        ]
    }


def _text(items: list[HistoryRow], now, days: int) -> str:
    if not items:
        return f"No readings saved in the last {days} days.\n"
    body = _json(items, now)
    out: list[str] = []
    for account in body["accounts"]:
        for window in account["windows"]:
            history = [
                r for r in items if r.account == account["account"] and r.window == window["id"]
            ]
            out.append(f"{window['id']} ({account['account']})")
            for r in history:
                local = r.at.astimezone()
                seen = r.last_seen.astimezone()
                until = f" – {seen:%H:%M}" if r.last_seen > r.at else ""
                out.append(
                    f"  {local:%Y-%m-%d %H:%M}{until:<8}  {fmt.percent(r.used_percent):>4} used"
                )
            past = past_windows(history, now)
            if past:
                out.append("  Used when it reset:")
                for p in past:
                    reset = p.resets_at.astimezone()
                    out.append(f"    {reset:%Y-%m-%d %H:%M}  {fmt.percent(p.used_percent):>4}")
            out.append("")
    return "\n".join(out)


@click.command()
@click.option("--window", "window", metavar="ID", help="Only this window: session, weekly, ….")
@click.option(
    "--days", type=click.IntRange(1, 730), default=7, show_default=True, help="How far back."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def history(window: str | None, days: int, as_json: bool) -> None:
    """The saved readings of each window over time, and how much of each past window was used."""
    now = utc_now()
    try:
        store = Store()
    except Exception as error:
        raise click.ClickException(f"the codexbar database cannot be opened: {error}") from None
    try:
        items = rows(store.db, window=window, since=now - timedelta(days=days))
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps({"days": days, "window": window, **_json(items, now)}, separators=(",", ":"))
        )
    else:
        click.echo(_text(items, now, days), nl=False)
