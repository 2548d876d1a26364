"""Issue 9 §4/§5: what the plan really allows, from recorded bodies, app-server replies,
`/status` screens and rollouts, through to the CLI text and `--json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from codexbar import formatting as fmt
from codexbar.codec import snapshot_to_dict
from codexbar.codex_home import resolve_home
from codexbar.engine import UsageReport
from codexbar.models import CreditPool, RateWindow, UsageSnapshot
from codexbar.reading import choose
from codexbar.report import render_text, report_to_json
from codexbar.settings import Settings
from codexbar.sources import SourceContext
from codexbar.wham import parse_wham_usage
from providers._status_screen import parse_status_screen
from providers.logs import SessionLogSource
from providers.rpc import snapshot_from_rate_limits
from tests.conftest import FIXTURE_HOME, FIXTURES, point_home_at, write_fresh_auth
from tests.fake_backend import Reply

REAL = FIXTURES / "real_cli_0.171.0"
NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
TITLES = {"oauth": "OAuth", "rpc": "Codex CLI", "pty": "Codex /status", "logs": "Session logs"}


def load(name: str) -> dict:
    return json.loads((REAL / name).read_text())


def wham(name: str, now: datetime = NOW) -> UsageSnapshot:
    return parse_wham_usage(load(name), source="oauth", fetched_at=now)


def rpc(name: str, now: datetime = NOW) -> UsageSnapshot:
    return snapshot_from_rate_limits(load(name), None, source="rpc", fetched_at=now)


def shown(snapshot: UsageSnapshot, now: datetime = NOW):
    return choose(UsageReport(snapshot), None, now)


def text_of(snapshot: UsageSnapshot, now: datetime = NOW) -> str:
    return render_text(shown(snapshot, now), TITLES)


# -- monthly credit pools ---------------------------------------------------------------------


@pytest.mark.parametrize("decode", [wham, rpc], ids=["wham", "app-server"])
def test_a_credit_pool_is_a_limit_of_its_own_even_when_it_is_the_only_one(decode):
    name = {wham: "wham_team_credit_pool.json", rpc: "rate_limits_team_credit_pool.json"}[decode]
    snapshot = decode(name)
    assert snapshot.windows == ()  # `rate_limit: null`: a valid reading all the same
    pool = snapshot.credit_pool
    assert (pool.limit, pool.used, pool.remaining) == (Decimal(100000), Decimal(31000), 69000)
    assert pool.used_percent == pytest.approx(31.0)
    assert pool.resets_at == datetime.fromtimestamp(1798761600, UTC)
    assert snapshot.blocked is None


def test_credit_pool_in_the_cli_text_and_json():
    snapshot = wham("wham_team_credit_pool.json")
    text = text_of(snapshot)
    pool_line = next(line for line in text.splitlines() if line.startswith("Monthly credits:"))
    assert "69% left" in pool_line and "31,000 of 100,000 credits used" in pool_line
    assert f"resets {fmt.short_date(datetime.fromtimestamp(1798761600, UTC))}" in pool_line
    assert "not available for this account" not in text

    body = report_to_json(shown(snapshot))
    entry = next(w for w in body["windows"] if w["id"] == "monthly-credits")
    assert entry["limit"] == "100000" and entry["used"] == "31000"
    assert entry["remaining"] == "69000" and entry["resets_at"] == "2027-01-01T00:00:00Z"
    assert entry["label"] == "Monthly credits"


def test_status_screen_monthly_credit_limit_row():
    now = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    lines = (FIXTURES / "status_screen_team_credit_pool.txt").read_text().splitlines()
    snapshot = parse_status_screen(lines, source="pty", now=now, tz=UTC)
    pool = snapshot.credit_pool
    assert (pool.used, pool.limit) == (Decimal(31000), Decimal(100000))
    assert pool.resets_at == datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # the nearer 1 Jan
    assert snapshot.identity.email == "team.fixture@example.com"


# -- blocked ----------------------------------------------------------------------------------


def test_spend_control_reached_blocks_whatever_the_percents_say():
    for snapshot in (
        wham("wham_spend_control_reached.json"),
        rpc("rate_limits_spend_control_reached.json"),
    ):
        assert snapshot.blocked == "the monthly credit limit set by the workspace is used up"
    text = text_of(wham("wham_spend_control_reached.json"))
    assert text.splitlines()[1].startswith("Blocked:")  # first, before any figure
    body = report_to_json(shown(wham("wham_spend_control_reached.json")))
    assert body["blocked"] is True and "monthly credit limit" in body["blocked_reason"]


def test_ordinary_usage_not_allowed_blocks():
    result = load("rate_limits_promax_reset_credits.json")
    result["ordinaryUsageAllowed"] = False  # what 0.171's schema says a blocked account gets
    snapshot = snapshot_from_rate_limits(result, None, source="rpc", fetched_at=NOW)
    assert snapshot.blocked == "Codex says this account cannot be used right now"
    assert report_to_json(shown(snapshot))["blocked"] is True
    healthy = rpc("rate_limits_promax_reset_credits.json")
    assert healthy.blocked is None and report_to_json(shown(healthy))["blocked"] is False


# -- limit reset credits, message estimates, plans ---------------------------------------------


def test_limit_reset_credits_with_their_expiry():
    from_rpc = rpc("rate_limits_promax_reset_credits.json")
    assert from_rpc.limit_resets.available == 1
    # The redeemed credit (expired 2026-11-15) does not count; the available one expires Dec 9.
    assert from_rpc.limit_resets.expires_at == datetime.fromtimestamp(1796810400, UTC)
    expiry = fmt.short_date(from_rpc.limit_resets.expires_at)
    assert f"Limit resets: 1 available (expires {expiry})" in " ".join(text_of(from_rpc).split())
    from_wham = wham("wham_promax_duplicate_spark.json")
    assert from_wham.limit_resets.available == 1 and from_wham.limit_resets.expires_at is None
    plain = parse_wham_usage(
        json.loads((FIXTURES / "wham_usage.json").read_text()), source="oauth", fetched_at=NOW
    )
    assert plain.limit_resets.available == 0
    assert "Limit resets" not in text_of(plain)


def test_approximate_messages_left():
    body = json.loads((FIXTURES / "wham_usage.json").read_text())
    snapshot = parse_wham_usage(body, source="oauth", fetched_at=NOW)
    assert snapshot.credits.approx_local_messages == (22, 137)
    assert snapshot.credits.approx_cloud_messages == (4, 27)
    assert "Credits: 112.50 (≈22–137 local messages left · ≈4–27 cloud messages left)" in (
        text_of(snapshot)
    )


@pytest.mark.parametrize(
    ("plan", "name"),
    [("promax", "Pro Max"), ("sci", "Sci"), ("sci_plus", "Sci Plus"), ("quantum_x", "Quantum X")],
)
def test_new_plan_names(plan, name):
    assert fmt.plan_name(plan) == name


def test_promax_plan_from_the_recorded_bodies():
    assert wham("wham_promax_duplicate_spark.json").identity.plan == "promax"
    text = " ".join(text_of(rpc("rate_limits_promax_reset_credits.json")).split())
    assert "Plan: Pro Max" in text


# -- duplicate extra limits, unique ids --------------------------------------------------------


def test_an_extra_limit_listed_twice_is_one_window_the_first():
    snapshot = wham("wham_promax_duplicate_spark.json")
    spark = [w for w in snapshot.windows if w.id == "spark-session"]
    assert len(spark) == 1 and spark[0].used_percent == 12  # the second copy said 99
    ids = [w["id"] for w in snapshot_to_dict(snapshot)["windows"]]
    assert len(ids) == len(set(ids))


def test_two_extra_limits_with_the_same_name_are_one_bucket():
    body = load("wham_promax_duplicate_spark.json")
    body["additional_rate_limits"][1]["metered_feature"] = "codex_bengalfox_v2"
    snapshot = parse_wham_usage(body, source="oauth", fetched_at=NOW)
    assert [w.used_percent for w in snapshot.windows if w.id.startswith("spark-")] == [12, 3]


def test_window_ids_in_json_are_unique_even_for_lookalike_buckets():
    windows = (
        RateWindow(10, 300, limit_id="codex_bengalfox", limit_name="GPT-5.3-Codex-Spark"),
        RateWindow(20, 300, limit_id="codex_spark_pro", limit_name="Codex Spark Pro"),
        RateWindow(30, 300),
    )
    snapshot = UsageSnapshot("oauth", NOW, NOW, windows)
    ids = [w["id"] for w in snapshot_to_dict(snapshot)["windows"]]
    assert ids == ["session", "spark-session", "spark-session-2"]


# -- Spark and other extra buckets from the session logs ---------------------------------------


def test_session_logs_return_the_spark_bucket_too(tmp_path):
    """The fixture home's main reading (2026-11-21T00:02:13Z) plus the line the real 0.171.0
    wrote, which carries only the Spark bucket, moved to five minutes later."""
    home = tmp_path / "home"
    (home / "sessions").mkdir(parents=True)
    for path in (FIXTURE_HOME / "sessions").rglob("*.jsonl"):
        target = home / path.relative_to(FIXTURE_HOME)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    spark = json.loads((REAL / "rollout_token_count_lines.jsonl").read_text().splitlines()[0])
    spark["timestamp"] = "2026-11-21T00:07:13.000Z"
    rollout = home / "sessions/2026/11/21/rollout-2026-11-21T00-06-00-spark.jsonl"
    rollout.parent.mkdir(parents=True)
    rollout.write_text(json.dumps(spark) + "\n")
    now = datetime(2026, 11, 21, 0, 10, tzinfo=UTC)
    ctx = SourceContext(home=home, settings=Settings(), env={}, now=lambda: now)
    snapshot = SessionLogSource().fetch(ctx)
    assert snapshot.window("session").used_percent == 18.0  # the main bucket, not Spark's 7
    assert snapshot.window("weekly").used_percent == 45.0
    assert snapshot.window("spark-session").used_percent == 7.0
    assert snapshot.observed_at == datetime(2026, 11, 21, 0, 2, 13, 470000, tzinfo=UTC)


def test_a_spark_reading_much_older_than_the_main_one_is_left_out(tmp_path):
    home = tmp_path / "home"
    folder = home / "sessions/2026/11/21"
    folder.mkdir(parents=True)
    spark = json.loads((REAL / "rollout_token_count_lines.jsonl").read_text().splitlines()[0])
    spark["timestamp"] = "2026-11-20T10:00:00.000Z"
    main = json.loads((FIXTURES / "legacy_rollout_lines.jsonl").read_text().splitlines()[9])
    main["timestamp"] = "2026-11-21T00:00:00.000Z"
    (folder / "rollout-a.jsonl").write_text(json.dumps(spark) + "\n" + json.dumps(main) + "\n")
    ctx = SourceContext(home=home, settings=Settings(), env={}, now=lambda: NOW)
    snapshot = SessionLogSource().fetch(ctx)
    assert all(w.is_main for w in snapshot.windows)


# -- passed resets: /status screen and the report ----------------------------------------------


def test_a_status_reset_that_has_passed_stays_in_the_past():
    now = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
    lines = (FIXTURES / "status_screen_resets_passed.txt").read_text().splitlines()
    snapshot = parse_status_screen(lines, source="pty", now=now, tz=UTC)
    assert snapshot.window("session").resets_at == datetime(2026, 11, 21, 0, 1, tzinfo=UTC)
    assert snapshot.window("weekly").resets_at == datetime(2026, 11, 3, 6, 30, tzinfo=UTC)
    text = text_of(snapshot, now)
    assert "353d" not in text and "Resets in" not in text
    assert snapshot.identity.plan == "promax"


def test_a_window_whose_reset_passed_shows_no_old_percent_and_no_bar():
    observed = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    snapshot = UsageSnapshot(
        "logs",
        observed,
        observed,
        (
            RateWindow(70, 300, observed + timedelta(hours=2)),  # reset 11:00, passed by 13:00
            RateWindow(50, 10080, observed + timedelta(days=3)),
        ),
        credit_pool=CreditPool(Decimal(10), Decimal(9), observed - timedelta(days=1)),
    )
    text = text_of(snapshot)
    session = next(line for line in text.splitlines() if line.startswith("Session:"))
    local = (observed + timedelta(hours=2)).astimezone()
    today = NOW.astimezone().date() == local.date()
    when = f"{local:%H:%M}" + ("" if today else f" on {local:%b} {local.day}")
    assert session.endswith(f"reset at {when} — refilled, no new reading yet")
    assert "%" not in session and "[" not in session
    weekly = next(line for line in text.splitlines() if line.startswith("Weekly:"))
    assert "50% left" in weekly and "[" in weekly
    pool = next(line for line in text.splitlines() if line.startswith("Monthly credits:"))
    assert "refilled, no new reading yet" in pool and "%" not in pool
    body = report_to_json(shown(snapshot))
    assert next(w for w in body["windows"] if w["id"] == "session")["reset_passed"] is True


# -- a relative Codex home ------------------------------------------------------------------


def test_relative_home_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_home("homes/exp") == tmp_path / "homes/exp"
    assert resolve_home(None, {"CODEX_HOME": "homes/../exp"}) == tmp_path / "exp"
    assert resolve_home(None, {}).is_absolute()


def test_usage_with_a_relative_home_reads_it(tmp_path, backend):
    home = tmp_path / "homes" / "exp"
    write_fresh_auth(home)
    point_home_at(home, backend)
    backend.routes["/backend-api/wham/usage"] = Reply(200, load("wham_team_credit_pool.json"))
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "usage", "--source", "oauth", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "CODEX_HOME": "homes/exp"},
    )
    body = json.loads(result.stdout)
    assert result.returncode == 0, body["error"]
    assert body["credit_pool"]["limit"] == "100000"
    assert body["identity"]["plan"] == "team"


def test_real_bodies_have_no_secrets():
    for path in Path(REAL).iterdir():
        assert "eyJ" not in path.read_text()  # no JWT ever recorded
