"""Secrets the user gives us (a pasted chatgpt.com Cookie header): the OS keyring, or a 0600 file.

The keyring is probed once, off the calling thread and with a short timeout: a Secret Service
waiting on an unlock prompt nobody can see, or a D-Bus that never answers, must not hang the
tray. When no backend keyring itself recommends is usable (only `fail`, `null`, an empty chainer
or a plaintext file backend, or the probe errs or hangs), secrets go to `secrets.json` in our
config folder with mode 0600, and every description says plainly that it is not encrypted.
PYTHON_KEYRING_BACKEND (and keyring's keyringrc.cfg) are honoured: a backend the user named is
used even when keyring rates it low, and described as such.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from codexbar import paths
from codexbar.safe_files import MissingFile, UnreadableFile, read_text
from codexbar.settings import atomic_write_text

log = logging.getLogger(__name__)

SERVICE = "codexbar"
COOKIE_HEADER = "cookie-header"
SECRETS_FILE_NAME = "secrets.json"
# How long a keyring call may take before we stop waiting for it (an unlock prompt, a dead bus).
PROBE_TIMEOUT_SECONDS = 3.0
MAX_FILE_BYTES = 1 << 20  # a pasted Cookie header or two: a few KB
CALL_TIMEOUT_SECONDS = 5.0

_T = TypeVar("_T")


class SecretStoreError(Exception):
    """A secret could not be stored or removed; the message says where and why."""


class _Timeout(Exception):
    pass


def _call_with_timeout(function: Callable[[], _T], timeout: float) -> _T:
    """Run `function` in a daemon thread; raise _Timeout if it has not finished in time.

    A thread stuck in a keyring call cannot be killed, but being a daemon it never keeps the
    process alive, and the caller moves on."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed back to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=run, name="codexbar-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _Timeout
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass(frozen=True)
class _Backend:
    keyring: Any | None  # a keyring backend, or None: use the file
    where: str  # "in the system keyring (SecretService Keyring)", "in ~/.config/…/secrets.json …"


_lock = threading.Lock()
_cached: tuple[tuple[str, str], _Backend] | None = None


def _file_path() -> Path:
    return paths.config_dir() / SECRETS_FILE_NAME


def _display_path(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _file_backend(reason: str) -> _Backend:
    return _Backend(None, f"in {_display_path(_file_path())} (0600, not encrypted: {reason})")


def _explicit_backend() -> tuple[Any | None, str | None]:
    """The backend the user named (PYTHON_KEYRING_BACKEND or keyringrc.cfg), and how."""
    import keyring.core

    if os.environ.get("PYTHON_KEYRING_BACKEND", "").strip():
        return keyring.core.load_env(), "PYTHON_KEYRING_BACKEND"
    configured = keyring.core.load_config()
    return (configured, "keyringrc.cfg") if configured is not None else (None, None)


def _unusable(backend: Any) -> str | None:
    """Why this backend must not hold our secrets, or None."""
    from keyring.backends import fail, null
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, fail.Keyring):
        return "no keyring available"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled"
    if isinstance(backend, ChainerBackend) and not _chained(backend):
        return "no keyring available"
    return None


def _chained(chainer: Any) -> Any | None:
    """The backend a chainer writes to, if keyring recommends it. keyring chains even its
    low-priority file backends (keyrings.alt's encrypted one asks for a password on stdin)."""
    first = next(iter(chainer.backends), None)
    return first if first is not None and first.priority >= 1 else None


def _probe() -> _Backend:
    """Pick the backend and prove it answers (a read of an entry that need not exist)."""
    import keyring.backend

    chosen, how = _explicit_backend()
    if chosen is None:
        # keyring's own choice, but only among backends it recommends (priority ≥ 1): its
        # plaintext and "fail" fallbacks would store the secret silently unprotected, or not at all.
        recommended = [b for b in keyring.backend.get_all_keyring() if b.priority >= 1]
        if not recommended:
            return _file_backend("no keyring available")
        chosen = max(recommended, key=keyring.backend.by_priority)
    reason = _unusable(chosen)
    if reason is not None:
        return _file_backend(reason)
    from keyring.backends.chainer import ChainerBackend

    if isinstance(chosen, ChainerBackend):
        chosen = _chained(chosen)
    chosen.get_password(SERVICE, COOKIE_HEADER)
    name = getattr(chosen, "name", type(chosen).__name__)
    if how is None:
        return _Backend(chosen, f"in the system keyring ({name})")
    note = "" if chosen.priority >= 1 else "; keyring does not recommend it, it may not encrypt"
    return _Backend(chosen, f"in the keyring backend {name} (chosen by {how}{note})")


def _backend() -> _Backend:
    """The probed backend, cached per PYTHON_KEYRING_BACKEND value and config folder."""
    global _cached
    key = (os.environ.get("PYTHON_KEYRING_BACKEND", ""), str(paths.config_dir()))
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        try:
            backend = _call_with_timeout(_probe, PROBE_TIMEOUT_SECONDS)
        except _Timeout:
            log.warning("the keyring did not answer within %.0f s", PROBE_TIMEOUT_SECONDS)
            backend = _file_backend(
                f"the keyring did not answer within {PROBE_TIMEOUT_SECONDS:g} s (locked?)"
            )
        except Exception as error:
            # The message of a keyring error never holds a secret: it is about the backend.
            log.warning("the keyring is unusable: %s: %s", type(error).__name__, error)
            backend = _file_backend(f"the keyring failed ({type(error).__name__})")
        _cached = (key, backend)
        return backend


def forget_backend() -> None:
    """Probe again on next use (after the user unlocked or installed a keyring)."""
    global _cached
    with _lock:
        _cached = None


def describe_backend() -> str:
    """Where a secret stored now would go, as a sentence fragment for doctor and preferences."""
    return _backend().where


def _read_file() -> dict[str, str]:
    path = _file_path()
    try:
        data = json.loads(read_text(path, MAX_FILE_BYTES))
    except MissingFile:
        return {}
    except UnreadableFile as error:
        log.warning("%s; ignoring it", error)
        return {}
    except (ValueError, RecursionError):
        log.warning("%s is not a JSON object; ignoring it", path)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_file(values: dict[str, str]) -> None:
    path = _file_path()
    if not values:
        path.unlink(missing_ok=True)
        return
    atomic_write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n", mode=0o600)


def _keyring_call(function: Callable[[], _T]) -> _T:
    try:
        return _call_with_timeout(function, CALL_TIMEOUT_SECONDS)
    except _Timeout:
        raise SecretStoreError(
            f"The keyring did not answer within {CALL_TIMEOUT_SECONDS:g} s (is it locked?)."
        ) from None
    except Exception as error:
        raise SecretStoreError(f"The keyring failed ({type(error).__name__}).") from None


def set_secret(name: str, value: str) -> str:
    """Store `value` under `name` and say where it went ("in the system keyring (…)")."""
    if not value:
        raise ValueError("an empty secret cannot be stored; delete it instead")
    backend = _backend()
    if backend.keyring is None:
        values = _read_file()
        values[name] = value
        _write_file(values)
        return backend.where
    _keyring_call(lambda: backend.keyring.set_password(SERVICE, name, value))
    # A copy left in the file from a time without a keyring would outlive this one.
    values = _read_file()
    if values.pop(name, None) is not None:
        _write_file(values)
    return backend.where


def get_secret(name: str) -> str | None:
    """The stored value, or None. A keyring that fails or hangs reads as None (and is logged)."""
    backend = _backend()
    if backend.keyring is not None:
        try:
            value = _keyring_call(lambda: backend.keyring.get_password(SERVICE, name))
        except SecretStoreError as error:
            log.warning("%s", error)
            value = None
        if value:
            return value
    return _read_file().get(name) or None


def delete_secret(name: str) -> None:
    """Remove the secret from the keyring and from the file; no error when it was not there."""
    backend = _backend()
    values = _read_file()
    if values.pop(name, None) is not None:
        _write_file(values)
    if backend.keyring is None:
        return
    import keyring.errors

    def delete() -> None:
        # Nothing stored is already the state the caller wants.
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            backend.keyring.delete_password(SERVICE, name)

    _keyring_call(delete)


def unwrap_cookie_header(text: str) -> str:
    """A pasted header on one line, without a leading `Cookie:` and surrounding whitespace."""
    text = " ".join(text.split())
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:") :].strip()
    return text


def clean_cookie_header(text: str) -> str:
    """What `config set-cookie` stores: `name=value; …` on one line, or ValueError (which never
    quotes the input: it is a secret)."""
    pairs = [p.strip() for p in unwrap_cookie_header(text).split(";") if p.strip()]
    if not pairs or not all("=" in p and p.split("=", 1)[0].strip() for p in pairs):
        raise ValueError(
            "that does not look like a Cookie header (expected name=value pairs separated by "
            "semicolons, as copied from a chatgpt.com request in your browser's network tab)"
        )
    return "; ".join(pairs)
