"""When to refresh: every N minutes, backing off after errors, at once after a sleep.

`RefreshPlan` is the pure decision (tested with a fake clock); `RefreshLoop` is the background
thread that asks it. `Throttle` keeps the slower cost scan to at most once a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

BACKOFF_MINUTES = (1, 2, 5, 10)
# A wall clock that moved this much further than the monotonic clock means the machine slept
# (the monotonic clock stops during suspend) or the time was changed: the reading is old.
CLOCK_JUMP_SECONDS = 90.0
# The loop wakes at least this often to notice a resume from sleep.
TICK_SECONDS = 15.0


@dataclass(frozen=True)
class Clock:
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


class RefreshPlan:
    """Decides whether a refresh is due. Refreshes at once when created."""

    def __init__(self, interval_minutes: int, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.interval_minutes = interval_minutes
        self.failures = 0
        self.last_attempt: float | None = None
        self._due: float | None = self.clock.monotonic()
        self._seen_mono = self.clock.monotonic()
        self._seen_wall = self.clock.wall()

    def _schedule(self) -> None:
        if self.last_attempt is None:
            self._due = self.clock.monotonic()
        elif self.interval_minutes <= 0:
            self._due = None  # manual: only "Refresh now" (and a resume) refresh
        elif self.failures:
            step = BACKOFF_MINUTES[min(self.failures, len(BACKOFF_MINUTES)) - 1]
            self._due = self.last_attempt + step * 60
        else:
            self._due = self.last_attempt + self.interval_minutes * 60

    def set_interval(self, minutes: int) -> None:
        self.interval_minutes = minutes
        self._schedule()

    def record(self, ok: bool) -> None:
        self.last_attempt = self.clock.monotonic()
        self.failures = 0 if ok else self.failures + 1
        self._schedule()

    @property
    def backoff_minutes(self) -> int | None:
        if not self.failures:
            return None
        return BACKOFF_MINUTES[min(self.failures, len(BACKOFF_MINUTES)) - 1]

    def seconds_until_due(self) -> float | None:
        """0 when due now, None when nothing is scheduled (manual)."""
        if self._due is None:
            return None
        return max(0.0, self._due - self.clock.monotonic())

    def clock_jumped(self) -> bool:
        """True once after the wall clock moved apart from the monotonic clock (sleep, resume,
        a time change)."""
        mono, wall = self.clock.monotonic(), self.clock.wall()
        drift = (wall - self._seen_wall) - (mono - self._seen_mono)
        self._seen_mono, self._seen_wall = mono, wall
        return abs(drift) > CLOCK_JUMP_SECONDS


class RefreshLoop:
    """A background thread running `refresh()` (returns True on success) when the plan says so,
    when asked (`request()`), and right after a clock jump."""

    def __init__(
        self,
        refresh: Callable[[], bool],
        interval_minutes: int,
        clock: Clock | None = None,
        tick_seconds: float = TICK_SECONDS,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.plan = RefreshPlan(interval_minutes, clock)
        self._refresh = refresh
        self._tick = tick_seconds
        self._on_tick = on_tick
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._requested = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="codexbar-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        """Refresh now (the menu's "Refresh now", a second instance, a changed setting)."""
        with self._lock:
            self._requested = True
        self._wake.set()

    def set_interval(self, minutes: int) -> None:
        with self._lock:
            self.plan.set_interval(minutes)
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _due(self) -> bool:
        with self._lock:
            requested, self._requested = self._requested, False
            jumped = self.plan.clock_jumped()
            if jumped:
                log.info("the clock jumped (resume from sleep?): refreshing now")
            return requested or jumped or self.plan.seconds_until_due() == 0

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._due():
                try:
                    ok = bool(self._refresh())
                except Exception:  # the loop must survive any bug in one refresh
                    log.exception("refresh failed unexpectedly")
                    ok = False
                with self._lock:
                    self.plan.record(ok)
                continue
            if self._on_tick is not None:
                try:
                    self._on_tick()
                except Exception:
                    log.exception("periodic update failed")
            with self._lock:
                wait = self.plan.seconds_until_due()
            timeout = self._tick if wait is None else min(wait, self._tick)
            self._wake.wait(timeout)
            self._wake.clear()


class Throttle:
    """Runs `work` in its own daemon thread, at most once per `min_seconds`, never two at once.

    For the cost scan: the first scan of a large Codex home can take a while, and the menu must
    never wait for it."""

    def __init__(
        self,
        work: Callable[[], None],
        min_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "codexbar-cost",
    ) -> None:
        self._work = work
        self._min = min_seconds
        self._clock = clock
        self._name = name
        self._last: float | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> bool:
        """Start the work if it is not running and did not start in the last `min_seconds`."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            now = self._clock()
            if self._last is not None and now - self._last < self._min:
                return False
            self._last = now
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        try:
            self._work()
        except Exception:
            log.exception("%s failed", self._name)

    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
