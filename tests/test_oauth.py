"""The OAuth source against a real HTTP server on 127.0.0.1 serving the fixture bodies."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import providers.oauth as oauth
from codexbar.errors import ErrorKind, SourceError
from codexbar.settings import Settings
from codexbar.sources import SourceContext
from tests.conftest import FIXTURE_HOME, FIXTURES, point_home_at
from tests.fake_backend import Reply

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
USAGE_PATH = "/backend-api/wham/usage"


def context(home: Path, now: datetime = NOW) -> SourceContext:
    return SourceContext(home=home, settings=Settings(), env={}, now=lambda: now)


def body(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def home(tmp_path, backend) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(FIXTURE_HOME / "auth.json", home / "auth.json")
    point_home_at(home, backend)
    return home


def fetch(home: Path, now: datetime = NOW):
    return oauth.OAuthSource().fetch(context(home, now))


def test_plus_body_gives_session_weekly_and_credits(home, backend):
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"))
    snapshot = fetch(home)
    session, weekly = snapshot.window("session"), snapshot.window("weekly")
    assert (session.used_percent, session.window_minutes) == (18.0, 300)
    assert session.resets_at == datetime.fromtimestamp(1795226100, UTC)
    assert (weekly.used_percent, weekly.window_minutes) == (45.0, 10080)
    assert snapshot.credits.balance == Decimal("112.50")
    assert snapshot.credits.balance_text == "112.50"
    assert snapshot.identity.email == "dev.fixture@example.com"
    assert snapshot.identity.plan == "plus"
    assert snapshot.identity.account_id == "3f0c2a9e-7b1d-4c55-9e21-6a8d0f4b1c77"
    assert snapshot.source == "oauth" and snapshot.observed_at == NOW


def test_request_carries_bearer_account_and_our_user_agent(home, backend):
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"))
    fetch(home)
    (request,) = backend.requests
    auth = json.loads((FIXTURE_HOME / "auth.json").read_text())
    assert request.headers["authorization"] == "Bearer " + auth["tokens"]["access_token"]
    assert request.headers["chatgpt-account-id"] == auth["tokens"]["account_id"]
    assert request.headers["user-agent"].startswith("codexbar/")
    assert request.headers["accept"] == "application/json"


def test_pro_weekly_only_window_is_weekly_never_session(home, backend):
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage_pro_credits_additional.json"))
    snapshot = fetch(home)
    main_ids = [w.id for w in snapshot.main_windows]
    assert main_ids == ["weekly"]
    assert snapshot.window("weekly").used_percent == 37.0
    assert snapshot.window("spark-session").used_percent == 12.0
    assert snapshot.window("spark-weekly").used_percent == 3.0
    assert snapshot.window("spark-session").label == "Spark session"
    assert snapshot.credits.balance == Decimal("412.75")
    assert snapshot.identity.plan == "pro"


def test_limit_reached_body(home, backend):
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage_limit_reached.json"))
    snapshot = fetch(home)
    assert snapshot.window("session").remaining_percent == 0.0
    assert snapshot.window("weekly").used_percent == 71.0
    assert snapshot.credits.balance is None and not snapshot.credits.has_credits


def test_float_percent_and_reset_after_seconds_only(home, backend):
    backend.routes[USAGE_PATH] = Reply(
        200,
        {
            "plan_type": "prolite",
            "rate_limit": {
                "primary_window": {
                    "used_percent": 12.5,
                    "limit_window_seconds": 18000,
                    "reset_after_seconds": 600,
                }
            },
        },
    )
    snapshot = fetch(home)
    session = snapshot.window("session")
    assert session.used_percent == 12.5
    assert session.resets_at == datetime(2026, 11, 21, 0, 15, tzinfo=UTC)
    assert snapshot.identity.plan == "prolite"  # unknown plans are kept as they are


def test_malformed_window_is_dropped_without_losing_the_other(home, backend):
    good = body("wham_usage.json")
    good["rate_limit"]["primary_window"] = {"used_percent": "lots"}
    backend.routes[USAGE_PATH] = Reply(200, good)
    snapshot = fetch(home)
    assert [w.id for w in snapshot.windows] == ["weekly"]


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_login_is_auth(home, backend, status):
    backend.routes[USAGE_PATH] = Reply(status, {"error": "token_expired"})
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.AUTH
    assert "codex login" in raised.value.text


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_errors_are_network(home, backend, status):
    backend.routes[USAGE_PATH] = Reply(status, "<html>busy</html>")
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.NETWORK
    assert str(status) in raised.value.text


def test_hang_is_a_timeout(home, backend, monkeypatch):
    monkeypatch.setattr(oauth, "TIMEOUT_SECONDS", 0.5)
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"), delay=5)
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.TIMEOUT


def test_invalid_json_is_parse(home, backend):
    backend.routes[USAGE_PATH] = Reply(200, b"{not json", {"Content-Type": "application/json"})
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.PARSE


def test_unreachable_server_is_network(home, backend):
    backend.stop()
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.NETWORK


def test_api_key_login_is_unsupported(tmp_path, backend):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(FIXTURES / "auth_apikey.json", home / "auth.json")
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.UNSUPPORTED
    assert not backend.requests


def test_missing_auth_json_is_auth_with_login_hint(tmp_path):
    with pytest.raises(SourceError) as raised:
        fetch(tmp_path)
    assert raised.value.kind is ErrorKind.AUTH
    assert "codex login" in raised.value.text


@pytest.mark.parametrize(
    "now, reason",
    [
        (datetime(2026, 11, 28, 8, 0, tzinfo=UTC), "expired"),  # access token exp passed
        (datetime(2026, 11, 26, 8, 0, tzinfo=UTC), "refreshed 8 days ago"),
    ],  # last_refresh > 8d
)
def test_stale_login_is_auth_and_never_refreshed(home, backend, now, reason):
    before = (home / "auth.json").read_bytes()
    with pytest.raises(SourceError) as raised:
        fetch(home, now)
    assert raised.value.kind is ErrorKind.AUTH
    assert reason in raised.value.text
    assert not backend.requests
    assert (home / "auth.json").read_bytes() == before


def test_camel_case_tokens_and_account_id_from_jwt(tmp_path, backend):
    home = tmp_path / "home"
    home.mkdir()
    data = json.loads((FIXTURE_HOME / "auth.json").read_text())
    tokens = data["tokens"]
    data["tokens"] = {
        "accessToken": tokens["access_token"],
        "idToken": tokens["id_token"],
        "refreshToken": tokens["refresh_token"],
    }
    (home / "auth.json").write_text(json.dumps(data))
    point_home_at(home, backend)
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"))
    snapshot = fetch(home)
    assert snapshot.identity.account_id == "3f0c2a9e-7b1d-4c55-9e21-6a8d0f4b1c77"
    assert backend.requests[0].headers["chatgpt-account-id"] == snapshot.identity.account_id
