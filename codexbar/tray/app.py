"""The tray, wired: state, refresh loop, cost scan, settings watch, notifications and actions.

Threads: the tray backend's loop owns the main thread; the refresh loop, the cost scan, the
settings watcher and the single-instance listener run beside it, and `quit()` stops them all
(and the kept-alive `codex app-server`) within two seconds. Every view update goes through
`redraw()`, which draws the icon and the menu from one immutable `TrayState`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from codexbar import paths
from codexbar import settings as settings_module
from codexbar.accounts import shown_account
from codexbar.app import App, codex_homes
from codexbar.at_once import each_at_once
from codexbar.dashboard.launcher import LocalDashboard
from codexbar.engine import Engine, UsageReport
from codexbar.errors import ErrorKind, SourceError
from codexbar.history import snapshot_paces
from codexbar.models import UsageSnapshot
from codexbar.pace import Pace
from codexbar.reading import choose
from codexbar.settings import Settings
from codexbar.sources import utc_now
from codexbar.store import Store
from codexbar.tray import autostart
from codexbar.tray.icon import Drawing, icon_state, state_is_stale, summary_line
from codexbar.tray.menu import (
    USAGE_DASHBOARD_URL,
    Action,
    CostFigures,
    CostView,
    Row,
    Tooltip,
    TrayState,
    build_menu,
    short_note,
    tooltip,
)
from codexbar.tray.notifications import (
    DesktopNotifier,
    NotificationMemory,
    TransitionPlanner,
    notification_icon,
)
from codexbar.tray.scheduler import Clock, RefreshLoop, Throttle
from codexbar.tray.theme import panel_colour

log = logging.getLogger(__name__)

SETTINGS_POLL_SECONDS = 2.0
MENU_REFRESH_SECONDS = 60.0  # "2 min ago" and the countdowns move on
QUIT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class View:
    """One frame of the tray: the icon (drawn by the backend at the sizes it needs), the
    tooltip, the one-line title and the menu rows."""

    drawing: Drawing
    tooltip: Tooltip
    title: str
    rows: tuple[Row, ...]


class Tray(Protocol):
    """What the app needs from a tray backend (SniTray, PystrayTray, or a recorder in tests)."""

    def update(self, view: View) -> None: ...
    def notify(self, title: str, body: str) -> bool: ...
    def stop(self) -> None: ...


CostFunction = Callable[[list[Path], int, Store], CostView]


def real_cost_view(homes: list[Path], days: int, store: Store) -> CostView:
    """Adapter to the cost scanner (codexbar.cost): the two menu rows' figures."""
    from codexbar.cost import cost_summary

    summary = cost_summary(homes, days=days, store=store)
    return CostView(
        today=CostFigures(summary.today.total_tokens, summary.today.cost_usd),
        range=CostFigures(summary.range.total_tokens, summary.range.cost_usd),
        days=days,
    )


def fetch_for_tray(
    app: App,
    source: str,
    known_email: str | None,
    on_update: Callable[[UsageSnapshot], None],
    home: Path,
) -> UsageReport:
    """A background fetch of `home`'s account that may keep `codex app-server` alive and push
    newer readings."""
    ctx = dataclasses.replace(
        app.context(interactive=False, known_email=known_email, home=home),
        keep_alive=True,
        on_update=on_update,
    )
    return Engine(app.registry_for(home)).fetch(ctx, source)


class TrayApp:
    def __init__(
        self,
        app: App,
        tray: Tray,
        *,
        store_factory: Callable[[], Store] = Store,
        cost: CostFunction | None = real_cost_view,
        notifier: DesktopNotifier | None = None,
        fetch: Callable[..., UsageReport] = fetch_for_tray,
        clock: Clock | None = None,
        now: Callable[[], datetime] = utc_now,
        tick_seconds: float | None = None,
        open_url: Callable[[str], Any] = webbrowser.open,
    ) -> None:
        self.app = app
        self.tray = tray
        self.now = now
        self._fetch = fetch
        self._open_url = open_url
        self._lock = threading.RLock()
        self._store_lock = threading.Lock()
        self._store_factory = store_factory
        self.store = self._open_store()
        # Each account's own reading, error and pace, by Codex home; `state` shows them all
        # and puts the reading of the account the icon shows in its own fields (_composed).
        self._accounts: dict[Path, TrayState] = {
            home: self._first_state(home) for home in app.homes
        }
        self.state = TrayState(
            refreshing=True,
            source=app.settings.get("source"),
            refresh_minutes=app.settings.get("refresh_minutes"),
            show_used=app.settings.get("show_used"),
            titles=app.titles,
            problems=app.settings.problems + app.registry.load_errors,
        )
        self.state = self._composed(self.state)
        self.planner = (
            TransitionPlanner(NotificationMemory(self.store), app.settings.get("notify.thresholds"))
            if self.store is not None
            else None
        )
        self.notifier = notifier or DesktopNotifier(autostart.icon_path(), fallback=tray.notify)
        self._cost_function = cost
        self._cost_store: Store | None = None
        self._cost_store_lock = threading.Lock()
        self.cost = Throttle(self._scan_cost) if cost is not None else None
        loop_args = {} if tick_seconds is None else {"tick_seconds": tick_seconds}
        self.loop = RefreshLoop(
            self.refresh_once, app.settings.get("refresh_minutes"), clock, **loop_args
        )
        self._settings_stamp = self._stamp()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="codexbar-watch", daemon=True)
        self._children: list[subprocess.Popen] = []
        self.local_dashboard = LocalDashboard(app.homes)
        self._last_view: View | None = None
        self.quitting = False

    # -- store -------------------------------------------------------------------------------

    def _open_store(self) -> Store | None:
        try:
            return self._store_factory()
        except Exception as error:
            log.warning("readings will not be saved: %s", error)
            return None

    def _store_call(self, call: Callable[[Store], Any]) -> Any:
        if self.store is None:
            return None
        with self._store_lock:
            try:
                return call(self.store)
            except Exception:
                log.warning("the codexbar database could not be used", exc_info=True)
                return None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Show the last reading at once, then start the background threads."""
        self.redraw()
        self.loop.start()
        self._watcher.start()

    def quit(self) -> None:
        if self.quitting:
            return
        self.quitting = True
        self._stop.set()
        self.loop.stop(QUIT_TIMEOUT_SECONDS / 2)
        self.local_dashboard.stop()
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        try:
            self.app.close()  # stops the kept-alive codex app-servers
        except Exception:
            log.exception("closing the sources failed")
        for child in self._children:
            try:
                child.wait(0.5)
            except subprocess.TimeoutExpired:
                child.kill()
        if self._watcher.is_alive() and self._watcher is not threading.current_thread():
            self._watcher.join(QUIT_TIMEOUT_SECONDS / 4)
        if self.cost is None or not self.cost.running():
            self._close_cost_store()  # else the scan closes it when it ends
        self.tray.stop()

    def threads_alive(self) -> list[str]:
        return [t.name for t in (self.loop._thread, self._watcher) if t.is_alive()]

    # -- state and drawing -------------------------------------------------------------------

    def update_state(self, **changes: Any) -> None:
        with self._lock:
            self.state = self._composed(dataclasses.replace(self.state, **changes))
        self.redraw()

    def update_account(self, home: Path, **changes: Any) -> None:
        """Change one account's state (a reading, an error) and redraw."""
        with self._lock:
            if home not in self._accounts:
                return  # the homes changed while this account was being read
            self._accounts[home] = dataclasses.replace(self._accounts[home], **changes)
            self.state = self._composed(self.state)
        self.redraw()

    def _first_state(self, home: Path) -> TrayState:
        """An account before its first refresh: its last reading from the store, if any."""
        last = self._store_call(lambda s: self.app.last_good(s, home))
        return TrayState(snapshot=last, from_store=last is not None, refreshing=True, home=home)

    def _composed(self, state: TrayState) -> TrayState:
        """`state` with every account and, in the reading fields, the account the icon shows:
        the one the `tray.account` setting names, else the most constrained one."""
        accounts = tuple(self._accounts[home] for home in self.app.homes if home in self._accounts)
        shown = shown_account(accounts, self.app.settings.get("tray.account"), self.now())
        if shown is None:
            return state
        return dataclasses.replace(
            state,
            snapshot=shown.snapshot,
            error=shown.error,
            from_store=shown.from_store,
            refreshing=shown.refreshing,
            paces=shown.paces,
            home=shown.home,
            accounts=accounts if len(accounts) > 1 else (),
        )

    def redraw(self, force: bool = False) -> None:
        if self.quitting:
            return
        with self._lock:
            view = self.current_view()
            if not force and view == self._last_view:
                return  # nothing visible changed: do not close a menu the user has open
            self._last_view = view
        self.tray.update(view)

    def current_view(self) -> View:
        """The icon, tooltip and menu for the current state, at this moment."""
        with self._lock:
            state, settings = self.state, self.app.settings
            now = self.now()
            stale = state.from_store or state_is_stale(
                state.snapshot,
                now,
                last_refresh_failed=state.error is not None,
                refresh_minutes=state.refresh_minutes,
            )
            look = self._look(state.snapshot, stale, now)
            return View(
                drawing=Drawing(look, panel_colour(settings.get("theme"))),
                tooltip=tooltip(state, now, stale=stale),
                title=summary_line(
                    state.snapshot,
                    show_used=state.show_used,
                    stale=stale,
                    paces=state.paces,
                    now=now,
                ),
                rows=build_menu(state, now),
            )

    def _look(self, snapshot: UsageSnapshot | None, stale: bool, now: datetime):
        return icon_state(
            snapshot.with_reset_flags(now) if snapshot else None,
            show_used=self.state.show_used,
            stale=stale,
            thresholds=self.app.settings.get("notify.thresholds"),
        )

    # -- refreshing --------------------------------------------------------------------------

    def refresh_once(self) -> bool:
        """One refresh on the loop's thread: every account at once, each fetched, remembered,
        announced and drawn as soon as it is read. True when every account answered."""
        homes = list(self.app.homes)
        with self._lock:
            for home in homes:
                known = self._accounts.get(home) or self._first_state(home)
                self._accounts[home] = dataclasses.replace(known, refreshing=True)
        self.update_state()
        answered = [ok for _, ok in each_at_once(self._refresh_account, homes)]
        self.update_state(source_notes=self._source_notes())
        if self.cost is not None:
            self.cost.poke()
        return all(answered)

    def _refresh_account(self, home: Path) -> bool:
        settings = self.app.settings
        account = self._accounts.get(home)  # None when the homes changed since the start
        before = account.snapshot if account is not None else None
        known = before.identity.email if before else None
        try:
            report = self._fetch(
                self.app, settings.get("source"), known, lambda s: self.on_pushed(s, home), home
            )
        except Exception as error:  # the engine turns source failures into values already
            log.exception("refresh failed")
            report = UsageReport(None, (), SourceError(ErrorKind.PARSE, f"Refresh failed: {error}"))
        # The CLI's rule (codexbar.reading): an older fallback reading never replaces the last
        # good one of this account; what failed is shown either way.
        last_good = self._store_call(lambda s: self.app.last_good(s, home)) or before
        shown = choose(report, last_good, self.now(), settings.get("refresh_minutes"))
        if shown.snapshot is not None and not shown.from_store:
            self._accept(home, shown.snapshot)
        self.update_account(home, refreshing=False, snapshot=shown.snapshot, error=shown.failure)
        return shown.answered

    def _accept(self, home: Path, snapshot: UsageSnapshot) -> None:
        self._store_call(lambda s: s.save_snapshot(snapshot, home))
        paces = self._store_call(lambda s: snapshot_paces(snapshot, s.db))
        paces = paces if paces is not None else snapshot_paces(snapshot)
        self.update_account(home, snapshot=snapshot, from_store=False, error=None, paces=paces)
        self._announce(snapshot, paces)

    def on_pushed(self, snapshot: UsageSnapshot, home: Path) -> None:
        """A kept-alive source learned a newer reading of `home`'s account between refreshes."""
        if self.quitting:
            return
        self._accept(home, snapshot.with_reset_flags(self.now()))

    def _announce(self, snapshot: UsageSnapshot, paces: Mapping[str, Pace]) -> None:
        if self.planner is None:
            return
        self.planner.thresholds = tuple(self.app.settings.get("notify.thresholds"))
        self.planner.pace_warnings = self.app.settings.get("notify.pace")
        with self._store_lock:
            try:
                notices = self.planner.observe(snapshot, self.now(), paces)
            except Exception:
                log.warning("notification memory unavailable", exc_info=True)
                return
        if not self.app.settings.get("notify.enabled"):
            return  # still remembered above, so switching them on does not replay old news
        if not notices:
            return
        icon = notification_icon(self._look(snapshot, False, self.now()))  # the announced state
        # With several accounts, a notification says whose limit it is.
        several = len(self.app.homes) > 1 and snapshot.identity.email
        for notice in notices:
            title = f"{notice.title} — {snapshot.identity.email}" if several else notice.title
            self.notifier.send(title, notice.body, icon=icon)

    def _source_notes(self) -> dict[str, str]:
        ctx = self.app.context(interactive=False)
        notes = {}
        for source in self.app.registry.sources:
            try:
                note = short_note(source.unavailable(ctx))
            except Exception:
                note = "unavailable"
            if note:
                notes[source.name] = note
        return notes

    def _scan_cost(self) -> None:
        assert self._cost_function is not None
        days = self.app.settings.get("cost_days")
        try:
            # Its own connection (scans run on their own thread, one at a time), kept from one
            # scan to the next: from the second on it watches the session folders, so a
            # refresh no longer stats every rollout (codexbar/cost/changes.py).
            if self._cost_store is None:
                self._cost_store = Store()
            view = self._cost_function(list(self.app.homes), days, self._cost_store)
            self.update_state(cost=view, cost_error=None)
        except Exception as error:
            log.info("cost scan failed", exc_info=True)
            self.update_state(cost_error=f"could not read the session logs ({error})")
            self._close_cost_store()  # the next scan starts from a new connection
        finally:
            if self.quitting:
                self._close_cost_store()

    def _close_cost_store(self) -> None:
        with self._cost_store_lock:
            store, self._cost_store = self._cost_store, None
        if store is not None:
            try:
                store.close()
            except Exception:
                log.debug("closing the cost connection failed", exc_info=True)

    # -- settings ----------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        path = self.app.settings.path or paths.settings_path()
        try:
            info = path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _watch(self) -> None:
        ticks_per_redraw = max(1, round(MENU_REFRESH_SECONDS / SETTINGS_POLL_SECONDS))
        tick = 0
        while not self._stop.wait(SETTINGS_POLL_SECONDS):
            tick += 1
            try:
                self.check_settings()
                if tick % ticks_per_redraw == 0:
                    self.redraw()
            except Exception:
                log.exception("settings check failed")

    def check_settings(self) -> bool:
        """Apply the settings file if it changed since last time. True when it did."""
        stamp = self._stamp()
        if stamp == self._settings_stamp:
            return False
        self._settings_stamp = stamp
        self.apply_settings(settings_module.load(self.app.settings.path))
        return True

    def apply_settings(self, new: Settings) -> None:
        old = self.app.settings
        self.app.settings = new

        def changed(key: str) -> bool:
            return old.get(key) != new.get(key)

        refresh = False
        if changed("codex_homes"):
            self.app.close()  # a kept-alive app-server belongs to its home
            self.app.homes = codex_homes(new)
            with self._lock:
                self._accounts = {
                    home: self._accounts.get(home) or self._first_state(home)
                    for home in self.app.homes
                }
            refresh = True
        if changed("source") or changed("web.cookies") or changed("web.browser"):
            refresh = True
        if changed("refresh_minutes"):
            self.loop.set_interval(new.get("refresh_minutes"))
        if changed("launch_at_login"):
            try:
                (autostart.enable if new.get("launch_at_login") else autostart.disable)()
            except Exception as error:
                log.warning("could not change launch at login: %s", error)
        self.update_state(
            source=new.get("source"),
            refresh_minutes=new.get("refresh_minutes"),
            show_used=new.get("show_used"),
            problems=new.problems + self.app.registry.load_errors,
        )
        if refresh:
            self.loop.request()
        if (changed("cost_days") or changed("codex_homes")) and self.cost is not None:
            self.cost = Throttle(self._scan_cost)
            self.cost.poke()

    def _save(self, key: str, value: Any) -> None:
        try:
            settings_module.save_value(key, value, self.app.settings.path)
        except settings_module.SettingsError as error:
            self.notifier.send("codexbar could not save the setting", str(error))
            return
        self.check_settings()

    # -- menu actions ------------------------------------------------------------------------

    def handle(self, action: Action) -> None:
        kind = action.kind
        if kind == "refresh":
            self.loop.request()
        elif kind == "set_source":
            self._save("source", action.value)
        elif kind == "set_interval":
            self._save("refresh_minutes", action.value)
        elif kind == "toggle_show_used":
            self._save("show_used", not self.app.settings.get("show_used"))
        elif kind == "prefs":
            self.open_preferences()
        elif kind == "dashboard":
            threading.Thread(
                target=self._open_url, args=(USAGE_DASHBOARD_URL,), daemon=True
            ).start()
        elif kind == "local_dashboard":
            threading.Thread(target=self._open_local_dashboard, daemon=True).start()
        elif kind == "folder":
            open_folder(self.state.home or self.app.home)
        elif kind == "quit":
            self.quit()
        else:
            log.warning("unknown menu action %r", kind)

    def open_preferences(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]
        if self._children:
            return  # one preferences window is enough
        self._children.append(
            subprocess.Popen([sys.executable, "-m", "codexbar", "prefs"], start_new_session=True)
        )

    def _open_local_dashboard(self) -> None:
        url = self.local_dashboard.url()
        if url is None:
            self.notifier.send(
                "codexbar", "The local dashboard did not start; run: codexbar dashboard"
            )
        elif not self.quitting:
            self._open_url(url)


def open_folder(path: Path) -> None:
    """Open a folder in the desktop's file manager, without waiting for it."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    try:
        subprocess.Popen(
            [opener, str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as error:
        log.warning("could not open %s: %s", path, error)
