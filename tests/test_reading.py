"""The rule that chooses what to show after a refresh (codexbar/reading.py), case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from codexbar.engine import Attempt, UsageReport
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import Identity, RateWindow, UsageSnapshot
from codexbar.reading import choose
from codexbar.report import render_text

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DOWN = SourceError(ErrorKind.NETWORK, "chatgpt.com answered 503.", "Try again later.")
TITLES = {"oauth": "OAuth", "logs": "Session logs"}


def snap(source: str, age: timedelta, used: float, email: str = "me@example.com"):
    at = NOW - age
    window = RateWindow(used, 300, NOW + timedelta(hours=2))
    return UsageSnapshot(source, NOW, at, (window,), identity=Identity(email))


def fell_back(snapshot: UsageSnapshot) -> UsageReport:
    attempts = (
        Attempt("oauth", False, "network", DOWN.text),
        Attempt("logs", True, uses_network=False),
    )
    return UsageReport(snapshot, attempts, DOWN)


def test_a_fresh_answer_is_current():
    reading = choose(UsageReport(snap("oauth", timedelta(0), 40)), None, NOW)
    assert reading.current and reading.answered and reading.exit_code == 0


def test_an_older_fallback_is_refused_for_the_last_good_reading():
    last_good = snap("oauth", timedelta(minutes=2), 40)
    older = snap("logs", timedelta(days=11), 18)
    reading = choose(fell_back(older), last_good, NOW)
    assert reading.snapshot is last_good and reading.refused is older
    assert reading.stale and reading.from_store and reading.exit_code == 1
    text = render_text(reading, TITLES)
    assert text.splitlines()[1] == "OAuth failed: chatgpt.com answered 503. Try again later."
    assert text.splitlines()[2].startswith("Not current: showing the last good reading, from 2 min")
    assert "60% left" in text and "82% left" not in text


def test_a_newer_fallback_is_shown_with_its_source_and_age():
    last_good = snap("oauth", timedelta(hours=3), 40)
    newer = snap("logs", timedelta(minutes=30), 55)
    reading = choose(fell_back(newer), last_good, NOW, refresh_minutes=5)
    assert reading.snapshot is newer and not reading.from_store
    assert reading.stale and reading.exit_code == 1  # 30 min old: not current
    text = render_text(reading, TITLES)
    assert "Not current: this reading is from 30 min ago via Session logs." in text
    assert "45% left" in text


def test_a_current_fallback_exits_0_but_still_names_the_failure():
    reading = choose(fell_back(snap("logs", timedelta(minutes=1), 55)), None, NOW)
    assert reading.current and reading.exit_code == 0
    assert render_text(reading, TITLES).splitlines()[1].startswith("OAuth failed:")


def test_another_accounts_last_reading_is_no_reference():
    last_good = snap("oauth", timedelta(minutes=2), 40, email="other@example.com")
    older = snap("logs", timedelta(days=1), 18)
    reading = choose(fell_back(older), last_good, NOW)
    assert reading.snapshot is older and reading.refused is None


def test_nothing_answered_shows_the_last_good_reading_marked_stale():
    last_good = snap("oauth", timedelta(seconds=20), 40)
    reading = choose(UsageReport(None, (), DOWN), last_good, NOW)
    assert reading.snapshot is last_good and reading.stale and reading.exit_code == 1


def test_nothing_at_all():
    timeout = SourceError(ErrorKind.TIMEOUT, "did not answer")
    reading = choose(UsageReport(None, (), timeout), None, NOW)
    assert reading.snapshot is None and reading.exit_code == 4


def test_manual_refresh_uses_the_default_interval_for_currency():
    reading = choose(UsageReport(snap("oauth", timedelta(minutes=4), 40)), None, NOW, 0)
    assert reading.current
    reading = choose(UsageReport(snap("oauth", timedelta(minutes=6), 40)), None, NOW, 0)
    assert not reading.current
