"""What status bars show (`codexbar waybar`, `codexbar bar`): the latest reading as a few fields.

Both commands read the store's latest reading first and fetch only when it is not current, so a
bar that polls every few seconds costs a database query while the tray (or `waybar --follow`)
keeps the readings fresh. A figure that is not current is never shown as if it were: the class
says `stale`, and the `{stale}` field (added to a format that lacks it) says how old it is.
"""

from __future__ import annotations

import os
import string
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from codexbar import formatting as fmt
from codexbar.engine import UsageReport
from codexbar.pace import Pace, runs_out_early
from codexbar.reading import Reading, choose, current_minutes
from codexbar.report import binding_window, display_windows
from codexbar.settings import Settings
from codexbar.sources import utc_now
from codexbar.store import Store

if TYPE_CHECKING:  # the cost scanner is imported only by a format that shows a cost
    from codexbar.app import AccountReading
    from codexbar.cost.summary import CostSummary, Figures

MISSING = "?"
# A main window projected to run out at least this long before its reset is worth a warning while
# its percent is still high (the tray's pace notification uses the same 30 minutes).
PACE_MARGIN = timedelta(minutes=30)

OK, WARNING, CRITICAL, STALE, ERROR = "ok", "warning", "critical", "stale", "error"

# Every field a format may use, with what it means (README's table lists the same fields; a test
# keeps the two together).
FIELDS: dict[str, str] = {
    "session_left": "percent of the 5-hour window left (82)",
    "session_used": "percent of the 5-hour window used (18)",
    "session_resets": "when the 5-hour window resets (in 1h 50m)",
    "weekly_left": "percent of the weekly window left",
    "weekly_used": "percent of the weekly window used",
    "weekly_resets": "when the weekly window resets (in 3d 4h)",
    "left": "the most constrained percent left among the windows that matter",
    "binding": "the name of that window (Session, Weekly, Monthly credits)",
    "pace": "the binding window's pace (+12 is 12 points ahead of an even spread)",
    "credits": "the credit balance (112.50), unlimited, or ?",
    "today_cost": "API-price estimate of today's local sessions, in dollars (4.12)",
    "today_tokens": "tokens of today's local sessions (1.2M)",
    "week_cost": "the same for the last 7 days",
    "week_tokens": "tokens of the last 7 days",
    "status": "ok, warning, critical, stale or error",
    "stale": "empty when the figures are current, else (stale, 12 min ago)",
    "age": "how old the reading is (just now, 4 min ago)",
    "source": "where the reading came from (oauth, rpc, pty, web, logs)",
    "account": "the account's email",
}
COST_FIELDS = frozenset({"today_cost", "today_tokens", "week_cost", "week_tokens"})


class FormatError(ValueError):
    """A format names a field that does not exist, or is not a valid format string."""


def format_fields(template: str) -> set[str]:
    """The fields `template` uses; FormatError (in words) for an unknown one."""
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    except ValueError as error:
        raise FormatError(
            f"the format is not valid ({error}); use {{field}} placeholders"
        ) from None
    unknown = sorted(n for n in names if n not in FIELDS)
    if unknown:
        raise FormatError(
            f"unknown field {{{unknown[0]}}}; known fields: "
            + ", ".join(f"{{{name}}}" for name in FIELDS)
        )
    return names


def render(template: str, values: Mapping[str, str]) -> str:
    """`template` with its fields filled in; a format without `{stale}` or `{status}` gets the
    stale marker appended, so an old figure never passes for a current one."""
    fields = format_fields(template)
    text = template.format_map(values)
    if values["stale"] and not fields & {"stale", "status", "age"}:
        text += " " + values["stale"]
    return text


# -- the reading ---------------------------------------------------------------------------------


def stored_reading(
    store: Store | None,
    settings: Settings,
    now: datetime,
    home: Path | None = None,
    *,
    or_unplaced: bool = False,
) -> Reading | None:
    """The store's latest reading (of `home`'s account when given) as a Reading of its own
    (nothing fetched); None without one."""
    if store is None:
        return None
    try:
        snapshot = store.last_snapshot(home, or_unplaced=or_unplaced)
    except Exception:  # a locked or damaged database: fetch instead
        return None
    if snapshot is None:
        return None
    return choose(UsageReport(snapshot=snapshot), None, now, settings.get("refresh_minutes"))


@dataclass(frozen=True)
class Costs:
    today: Figures
    week: Figures


def costs_from(summary: CostSummary | None) -> Costs | None:
    return None if summary is None else Costs(summary.today, summary.last_7_days)


# -- fields --------------------------------------------------------------------------------------


def _number(percent: float) -> str:
    return fmt.percent(percent).removesuffix("%")


def _dollars(figures: Figures | None) -> str:
    if figures is None or figures.cost_usd is None:
        return MISSING
    return fmt.dollars(figures.cost_usd).removeprefix("$")


def status_class(reading: Reading, paces: Mapping[str, Pace], thresholds: Sequence[int]) -> str:
    """error (no reading), stale (not current), critical (blocked or used up), warning (below
    the lowest notification threshold, or projected to run out 30 min or more before its
    reset), else ok: the tray icon's colours."""
    if reading.snapshot is None:
        return ERROR
    if reading.stale:
        return STALE
    snapshot = reading.snapshot.with_reset_flags(reading.now)
    window = binding_window(snapshot)
    if snapshot.blocked or (window is not None and window.remaining_percent <= 0):
        return CRITICAL
    low = min(thresholds) if thresholds else 0
    if window is not None and window.remaining_percent < low:
        return WARNING
    for w in snapshot.main_windows:
        pace = paces.get(w.id)
        if (
            pace is not None
            and not w.reset_passed
            and runs_out_early(pace, w.resets_at, PACE_MARGIN)
        ):
            return WARNING
    return OK


def field_values(
    reading: Reading,
    paces: Mapping[str, Pace],
    thresholds: Sequence[int],
    costs: Costs | None = None,
) -> dict[str, str]:
    """Every field of FIELDS as text; `?` for what this reading does not have."""
    values = dict.fromkeys(FIELDS, MISSING)
    now = reading.now
    values["status"] = status_class(reading, paces, thresholds)
    values["stale"] = ""
    if costs is not None:
        values["today_cost"] = _dollars(costs.today)
        values["today_tokens"] = fmt.tokens(costs.today.total_tokens)
        values["week_cost"] = _dollars(costs.week)
        values["week_tokens"] = fmt.tokens(costs.week.total_tokens)
    if reading.snapshot is None:
        values["stale"] = "(no reading)"
        return values
    snapshot = reading.snapshot.with_reset_flags(now)
    values["age"] = fmt.age(snapshot.observed_at, now)
    values["source"] = snapshot.source
    values["account"] = snapshot.identity.email or MISSING
    if reading.stale:
        values["stale"] = f"(stale, {values['age']})"
    for window in display_windows(snapshot):
        if window.id not in ("session", "weekly") or window.reset_passed:
            continue  # a window that has reset since the reading: its old percent is not true
        values[f"{window.id}_left"] = _number(window.remaining_percent)
        values[f"{window.id}_used"] = _number(window.clamped_used_percent)
        if window.resets_at is not None:
            values[f"{window.id}_resets"] = fmt.reset_countdown(window.resets_at, now)
    binding = binding_window(snapshot)
    if binding is not None:
        values["left"] = _number(binding.remaining_percent)
        values["binding"] = binding.label
        pace = paces.get(binding.id)
        if pace is not None:
            values["pace"] = f"{pace.delta_percent:+.0f}"
    credits = snapshot.credits
    if credits is not None:
        if credits.unlimited:
            values["credits"] = "unlimited"
        elif credits.balance is not None:
            values["credits"] = fmt.credits_balance(credits.balance) or "0"
    return values


def most_constrained_left(reading: Reading) -> float | None:
    """Waybar's `percentage`: the binding window's percent left, None without a reading."""
    if reading.snapshot is None:
        return None
    window = binding_window(reading.snapshot.with_reset_flags(reading.now))
    return None if window is None else window.remaining_percent


# -- following the store -------------------------------------------------------------------------


def store_stamp(path: Path) -> tuple[tuple[int, int], ...]:
    """What changes when a reading is saved: the size and mtime of the database and its WAL
    (SQLite writes into the -wal file; the main file changes only at a checkpoint)."""
    stamp = []
    for suffix in ("", "-wal"):
        try:
            info = os.stat(f"{path}{suffix}")
            stamp.append((info.st_size, info.st_mtime_ns))
        except OSError:
            stamp.append((-1, -1))
    return tuple(stamp)


def follow(
    path: Path,
    render_line: Callable[[bool], str],
    *,
    refresh_seconds: float,
    poll_seconds: float = 1.0,
    redraw_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Lines to print: the first at once, then a new one whenever it would differ.

    Each `poll_seconds` costs two `stat` calls; the line is rebuilt when the store changed, every
    `redraw_seconds` (countdowns and ages move on) and, with a fetch allowed, every
    `refresh_seconds` (`render_line(True)` may fetch a reading when the stored one is not
    current). The stamp is taken after rendering, so our own writes (a fetched reading, the cost
    cache) do not wake the loop again."""
    last_line = None
    last_fetch = last_draw = time.monotonic()
    line = render_line(True)
    stamp = store_stamp(path)
    while True:
        if line != last_line:
            yield line
            last_line = line
        sleep(poll_seconds)
        now = time.monotonic()
        changed = store_stamp(path) != stamp
        may_fetch = now - last_fetch >= refresh_seconds
        if not (changed or may_fetch or now - last_draw >= redraw_seconds):
            continue
        line = render_line(may_fetch)
        stamp = store_stamp(path)
        last_draw = now
        if may_fetch:
            last_fetch = now


def refresh_seconds(settings: Settings) -> float:
    return current_minutes(settings.get("refresh_minutes")) * 60.0


class BarSession:
    """One status-bar command's settings, store and (only when needed) engine and cost scan."""

    def __init__(self, explicit_homes: tuple[str, ...] = ()) -> None:
        from codexbar import settings as settings_module
        from codexbar.app import codex_homes

        self.settings = settings_module.load()
        self.homes = codex_homes(self.settings, explicit_homes)
        self.problems: list[str] = list(self.settings.problems)
        self.store = self._open_store()
        self._app = None

    def _open_store(self) -> Store | None:
        from codexbar.cli.options import describe_store_error

        try:
            store = Store()
        except Exception as error:  # the store explains itself in words
            self.problems.append(f"readings cannot be kept: {describe_store_error(error)}")
            return None
        self.problems += store.warnings
        return store

    @property
    def store_path(self) -> Path:
        from codexbar import paths

        return self.store.path if self.store is not None else paths.store_path()

    def engine(self):
        """The App that fetches (its sources are discovered on first use: about 60 ms)."""
        from codexbar.app import App

        if self._app is None:
            self._app = App(settings=self.settings, homes=self.homes)
        return self._app

    def account_readings(self, allow_fetch: bool = True) -> list[AccountReading]:
        """Every account's reading (codexbar.app.AccountReading), in the order of the homes:
        the stored one when it is current, else (when allowed) a new one; the accounts that
        need one are read at once."""
        from codexbar.app import AccountReading

        now = utc_now()
        found: dict[Path, Reading] = {}
        for home in self.homes:
            # Readings saved before they had a home were all of the first home's account.
            stored = stored_reading(
                self.store, self.settings, now, home, or_unplaced=home == self.homes[0]
            )
            if stored is not None and (stored.current or not allow_fetch):
                found[home] = stored
            elif not allow_fetch:  # nothing stored, and no fetch wanted: there is no reading
                found[home] = choose(UsageReport(snapshot=None), None, now)
        missing = [home for home in self.homes if home not in found]
        if missing:
            for one in self.engine().fetch_accounts(
                interactive=False, store=self.store, homes=missing
            ):
                found[one.home] = one.reading
        return [AccountReading(home, found[home]) for home in self.homes]

    def reading(self, allow_fetch: bool = True) -> Reading:
        """The reading a single figure shows: the account the `tray.account` setting names,
        else the most constrained one."""
        from codexbar.accounts import shown_account

        accounts = self.account_readings(allow_fetch)
        shown = shown_account(accounts, self.settings.get("tray.account"), utc_now())
        assert shown is not None  # there is always at least one home
        return shown.reading

    def paces(self, reading: Reading) -> dict[str, Pace]:
        from codexbar.history import snapshot_paces

        if reading.snapshot is None:
            return {}
        return snapshot_paces(reading.snapshot, self.store.db if self.store else None)

    def costs(self) -> Costs | None:
        """Today's and the last 7 days' totals from the cost cache; None when the scan fails."""
        from codexbar.cost import cost_summary

        try:
            return costs_from(cost_summary(self.homes, days=7, store=self.store))
        except Exception:  # a cost problem must not hide the limits
            return None

    @property
    def titles(self) -> dict[str, str]:
        """Source names as people call them once the sources are known; until then (a quick
        answer from the store) the names themselves."""
        return self._app.titles if self._app is not None else {}

    def values(self, reading: Reading, *, with_costs: bool) -> dict[str, str]:
        thresholds = self.settings.get("notify.thresholds")
        costs = self.costs() if with_costs else None
        return field_values(reading, self.paces(reading), thresholds, costs)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
        if self.store is not None:
            self.store.close()


def _pango(text: str) -> str:
    """Waybar reads the tooltip as Pango markup: `<`, `>` and `&` must be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def waybar_object(session: BarSession, reading: Reading, template: str) -> dict[str, object]:
    """Waybar's custom-module JSON: text, tooltip (the usage report and today's cost), class,
    and percentage when there is a figure to fill a bar with."""
    from codexbar.report import render_text

    paces = session.paces(reading)
    costs = session.costs()
    values = field_values(reading, paces, session.settings.get("notify.thresholds"), costs)
    tooltip = render_text(
        reading, session.titles, show_used=session.settings.get("show_used"), paces=paces
    ).rstrip("\n")
    if costs is not None:
        tooltip += (
            f"\nCost today {values['today_cost']} USD · 7 days {values['week_cost']} USD "
            "(API prices)"
        )
    body: dict[str, object] = {
        "text": render(template, values) if reading.snapshot is not None else "Codex ?",
        "tooltip": _pango(tooltip),
        "class": values["status"],
        "alt": values["status"],
    }
    left = most_constrained_left(reading)
    if left is not None:
        body["percentage"] = round(left)
    return body
