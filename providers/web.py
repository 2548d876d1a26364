"""Web source: chatgpt.com's own usage API, signed in with the user's chatgpt.com cookies.

Off by default. With `web.cookies = browser` the cookies come from the user's browser (see
_browser_cookies); with `manual` they are a Cookie header the user pasted, kept by
codexbar.secrets. The request is CodexBar's "API preflight": `GET /backend-api/wham/usage` with
the cookies, and when that wants a bearer token, the one `GET /api/auth/session` hands out. The
body goes through the same decoder as the OAuth source.

The origin is https://chatgpt.com; `CODEXBAR_CHATGPT_ORIGIN` overrides it (tests, proxies).
Codex's own `chatgpt_base_url` is deliberately not followed: it may point at a host the user's
browser cookies were never meant for.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codexbar import USER_AGENT, http, secrets
from codexbar.codex_auth import read_auth
from codexbar.errors import ErrorKind, SourceError
from codexbar.http import HttpResponse
from codexbar.models import Identity, UsageSnapshot
from codexbar.redact import redact, remember
from codexbar.sources import SourceContext, UsageSource
from codexbar.wham import parse_wham_usage
from providers import _browser_cookies as browser_cookies

DEFAULT_ORIGIN = "https://chatgpt.com"
ORIGIN_ENV = "CODEXBAR_CHATGPT_ORIGIN"
USAGE_PATH = "/backend-api/wham/usage"
SESSION_PATH = "/api/auth/session"
TIMEOUT_SECONDS = 10.0  # per request, connect to last byte
# Cookies read from a browser are reused this long (the tray refreshes every few minutes).
COOKIE_CACHE_SECONDS = 600.0

FIX_HINT = (
    "Use the OAuth or Codex CLI source instead, or paste a fresh Cookie header from your "
    "browser with `codexbar config set-cookie` (and `codexbar config set web.cookies manual`)."
)
ENABLE_HINT = (
    "Turn it on with `codexbar config set web.cookies browser` (read your browser's "
    "chatgpt.com cookies) or `manual` (then paste a Cookie header with "
    "`codexbar config set-cookie`)."
)


def origin(env: Mapping[str, str]) -> str:
    return (env.get(ORIGIN_ENV, "").strip() or DEFAULT_ORIGIN).rstrip("/")


# --- HTTP: curl_cffi's Chrome impersonation when installed (Cloudflare lets it through more
# often), else httpx; codexbar.http gives both the same deadline, body cap and no redirects.


def impersonation_available() -> bool:
    try:
        import curl_cffi.requests  # noqa: F401
    except ImportError:
        return False
    return True


# --- What chatgpt.com answered


def _is_challenge(response: HttpResponse) -> bool:
    if response.headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    lowered = response.text[:20000].lower()
    if response.status in (403, 503) and (
        "just a moment" in lowered
        or "challenge-platform" in lowered
        or "cf-chl" in lowered
        or "checking your browser" in lowered
    ):
        return True
    return "<title>just a moment" in lowered


def _is_login(response: HttpResponse) -> bool:
    location = response.headers.get("location", "")
    if 300 <= response.status < 400 and ("/auth/" in location or "login" in location):
        return True
    return response.headers.get("content-type", "").startswith("text/html") and (
        "/auth/login" in response.text[:20000]
    )


@dataclass(frozen=True)
class WebSession:
    email: str | None
    access_token: str | None


class WebSource(UsageSource):
    name = "web"
    title = "chatgpt.com cookies"
    order = 40
    uses_network = True

    def __init__(self) -> None:
        self._cache: tuple[tuple[str, str], browser_cookies.CookieSet, float] | None = None

    # --- the source protocol

    def in_auto(self, ctx: SourceContext) -> bool:
        return ctx.settings.get("web.cookies") != "off"

    def unavailable(self, ctx: SourceContext) -> SourceError | None:
        if ctx.settings.get("web.cookies") == "off":
            return SourceError(ErrorKind.DISABLED, "chatgpt.com cookies are off.", ENABLE_HINT)
        return None

    def fetch(self, ctx: SourceContext) -> UsageSnapshot:
        disabled = self.unavailable(ctx)
        if disabled is not None:
            raise disabled
        cookie_header, where = self._cookie_header(ctx)
        # Every cookie value, so that a server echoing them back is never shown or logged.
        remember([cookie_header, *(part.partition("=")[2] for part in cookie_header.split(";"))])
        try:
            return self._fetch_with(ctx, cookie_header, where)
        except SourceError as error:
            if error.kind == ErrorKind.AUTH:
                self._cache = None  # read the browser again next time: the user may sign in
            secrets_seen = [cookie_header, *cookie_header.split("; ")]
            raise SourceError(
                error.kind,
                redact(error.message, secrets_seen),
                redact(error.hint, secrets_seen) if error.hint else None,
            ) from None

    def diagnostics(self, ctx: SourceContext) -> list[str]:
        mode = ctx.settings.get("web.cookies")
        client = "curl_cffi (Chrome impersonation)" if impersonation_available() else "httpx"
        lines = [f"cookies: {mode}; HTTP client: {client}; origin: {origin(ctx.env)}"]
        if mode == "off":
            return lines  # never look at a browser's files while the user has not opted in
        if mode == "manual":
            header = secrets.get_secret(secrets.COOKIE_HEADER)
            if header:
                count = len([p for p in header.split(";") if "=" in p])
                lines.append(
                    f"pasted Cookie header: {count} cookies, stored "
                    f"{secrets.describe_backend()} (values not shown)"
                )
            else:
                lines.append(
                    "no Cookie header stored yet: paste one with `codexbar config set-cookie`; "
                    f"it would be stored {secrets.describe_backend()}"
                )
            return lines
        browser = ctx.settings.get("web.browser")
        discovery = browser_cookies.find_cookies(
            browser, ctx.env, allow_secret_store=ctx.interactive
        )
        lines.append(f"browser: {browser}; looked at {', '.join(discovery.looked_at)}")
        lines += [f"problem: {redact(p)}" for p in discovery.problems]
        if discovery.chosen is None:
            lines.append("no chatgpt.com cookies found")
        else:
            session = "with" if discovery.chosen.has_session else "without"
            lines.append(
                f"using {discovery.chosen.describe()} cookies, {session} a session cookie "
                "(values not shown)"
            )
        return lines

    # --- cookies

    def _cookie_header(self, ctx: SourceContext) -> tuple[str, str]:
        """The Cookie header to send, and a phrase naming where it came from."""
        mode = ctx.settings.get("web.cookies")
        if mode == "manual":
            header = secrets.unwrap_cookie_header(secrets.get_secret(secrets.COOKIE_HEADER) or "")
            if not header:
                raise SourceError(
                    ErrorKind.AUTH,
                    "No chatgpt.com Cookie header is stored.",
                    "Paste one with `codexbar config set-cookie` (it reads standard input).",
                )
            return header, "the pasted Cookie header"
        browser = ctx.settings.get("web.browser")
        key = (mode, browser)
        now = time.monotonic()
        if self._cache and self._cache[0] == key and now - self._cache[2] < COOKIE_CACHE_SECONDS:
            found = self._cache[1]
        else:
            discovery = browser_cookies.find_cookies(
                browser, ctx.env, allow_secret_store=ctx.interactive
            )
            if discovery.chosen is None:
                which = (
                    "your browsers"
                    if browser == "auto"
                    else browser_cookies.BROWSER_TITLES[browser]
                )
                problem = f" ({discovery.problems[0]})" if discovery.problems else ""
                raise SourceError(
                    ErrorKind.AUTH,
                    f"No chatgpt.com cookies found in {which}{problem}.",
                    "Sign in to chatgpt.com in that browser, or paste a Cookie header with "
                    "`codexbar config set-cookie`.",
                )
            found = discovery.chosen
            self._cache = (key, found, now)
        return found.header, f"{found.browser}'s cookies"

    # --- the requests

    def _get(self, path: str, headers: dict[str, str], ctx: SourceContext) -> HttpResponse:
        url = origin(ctx.env) + path
        http.check_login_url(url, ORIGIN_ENV)
        impersonate = impersonation_available()
        headers = {"Accept": "application/json", **headers}
        if not impersonate:
            headers.setdefault("User-Agent", USER_AGENT)
        return http.get(
            url, headers, seconds=ctx.remaining(TIMEOUT_SECONDS), impersonate=impersonate
        )

    def _check(self, response: HttpResponse, what: str, where: str) -> None:
        """Raise for a Cloudflare challenge, a login page or a failure; return on 200."""
        if _is_challenge(response):
            raise SourceError(
                ErrorKind.NETWORK,
                f"chatgpt.com answered {what} with a Cloudflare challenge instead of data.",
                FIX_HINT,
            )
        if response.status == 401 or _is_login(response):
            raise SourceError(
                ErrorKind.AUTH,
                f"chatgpt.com does not accept {where}: it asks to sign in.",
                "Sign in to chatgpt.com in your browser again, or paste a fresh Cookie header "
                "with `codexbar config set-cookie`.",
            )
        failure = http.status_error(response, what)
        if failure is not None:
            raise failure

    def _json(self, response: HttpResponse, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SourceError(
                ErrorKind.PARSE,
                f"chatgpt.com answered {what} with something that is not JSON.",
                FIX_HINT,
            ) from None

    def _session(self, ctx: SourceContext, cookie_header: str, where: str) -> WebSession:
        response = self._get(SESSION_PATH, {"Cookie": cookie_header}, ctx)
        self._check(response, "the session request", where)
        body = self._json(response, "the session request")
        body = body if isinstance(body, dict) else {}
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        token = body.get("accessToken")
        email = user.get("email")
        if not isinstance(token, str) or not token:
            raise SourceError(
                ErrorKind.AUTH,
                f"chatgpt.com is signed out for {where}.",
                "Sign in to chatgpt.com in your browser, or paste a fresh Cookie header with "
                "`codexbar config set-cookie`.",
            )
        remember([token])
        return WebSession(email if isinstance(email, str) and "@" in email else None, token)

    def _fetch_with(self, ctx: SourceContext, cookie_header: str, where: str) -> UsageSnapshot:
        fetched_at = ctx.now()
        session: WebSession | None = None
        response = self._get(USAGE_PATH, {"Cookie": cookie_header}, ctx)
        if response.status in (401, 403) and not _is_challenge(response):
            # The usage API wants a bearer token: the session endpoint hands one to the cookies.
            session = self._session(ctx, cookie_header, where)
            response = self._get(
                USAGE_PATH,
                {"Cookie": cookie_header, "Authorization": f"Bearer {session.access_token}"},
                ctx,
            )
            if response.status == 403 and not _is_challenge(response):
                response = dataclasses.replace(response, status=401)
        self._check(response, "the usage request", where)
        body = self._json(response, "the usage request")
        web_email = body.get("email") if isinstance(body, dict) else None
        if not (isinstance(web_email, str) and "@" in web_email):
            if session is None:
                session = self._session(ctx, cookie_header, where)
            web_email = session.email
        _check_account(ctx, web_email)
        snapshot = parse_wham_usage(
            body, source=self.name, fetched_at=fetched_at, identity=Identity(email=web_email)
        )
        return snapshot


def _codex_email(ctx: SourceContext) -> str | None:
    if ctx.known_email:
        return ctx.known_email
    try:
        return read_auth(ctx.home, ctx.env).email
    except SourceError:
        return None


def _check_account(ctx: SourceContext, web_email: str | None) -> None:
    """Refuse figures that may belong to another account than Codex's."""
    codex_email = _codex_email(ctx)
    if codex_email is None:
        return
    if web_email is None:
        raise SourceError(
            ErrorKind.AUTH,
            "chatgpt.com did not say which account it is signed in as, so its figures could "
            f"belong to someone other than Codex's {codex_email}.",
            "Sign in to chatgpt.com again, or use the OAuth or Codex CLI source.",
        )
    if web_email.strip().lower() != codex_email.strip().lower():
        raise SourceError(
            ErrorKind.AUTH,
            f"chatgpt.com is signed in as {web_email}, Codex as {codex_email}.",
            f"Sign in to chatgpt.com as {codex_email}, or paste that account's Cookie header "
            "with `codexbar config set-cookie`.",
        )
