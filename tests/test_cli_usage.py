"""`codexbar usage` run as a user runs it: a real process, real files, a real local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import (
    FIXTURE_HOME,
    FIXTURES,
    point_home_at,
    write_fresh_auth,
)
from tests.conftest import (
    run_codexbar as run,
)
from tests.fake_backend import Reply
from tests.tray_helpers import fresh_wham

USAGE_PATH = "/backend-api/wham/usage"


def test_logs_source_on_the_fixture_home_as_json():
    result = run("usage", "--source", "logs", "--home", str(FIXTURE_HOME), "--json")
    # The fixture's last session line is from 2026-11-21: days old, so not current (exit 1),
    # though nothing failed.
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["stale"] is True and body["from_store"] is False
    assert body["age_seconds"] > 86400
    windows = {w["id"]: w for w in body["windows"]}
    assert windows["session"]["used_percent"] == 18.0
    assert windows["weekly"]["used_percent"] == 45.0
    assert body["observed_at"] == "2026-11-21T00:02:13.470Z"
    assert body["source"] == "logs" and body["error"] is None
    assert body["credits"] == {
        "balance": "112.50",
        "has_credits": True,
        "unlimited": False,
        "approx_local_messages": None,
        "approx_cloud_messages": None,
    }
    assert set(body) == {
        "source",
        "fetched_at",
        "observed_at",
        "identity",
        "windows",
        "credits",
        "credit_pool",
        "blocked",
        "blocked_reason",
        "limit_resets",
        "notes",
        "stale",
        "from_store",
        "age_seconds",
        "refused",
        "attempts",
        "error",
    }
    assert set(windows["session"]) >= {
        "id",
        "label",
        "window_minutes",
        "used_percent",
        "remaining_percent",
        "resets_at",
        "reset_passed",
    }
    assert body["attempts"][0]["source"] == "logs" and body["attempts"][0]["ok"]


def test_logs_source_with_no_reading_exits_3_with_a_clear_message(tmp_path):
    (tmp_path / "sessions").mkdir()
    result = run("usage", "--source", "logs", "--home", str(tmp_path))
    assert result.returncode == 3
    assert "No rate-limit reading in the logs" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def oauth_home(tmp_path, backend) -> Path:
    home = tmp_path / "home"
    write_fresh_auth(home)
    point_home_at(home, backend)
    return home


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("wham_usage.json", {"session": 18.0, "weekly": 45.0}),
        (
            "wham_usage_pro_credits_additional.json",
            {"weekly": 37.0, "spark-session": 12.0, "spark-weekly": 3.0, "code-review-weekly": 5.0},
        ),
        ("wham_usage_limit_reached.json", {"session": 100.0, "weekly": 71.0}),
    ],
)
def test_oauth_source_reproduces_each_fixture_body(oauth_home, backend, fixture, expected):
    backend.routes[USAGE_PATH] = Reply(200, json.loads((FIXTURES / fixture).read_text()))
    result = run("usage", "--source", "oauth", "--json", env={"CODEX_HOME": str(oauth_home)})
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert {w["id"]: w["used_percent"] for w in body["windows"]} == expected
    assert body["identity"]["email"] == "dev.fixture@example.com"


def test_oauth_text_report(oauth_home, backend):
    backend.routes[USAGE_PATH] = Reply(200, fresh_wham(FIXTURES / "wham_usage.json"))
    result = run("usage", "--source", "oauth", env={"CODEX_HOME": str(oauth_home)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Codex (OAuth)"
    assert any(
        line.startswith("Session:") and "82% left" in line and "[=========---]" in line
        for line in lines
    )
    assert any(line.startswith("Weekly:") and "55% left" in line for line in lines)
    assert "Credits: 112.50" in result.stdout.replace("  ", " ")
    assert "Plan:" in result.stdout and "Plus" in result.stdout
    assert "via OAuth" in result.stdout


def test_auth_failure_everywhere_exits_1_with_the_hint(tmp_path):
    result = run("usage", "--home", str(tmp_path))
    assert result.returncode == 1
    assert "codex login" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_expired_login_in_json_names_the_error(oauth_home, backend):
    backend.routes[USAGE_PATH] = Reply(401, {"detail": "expired"})
    result = run("usage", "--source", "oauth", "--json", env={"CODEX_HOME": str(oauth_home)})
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["error"]["kind"] == "auth" and body["windows"] == []
    assert body["attempts"] == [
        {
            "source": "oauth",
            "ok": False,
            "kind": "auth",
            "message": body["error"]["message"],
            "ms": body["attempts"][0]["ms"],
        }
    ]


def test_usage_error_exits_64():
    result = run("usage", "--source", "nowhere")
    assert result.returncode == 64


def test_a_successful_reading_is_stored_for_the_next_start(oauth_home, backend):
    from codexbar.store import Store

    backend.routes[USAGE_PATH] = Reply(200, json.loads((FIXTURES / "wham_usage.json").read_text()))
    assert run("usage", "--source", "oauth", env={"CODEX_HOME": str(oauth_home)}).returncode == 0
    last = Store().last_snapshot()
    assert last is not None and last.window("session").used_percent == 18.0


def test_doctor_shows_paths_and_sources_without_secrets(oauth_home, backend):
    backend.routes[USAGE_PATH] = Reply(200, json.loads((FIXTURES / "wham_usage.json").read_text()))
    result = run("doctor", env={"CODEX_HOME": str(oauth_home)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert str(oauth_home) in out and "Settings:" in out and "Store:" in out
    assert "oauth — OAuth" in out and "ok in" in out
    # In the terms `usage` uses: left, not used (the fixture's resets have passed by now).
    oauth = out[out.index("oauth — OAuth") :].splitlines()[1]
    assert "Session " in oauth and "% used" not in oauth
    assert "logs — Session logs" in out
    assert "tokens present, not shown" in out
