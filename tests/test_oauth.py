"""The OAuth source against a real HTTP server on 127.0.0.1 serving the fixture bodies."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import providers.oauth as oauth
from codexbar import http as http_module
from codexbar.errors import ErrorKind, SourceError
from codexbar.settings import Settings
from codexbar.sources import SourceContext
from tests.conftest import FIXTURE_HOME, FIXTURES, SECRET_VALUES, _reissue_jwt, point_home_at
from tests.fake_backend import Reply, gzip_bomb, huge_body

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


def test_refreshes_share_one_tls_context(home, backend, monkeypatch):
    """Loading the CA bundle per request cost the tray ~30 ms of CPU a refresh (and memory that
    never came back): every request, https or plain, uses the one shared context."""
    import ssl

    built = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: built.append(1) or real())
    http_module._tls_context.cache_clear()
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"))
    for _ in range(3):
        fetch(home)
    assert len(built) <= 1


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


# --- hostile servers: every request ends within its limit, never follows a redirect, and
# never holds more than the body cap in memory.


def fetch_failure_and_peak_memory(home: Path):
    """The SourceError a fetch raises, and the peak of Python memory it took."""
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as raised:
            fetch(home)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return raised, peak


@pytest.mark.timeout(30)
@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers-and-body"])
def test_slow_loris_ends_within_the_overall_limit(home, backend, monkeypatch, headers_too):
    """One byte every 0.3 s: each read returns in time, so only an overall deadline stops it."""
    monkeypatch.setattr(oauth, "TIMEOUT_SECONDS", 1.5)
    backend.routes[USAGE_PATH] = Reply(
        200, body("wham_usage.json"), trickle=0.3, trickle_headers=headers_too
    )
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        fetch(home)
    elapsed = time.monotonic() - started
    assert raised.value.kind is ErrorKind.TIMEOUT
    assert "did not answer within" in raised.value.message
    assert elapsed < 1.5 + 1.0, f"took {elapsed:.1f} s"


@pytest.mark.timeout(30)
def test_auto_deadline_cuts_the_request_shorter(home, backend):
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"), delay=20)
    ctx = replace(context(home), deadline=time.monotonic() + 0.8)
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        oauth.OAuthSource().fetch(ctx)
    assert raised.value.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2.0


def test_trickled_body_that_finishes_in_time_is_read(home, backend):
    small = {"rate_limit": {"primary_window": {"used_percent": 7, "limit_window_seconds": 18000}}}
    backend.routes[USAGE_PATH] = Reply(200, small, trickle=0.002)
    assert fetch(home).window("session").used_percent == 7


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, headers={"Content-Encoding": "gzip"}, stream=gzip_bomb()),
        Reply(200, stream=huge_body(), stream_length=500 << 20),
    ],
    ids=["gzip-bomb-6GB", "body-500MB"],
)
def test_bombs_stop_at_the_cap_with_little_memory(home, backend, reply):
    backend.routes[USAGE_PATH] = reply
    raised, peak = fetch_failure_and_peak_memory(home)
    assert raised.value.kind is ErrorKind.PARSE
    assert "sent more than 4 MB" in raised.value.message
    print(f"peak traced memory {peak / 2**20:.1f} MB")
    assert peak < 32 << 20


def test_gzip_body_is_read(home, backend):
    packed = gzip.compress(json.dumps(body("wham_usage.json")).encode())
    backend.routes[USAGE_PATH] = Reply(
        200, packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert fetch(home).window("weekly").used_percent == 45.0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_reported_and_never_followed(home, backend, status):
    backend.routes[USAGE_PATH] = Reply(status, headers={"Location": "/elsewhere?token=abc"})
    backend.routes["/elsewhere"] = Reply(200, body("wham_usage.json"))
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert "redirect" in raised.value.message and str(status) in raised.value.message
    assert "busy" not in raised.value.text
    assert "token=abc" not in raised.value.text
    assert [r.path for r in backend.requests] == [USAGE_PATH]


def test_server_error_says_it_answered_with_an_error(home, backend):
    backend.routes[USAGE_PATH] = Reply(503, "<html>down</html>")
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.message == "chatgpt.com answered with an error (HTTP 503)."
    assert "reach" not in raised.value.text


def test_refused_connection_is_could_not_reach_in_words(home, backend):
    backend.stop()
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.message == "Could not reach chatgpt.com (the connection was refused)."
    assert "Errno" not in raised.value.text


@pytest.mark.parametrize(
    "base",
    ["http://chatgpt.example.com/backend-api", "http://10.0.0.8:8080/backend-api", "ftp://x/"],
)
def test_login_is_never_sent_in_clear_text_to_another_host(home, backend, base):
    (home / "config.toml").write_text(f'chatgpt_base_url = "{base}"\n')
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert "chatgpt_base_url" in raised.value.message
    assert "https" in raised.value.message
    assert not backend.requests


def test_plain_http_to_localhost_is_allowed(home, backend):
    (home / "config.toml").write_text(
        f'chatgpt_base_url = "http://localhost:{backend.port}/backend-api"\n'
    )
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"))
    assert fetch(home).window("weekly").used_percent == 45.0


@pytest.mark.timeout(20)
def test_auth_json_fifo_or_device_does_not_block(home, backend):
    (home / "auth.json").unlink()
    os.mkfifo(home / "auth.json")
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.AUTH
    assert "not a regular file" in raised.value.message


@pytest.mark.timeout(20)
def test_auth_json_linked_to_dev_zero_is_refused_without_reading_it(home, backend):
    (home / "auth.json").unlink()
    (home / "auth.json").symlink_to("/dev/zero")
    raised, peak = fetch_failure_and_peak_memory(home)
    assert raised.value.kind is ErrorKind.AUTH
    assert peak < 4 << 20


def test_auth_json_over_a_megabyte_is_refused(home, backend):
    data = json.loads((home / "auth.json").read_text())
    data["padding"] = "x" * (1 << 20)
    (home / "auth.json").write_text(json.dumps(data))
    with pytest.raises(SourceError) as raised:
        fetch(home)
    assert raised.value.kind is ErrorKind.AUTH
    assert "larger than" in raised.value.message


@pytest.mark.parametrize("exp", [10**30, -(10**30), 2**63, "1e999", float("inf")])
def test_huge_jwt_exp_is_no_crash(home, backend, exp):
    data = json.loads((home / "auth.json").read_text())
    data["tokens"]["access_token"] = _reissue_jwt(data["tokens"]["access_token"], exp=exp)
    SECRET_VALUES.append(data["tokens"]["access_token"])
    (home / "auth.json").write_text(json.dumps(data))
    backend.routes[USAGE_PATH] = Reply(200, body("wham_usage.json"))
    # An unreadable expiry is treated as unknown: the backend decides whether it still works.
    assert fetch(home).window("weekly").used_percent == 45.0
