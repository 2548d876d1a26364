"""The web source against a real local server standing in for chatgpt.com, with cookies read
from real browser stores built by the tests (or a header stored through codexbar.secrets)."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import providers.web as web
from codexbar import secrets
from codexbar.engine import Engine
from codexbar.errors import ErrorKind, SourceError
from codexbar.settings import Settings
from codexbar.sources import SourceContext, SourceRegistry
from providers.logs import SessionLogSource
from tests.conftest import FIXTURES, SECRET_VALUES
from tests.fake_backend import Reply, Request, gzip_bomb, huge_body
from tests.test_browser_cookies import (
    CF_CLEARANCE,
    DEVICE_ID,
    OTHER_SITE,
    SESSION_TOKEN,
    SIGNED_IN,
    make_firefox_store,
)

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
ACCESS_TOKEN = "web-access-token-8c7b6a5f4e3d2c1b0a"
PASTED = "__Secure-next-auth.session-token=web-pasted-3a2b1c0d9e8f; oai-did=web-did-77"
SECRET_VALUES.extend([ACCESS_TOKEN, PASTED, "web-pasted-3a2b1c0d9e8f"])
CODEX_EMAIL = "dev.fixture@example.com"
CHALLENGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    "<div id='challenge-platform'>Checking your browser</div></body></html>"
)


def fixture_body(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def signed_in(request: Request) -> bool:
    return f"__Secure-next-auth.session-token={SESSION_TOKEN}" in request.headers.get("cookie", "")


def session_route(email: str = CODEX_EMAIL):
    def route(request: Request) -> Reply:
        if not signed_in(request):
            return Reply(200, {})  # what chatgpt.com answers a signed-out browser
        return Reply(200, {"user": {"email": email}, "accessToken": ACCESS_TOKEN})

    return route


def bearer_usage_route(body: dict):
    """wham/usage that wants the session's bearer token, as the real API does."""

    def route(request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return Reply(401, {"detail": "Unauthorized"})
        return Reply(200, body)

    return route


@pytest.fixture(params=["httpx", "curl_cffi"])
def client(request, monkeypatch) -> str:
    """Every behaviour with both HTTP clients: plain httpx and curl_cffi's impersonation."""
    if request.param == "curl_cffi":
        if not web.impersonation_available():
            if os.environ.get("CI") == "true":
                pytest.fail("curl_cffi is part of the test extra; CI must install it")
            pytest.skip("curl_cffi is not installed")
    else:
        monkeypatch.setattr(web, "impersonation_available", lambda: False)
    return request.param


@pytest.fixture
def browser_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    make_firefox_store(home / ".mozilla/firefox", SIGNED_IN)
    return home


def context(
    codex_home: Path,
    backend,
    browser_home: Path,
    mode: str = "browser",
    known_email: str | None = None,
) -> SourceContext:
    return SourceContext(
        home=codex_home,
        settings=Settings(values={"web.cookies": mode, "web.browser": "auto"}),
        env={"HOME": str(browser_home), web.ORIGIN_ENV: f"http://127.0.0.1:{backend.port}"},
        now=lambda: NOW,
        known_email=known_email,
    )


def fetch(ctx: SourceContext):
    return web.WebSource().fetch(ctx)


def test_cookie_preflight_gives_the_fixture_figures(client, codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = lambda r: (
        Reply(200, fixture_body("wham_usage.json")) if signed_in(r) else Reply(401, {})
    )
    snapshot = fetch(context(codex_home, backend, browser_home))
    assert snapshot.source == "web"
    assert snapshot.window("session").used_percent == 18.0
    assert snapshot.window("weekly").used_percent == 45.0
    assert snapshot.credits.balance == Decimal("112.50")
    assert snapshot.identity.email == CODEX_EMAIL and snapshot.identity.plan == "plus"
    (request,) = backend.requests  # the body named the account: no session request needed
    cookie = request.headers["cookie"]
    assert f"oai-did={DEVICE_ID}" in cookie and f"cf_clearance={CF_CLEARANCE}" in cookie
    assert OTHER_SITE not in cookie and "auth-session" not in cookie
    assert "authorization" not in request.headers


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("wham_usage.json", CODEX_EMAIL),
        ("wham_usage_pro_credits_additional.json", "pro.fixture@example.com"),
        ("wham_usage_limit_reached.json", CODEX_EMAIL),
    ],
)
def test_bearer_from_the_session_for_each_fixture_body(
    client, codex_home, backend, browser_home, name, email
):
    backend.routes[web.SESSION_PATH] = session_route(email)
    backend.routes[web.USAGE_PATH] = bearer_usage_route(fixture_body(name))
    snapshot = fetch(context(codex_home, backend, browser_home, known_email=email))
    assert snapshot.identity.email == email
    if name == "wham_usage.json":
        assert [w.id for w in snapshot.main_windows] == ["session", "weekly"]
        assert snapshot.credits.balance == Decimal("112.50")
    elif name == "wham_usage_pro_credits_additional.json":
        assert [w.id for w in snapshot.main_windows] == ["weekly"]
        assert snapshot.window("weekly").used_percent == 37.0
        review = [w for w in snapshot.windows if w.limit_name == "Code review"]
        assert [(w.used_percent, w.window_minutes) for w in review] == [(5.0, 10080)]
        assert snapshot.window("spark-session").used_percent == 12.0
        assert snapshot.credits.balance == Decimal("412.75")
    else:
        assert snapshot.window("session").used_percent == 100.0
        assert snapshot.window("weekly").used_percent == 71.0
    paths = [r.path for r in backend.requests]
    assert paths == [web.USAGE_PATH, web.SESSION_PATH, web.USAGE_PATH]


def test_signed_out_browser_is_an_auth_error(client, codex_home, backend, browser_home):
    make_firefox_store(browser_home / ".mozilla/firefox", [("chatgpt.com", "oai-did", DEVICE_ID)])
    backend.routes[web.SESSION_PATH] = session_route()
    backend.routes[web.USAGE_PATH] = bearer_usage_route(fixture_body("wham_usage.json"))
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert raised.value.kind == ErrorKind.AUTH
    assert "signed out" in raised.value.message and "Firefox" in raised.value.message


def test_another_accounts_session_is_refused(client, codex_home, backend, browser_home):
    body = fixture_body("wham_usage.json")
    del body["email"]
    backend.routes[web.SESSION_PATH] = session_route("someone.else@example.com")
    backend.routes[web.USAGE_PATH] = bearer_usage_route(body)
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))  # Codex's email from auth.json
    assert raised.value.kind == ErrorKind.AUTH
    assert raised.value.message == (
        f"chatgpt.com is signed in as someone.else@example.com, Codex as {CODEX_EMAIL}."
    )


def test_the_body_echo_of_another_account_is_refused_too(codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(200, fixture_body("wham_usage.json"))
    ctx = context(codex_home, backend, browser_home, known_email="earlier@example.com")
    with pytest.raises(
        SourceError, match=r"signed in as dev\.fixture@example\.com, Codex as earlier"
    ):
        fetch(ctx)


def test_cloudflare_challenge_names_the_fix(client, codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(
        403, CHALLENGE_PAGE, headers={"cf-mitigated": "challenge"}
    )
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    error = raised.value
    assert error.kind == ErrorKind.NETWORK and "Cloudflare" in error.message
    assert "OAuth" in error.hint and "codexbar config set-cookie" in error.hint
    assert [r.path for r in backend.requests] == [web.USAGE_PATH]  # no token asked for


def test_challenge_page_without_the_header_is_recognised(codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(503, CHALLENGE_PAGE)
    with pytest.raises(SourceError, match="Cloudflare"):
        fetch(context(codex_home, backend, browser_home))


def test_401_everywhere_is_auth(client, codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(401, {"detail": "Unauthorized"})
    backend.routes[web.SESSION_PATH] = Reply(401, {"detail": "Unauthorized"})
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert raised.value.kind == ErrorKind.AUTH


def test_redirect_to_the_login_page_is_auth(codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(302, "", headers={"Location": "/auth/login"})
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert raised.value.kind == ErrorKind.AUTH


def test_server_error_is_network(codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(502, "<html>Bad gateway</html>")
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert raised.value.kind == ErrorKind.NETWORK and "502" in raised.value.message


@pytest.mark.timeout(30)
def test_a_hang_is_a_timeout(client, codex_home, backend, browser_home, monkeypatch):
    monkeypatch.setattr(web, "TIMEOUT_SECONDS", 0.5)
    backend.routes[web.USAGE_PATH] = Reply(200, fixture_body("wham_usage.json"), delay=20)
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert raised.value.kind == ErrorKind.TIMEOUT


def origin_context(codex_home: Path, browser_home: Path, origin: str) -> SourceContext:
    """The browser-cookie context with the chatgpt.com origin pointed at `origin`."""
    return SourceContext(
        home=codex_home,
        settings=Settings(values={"web.cookies": "browser"}),
        env={"HOME": str(browser_home), web.ORIGIN_ENV: origin},
        now=lambda: NOW,
    )


def test_no_server_is_network(codex_home, browser_home):
    with pytest.raises(SourceError) as raised:
        fetch(origin_context(codex_home, browser_home, "http://127.0.0.1:9"))
    assert raised.value.kind == ErrorKind.NETWORK


def test_no_browser_cookies_is_auth_with_the_way_out(codex_home, backend, tmp_path):
    empty = tmp_path / "empty-home"
    empty.mkdir()
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, empty))
    assert raised.value.kind == ErrorKind.AUTH
    assert "No chatgpt.com cookies found" in raised.value.message
    assert backend.requests == []


def test_manual_mode_sends_the_pasted_header(codex_home, backend, browser_home, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    secrets.forget_backend()
    secrets.set_secret(secrets.COOKIE_HEADER, PASTED)
    backend.routes[web.USAGE_PATH] = Reply(200, fixture_body("wham_usage.json"))
    snapshot = fetch(context(codex_home, backend, browser_home, mode="manual"))
    assert snapshot.window("weekly").used_percent == 45.0
    assert backend.requests[0].headers["cookie"] == PASTED
    secrets.forget_backend()


def test_manual_mode_without_a_header_says_how_to_paste(codex_home, backend, browser_home):
    secrets.forget_backend()
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home, mode="manual"))
    assert raised.value.kind == ErrorKind.AUTH and "set-cookie" in raised.value.hint
    secrets.forget_backend()


def test_auto_moves_on_after_a_web_error(codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(
        403, CHALLENGE_PAGE, headers={"cf-mitigated": "challenge"}
    )
    registry = SourceRegistry((web.WebSource(), SessionLogSource()))
    report = Engine(registry).fetch(context(codex_home, backend, browser_home))
    assert report.snapshot is not None and report.snapshot.source == "logs"
    assert [(a.source, a.ok, a.kind) for a in report.attempts] == [
        ("web", False, "network"),
        ("logs", True, None),
    ]


def test_diagnostics_count_cookies_and_show_no_values(codex_home, backend, browser_home):
    lines = web.WebSource().diagnostics(context(codex_home, backend, browser_home))
    text = "\n".join(lines)
    assert "cookies: browser" in text
    assert "Firefox (~/.mozilla/firefox/x7kq2v1m.default-release/cookies.sqlite)" in text
    assert "3 for chatgpt.com, 1 for openai.com" in text and "with a session cookie" in text
    for value in (SESSION_TOKEN, DEVICE_ID, CF_CLEARANCE, OTHER_SITE):
        assert value not in text


# --- with cookies off, no browser file is ever opened. Python's audit hooks see every open()
# and every sqlite3.connect() in this process, whoever makes it.
_opened: list[str] = []
_watching: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if _watching and event in ("open", "sqlite3.connect", "os.listdir", "os.scandir"):
        _opened.append(str(args[0]) if args else "")


sys.addaudithook(_audit)


def _browser_files_opened(home: Path, action) -> list[str]:
    _opened.clear()
    _watching.append(True)
    try:
        action()
    finally:
        _watching.clear()
    return [p for p in _opened if p.startswith(str(home))]


def test_cookies_off_never_touches_a_browser_file(codex_home, backend, browser_home):
    ctx = context(codex_home, backend, browser_home, mode="off")
    source = web.WebSource()

    def everything_a_refresh_and_doctor_do() -> None:
        assert not source.in_auto(ctx)
        assert source.unavailable(ctx).kind == ErrorKind.DISABLED
        source.diagnostics(ctx)
        with pytest.raises(SourceError):
            source.fetch(ctx)
        Engine(SourceRegistry((source,))).fetch(ctx, "web")
        Engine(SourceRegistry((source,))).fetch(ctx, "auto")

    assert _browser_files_opened(browser_home, everything_a_refresh_and_doctor_do) == []
    assert backend.requests == []
    # The same watch does see the browser's files once cookies are on (so it can fail).
    on = context(codex_home, backend, browser_home)
    assert _browser_files_opened(browser_home, lambda: source.diagnostics(on))


# --- hostile servers, with both HTTP clients: one overall deadline, a body cap, no redirects.


@pytest.mark.timeout(30)
def test_a_slow_loris_ends_within_the_limit(client, codex_home, backend, browser_home, monkeypatch):
    monkeypatch.setattr(web, "TIMEOUT_SECONDS", 1.5)
    backend.routes[web.USAGE_PATH] = Reply(
        200, fixture_body("wham_usage.json"), trickle=0.3, trickle_headers=True
    )
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    elapsed = time.monotonic() - started
    assert raised.value.kind == ErrorKind.TIMEOUT
    assert elapsed < 1.5 + 1.0, f"{client}: {elapsed:.1f} s"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "make_reply",
    [
        lambda: Reply(200, headers={"Content-Encoding": "gzip"}, stream=gzip_bomb()),
        lambda: Reply(200, stream=huge_body(), stream_length=500 << 20),
    ],
    ids=["gzip-bomb", "body-500MB"],
)
def test_bombs_stop_at_the_cap(client, codex_home, backend, browser_home, make_reply):
    backend.routes[web.USAGE_PATH] = make_reply()
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert raised.value.kind == ErrorKind.PARSE
    assert "sent more than 4 MB" in raised.value.message
    print(f"{client}: stopped after {time.monotonic() - started:.2f} s")


def test_a_redirect_is_reported_never_followed(client, codex_home, backend, browser_home):
    backend.routes[web.USAGE_PATH] = Reply(302, headers={"Location": "/elsewhere"})
    backend.routes["/elsewhere"] = Reply(200, fixture_body("wham_usage.json"))
    with pytest.raises(SourceError) as raised:
        fetch(context(codex_home, backend, browser_home))
    assert "redirect" in raised.value.message and "busy" not in raised.value.text
    assert [r.path for r in backend.requests] == [web.USAGE_PATH]


def test_cookies_are_never_sent_in_clear_text_to_another_host(codex_home, browser_home):
    with pytest.raises(SourceError) as raised:
        fetch(origin_context(codex_home, browser_home, "http://chatgpt.example.net"))
    assert web.ORIGIN_ENV in raised.value.message and "https" in raised.value.message
