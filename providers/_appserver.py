"""A small client for `codex app-server`: newline-delimited JSON-RPC over the child's stdio.

Codex omits the `"jsonrpc": "2.0"` field and interleaves notifications with replies, so replies are
matched by `id` on a reader thread and everything else goes to a callback. Every wait has a
deadline; the child is always stopped as a process group.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import os
import re
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codexbar import __version__
from codexbar.codex_cli import IS_WINDOWS, popen_group, start_failure, stop_group
from codexbar.errors import ErrorKind, SourceError
from codexbar.redact import redact

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0  # spawn + `initialize`
REQUEST_TIMEOUT_SECONDS = 5.0
MAX_LINE_BYTES = 1 << 20  # a longer line is not a reply we can use; it is skipped
# A child that does not read its input gets this long to make room for a request; a reply to
# its own requests (which we decline) is dropped rather than waited for.
WRITE_TIMEOUT_SECONDS = 2.0
_STDERR_TAIL_LINES = 20
_STDERR_SHOWN_CHARS = 300
_NO_APP_SERVER = re.compile(
    r"unrecognized subcommand|unknown subcommand|unexpected argument '?app-server|"
    r"no such (sub)?command",
    re.I,
)
_REPLY_ID = re.compile(rb'"id"\s*:\s*(\d{1,12})\b')
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

Notification = Callable[[str, Any], None]


@dataclass
class RpcError(Exception):
    """An error reply: `{id, error: {code, message}}`."""

    code: int
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: RpcError | None = None
    unreadable: bool = False  # the reply arrived but is not JSON we can read


class _Stalled(Exception):
    """The child stopped reading its input (its pipe stayed full past the write timeout)."""


class AppServer:
    """One running `codex … app-server`. Create with `AppServer.start`, stop with `close`."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self.argv = argv
        self._cleanup = cleanup  # run once the child is gone (its scratch home is removed)
        self.on_notification: Notification | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._exited = threading.Event()
        self._closed = False
        self._stalled = False
        try:
            self.process = popen_group(argv, env, cwd)
        except OSError as error:
            raise start_failure(argv[0], error) from None
        self._threads = [
            threading.Thread(target=self._read_stdout, name="codex-rpc-out", daemon=True),
            threading.Thread(target=self._read_stderr, name="codex-rpc-err", daemon=True),
        ]
        self._stdin_fd = self.process.stdin.fileno() if self.process.stdin else None
        if self._stdin_fd is not None and not IS_WINDOWS:
            os.set_blocking(self._stdin_fd, False)
        for thread in self._threads:
            thread.start()

    @classmethod
    def start(
        cls,
        argv: list[str],
        env: Mapping[str, str],
        *,
        timeout: float | None = None,
        on_notification: Notification | None = None,
        cleanup: Callable[[], None] | None = None,
    ) -> AppServer:
        """Spawn the server and complete the `initialize` / `initialized` handshake."""
        timeout = START_TIMEOUT_SECONDS if timeout is None else timeout
        server = cls(argv, env, cleanup=cleanup)
        server.on_notification = on_notification
        try:
            server.call(
                "initialize",
                {"clientInfo": {"name": "codexbar", "title": "codexbar", "version": __version__}},
                timeout=timeout,
            )
            server.notify("initialized")
        except BaseException:
            server.close()
            raise
        return server

    @property
    def alive(self) -> bool:
        return not self._closed and not self._exited.is_set() and self.process.poll() is None

    @property
    def pid(self) -> int:
        return self.process.pid

    # -- sending -----------------------------------------------------------------------------

    def _write(self, message: dict[str, Any], timeout: float = WRITE_TIMEOUT_SECONDS) -> None:
        """Write one line to the child's stdin, giving up after `timeout` seconds of a full pipe.

        The descriptor is non-blocking and written directly (the Popen buffer stays empty, so
        closing it never blocks either): a child that floods us without reading its input can
        make us drop a message, never hang."""
        data = memoryview((json.dumps(message, separators=(",", ":")) + "\n").encode())
        if not self._write_lock.acquire(timeout=timeout):
            raise _Stalled
        try:
            fd = self._stdin_fd
            if fd is None or self._closed or self._stalled:
                raise BrokenPipeError
            deadline = time.monotonic() + timeout
            while data:
                try:
                    data = data[os.write(fd, data) :]
                    continue
                except BlockingIOError:
                    pass
                left = deadline - time.monotonic()
                if left <= 0:
                    # Half a line may be in the pipe now: nothing more can be sent sensibly.
                    self._stalled = True
                    raise _Stalled
                select.select([], [fd], [], min(left, 0.05))
        finally:
            self._write_lock.release()

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        with contextlib.suppress(OSError, ValueError, _Stalled):
            self._write(message)

    def send(self, method: str, params: Any = None) -> int:
        """Send a request without waiting; returns its id for `wait`."""
        request_id = next(self._ids)
        pending = _Pending()
        with self._lock:
            self._pending[request_id] = pending
            if self._exited.is_set():  # it exited before we asked: fail at once, not on timeout
                pending.result = _EXITED
                pending.done.set()
                return request_id
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        # On a broken pipe the reader sees EOF and fails every waiter with the exit status; a
        # child that stopped reading shows up as the request's timeout.
        with contextlib.suppress(OSError, ValueError, _Stalled):
            self._write(message)
        return request_id

    def wait(
        self,
        request_id: int,
        method: str,
        deadline: float,
        seconds: float,
        hint: str = "It was stopped; refresh to try again, or run `codexbar doctor`.",
    ) -> Any:
        """The result of request `request_id`; RpcError for an error reply, SourceError when the
        server exits or `deadline` (which is `seconds` after sending) passes."""
        with self._lock:
            pending = self._pending[request_id]
        if not pending.done.wait(max(0.0, deadline - time.monotonic())):
            with self._lock:
                self._pending.pop(request_id, None)
            raise SourceError(
                ErrorKind.TIMEOUT,
                f"The Codex CLI did not answer `{method}` within {_seconds(seconds)} s.",
                hint,
            )
        with self._lock:
            self._pending.pop(request_id, None)
        if pending.error is not None:
            raise pending.error
        if pending.unreadable:
            raise SourceError(
                ErrorKind.PARSE,
                f"The Codex CLI answered `{method}` with something codexbar cannot read (not "
                "JSON, or a number too large to be real).",
                "Update the Codex CLI, or try `--source oauth`.",
            )
        if pending.result is _EXITED:
            raise self._exit_error(method)
        return pending.result

    def call(self, method: str, params: Any = None, *, timeout: float) -> Any:
        request_id = self.send(method, params)
        return self.wait(request_id, method, time.monotonic() + timeout, timeout)

    def _exit_error(self, method: str) -> SourceError:
        with contextlib.suppress(Exception):
            self.process.wait(timeout=1.0)
        # What it printed on its way out is the explanation: let the stderr reader finish.
        self._threads[1].join(timeout=1.0)
        code = self.process.returncode
        tail = self.stderr_tail()
        said = " / ".join(tail[-3:])
        if len(said) > _STDERR_SHOWN_CHARS:
            said = "…" + said[-_STDERR_SHOWN_CHARS:]
        if _NO_APP_SERVER.search(said):
            return SourceError(
                ErrorKind.UNSUPPORTED,
                f"This Codex CLI ({self.argv[0]}) has no app-server (it said: {said}).",
                "Update it with `npm i -g @openai/codex`, or use `--source oauth`.",
            )
        status = f"with code {code}" if code is not None else "(it closed its output)"
        detail = f"; it said: {said}" if said else ", saying nothing"
        return SourceError(
            ErrorKind.UNSUPPORTED,
            f"The Codex CLI's app-server exited {status} before answering `{method}`{detail}.",
            "Run `codex app-server` in a terminal to see why, or run `codexbar doctor`.",
        )

    def stderr_tail(self) -> list[str]:
        lines = (_ANSI.sub("", line).strip() for line in self._stderr)
        return [redact(line) for line in lines if line]

    # -- receiving ---------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                line = stdout.readline(MAX_LINE_BYTES)
                if not line:
                    break
                if not line.endswith(b"\n") and len(line) >= MAX_LINE_BYTES:
                    while (rest := stdout.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    log.debug("codex app-server: skipped a line longer than 1 MiB")
                    continue
                self._dispatch(line)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._exited.set()
                waiting = list(self._pending.values())
            for pending in waiting:
                if not pending.done.is_set():
                    pending.result = _EXITED
                    pending.done.set()

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            # A reply we cannot read (a 5000-digit number, nesting too deep) fails its request
            # at once instead of leaving it to time out.
            log.debug("codex app-server: skipped a line that is not JSON")
            found = _REPLY_ID.search(line[:200])
            with self._lock:
                pending = self._pending.get(int(found.group(1))) if found else None
            # A line cut off by the child's exit is a crash, reported as the exit.
            complete = line.endswith(b"\n")
            if pending is not None and complete and b'"method"' not in line[:200]:
                pending.unreadable = True
                pending.done.set()
            return
        if not isinstance(message, dict):
            return
        method = message.get("method")
        request_id = message.get("id")
        if isinstance(method, str):
            if request_id is None:
                self._deliver_notification(method, message.get("params"))
            else:  # a server→client request (approvals); a read-only client declines them
                # ...without waiting: a child flooding requests may not be reading our answers.
                with contextlib.suppress(OSError, ValueError, _Stalled):
                    self._write(
                        {
                            "id": request_id,
                            "error": {"code": -32601, "message": "codexbar only reads usage"},
                        },
                        timeout=0.0,
                    )
            return
        with self._lock:
            pending = self._pending.get(request_id) if isinstance(request_id, int) else None
        if pending is None:
            return  # a late reply to a request that already timed out
        error = message.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            pending.error = RpcError(
                code if isinstance(code, int) else 0, str(error.get("message") or "")
            )
        else:
            pending.result = message.get("result")
        pending.done.set()

    def _deliver_notification(self, method: str, params: Any) -> None:
        callback = self.on_notification
        if callback is None:
            return
        try:
            callback(method, params)
        except Exception:  # a listener's bug must not stop the reader
            log.exception("handling the %s notification failed", method)

    def _read_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(lambda: stderr.readline(MAX_LINE_BYTES), b""):
                self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    # -- stopping ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the server and its helpers, and join the reader threads. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        process = self.process
        # Nothing is ever buffered in process.stdin (see _write), so closing it cannot block on
        # a child that stopped reading. Taking the write lock first would: not done.
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.close()
        stop_group(process.pid, lambda: process.poll() is not None)
        for thread, stream in zip(self._threads, (process.stdout, process.stderr), strict=True):
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
            # A reader still blocked (a helper that escaped the group holds the pipe) would make
            # close() wait for it; leave that one descriptor to the garbage collector instead.
            if stream is not None and not thread.is_alive():
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        if self._cleanup is not None:
            self._cleanup()


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 1 else f"{max(seconds, 0):.1f}"


_EXITED = object()
