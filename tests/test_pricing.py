"""Prices: per request (the 272K threshold never applies to a day's sum), dated rates,
overrides, unpriced models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from codexbar import paths
from codexbar.cost import cost_summary
from codexbar.cost.pricing import PriceTable
from codexbar.store import Store
from tests.cost_helpers import meta, token_count, turn, usage, write

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def summary(home, tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    try:
        return cost_summary([home], store=store, tz=UTC, now=NOW, all_time=True)
    finally:
        store.close()


def test_long_context_rates_apply_per_request(tmp_path):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "a",
        [
            meta("2026-11-20T10:00:00.000Z", "a"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.4"),
            token_count("2026-11-20T10:01:00.000Z", usage(200_000, 0, 0)),
            token_count("2026-11-20T10:02:00.000Z", usage(400_000, 0, 0)),
            token_count("2026-11-20T10:03:00.000Z", usage(700_000, 0, 0)),
        ],
    )
    # 200K + 200K at 2.50, then 300K (over 272K) at 5.
    assert summary(home, tmp_path).range.cost_usd == Decimal("0.5") + Decimal("0.5") + Decimal(
        "1.5"
    )


def test_spark_is_free_unknown_is_unpriced_and_history_is_dated(tmp_path):
    home = tmp_path / "home"
    write(
        home,
        "2026-07-29",
        "old",
        [
            meta("2026-07-29T10:00:00.000Z", "old"),
            turn("2026-07-29T10:00:01.000Z", "gpt-5.6-terra"),
            token_count("2026-07-29T10:01:00.000Z", usage(200_000, 0, 0)),
        ],
    )
    write(
        home,
        "2026-11-20",
        "new",
        [
            meta("2026-11-20T10:00:00.000Z", "new"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.6-terra"),
            token_count("2026-11-20T10:01:00.000Z", usage(200_000, 0, 0)),
            turn("2026-11-20T10:02:00.000Z", "gpt-5.3-codex-spark"),
            token_count("2026-11-20T10:03:00.000Z", usage(2_000_000, 0, 0)),
            turn("2026-11-20T10:04:00.000Z", "some-new-model"),
            token_count("2026-11-20T10:05:00.000Z", usage(3_000_000, 0, 0)),
        ],
    )
    s = summary(home, tmp_path)
    # below 272K input: 2.5 per 1M before 2026-07-30, 2 after
    assert s.models["gpt-5.6-terra"].cost_usd == Decimal("0.5") + Decimal("0.4")
    assert s.models["gpt-5.3-codex-spark"].cost_usd == 0
    assert s.models["some-new-model"].cost_usd is None
    assert s.unpriced_models == ["some-new-model"]
    assert s.range.total_tokens == 3_200_000 and s.range.cost_usd == Decimal("0.9")


def test_overrides_and_normalisation(tmp_path):
    paths.config_dir().mkdir(parents=True, exist_ok=True)
    (paths.config_dir() / "pricing.json").write_text(
        json.dumps({"models": {"some-new-model": {"input": "1", "output": "2"}}})
    )
    table = PriceTable.load()
    assert table.lookup("some-new-model").rates("2026-11-20", False).input == 1
    assert table.normalize("openai/gpt-5.6") == "gpt-5.6-sol"
    assert table.normalize("gpt-5.4-2026-03-05") == "gpt-5.4"
    (paths.config_dir() / "pricing.json").write_text("{broken")
    assert PriceTable.load().problems
