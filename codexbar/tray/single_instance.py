"""One tray per user: the first instance listens on a local socket; a second one asks it to
refresh and exits.

A Unix-domain socket where the platform has one (binding it is the lock, atomically); elsewhere
a loopback TCP port written to a file. Only the word `refresh` is understood.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from codexbar import paths

log = logging.getLogger(__name__)

MESSAGE = b"refresh\n"
_MAX_UNIX_PATH = 100  # sun_path is 104-108 bytes depending on the platform


def _use_unix() -> bool:
    return hasattr(socket, "AF_UNIX") and os.name != "nt"


def socket_path() -> Path:
    path = paths.data_dir() / "tray.sock"
    if len(str(path)) <= _MAX_UNIX_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"codexbar-{digest}.sock"


def port_path() -> Path:
    return paths.data_dir() / "tray.port"


def _connect() -> socket.socket | None:
    try:
        if _use_unix():
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(2)
            client.connect(str(socket_path()))
        else:
            port = int(port_path().read_text().strip())
            client = socket.create_connection(("127.0.0.1", port), timeout=2)
        return client
    except (OSError, ValueError):
        return None


def _alive() -> bool:
    client = _connect()
    if client is None:
        return False
    client.close()
    return True


def ask_running_instance() -> bool:
    """Tell a running tray to refresh. True when one answered."""
    client = _connect()
    if client is None:
        return False
    with client:
        try:
            client.sendall(MESSAGE)
            return client.recv(16).startswith(b"ok")
        except OSError:
            return False


class InstanceLock:
    """Held by the running tray; `on_refresh` runs (on the listener thread) for each request."""

    def __init__(self, server: socket.socket, on_refresh: Callable[[], None]) -> None:
        self._server = server
        self._on_refresh = on_refresh
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="codexbar-instance", daemon=True)
        self._thread.start()

    @classmethod
    def acquire(cls, on_refresh: Callable[[], None]) -> InstanceLock | None:
        """The lock, or None when another tray is running."""
        server = _bind()
        return None if server is None else cls(server, on_refresh)

    def _serve(self) -> None:
        self._server.settimeout(0.25)  # so close() is noticed quickly
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client:
                try:
                    client.settimeout(2)
                    if client.recv(64).strip() == MESSAGE.strip():
                        client.sendall(b"ok\n")
                        self._on_refresh()
                except OSError:
                    continue

    def close(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._server.close()
        if _use_unix():
            with contextlib.suppress(OSError):
                socket_path().unlink()
        else:
            with contextlib.suppress(OSError):
                port_path().unlink()


def _bind() -> socket.socket | None:
    if not _use_unix():
        if _alive():
            return None
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port_path().parent.mkdir(parents=True, exist_ok=True)
        port_path().write_text(str(server.getsockname()[1]))
        return server
    path = socket_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(str(path))
            os.chmod(path, 0o600)
            server.listen(4)
            return server
        except OSError:
            server.close()
            if _alive():
                return None  # a live tray owns it
            # A socket file left by a tray that crashed: nobody listens, so take it over.
            with contextlib.suppress(OSError):
                path.unlink()
    return None
