"""The one way codexbar makes an HTTP request to chatgpt.com (OAuth and web sources).

What every request gets, whichever client carries it (httpx, or curl_cffi's Chrome
impersonation for the web source):

* one overall deadline for connect + headers + body. httpx's timeouts are per read, so a server
  sending one byte every few seconds kept a request alive for minutes; here the request runs on a
  worker thread and the caller stops waiting at the deadline, whatever the server does.
* a cap on the body, counted after decompression, which is done here in bounded steps (a 2 MB
  gzip bomb must not become gigabytes in memory).
* no redirects: a 3xx is handed back as it is, so a login never travels to another address.
* the login only over https, or plain http to this machine (tests, local proxies).

Failures are SourceErrors in words (`could not reach` only for connection and DNS failures),
never an errno or a library's exception text.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from codexbar.errors import ErrorKind, SourceError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 << 20  # a wham/usage body is a few KB; an HTML error page well under 1 MB
SERVICE = "chatgpt.com"
CONNECTION_HINT = "Check your connection, then refresh."
BUSY_HINT = "chatgpt.com may be busy or down; try again in a few minutes."


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not (deeply nested documents included)."""
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("nested too deeply") from None


class _TooLarge(Exception):
    pass


class _BadEncoding(Exception):
    pass


class _Unreachable(Exception):
    """Connection or DNS failure; the argument is the reason in words."""


class _Timeout(Exception):
    pass


# --- where a login may be sent ---------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_login_url(url: str, setting: str) -> None:
    """Refuse to send a bearer token or cookies anywhere but https, or plain http to this
    machine. `setting` names where the address came from, for the message."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    shown = f"{parts.scheme}://{parts.hostname}" if parts.hostname else (url[:80] or "empty")
    raise SourceError(
        ErrorKind.UNSUPPORTED,
        f"codexbar sends your login only over https (or to this machine); the {setting} "
        f"setting points at {shown}.",
        f"Change {setting} to an https:// address, or remove it to use chatgpt.com.",
    )


# --- answers that are not data -------------------------------------------------------------


def _location(headers: dict[str, str]) -> str:
    """Where a redirect points, without its query (which may carry a token)."""
    parts = urlsplit(headers.get("location", ""))
    if not parts.netloc and not parts.path:
        return "an unnamed address"
    return f"{parts.netloc}{parts.path}" or "an unnamed address"


def status_error(response: HttpResponse, what: str = "the usage request") -> SourceError | None:
    """The SourceError for an answer that is not a 2xx, in words; None for a 2xx."""
    status = response.status
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return SourceError(
            ErrorKind.NETWORK,
            f"{SERVICE} answered {what} with a redirect (HTTP {status} to "
            f"{_location(response.headers)}) instead of data; codexbar does not follow "
            "redirects with your login.",
            "Check the chatgpt_base_url setting in Codex's config.toml, or a proxy in between.",
        )
    if status == 429:
        return SourceError(
            ErrorKind.NETWORK,
            f"{SERVICE} is limiting requests (HTTP 429).",
            "Wait a few minutes; codexbar refreshes by itself.",
        )
    if status >= 500:
        return SourceError(
            ErrorKind.NETWORK, f"{SERVICE} answered with an error (HTTP {status}).", BUSY_HINT
        )
    return SourceError(
        ErrorKind.NETWORK,
        f"{SERVICE} refused {what} (HTTP {status}).",
        "Codex may have changed its API; try `--source rpc`.",
    )


# --- the request ---------------------------------------------------------------------------


class _Body:
    """Collects a body, decompressing gzip/deflate in bounded steps, up to `limit` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self.inflater = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS reads both the gzip and the zlib wrapper.
            self.inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise _BadEncoding(encoding)

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge
        self.parts.append(data)

    def feed(self, data: bytes) -> None:
        if self.inflater is None:
            self._keep(data)
            return
        try:
            while data:
                # Never more than one byte past the cap at a time, however well it compresses.
                self._keep(self.inflater.decompress(data, self.limit - self.size + 1))
                data = self.inflater.unconsumed_tail
        except zlib.error:
            raise _BadEncoding("corrupt") from None

    def bytes(self) -> bytes:
        return b"".join(self.parts)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for the process: building one per request (loading the CA bundle) cost
    the tray ~20 ms of CPU and a few KB of memory that never came back, at every refresh."""
    import httpx

    return httpx.create_ssl_context()


def _connect_failure(error: Exception) -> str:
    """A connection failure in words, from the exception chain (never its raw text)."""
    text = " ".join(str(e) for e in _chain(error)).lower()
    if (
        "name or service" in text
        or "nodename" in text
        or "getaddrinfo" in text
        or ("temporary failure in name resolution" in text)
    ):
        return "its name could not be looked up"
    if "refused" in text:
        return "the connection was refused"
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "the secure connection could not be set up"
    if "unreachable" in text:
        return "the network is unreachable"
    if "reset" in text:
        return "the connection was reset"
    return "the connection failed"


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _httpx_get(
    url: str, headers: dict[str, str], seconds: float, limit: int, cancel: threading.Event
) -> HttpResponse:
    import httpx

    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(seconds),
                follow_redirects=False,
                # Always the shared context: `verify=True` makes httpx build a new one (and
                # load the CA bundle) per client, even for a plain-http URL.
                verify=_tls_context(),
            ) as client,
            client.stream("GET", url, headers={"Accept-Encoding": "gzip", **headers}) as reply,
        ):
            body = _Body(reply.headers.get("content-encoding", ""), limit)
            for chunk in reply.iter_raw():
                if cancel.is_set():
                    raise _Timeout
                body.feed(chunk)
            return HttpResponse(
                reply.status_code,
                reply.reason_phrase,
                {k.lower(): v for k, v in reply.headers.items()},
                body.bytes(),
            )
    except httpx.TimeoutException:
        raise _Timeout from None
    except httpx.ConnectError as error:
        raise _Unreachable(_connect_failure(error)) from None
    except httpx.HTTPError as error:
        raise _Unreachable(
            "the connection broke off" if isinstance(error, httpx.TransportError) else "failed"
        ) from None


def _curl_get(
    url: str, headers: dict[str, str], seconds: float, limit: int, cancel: threading.Event
) -> HttpResponse:
    from curl_cffi import requests as curl_requests

    # curl decodes gzip/br itself, handing over the decoded body piece by piece: count it.
    body = _Body("", limit)
    stopped: list[BaseException] = []

    def collect(chunk: bytes) -> int:
        try:
            if cancel.is_set():
                raise _Timeout
            body.feed(chunk)
        except (_TooLarge, _Timeout) as error:
            stopped.append(error)
            raise
        return len(chunk)

    try:
        reply = curl_requests.get(
            url,
            headers=headers,
            impersonate="chrome",
            timeout=seconds,  # curl's timeout covers the whole transfer
            allow_redirects=False,
            content_callback=collect,
        )
    except curl_requests.exceptions.Timeout:
        raise _Timeout from None
    except curl_requests.exceptions.RequestException as error:
        if stopped:
            raise stopped[0] from None
        if isinstance(error, curl_requests.exceptions.ConnectionError):
            raise _Unreachable(_connect_failure(error)) from None
        raise _Unreachable("the connection broke off") from None
    if stopped:
        raise stopped[0]
    return HttpResponse(
        reply.status_code,
        reply.reason or "",
        {k.lower(): v for k, v in reply.headers.items() if v is not None},
        body.bytes(),
    )


def get(
    url: str,
    headers: dict[str, str],
    *,
    seconds: float,
    max_bytes: int = MAX_BODY_BYTES,
    impersonate: bool = False,
) -> HttpResponse:
    """GET `url`, over within `seconds` whatever the server does; never follows redirects.

    Raises a SourceError: TIMEOUT past the deadline, NETWORK when the server cannot be reached,
    PARSE for a body over `max_bytes` or in an encoding we do not read."""
    client: Callable[..., HttpResponse] = _curl_get if impersonate else _httpx_get
    if seconds <= 0:
        raise _timeout_error(seconds)
    outcome: dict[str, Any] = {}
    cancel = threading.Event()

    def run() -> None:
        try:
            outcome["response"] = client(url, headers, seconds, max_bytes, cancel)
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="codexbar-http", daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        # The worker stops at its next chunk (or when its own per-read timeout fires); nobody
        # waits for it.
        cancel.set()
        log.debug("GET %s: no complete answer within %.1f s", urlsplit(url).path, seconds)
        raise _timeout_error(seconds)
    error = outcome.get("error")
    if error is None:
        response: HttpResponse = outcome["response"]
        log.debug(
            "GET %s: HTTP %d, %d bytes in %d ms",
            urlsplit(url).path,
            response.status,
            len(response.body),
            (time.monotonic() - started) * 1000,
        )
        return response
    if isinstance(error, _Timeout):
        raise _timeout_error(seconds)
    if isinstance(error, _Unreachable):
        raise SourceError(
            ErrorKind.NETWORK, f"Could not reach {SERVICE} ({error.args[0]}).", CONNECTION_HINT
        )
    if isinstance(error, _TooLarge):
        raise SourceError(
            ErrorKind.PARSE,
            f"{SERVICE} sent more than {max_bytes // (1 << 20)} MB; codexbar stopped reading "
            "(a usage answer is a few KB).",
            "Check the chatgpt_base_url setting in Codex's config.toml, or a proxy in between.",
        )
    if isinstance(error, _BadEncoding):
        raise SourceError(
            ErrorKind.PARSE,
            f"{SERVICE} sent a compressed answer codexbar cannot read ({error.args[0]}).",
            "Try again later, or try `--source rpc`.",
        )
    raise error


def _timeout_error(seconds: float) -> SourceError:
    return SourceError(
        ErrorKind.TIMEOUT,
        f"{SERVICE} did not answer within {_seconds(seconds)} s.",
        CONNECTION_HINT,
    )


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 1 else f"{max(seconds, 0):.1f}"
