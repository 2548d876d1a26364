"""The tray menu as plain data: rows with texts, states and actions, and no toolkit in sight.

The backends (dbusmenu, pystray) turn these rows into native menu items; tests read them
directly. Every text row is a normal, enabled item so it reads at full contrast (disabled grey
is about 3:1): the figure rows open the Codex usage page, other information rows do nothing
when clicked. Actions are values (`Action("set_source", "oauth")`) that the app dispatches, so
the model never calls back into the app. Texts shown here carry no backticks and no raw error
numbers, and long paths wrap at their separators.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from codexbar import formatting as fmt
from codexbar.errors import SourceError
from codexbar.models import RateWindow, UsageSnapshot
from codexbar.pace import Pace, pace_text
from codexbar.report import (
    credit_pool_text,
    credits_text,
    display_windows,
    limit_resets_text,
    window_line_parts,
)

USAGE_DASHBOARD_URL = "https://chatgpt.com/codex/settings/usage"
# The radio list of sources, in this order; plugin sources follow with their own titles.
SOURCE_TITLES = {
    "auto": "Auto",
    "oauth": "OAuth",
    "rpc": "Codex CLI",
    "pty": "Codex CLI /status",
    "web": "chatgpt.com cookies",
    "logs": "Session logs",
}
REFRESH_CHOICES = (1, 2, 5, 15, 30, 0)  # 0 = manual
_WRAP = 64  # long error texts become several rows instead of one very wide menu


@dataclass(frozen=True)
class Action:
    # refresh, set_source, set_interval, toggle_show_used, prefs, dashboard, local_dashboard,
    # folder, quit
    kind: str
    value: Any = None


@dataclass(frozen=True)
class Row:
    text: str
    action: Action | None = None  # None: an information row; clicking it does nothing
    checked: bool | None = None  # None: no check mark at all
    radio: bool = False
    submenu: tuple[Row, ...] | None = None

    @property
    def enabled(self) -> bool:
        """Always: information rows are normal items too, read at full contrast."""
        return not self.is_separator

    @property
    def is_separator(self) -> bool:
        return self.text == "-"


SEPARATOR = Row("-")


@dataclass(frozen=True)
class CostFigures:
    tokens: int
    usd: Decimal | None


@dataclass(frozen=True)
class CostView:
    today: CostFigures
    range: CostFigures
    days: int


@dataclass(frozen=True)
class TrayState:
    """Everything the menu (and the icon) is drawn from; a new one after every change."""

    snapshot: UsageSnapshot | None = None
    error: SourceError | None = None  # of the last refresh; None when it worked
    refreshing: bool = False
    from_store: bool = False  # the reading was loaded at start, not fetched by this run
    cost: CostView | None = None
    cost_error: str | None = None
    source: str = "auto"
    refresh_minutes: int = 5
    show_used: bool = False
    source_notes: Mapping[str, str] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # settings-file problems, shown so they get fixed
    # Pace per window id of `snapshot` (codexbar.history.snapshot_paces); a row under each.
    paces: Mapping[str, Pace] = field(default_factory=dict)
    # The Codex home of the account the reading fields above belong to.
    home: Path | None = None
    # With several accounts (one per Codex home): each account's own state, in the order of
    # the homes; the reading fields above are then those of the account the icon shows.
    accounts: tuple[TrayState, ...] = ()

    @property
    def several(self) -> bool:
        return len(self.accounts) > 1

    @property
    def account_name(self) -> str | None:
        """The account's email, or before any reading its home."""
        email = self.snapshot.identity.email if self.snapshot is not None else None
        return email or (str(self.home) if self.home is not None else None)


def source_title(name: str, titles: Mapping[str, str]) -> str:
    return SOURCE_TITLES.get(name) or titles.get(name) or name


def header_text(snapshot: UsageSnapshot | None, home: Path | None = None) -> str:
    """`Codex — you@example.com · Plus`; before a reading (or with no email), the account's
    Codex home names it when one is given."""
    email = snapshot.identity.email if snapshot is not None else None
    plan = fmt.plan_name(snapshot.identity.plan) if snapshot is not None else None
    parts = [p for p in (email or (str(home) if home is not None else None), plan) if p]
    return "Codex — " + " · ".join(parts) if parts else "Codex"


def window_row_text(window: RateWindow, now: datetime, show_used: bool) -> str:
    """`Session: 82% left · resets in 1h 50m`."""
    amount, reset = window_line_parts(window, now, show_used=show_used)
    return f"{window.label}: {amount}" + (f" · {reset}" if reset else "")


_BACKTICKED = re.compile(r"`([^`]*)`")
_ERRNO = re.compile(r"\s*(\[Errno -?\d+\]|\(os error -?\d+\)|\berrno -?\d+:?)\s*", re.IGNORECASE)


def plain(text: str) -> str:
    """A message as the tray shows it: `codex login` becomes “codex login”, and raw error
    numbers (`[Errno 13]`) go; the words around them already say what happened."""
    text = _BACKTICKED.sub(lambda m: f"“{m.group(1)}”", text).replace("`", "")
    return " ".join(_ERRNO.sub(" ", text).split())


def wrap_text(text: str, width: int = _WRAP) -> list[str]:
    """Lines of at most `width` characters, broken at spaces; a path too long for the line
    breaks after a `/` (or `\\`), and only a single name longer than a line is cut anywhere."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        joint = " " if line else ""
        while word:
            room = width - len(line) - len(joint)
            if len(word) <= room:
                line, word = line + joint + word, ""
                break
            cut = max(word.rfind("/", 0, room), word.rfind("\\", 0, room)) + 1
            if cut > 0:
                line, word = line + joint + word[:cut], word[cut:]
            elif not line:  # one name longer than a line: cut it where the line ends
                line, word = word[:width], word[width:]
            lines.append(line)
            line, joint = "", ""
    if line:
        lines.append(line)
    return lines or [text]


def _wrapped(text: str) -> list[Row]:
    return [Row(line) for line in wrap_text(plain(text))]


def usage_rows(state: TrayState, now: datetime, *, named: bool = False) -> list[Row]:
    """The header and figures of one account; `named`: the header names the account by its
    home until a reading names it by email (several accounts)."""
    snapshot = state.snapshot
    figure = Action("dashboard")  # a click on a figure opens the Codex usage page
    rows = [Row(header_text(snapshot, state.home if named else None), figure)]
    if snapshot is not None:  # a reading kept since before its reset says so
        snapshot = snapshot.with_reset_flags(now)
    if snapshot is None:
        if state.error is None:
            rows.append(Row("Refreshing…" if state.refreshing else "No usage yet"))
        return rows
    if snapshot.blocked:
        rows += [Row(r.text, figure) for r in _wrapped(f"Blocked: {snapshot.blocked}")]
    for window in display_windows(snapshot):
        rows.append(Row(window_row_text(window, now, state.show_used), figure))
        pace = state.paces.get(window.id)
        if pace is not None and not window.reset_passed:
            rows.append(Row("    " + pace_text(pace, now), figure))
    if snapshot.credit_pool is not None:
        pool = snapshot.credit_pool
        text = credit_pool_text(pool, now, show_used=state.show_used)
        rows.append(Row(f"{pool.label}: {text}", figure))
    if not snapshot.windows and snapshot.credit_pool is None:
        rows.append(Row("Limits not available for this account"))
    # The same wording as `codexbar usage` (codexbar.report), row for row.
    if snapshot.credits is not None and (credits := credits_text(snapshot.credits)):
        rows.append(Row(f"Credits: {credits}", figure))
    if snapshot.limit_resets is not None and (resets := limit_resets_text(snapshot.limit_resets)):
        rows.append(Row(f"Limit resets: {resets}", figure))
    return rows


def cost_rows(state: TrayState) -> list[Row]:
    if state.cost is not None:
        cost = state.cost
        return [
            Row(f"Today: {fmt.dollars(cost.today.usd)} · {fmt.tokens(cost.today.tokens)} tokens"),
            Row(
                f"Last {cost.days} days: {fmt.dollars(cost.range.usd)} · "
                f"{fmt.tokens(cost.range.tokens)} tokens"
            ),
        ]
    if state.cost_error:
        return _wrapped(f"Cost: {state.cost_error}")
    return [Row("Cost: reading session logs…")]


def status_rows(state: TrayState, now: datetime) -> list[Row]:
    """`Updated 2 min ago via OAuth`, or the error in plain words with its hint; then the
    settings' problems."""
    rows = reading_status_rows(state, now)
    for problem in state.problems:
        rows += _wrapped(problem)
    return rows


def reading_status_rows(state: TrayState, now: datetime) -> list[Row]:
    """One account's `Updated 2 min ago via OAuth`, or its error with the hint."""
    rows: list[Row] = []
    snapshot = state.snapshot
    if state.error is not None:
        rows += _wrapped(state.error.message)
        if state.error.hint:
            rows += _wrapped(state.error.hint)
    if snapshot is not None:
        via = source_title(snapshot.source, state.titles)
        age = fmt.age(snapshot.observed_at, now)
        if state.error is not None or state.from_store:
            rows.append(Row(f"Showing the reading from {age} via {via}"))
        else:
            rows.append(Row(f"Updated {age} via {via}"))
    if state.refreshing and snapshot is not None:
        rows.append(Row("Refreshing…"))
    return rows


def account_sections(state: TrayState, now: datetime) -> list[Row]:
    """A section per account: its name and figures, then its status, each closed by a line."""
    rows: list[Row] = []
    for account in state.accounts:
        rows += usage_rows(account, now, named=True) + reading_status_rows(account, now)
        rows.append(SEPARATOR)
    return rows


def source_menu(state: TrayState) -> tuple[Row, ...]:
    names = list(SOURCE_TITLES)
    names += [n for n in state.titles if n not in SOURCE_TITLES]
    rows = []
    for name in names:
        if name != "auto" and name not in state.titles:
            continue  # not installed in this environment
        text = source_title(name, state.titles)
        note = state.source_notes.get(name)
        if note:
            text += f" — {note}"
        rows.append(Row(text, Action("set_source", name), checked=state.source == name, radio=True))
    return tuple(rows)


def interval_menu(state: TrayState) -> tuple[Row, ...]:
    return tuple(
        Row(
            f"{minutes} min" if minutes else "Manual",
            Action("set_interval", minutes),
            checked=state.refresh_minutes == minutes,
            radio=True,
        )
        for minutes in REFRESH_CHOICES
    )


def build_menu(state: TrayState, now: datetime) -> tuple[Row, ...]:
    if state.several:
        rows = account_sections(state, now) + cost_rows(state)
        for problem in state.problems:
            rows += _wrapped(problem)
    elif state.snapshot is None:  # the error explains the empty menu: it comes first
        rows = usage_rows(state, now)
        rows += status_rows(state, now) + cost_rows(state)
    else:
        rows = usage_rows(state, now) + cost_rows(state) + status_rows(state, now)
    rows += [
        SEPARATOR,
        Row("Refresh now", Action("refresh")),
        Row("Usage source", submenu=source_menu(state)),
        Row("Refresh every", submenu=interval_menu(state)),
        Row("Show usage as used", Action("toggle_show_used"), checked=state.show_used),
        Row("Preferences…", Action("prefs")),
        Row("Open Codex usage page", Action("dashboard")),
        Row("Open dashboard", Action("local_dashboard")),
        Row("Open Codex folder", Action("folder")),
        SEPARATOR,
        Row("Quit", Action("quit")),
    ]
    return tuple(rows)


@dataclass(frozen=True)
class Tooltip:
    """What hovering the icon shows: a title and one line per figure (SNI's ToolTip)."""

    title: str
    lines: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        return "\n".join(self.lines)


def tooltip(state: TrayState, now: datetime, *, stale: bool) -> Tooltip:
    """`Codex usage` over `Session: 82% left · resets in 1h 50m` / `Weekly: 55% left · …`; a
    stale reading adds what failed and how old the figures are."""
    rows = [r.text for r in usage_rows(state, now)[1:]]
    lines = list(rows)
    if state.snapshot is None and state.error is not None:
        lines.append(plain(state.error.message))
    elif state.snapshot is not None and stale:
        if state.error is not None:
            lines.append(plain(state.error.message))
        lines.append(f"Reading from {fmt.age(state.snapshot.observed_at, now)}")
    # With several accounts the tooltip names the one the icon shows.
    title = f"Codex usage — {state.account_name}" if state.several else "Codex usage"
    if state.snapshot is not None and state.snapshot.blocked:
        title += " — blocked"
    elif stale:
        title += " — stale"
    return Tooltip(title, tuple(lines))


def short_note(error: SourceError | None) -> str | None:
    """The few words shown next to an unavailable source in the radio list."""
    if error is None:
        return None
    notes = {
        "not_installed": "not installed",
        "disabled": "off",
        "auth": "not logged in",
        "unsupported": "not supported here",
    }
    return notes.get(error.kind.value, "unavailable")
