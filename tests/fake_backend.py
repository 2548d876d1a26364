"""A real HTTP server on 127.0.0.1 standing in for chatgpt.com in tests.

Routes map a path (without the query) to a Reply or to a function of the request that returns one.
Every request is recorded with its headers so tests can check what was sent.

Hostile answers for the robustness tests: `trickle` sends the reply a byte at a time (a slow
loris, body included), `stream` sends a body produced on the fly (a gzip bomb, a 500 MB body)
without building it in memory; `echo_headers` answers with the request's own headers.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering: a hang when larger than the timeout
    # Seconds between single bytes; the status line and headers too when trickle_headers.
    trickle: float = 0.0
    trickle_headers: bool = False
    # A body sent chunk by chunk as it is produced (Content-Length from `stream_length`, else
    # the connection is closed after it).
    stream: Iterable[bytes] | None = None
    stream_length: int | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return self.body or b"", "application/octet-stream"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Reply | Callable[[Request], Reply]


class _Trickling:
    """A write-through file that sends everything one byte at a time (headers included)."""

    def __init__(self, raw: Any, seconds: float, stop: threading.Event) -> None:
        self.raw, self.seconds, self.stop = raw, seconds, stop

    def write(self, data: bytes) -> int:
        for index in range(len(data)):
            if self.stop.is_set():
                raise BrokenPipeError
            self.raw.write(data[index : index + 1])
            self.raw.flush()
            self.stop.wait(self.seconds)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


def gzip_bomb(inflated_bytes: int = 6 << 30) -> Iterator[bytes]:
    """A gzip body of zeros that inflates to `inflated_bytes` (about 1000:1), compressed as it
    is sent, so the test never holds more than a megabyte of it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    for _ in range(inflated_bytes // len(block)):
        if out := compressor.compress(block):
            yield out
    yield compressor.flush()


def huge_body(total_bytes: int = 500 << 20) -> Iterator[bytes]:
    """`total_bytes` of JSON-looking text, 64 KB at a time."""
    chunk = b"[" + b"0," * (32 << 10)
    sent = 0
    while sent < total_bytes:
        piece = chunk[: total_bytes - sent]
        sent += len(piece)
        yield piece


def echo_headers(status: int = 500) -> Callable[[Request], Reply]:
    """A route answering with every request header in its body and as Set-Cookie / X-Echo
    headers: a broken proxy or server that reflects the login back."""

    def route(request: Request) -> Reply:
        lines = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        echoed = {"X-Echo-Authorization": request.headers.get("authorization", "")}
        if "cookie" in request.headers:
            echoed["Set-Cookie"] = request.headers["cookie"].split(";")[0]
        return Reply(status, f"<pre>{lines}</pre>", headers=echoed)

    return route


class FakeBackend:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._stop = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    self.path.split("?")[0],
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                backend.requests.append(request)
                route = backend.routes.get(request.path)
                if route is None:
                    reply = Reply(404, {"detail": "Not Found"})
                else:
                    reply = route(request) if callable(route) else route
                if reply.delay:
                    backend._stop.wait(reply.delay)
                body, content_type = reply.encoded()
                try:
                    self._send_head(reply, content_type, body)
                    if reply.stream is not None:
                        for chunk in reply.stream:
                            if backend._stop.is_set():
                                break
                            self.wfile.write(chunk)
                        self.close_connection = True
                    elif reply.trickle:
                        self._trickle(body, reply.trickle)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def _send_head(self, reply: Reply, content_type: str, body: bytes) -> None:
                if reply.trickle_headers:
                    self.wfile = _Trickling(self.wfile, reply.trickle, backend._stop)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.get("Content-Type", content_type))
                for key, value in reply.headers.items():
                    if key != "Content-Type":
                        self.send_header(key, value)
                if reply.stream is None:
                    self.send_header("Content-Length", str(len(body)))
                elif reply.stream_length is not None:
                    self.send_header("Content-Length", str(reply.stream_length))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()

            def _trickle(self, body: bytes, seconds: float) -> None:
                for index in range(len(body)):
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    if backend._stop.wait(seconds):
                        return

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        """What Codex's `chatgpt_base_url` should be set to."""
        return f"http://127.0.0.1:{self.port}/backend-api"

    def start(self) -> FakeBackend:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
