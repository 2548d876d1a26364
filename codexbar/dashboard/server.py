"""The dashboard's HTTP server: 127.0.0.1 only, a secret per run, the page and its JSON API.

Security, in the order a request meets it:
1. the socket is bound to 127.0.0.1, never to another interface;
2. the `Host` header must be `127.0.0.1:PORT` or `localhost:PORT`, so a web page that points its
   own domain name at 127.0.0.1 (DNS rebinding) is refused;
3. the request must carry the run's secret: `?token=` (answered with an HttpOnly SameSite=Strict
   cookie and a redirect to the same address without it), the cookie, or
   `Authorization: Bearer`; anything else gets 401;
4. every answer carries a Content-Security-Policy that allows only this origin's own scripts,
   styles and API, so the page cannot load or send anything elsewhere.

`GET /metrics` (Prometheus text) is for a scraper, not a browser: it wants
`Authorization: Bearer <metrics.token from the settings>` (or the run's secret, by the usual
checks). Only with such a token may the server be bound to another address (`--listen`), and
then the page and its API still answer only to the 127.0.0.1 and localhost Host names.

The standard library's ThreadingHTTPServer is enough for one user's browser and keeps startup
light; nothing here needs an async framework.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from codexbar.dashboard.api import ApiError, Dashboard

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
COOKIE = "codexbar_dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
STATIC_FILES = ("index.html", "app.js", "charts.js", "format.js", "style.css", "favicon.svg")
MAX_BODY = 256 * 1024


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(
        self,
        dashboard: Dashboard,
        port: int = 0,
        secret: str | None = None,
        *,
        host: str = HOST,
        metrics_token: str | None = None,
    ) -> None:
        if host != HOST and not metrics_token:
            raise ValueError("another address than 127.0.0.1 needs a metrics token")
        self.dashboard = dashboard
        self.secret = secret or secrets.token_urlsafe(32)
        self.metrics_token = metrics_token or None
        self.static = {name: _read_static(name) for name in STATIC_FILES}
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        """The address to open, with the secret."""
        return f"http://{HOST}:{self.port}/?{urlencode({'token': self.secret})}"

    @property
    def allowed_hosts(self) -> set[str]:
        return {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="dashboard", daemon=True)
        thread.start()
        return thread


def _read_static(name: str) -> bytes:
    return resources.files("codexbar.dashboard").joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle's algorithm and the browser's
    # delayed ACK hold every answer back by about 40 ms.
    disable_nagle_algorithm = True

    # -- plumbing ----------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        # The request line can carry ?token=: log the path only, never the query.
        log.debug("dashboard: %s %s", self.command, urlsplit(self.path).path)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        if urlsplit(self.path).path.startswith("/api/"):
            self._json(status, {"error": message})
        else:
            self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    # -- the checks --------------------------------------------------------------------------

    def _host_ok(self) -> bool:
        return (self.headers.get("Host") or "").lower() in self.server.allowed_hosts

    def _presented_secret(self, query: dict[str, list[str]]) -> tuple[str | None, bool]:
        """(the secret the request carries, whether it came as ?token=)."""
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ").strip(), False
        if "token" in query:
            return query["token"][0], True
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except Exception:
            return None, False
        morsel = cookie.get(COOKIE)
        return (morsel.value if morsel else None), False

    def _authorised(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.server.secret.encode()
        )

    # -- dispatch ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    def _metrics_authorised(self) -> bool:
        token = self.server.metrics_token
        auth = self.headers.get("Authorization") or ""
        if token and auth.startswith("Bearer "):
            presented = auth.removeprefix("Bearer ").strip().encode()
            if hmac.compare_digest(presented, token.encode()):
                return True
        query = parse_qs(urlsplit(self.path).query)
        return self._host_ok() and self._authorised(self._presented_secret(query)[0])

    def _metrics(self) -> None:
        if not self._metrics_authorised():
            self._error(
                HTTPStatus.UNAUTHORIZED,
                "metrics need Authorization: Bearer with the metrics.token setting",
            )
            return
        try:
            body, content_type = self.server.dashboard.metrics(self.headers.get("Accept"))
        except Exception:
            log.exception("dashboard /metrics failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "metrics failed; see codexbar -v")
            return
        self._send(HTTPStatus.OK, body, content_type)

    def _handle(self, method: str) -> None:
        if urlsplit(self.path).path == "/metrics" and method == "GET":
            self._metrics()
            return
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, "wrong Host header: open the dashboard by its URL")
            return
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        presented, from_query = self._presented_secret(query)
        if not self._authorised(presented):
            self._error(
                HTTPStatus.UNAUTHORIZED,
                "the dashboard needs its secret: open the URL codexbar printed or opened",
            )
            return
        if from_query:
            # Swap the secret in the address for a cookie, so it leaves the address bar.
            rest = {k: v for k, v in query.items() if k != "token"}
            location = parts.path + (f"?{urlencode(rest, doseq=True)}" if rest else "")
            cookie = f"{COOKIE}={self.server.secret}; HttpOnly; SameSite=Strict; Path=/"
            self._send(
                HTTPStatus.SEE_OTHER,
                b"",
                "text/plain",
                {"Location": location, "Set-Cookie": cookie},
            )
            return
        single = {k: v[-1] for k, v in query.items()}
        if parts.path.startswith("/api/"):
            self._api(method, parts.path, single)
        elif method == "GET":
            self._static(parts.path)
        else:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    def _static(self, path: str) -> None:
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        body = self.server.static.get(name)
        if body is None:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        suffix = name[name.rfind(".") :]
        self._send(HTTPStatus.OK, body, STATIC_TYPES.get(suffix, "application/octet-stream"))

    def _api(self, method: str, path: str, query: dict[str, str]) -> None:
        dash = self.server.dashboard
        routes = {
            ("GET", "/api/summary"): dash.api_summary,
            ("GET", "/api/timeseries"): dash.api_timeseries,
            ("GET", "/api/breakdown"): dash.api_breakdown,
            ("GET", "/api/events"): dash.api_events,
            ("GET", "/api/limits"): dash.api_limits,
            ("GET", "/api/limits/history"): dash.api_limits_history,
            ("GET", "/api/sessions/active"): dash.api_sessions_active,
            ("GET", "/api/homes"): dash.api_homes,
            ("GET", "/api/pricing"): dash.api_pricing,
        }
        try:
            if (method, path) == ("PUT", "/api/pricing"):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the body is too large")
                self._json(HTTPStatus.OK, dash.api_pricing_put(self.rfile.read(length)))
                return
            handler = routes.get((method, path))
            if handler is None:
                known = any(p == path for _, p in routes)
                raise ApiError(
                    405 if known else 404, "method not allowed" if known else "no such endpoint"
                )
            self._json(HTTPStatus.OK, handler(query))
        except ApiError as error:
            self._json(error.status, {"error": error.message})
        except Exception:
            log.exception("dashboard API %s failed", path)
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": "the dashboard hit an unexpected problem; see codexbar -v"},
            )
