"""Refresh timing with a fake clock: interval, back-off, manual, resume from sleep, throttle."""

from __future__ import annotations

import threading

from codexbar.tray.scheduler import Clock, RefreshLoop, RefreshPlan, Throttle


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall_time = 1_800_000_000.0

    def advance(self, seconds: float, *, asleep: bool = False) -> None:
        """Time passes; while asleep only the wall clock moves (as CLOCK_MONOTONIC does)."""
        self.wall_time += seconds
        if not asleep:
            self.mono += seconds

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.mono, wall=lambda: self.wall_time)


def test_refreshes_at_start_then_every_interval():
    fake = FakeClock()
    plan = RefreshPlan(5, fake.clock)
    assert plan.seconds_until_due() == 0
    plan.record(True)
    assert plan.seconds_until_due() == 300
    fake.advance(299)
    assert plan.seconds_until_due() == 1
    fake.advance(1)
    assert plan.seconds_until_due() == 0


def test_errors_back_off_1_2_5_10_minutes_then_recover():
    fake = FakeClock()
    plan = RefreshPlan(30, fake.clock)
    waits = []
    for _ in range(6):
        plan.record(False)
        waits.append(plan.seconds_until_due() / 60)
    assert waits == [1, 2, 5, 10, 10, 10]
    plan.record(True)
    assert plan.seconds_until_due() == 30 * 60 and plan.failures == 0


def test_manual_interval_schedules_nothing_and_changes_apply_at_once():
    fake = FakeClock()
    plan = RefreshPlan(0, fake.clock)
    plan.record(True)
    assert plan.seconds_until_due() is None
    fake.advance(120)
    plan.set_interval(1)  # the last refresh was 2 minutes ago: due now
    assert plan.seconds_until_due() == 0


def test_clock_jump_is_noticed_once():
    fake = FakeClock()
    plan = RefreshPlan(5, fake.clock)
    fake.advance(30)
    assert not plan.clock_jumped()
    fake.advance(3600, asleep=True)
    assert plan.clock_jumped()
    assert not plan.clock_jumped()
    fake.wall_time -= 600  # the user set the clock back
    assert plan.clock_jumped()


def test_loop_refreshes_on_request_and_after_a_resume():
    fake = FakeClock()
    calls = []
    done = threading.Semaphore(0)

    def refresh() -> bool:
        calls.append(fake.mono)
        done.release()
        return True

    loop = RefreshLoop(refresh, 5, fake.clock, tick_seconds=0.05)
    loop.start()
    try:
        assert done.acquire(timeout=5)  # at start
        loop.request()
        assert done.acquire(timeout=5)
        fake.advance(7200, asleep=True)  # the loop's next tick sees the jump
        assert done.acquire(timeout=5)
        assert len(calls) == 3
    finally:
        loop.stop()
    assert not loop.alive


def test_loop_survives_a_refresh_that_raises():
    fake = FakeClock()
    done = threading.Semaphore(0)

    def refresh() -> bool:
        done.release()
        raise RuntimeError("bug")

    loop = RefreshLoop(refresh, 5, fake.clock, tick_seconds=0.05)
    loop.start()
    try:
        assert done.acquire(timeout=5)
        loop.request()
        assert done.acquire(timeout=5)
    finally:
        loop.stop()  # joins the thread, so the second failure has been recorded
    assert loop.plan.failures == 2 and not loop.alive


def test_throttle_runs_at_most_once_a_minute_and_never_twice_at_once():
    now = [0.0]
    release = threading.Event()
    runs = []

    def work() -> None:
        runs.append(now[0])
        release.wait(5)

    throttle = Throttle(work, 60, clock=lambda: now[0])
    assert throttle.poke()
    assert not throttle.poke()  # still running
    release.set()
    throttle.join(5)
    now[0] = 59
    assert not throttle.poke()
    now[0] = 60
    assert throttle.poke()
    throttle.join(5)
    assert runs == [0.0, 60]
