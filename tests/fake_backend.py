"""A real HTTP server on 127.0.0.1 standing in for chatgpt.com in tests.

Routes map a path (without the query) to a Reply or to a function of the request that returns one.
Every request is recorded with its headers so tests can check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering: a hang when larger than the timeout

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
                    self.send_response(reply.status)
                    self.send_header(
                        "Content-Type", reply.headers.get("Content-Type", content_type)
                    )
                    for key, value in reply.headers.items():
                        if key != "Content-Type":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

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
