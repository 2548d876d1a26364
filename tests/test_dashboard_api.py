"""Every dashboard endpoint over real HTTP, against the fixture homes and a lived-in home.

The cost figures must be the cost command's: /api/summary equals `codexbar cost --json` for the
same range, and the day, hour, breakdown and event views add up to the same totals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from codexbar.store import Store
from tests.conftest import FIXTURE_HOME, FIXTURES
from tests.dashboard_helpers import (
    CONTEXT_WINDOW,
    build_home,
    running_dashboard,
    save_history,
    use_logs_source,
)

REAL_HOME = FIXTURES / "real_cli_0.169.0" / "codex_home"
COST_KEYS = (
    "range",
    "totals",
    "today",
    "last_7_days",
    "days",
    "models",
    "projects",
    "efforts",
    "unpriced_models",
)


class Client:
    def __init__(self, server) -> None:
        self.base = f"http://127.0.0.1:{server.port}"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {server.secret}"}, timeout=60)

    def get(self, path: str, **params) -> dict:
        response = self.http.get(self.base + path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self, path: str, **params) -> tuple[int, dict]:
        response = self.http.get(self.base + path, params=params)
        return response.status_code, response.json()


@pytest.fixture
def fixtures_client(isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    with running_dashboard([FIXTURE_HOME, REAL_HOME]) as server:
        client = Client(server)
        yield client
        client.http.close()


@pytest.fixture
def lived_in(tmp_path, isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    built = build_home(tmp_path)
    store = Store()
    save_history(store, built.now, days=3)
    store.close()
    with running_dashboard([built.home]) as server:
        client = Client(server)
        yield built, client
        client.http.close()


def cost_json(*args: str) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "codexbar",
            "cost",
            "--json",
            "--home",
            str(FIXTURE_HOME),
            "--home",
            str(REAL_HOME),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("range_", "cost_args"),
    [
        ("alltime", ("--all",)),
        ("2026-11-19..2026-11-21", ("--since", "2026-11-19", "--until", "2026-11-21")),
        ("2026-11-20..2026-11-20", ("--since", "2026-11-20", "--until", "2026-11-20")),
        ("last30days", ("--days", "30")),
    ],
)
def test_summary_equals_the_cost_command(fixtures_client, range_, cost_args):
    ours = fixtures_client.get("/api/summary", range=range_)
    theirs = cost_json(*cost_args)
    for key in COST_KEYS:
        assert ours[key] == theirs[key], key


def test_the_views_add_up_to_the_summary(fixtures_client):
    summary = fixtures_client.get("/api/summary", range="alltime")
    totals = summary["totals"]
    assert totals["total_tokens"] > 1_000_000
    for bucket in ("day", "hour"):
        tokens = fixtures_client.get(
            "/api/timeseries", range="alltime", bucket=bucket, metric="tokens"
        )
        assert sum(p["total"] for p in tokens["points"]) == totals["total_tokens"], bucket
        per_model: dict[str, int] = {}
        for point in tokens["points"]:
            for model, value in point["models"].items():
                per_model[model] = per_model.get(model, 0) + value
        assert per_model == {m: f["total_tokens"] for m, f in summary["models"].items()}
        cost = fixtures_client.get("/api/timeseries", range="alltime", bucket=bucket, metric="cost")
        assert sum(p["total"] or 0 for p in cost["points"]) == pytest.approx(
            totals["cost_usd"], abs=1e-5
        )
    for by, key in (("model", "models"), ("effort", "efforts"), ("project", "projects")):
        rows = fixtures_client.get("/api/breakdown", range="alltime", by=by)["rows"]
        assert {r["name"]: r["total_tokens"] for r in rows} == {
            name: f["total_tokens"] for name, f in summary[key].items()
        }
        assert [r["total_tokens"] for r in rows] == sorted(
            (r["total_tokens"] for r in rows), reverse=True
        )
    events = fixtures_client.get("/api/events", range="alltime", limit=1000)["events"]
    assert sum(e["total_tokens"] for e in events) == totals["total_tokens"]
    assert sum(e["cost_usd"] for e in events) == pytest.approx(totals["cost_usd"], abs=1e-5)


def test_days_without_usage_are_on_the_axis(fixtures_client):
    series = fixtures_client.get(
        "/api/timeseries", range="2026-11-18..2026-11-22", bucket="day", metric="tokens"
    )
    assert [p["start"] for p in series["points"]] == [
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ]
    assert series["points"][0] == {"start": "2026-11-18", "total": 0, "models": {}}
    hours = fixtures_client.get(
        "/api/timeseries", range="2026-11-20..2026-11-20", bucket="hour", metric="tokens"
    )
    assert len(hours["points"]) == 24


def test_events_are_the_newest_first_with_their_session_and_cost(fixtures_client):
    events = fixtures_client.get("/api/events", range="alltime", limit=3)["events"]
    assert len(events) == 3
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    newest = events[0]
    assert set(newest) == {
        "at",
        "session",
        "project",
        "model",
        "effort",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
        "total_tokens",
        "cost_usd",
    }
    assert newest["at"].startswith("2026-11-21T16:08")
    assert newest["project"] == "/home/dev/widget-api"
    # A range in the past holds only that range's responses.
    old = fixtures_client.get("/api/events", range="2025-10-14..2025-10-14", limit=50)["events"]
    assert old and all(e["at"].startswith("2025-10-14") for e in old)


def test_one_home_at_a_time(fixtures_client):
    homes = fixtures_client.get("/api/homes")["homes"]
    assert [h["index"] for h in homes] == [0, 1]
    assert homes[0]["path"].endswith("codex_home") and homes[0]["exists"]
    both = fixtures_client.get("/api/summary", range="alltime")["totals"]["total_tokens"]
    first = fixtures_client.get("/api/summary", range="alltime", home="0")
    second = fixtures_client.get("/api/summary", range="alltime", home="1")
    assert first["totals"]["total_tokens"] == 207_078
    assert first["totals"]["total_tokens"] + second["totals"]["total_tokens"] == both
    events = fixtures_client.get("/api/events", range="alltime", limit=1000, home="0")["events"]
    assert sum(e["total_tokens"] for e in events) == 207_078
    assert fixtures_client.status("/api/summary", home="7")[0] == 400


def test_bad_parameters_are_refused_in_words(fixtures_client):
    status, body = fixtures_client.status("/api/summary", range="lastweek")
    assert status == 400 and "range must be one of" in body["error"]
    status, body = fixtures_client.status("/api/summary", range="2026-11-21..2026-11-01")
    assert status == 400 and "ends before it starts" in body["error"]
    status, body = fixtures_client.status("/api/events", limit="many")
    assert status == 400 and body["error"] == "limit must be a whole number"
    status, body = fixtures_client.status("/api/breakdown", by="colour")
    assert status == 400 and "by must be one of" in body["error"]
    assert fixtures_client.status("/api/nothing")[0] == 404


def test_limits_are_the_usage_json_with_pace(lived_in):
    _, client = lived_in
    accounts = client.get("/api/limits")["accounts"]
    assert len(accounts) == 1
    account = accounts[0]
    assert account["source"] == "logs" and account["error"] is None
    windows = {w["id"]: w for w in account["windows"]}
    assert windows["session"]["used_percent"] == 62.0
    pace = windows["session"]["pace"]
    assert set(pace) == {
        "expected_used_percent",
        "delta_percent",
        "runs_out_at",
        "lasts_until_reset",
    }
    # 3 of 5 hours gone (the reading was 1 minute ago, the reset 2 hours after it).
    assert pace["expected_used_percent"] == pytest.approx(60.0, abs=0.1)
    assert windows["session"]["pace_text"].startswith("Pace: on pace")
    assert windows["weekly"]["pace"]["lasts_until_reset"] is True


def test_limits_history_has_readings_instances_and_past_windows(lived_in):
    _, client = lived_in
    body = client.get("/api/limits/history", window="session", days=2)
    (account,) = body["accounts"]
    assert len(account["readings"]) > 20
    assert all(r["used_percent"] <= 100 for r in account["readings"])
    instance = account["instances"][0]
    starts = datetime.fromisoformat(instance["starts_at"].replace("Z", "+00:00"))
    resets = datetime.fromisoformat(instance["resets_at"].replace("Z", "+00:00"))
    assert resets - starts == timedelta(hours=5)
    assert account["past"] and {"resets_at", "used_percent"} == set(account["past"][0])
    weekly = client.get("/api/limits/history", window="weekly", days=30)
    assert weekly["accounts"][0]["instances"][0]["window_minutes"] == 10080
    assert client.get("/api/limits/history", window="nothing")["accounts"] == []


def test_active_sessions_with_context_pressure(lived_in):
    built, client = lived_in
    sessions = client.get("/api/sessions/active", minutes=30)["sessions"]
    assert [s["session"] for s in sessions] == [built.active_session]
    session = sessions[0]
    assert session["cwd"] == "/home/dev/widget-api"
    assert session["model"] == "gpt-5.5" and session["effort"] == "high"
    assert session["context_window"] == CONTEXT_WINDOW
    assert session["context_tokens"] == 150_000
    assert session["context_used_percent"] == pytest.approx(58.0, abs=0.1)
    last = datetime.fromisoformat(session["last_event_at"].replace("Z", "+00:00"))
    assert abs(last - (built.now - timedelta(minutes=1))) < timedelta(seconds=1)
    # Older sessions are not active; a 1-minute look back finds none.
    assert client.get("/api/sessions/active", minutes=1)["sessions"] == []


def test_a_session_that_grows_is_read_from_where_it_stopped(lived_in):
    built, client = lived_in
    before = client.get("/api/events", range="today", limit=1000)["events"]
    path = next((built.home / "sessions").rglob(f"*{built.active_session}.jsonl"))
    from tests.cost_helpers import record, usage

    moment = datetime.now(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    with path.open("a") as handle:
        handle.write(record(stamp, built.active_session, "resp-new", usage(200_000, 0, 10)) + "\n")
    after = client.get("/api/events", range="today", limit=1000)["events"]
    assert len(after) == len(before) + 1 and after[0]["total_tokens"] == 200_010
    sessions = client.get("/api/sessions/active", minutes=30)["sessions"]
    assert sessions[0]["context_tokens"] == 200_000


def test_pricing_overrides_change_costs_at_once(lived_in):
    _, client = lived_in
    pricing = client.get("/api/pricing")
    assert pricing["overrides"] == {} and pricing["unit"] == "USD per 1M tokens"
    models = {m["model"]: m for m in pricing["models"]}
    assert models["gpt-5.5"]["input"] == 5.0 and models["gpt-5.5"]["seen"]
    before = client.get("/api/summary", range="alltime")["models"]["gpt-5.5"]["cost_usd"]
    doubled = {"input": 10, "cached_input": 1, "output": 60}
    response = client.http.put(client.base + "/api/pricing", json={"models": {"GPT-5.5": doubled}})
    assert response.status_code == 200, response.text
    assert response.json()["overrides"] == {"gpt-5.5": doubled}
    after = client.get("/api/summary", range="alltime")["models"]["gpt-5.5"]["cost_usd"]
    assert after == pytest.approx(before * 2, rel=1e-6)
    events = client.get("/api/events", range="alltime", limit=1000)["events"]
    assert sum(e["cost_usd"] for e in events if e["model"] == "gpt-5.5") == pytest.approx(
        after, abs=1e-5
    )

    bad = client.http.put(
        client.base + "/api/pricing", json={"models": {"gpt-5.5": {"input": -1, "output": 3}}}
    )
    assert bad.status_code == 400 and "negative" in bad.json()["error"]
    assert client.get("/api/pricing")["overrides"] == {"gpt-5.5": doubled}  # nothing lost
    garbage = client.http.put(client.base + "/api/pricing", content=b"not json")
    assert garbage.status_code == 400 and "JSON" in garbage.json()["error"]


def test_a_long_session_in_an_older_folder_is_still_active(lived_in):
    built, client = lived_in
    path = next((built.home / "sessions").rglob(f"*{built.active_session}.jsonl"))
    older = built.now.astimezone() - timedelta(days=3)
    folder = built.home / "sessions" / older.strftime("%Y/%m/%d")
    folder.mkdir(parents=True, exist_ok=True)
    path.rename(folder / path.name)  # keeps its modification time: written a minute ago
    sessions = client.get("/api/sessions/active", minutes=30)["sessions"]
    assert [s["session"] for s in sessions] == [built.active_session]
