"""Desktop notifications for limit changes: once per transition, remembered across restarts.

A window announces when it falls below a warning threshold (default 50% and 20% left), when it is
used up, and when it is available again after a reset; a block (the account cannot be used now,
whatever the percents say) announces when it starts and when it lifts. Each notification carries
the icon drawn in the state it announces. The first reading only sets the baseline,
failed refreshes are never fed in, and a recovery is announced only after two readings agree
(one odd reading must not claim a reset).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from codexbar import formatting as fmt
from codexbar import paths
from codexbar.codec import iso, parse_iso
from codexbar.history import SAME_RESET_SECONDS, snapshot_paces
from codexbar.models import RateWindow, UsageSnapshot
from codexbar.pace import Pace, runs_out_early
from codexbar.store import Store

if TYPE_CHECKING:
    from codexbar.tray.icon import IconState

log = logging.getLogger(__name__)

OK = "ok"
OUT = "out"
PACE = "pace"
BLOCKED_KEY = "blocked"  # the notification memory's "window" for the account's block
NOTIFY_TIMEOUT_SECONDS = 5
# A pace warning needs the run-out to come this long before the reset, and a tenth of the window
# gone by (a projection from the first minutes of a window is mostly noise).
PACE_MARGIN = timedelta(minutes=30)
PACE_MIN_ELAPSED_PERCENT = 10.0


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    window: str  # window id
    level: str


def level_of(window: RateWindow, thresholds: Sequence[int]) -> str:
    """`out`, `below-20`, `below-50` or `ok` for a window's remaining percent."""
    remaining = window.remaining_percent
    if remaining <= 0:
        return OUT
    below = [t for t in thresholds if remaining < t]
    return f"below-{min(below)}" if below else OK


def severity(level: str) -> int:
    if level == OUT:
        return 1000
    if level.startswith("below-"):
        try:
            return 100 - int(level.removeprefix("below-"))
        except ValueError:
            return 0
    return 0


class NotificationMemory:
    """The last announced level per account and window, in the store's notification_state."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, account: str, window: str) -> tuple[str, str | None] | None:
        row = self.store.db.execute(
            "SELECT level, pending FROM notification_state WHERE account = ? AND window = ?",
            (account, window),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, account: str, window: str, level: str, pending: str | None) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO notification_state(account, window, level, pending, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(account, window) DO UPDATE SET "
                "level = excluded.level, pending = excluded.pending, "
                "updated_at = excluded.updated_at",
                (account, window, level, pending, time.time()),
            )


def _notice(window: RateWindow, level: str, previous: str, now: datetime) -> Notice | None:
    name = window.label.lower() if window.is_main else window.label
    reset = (
        f"Resets {fmt.reset_countdown(window.resets_at, now)}."
        if window.resets_at is not None and window.resets_at > now
        else ""
    )
    left = fmt.percent(window.remaining_percent)
    if level == OUT:
        return Notice(f"Codex {name} window used up", f"0% left. {reset}".strip(), window.id, level)
    if severity(level) > severity(previous):
        threshold = level.removeprefix("below-")
        return Notice(
            f"Codex {name} window: {left} left",
            f"Below your {threshold}% warning. {reset}".strip(),
            window.id,
            level,
        )
    if previous == OUT:
        return Notice(
            f"Codex {name} window available again",
            f"{left} left after the reset.",
            window.id,
            level,
        )
    return None  # a recovery between warning levels is remembered quietly


def _pace_notice(window: RateWindow, pace: Pace, now: datetime) -> Notice:
    name = window.label.lower() if window.is_main else window.label
    assert pace.runs_out_at is not None and window.resets_at is not None
    early = fmt.reset_countdown(window.resets_at, pace.runs_out_at).removeprefix("in ")
    return Notice(
        f"Codex {name} window may run out early",
        f"At this pace it runs out {fmt.reset_countdown(pace.runs_out_at, now)}, "
        f"{early} before it resets.",
        window.id,
        PACE,
    )


class TransitionPlanner:
    """Feeds successful readings in, hands back the notices to show (already remembered).

    With `pace_warnings`, a window projected to run out more than 30 minutes before its reset is
    announced once per window instance (remembered by its reset time)."""

    def __init__(
        self,
        memory: NotificationMemory,
        thresholds: Sequence[int] = (50, 20),
        *,
        pace_warnings: bool = False,
    ) -> None:
        self.memory = memory
        self.thresholds = tuple(thresholds)
        self.pace_warnings = pace_warnings

    def observe(
        self, snapshot: UsageSnapshot, now: datetime, paces: Mapping[str, Pace] | None = None
    ) -> list[Notice]:
        """What this reading is news for; `paces` are the reading's (computed here if None)."""
        account = snapshot.identity.account_key
        notices: list[Notice] = self._block_notices(account, snapshot)
        for window in snapshot.main_windows:
            if window.reset_passed:
                continue  # an old figure, most likely refilled since: says nothing new
            level = level_of(window, self.thresholds)
            remembered = self.memory.get(account, window.id)
            if remembered is None:  # the baseline: nothing to announce on the first reading
                self.memory.put(account, window.id, level, None)
                continue
            previous, pending = remembered
            if severity(level) > severity(previous):
                self.memory.put(account, window.id, level, None)
                if (notice := _notice(window, level, previous, now)) is not None:
                    notices.append(notice)
            elif severity(level) < severity(previous):
                if pending is not None and severity(pending) < severity(previous):
                    # Two readings in a row agree the window recovered: a real reset.
                    self.memory.put(account, window.id, level, None)
                    if (notice := _notice(window, level, previous, now)) is not None:
                        notices.append(notice)
                else:
                    self.memory.put(account, window.id, previous, level)
            elif pending is not None:
                self.memory.put(account, window.id, previous, None)
        if self.pace_warnings:
            if paces is None:
                paces = snapshot_paces(snapshot, self.memory.store.db)
            notices += self._pace_notices(snapshot, account, now, paces)
        return notices

    def _pace_notices(
        self, snapshot: UsageSnapshot, account: str, now: datetime, paces: Mapping[str, Pace]
    ) -> list[Notice]:
        notices = []
        for window in snapshot.main_windows:
            pace = paces.get(window.id)
            if window.reset_passed or window.resets_at is None or pace is None:
                continue
            if window.remaining_percent <= 0:
                continue  # already used up: that notice says more than a projection
            if pace.expected_used_percent < PACE_MIN_ELAPSED_PERCENT:
                continue
            if not runs_out_early(pace, window.resets_at, PACE_MARGIN):
                continue
            key = f"{PACE}:{window.id}"
            remembered = self.memory.get(account, key)
            told = parse_iso(remembered[0]) if remembered else None
            if told is not None and abs((told - window.resets_at).total_seconds()) < (
                SAME_RESET_SECONDS
            ):
                continue  # this window instance was announced already
            self.memory.put(account, key, iso(window.resets_at) or "", None)
            notices.append(_pace_notice(window, pace, now))
        return notices

    def _block_notices(self, account: str, snapshot: UsageSnapshot) -> list[Notice]:
        """A block is news when it starts and when it lifts (the first reading: baseline)."""
        level = OUT if snapshot.blocked else OK
        remembered = self.memory.get(account, BLOCKED_KEY)
        if remembered is not None and remembered[0] == level:
            return []
        self.memory.put(account, BLOCKED_KEY, level, None)
        if remembered is None:
            return []
        if snapshot.blocked:
            return [Notice("Codex is blocked", snapshot.blocked, BLOCKED_KEY, OUT)]
        return [Notice("Codex is available again", "The block has lifted.", BLOCKED_KEY, OK)]


def notification_icon(state: IconState, size: int = 64) -> Path | None:
    """The icon in `state` as a PNG in our data folder (one file per look, reused), for the
    notification that announces that state; None when it cannot be written."""
    from codexbar.tray.icon import app_icon

    digest = hashlib.sha1(repr(state).encode(), usedforsecurity=False).hexdigest()[:12]
    target = paths.data_dir() / "icons" / f"state-{digest}.png"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        app_icon(size, state).save(partial, format="PNG")
        partial.replace(target)
    except OSError as error:
        log.info("no notification icon: %s", error)
        return None
    return target


class DesktopNotifier:
    """`notify-send` on Linux (libnotify, every desktop has a server for it); elsewhere, or when
    it is missing, the tray backend's own notification (pystray's `Icon.notify`)."""

    def __init__(
        self,
        icon_path: Path | None = None,
        fallback: Callable[[str, str], bool] | None = None,
        notify_send: str | None = None,
    ) -> None:
        self.icon_path = icon_path
        self.fallback = fallback
        if notify_send is None and sys.platform.startswith("linux"):
            notify_send = shutil.which("notify-send")
        self.notify_send = notify_send

    def send(self, title: str, body: str, icon: Path | None = None) -> bool:
        """`icon` (the announced state) replaces the app icon for this notification."""
        if self.notify_send:
            command = [self.notify_send, "--app-name=codexbar"]
            icon = icon or self.icon_path
            if icon is not None:
                command.append(f"--icon={icon}")
            command += ["--", title, body]
            try:
                result = subprocess.run(
                    command, capture_output=True, timeout=NOTIFY_TIMEOUT_SECONDS, check=False
                )
                if result.returncode == 0:
                    return True
                log.info("notify-send failed: %s", result.stderr.decode(errors="replace").strip())
            except (OSError, subprocess.TimeoutExpired) as error:
                log.info("notify-send failed: %s", error)
        if self.fallback is not None:
            try:
                return self.fallback(title, body)
            except Exception as error:  # notifications are a courtesy, never fatal
                log.info("tray notification failed: %s", error)
        return False
