"""What `codexbar watch` shows, kept up to date without blocking the screen.

The screen's thread only reads: the store's latest reading (again when the database's stamp
changes), and the newest responses through the dashboard's recent-events index (an unchanged
rollout costs one `stat`, a grown one is read from where it stopped). Whatever may take seconds
runs on one background thread with its own database connection: a fetch when the stored reading
is not current (once per refresh interval), and the cost totals after new responses appear.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from codexbar.cost.summary import CostSummary, cost_summary
from codexbar.pace import Pace
from codexbar.reading import Reading
from codexbar.statusbar import BarSession, refresh_seconds, store_stamp, stored_reading
from codexbar.store import Store

log = logging.getLogger(__name__)

# Session folders are named by the day a session started; a long one may still answer today.
FOLDER_DAYS = 7
RESPONSES = 40
COST_EVERY_SECONDS = 2.0  # new responses re-total the cost at most this often
# A reading grows old without the database changing: look again this often, so it turns stale
# on time (and the background fetch starts) and its "Not current" line keeps its age right.
RELOAD_SECONDS = 30.0


@dataclass(frozen=True)
class Response:
    """One model response, as the cost scanner counted it."""

    at: datetime
    folder: str  # the session's working folder
    model: str
    tokens: int
    cost: Decimal | None


@dataclass
class Screen:
    """Everything the view draws."""

    reading: Reading | None = None
    paces: dict[str, Pace] = field(default_factory=dict)
    costs: CostSummary | None = None
    responses: list[Response] = field(default_factory=list)
    fetching: bool = False
    problems: list[str] = field(default_factory=list)


class Feed:
    def __init__(self, session: BarSession, responses: int = RESPONSES) -> None:
        from codexbar.cost.pricing import PriceTable
        from codexbar.dashboard.recent import RecentIndex

        self.session = session
        self.limit = responses
        self.recent = RecentIndex(session.homes)
        self.prices = PriceTable.load()
        self.screen = Screen(problems=list(session.problems))
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._want_costs = True
        self._fetched: Reading | None = None
        self._last_fetch = float("-inf")
        self._stamp: tuple | None = None
        self._loaded_at = float("-inf")
        self._newest: tuple = ()
        self.titles: dict[str, str] = {}  # source names as people call them, once known
        self._thread = threading.Thread(target=self._work, name="watch-feed", daemon=True)

    # -- the screen's thread -----------------------------------------------------------------

    def start(self) -> None:
        self.poll()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def poll(self) -> None:
        """Bring the screen up to date with what is cheap to know."""
        stamp = store_stamp(self.session.store_path)
        if stamp != self._stamp or time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            self._stamp = stamp
            self._loaded_at = time.monotonic()
            self._load_reading()
        self._load_responses()

    def _load_reading(self) -> None:
        session = self.session
        now = datetime.now(UTC)
        reading = stored_reading(session.store, session.settings, now)
        with self._lock:
            fetched = self._fetched
        if (reading is None or not reading.current) and fetched is not None:
            reading = fetched  # carries the failure, and the last good reading marked stale
        if reading is not None and reading.current and not reading.from_store:
            with self._lock:
                self._fetched = None
        if reading is None or not reading.current:
            self._wake.set()  # the worker fetches when the refresh interval allows
        self.screen.reading = reading
        self.screen.paces = session.paces(reading) if reading is not None else {}

    def _load_responses(self) -> None:
        from codexbar.dashboard.api import event_cost
        from codexbar.dashboard.recent import newest_events, project_name

        today = datetime.now().astimezone().date()
        since = today - timedelta(days=FOLDER_DAYS)
        homes = {str(h) for h in self.recent.homes}
        files = self.recent.refresh_newest(since, today, homes, self.limit)
        events = newest_events(files, since.isoformat(), today.isoformat(), self.limit)
        newest = tuple((index.found.path, event.ms) for index, event in events)
        if newest == self._newest:
            return
        first = not self._newest
        self._newest = newest
        self.screen.responses = [
            Response(
                at=datetime.fromtimestamp(event.ms / 1000, UTC),
                folder=project_name(index),
                model=event.model,
                tokens=event.total_tokens,
                cost=event_cost(self.prices, event),
            )
            for index, event in events
        ]
        if not first:
            with self._lock:
                self._want_costs = True
            self._wake.set()

    # -- the background thread ---------------------------------------------------------------

    def _work(self) -> None:
        try:
            store: Store | None = Store(self.session.store_path)
        except Exception:
            store = None  # fetches still show; they are not saved
        app = self._app()
        self.titles = app.titles
        last_costs = float("-inf")
        try:
            while not self._stop.is_set():
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                if self._stop.is_set():
                    return
                with self._lock:
                    want_costs = self._want_costs
                if want_costs and time.monotonic() - last_costs >= COST_EVERY_SECONDS:
                    with self._lock:
                        self._want_costs = False
                    last_costs = time.monotonic()
                    self._total_costs(store)
                reading = self.screen.reading
                due = time.monotonic() - self._last_fetch >= refresh_seconds(self.session.settings)
                if due and (reading is None or not reading.current):
                    self._fetch(app, store)
        finally:
            app.registry.close()
            if store is not None:
                store.close()

    def _app(self):
        from codexbar.app import App

        return App(settings=self.session.settings, homes=self.session.homes)

    def _fetch(self, app, store: Store | None) -> None:
        self._last_fetch = time.monotonic()
        self.screen.fetching = True
        try:
            reading = app.fetch_usage(interactive=False, store=store)
        except Exception:  # the engine reports failures as values; this is a bug's last guard
            log.debug("watch: the fetch failed unexpectedly", exc_info=True)
            return
        finally:
            self.screen.fetching = False
        with self._lock:
            self._fetched = reading
        self._stamp = None  # a failed fetch saves nothing: the screen reloads all the same

    def _total_costs(self, store: Store | None) -> None:
        try:
            self.screen.costs = cost_summary(self.session.homes, days=30, store=store)
        except Exception:
            log.debug("watch: the cost totals failed", exc_info=True)
