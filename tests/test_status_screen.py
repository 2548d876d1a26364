"""The `/status` card parser, on the fixture screens and on the variants Codex has drawn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from codexbar.errors import ErrorKind, SourceError
from providers._status_screen import parse_status_screen, resolve_reset
from tests.conftest import FIXTURES

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)


def parse(text: str, now: datetime = NOW, tz=UTC):
    return parse_status_screen(text.splitlines(), source="pty", now=now, tz=tz)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_plus_card():
    snapshot = parse(fixture("status_screen.txt"))
    assert [(w.id, w.used_percent, w.window_minutes) for w in snapshot.windows] == [
        ("session", 18, 300),
        ("weekly", 45, 10080),
    ]
    assert snapshot.window("session").resets_at == datetime(2026, 11, 21, 1, 55, tzinfo=UTC)
    assert snapshot.window("weekly").resets_at == datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
    assert snapshot.credits.balance == Decimal(113)
    assert (snapshot.identity.email, snapshot.identity.plan) == ("dev.fixture@example.com", "plus")


def test_pro_card_with_spark_heading_and_wrapped_resets():
    snapshot = parse(fixture("status_screen_pro_spark_stale.txt"))
    assert [w.id for w in snapshot.windows] == ["weekly", "spark-session", "spark-weekly"]
    assert snapshot.window("weekly").used_percent == 37
    assert snapshot.window("weekly").resets_at == datetime(2026, 11, 25, 19, 12, tzinfo=UTC)
    spark = snapshot.window("spark-weekly")
    assert spark.used_percent == 3 and spark.limit_name == "GPT-5.3-Codex-Spark"
    assert spark.resets_at == datetime(2026, 11, 27, 22, 41, tzinfo=UTC)
    assert snapshot.credits.balance == Decimal(413)
    assert snapshot.identity.plan == "pro"


def test_legacy_card_reads_used_not_left():
    snapshot = parse(
        fixture("status_screen_legacy_used_style.txt"), now=datetime(2025, 11, 10, tzinfo=UTC)
    )
    assert snapshot.window("session").used_percent == 72
    assert snapshot.window("weekly").used_percent == 45
    assert snapshot.window("weekly").resets_at == datetime(2025, 11, 14, 3, 24, tzinfo=UTC)
    assert snapshot.credits is None


def test_limits_not_available_yet_and_not_for_this_account():
    _, first, second = fixture("status_screen_limits_unavailable.txt").split("/status\n")
    with pytest.raises(SourceError) as not_yet:
        parse(first)
    assert not_yet.value.kind == ErrorKind.PARSE and "not available yet" in not_yet.value.text
    with pytest.raises(SourceError) as not_here:
        parse(second)
    assert not_here.value.kind == ErrorKind.UNSUPPORTED


def test_only_the_newest_card_counts():
    older = fixture("status_screen_legacy_used_style.txt")
    snapshot = parse(older + "\n" + fixture("status_screen.txt"))
    assert snapshot.window("session").used_percent == 18


def test_update_modal_is_not_a_card():
    with pytest.raises(SourceError) as raised:
        parse(fixture("status_screen_update_available.txt"))
    assert raised.value.kind == ErrorKind.PARSE


def test_borderless_card_as_codex_0_169_draws_it():
    card = """/status
  >_ OpenAI Codex (v0.169.0)
  Model:               GPT-6.1-Sol (reasoning low, summaries auto)
  Account:             dev.fixture@example.com (Pro Lite)
  5h limit:            [████████████████░░░░] 82% left (resets 01:55)
  Weekly limit:        [███████████░░░░░░░░░] 55% left (resets 06:30 on
                       24 Nov)
  Credits:             Unlimited
› Ask Codex to do anything"""
    snapshot = parse(card)
    assert snapshot.window("weekly").resets_at == datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
    assert snapshot.credits.unlimited
    assert snapshot.identity.plan == "prolite"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01:55", datetime(2026, 11, 21, 1, 55)),
        ("00:04", datetime(2026, 11, 21, 0, 4)),  # a minute ago: still today
        # Codex writes a bare time only for a reset on the card's own date: a passed one (a
        # stale card) stays in the past instead of becoming tomorrow's.
        ("00:01", datetime(2026, 11, 21, 0, 1)),
        ("06:30 on 24 Nov", datetime(2026, 11, 24, 6, 30)),
        ("06:30 on Nov 24", datetime(2026, 11, 24, 6, 30)),
        ("08:00 on 1 Jan", datetime(2027, 1, 1, 8, 0)),  # nearer next year than this year
        # A date that has passed stays passed (it was pushed a year ahead: "in 353d 15h").
        ("09:14 on 3 Nov", datetime(2026, 11, 3, 9, 14)),
        ("08:00 on 1 Jul", datetime(2026, 7, 1, 8, 0)),
        ("25:00", None),
        ("soon", None),
    ],
)
def test_reset_times_are_local_wall_clock_times(text, expected):
    zone = timezone(timedelta(hours=2))
    now = datetime(2026, 11, 21, 0, 5, tzinfo=zone)
    resolved = resolve_reset(text, now, zone)
    assert resolved == (expected.replace(tzinfo=zone) if expected else None)
