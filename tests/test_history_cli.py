"""`codexbar history` and the pace in `codexbar usage`, run as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from codexbar.engine import UsageReport
from codexbar.models import Credits, RateWindow, UsageSnapshot
from codexbar.pace import window_pace
from codexbar.reading import choose
from codexbar.report import render_text, report_to_json
from codexbar.store import Store
from tests.conftest import run_codexbar as run
from tests.dashboard_helpers import build_home, save_history, use_logs_source


def test_history_json_and_text(isolated_dirs):
    # The readings climb in working hours and rest at night: a fixed time of day (the last
    # noon, UTC) keeps the number of quiet stretches the same whenever the test runs.
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    if now > datetime.now(UTC):
        now -= timedelta(days=1)
    store = Store()
    save_history(store, now, days=2)
    store.close()
    done = run("history", "--window", "session", "--days", "2", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    (account,) = body["accounts"]
    (window,) = account["windows"]
    assert window["id"] == "session" and window["window_minutes"] == 300
    assert len(window["readings"]) > 20
    # Quiet stretches repeat 0%: one row for each stretch (at most two in a window: its start,
    # and after 19:00 in these readings), not one per refresh (about a hundred unthinned).
    zeros = [r for r in window["readings"] if r["used_percent"] == 0]
    instances = {r["resets_at"] for r in window["readings"]}
    assert len(zeros) <= 2 * len(instances) and any(r["last_seen"] != r["at"] for r in zeros)
    assert window["past"] and all(0 <= p["used_percent"] <= 100 for p in window["past"])

    text = run("history", "--days", "2")
    assert text.returncode == 0, text.stderr
    assert "session (default)" in text.stdout and "weekly (default)" in text.stdout
    assert "Used when it reset:" in text.stdout
    assert run("history", "--window", "nothing").stdout.startswith("No readings saved")


def test_usage_shows_pace_in_text_and_json(tmp_path, isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    built = build_home(tmp_path)
    done = run("usage", "--home", str(built.home), "--json")
    assert done.returncode == 0, done.stderr
    windows = {w["id"]: w for w in json.loads(done.stdout)["windows"]}
    assert set(windows["session"]["pace"]) == {
        "expected_used_percent",
        "delta_percent",
        "runs_out_at",
        "lasts_until_reset",
    }
    text = run("usage", "--home", str(built.home))
    assert "Pace: on pace · " in text.stdout
    assert "Pace: 9% in reserve · lasts until reset" in text.stdout


def test_render_text_pace_lines_and_message_ranges():
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    session = RateWindow(35, 300, now + timedelta(minutes=225))  # 25% elapsed, 10 ahead
    weekly = RateWindow(20, 10080, now + timedelta(days=3.5))
    snapshot = UsageSnapshot(
        "oauth",
        now,
        now,
        (session, weekly),
        credits=Credits(None, approx_local_messages=(22, 137), approx_cloud_messages=(5, 30)),
    )
    paces = {w.id: window_pace(w, now) for w in snapshot.windows}
    text = render_text(choose(UsageReport(snapshot), None, now), paces=paces)
    lines = text.splitlines()
    session_row = next(i for i, line in enumerate(lines) if line.startswith("Session:"))
    assert lines[session_row + 1].strip() == "Pace: 10% in deficit · runs out in 2h 20m"
    assert "Pace: 30% in reserve · lasts until reset" in text
    assert "≈22–137 local messages left · ≈5–30 cloud messages left" in text
    body = report_to_json(choose(UsageReport(snapshot), None, now), paces)
    assert body["windows"][1]["pace"] == {
        "expected_used_percent": 50.0,
        "delta_percent": -30.0,
        "runs_out_at": None,
        "lasts_until_reset": True,
    }
    assert report_to_json(choose(UsageReport(snapshot), None, now))["windows"][0]["pace"] is None
