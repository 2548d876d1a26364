"""The formats every view shares, pinned to CodexBar's tables where it has them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from codexbar import formatting as fmt

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "delta, text",
    [
        (timedelta(minutes=10, seconds=1), "in 11m"),
        (timedelta(hours=3, minutes=31), "in 3h 31m"),
        (timedelta(hours=26, minutes=1), "in 1d 2h"),
        (timedelta(hours=24, minutes=5), "in 1d 5m"),
        (timedelta(hours=23, minutes=59, seconds=1), "in 1d"),
        (timedelta(minutes=60), "in 1h"),
        (timedelta(seconds=20), "in 1m"),
        (timedelta(milliseconds=500), "now"),
        (timedelta(minutes=-5), "now"),
    ],
)
def test_reset_countdown_table(delta, text):
    assert fmt.reset_countdown(NOW + delta, NOW) == text


@pytest.mark.parametrize(
    "value, text",
    [
        (82.0, "82%"),
        (0.4, "<1%"),
        (0.0, "0%"),
        (100.0, "100%"),
        (120.0, "100%"),
        (-3.0, "0%"),
        (54.5, "55%"),
        (99.2, "99%"),
    ],
)
def test_percent(value, text):
    assert fmt.percent(value) == text


@pytest.mark.parametrize(
    "count, text",
    [
        (987, "987"),
        (1234, "1.2K"),
        (12_345, "12K"),
        (3_400_000, "3.4M"),
        (1_100_000_000, "1.1B"),
        (1000, "1K"),
        (999_950, "1M"),
        (-42, "-42"),
        (0, "0"),
    ],
)
def test_tokens(count, text):
    assert fmt.tokens(count) == text


def test_dollars_and_unpriced():
    assert fmt.dollars(Decimal("1234.567")) == "$1,234.57"
    assert fmt.dollars(0) == "$0.00"
    assert fmt.dollars(None) == "—"


@pytest.mark.parametrize(
    "plan, name",
    [
        ("plus", "Plus"),
        ("pro", "Pro"),
        ("prolite", "Pro Lite"),
        ("education", "Edu"),
        ("self_serve_business_usage_based", "Business (usage-based)"),
        ("brand_new_tier", "Brand New Tier"),
        (None, None),
    ],
)
def test_plan_names(plan, name):
    assert fmt.plan_name(plan) == name


def test_bar_is_floored_to_twelve_cells():
    assert fmt.bar(82) == "[" + "=" * 9 + "-" * 3 + "]"
    assert fmt.bar(100) == "[" + "=" * 12 + "]"
    assert fmt.bar(7) == "[" + "-" * 12 + "]"


def test_age():
    assert fmt.age(NOW - timedelta(seconds=30), NOW) == "just now"
    assert fmt.age(NOW - timedelta(minutes=2), NOW) == "2 min ago"
    assert fmt.age(NOW - timedelta(hours=3), NOW) == "3 h ago"
    assert fmt.age(NOW - timedelta(days=2), NOW) == "2 days ago"


def test_credits_balance():
    assert fmt.credits_balance(Decimal("112.50")) == "112.50"
    assert fmt.credits_balance(Decimal("1204")) == "1,204"
    assert fmt.credits_balance(Decimal("0E-10")) == "0"
