"""Keeping tokens and cookies out of everything we print, log or store.

Two nets: the actual secret values this process has seen (Codex's tokens, the user's cookies),
which `remember()` adds to a process-wide set, and patterns for anything shaped like a token.
The values matter most: a refresh token is opaque, and no pattern recognises it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "«redacted»"
# Shorter values would mask ordinary words; no real token or cookie is this short.
MIN_SECRET_LENGTH = 8

_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),  # API keys
    re.compile(r"\brt_[A-Za-z0-9._-]{8,}"),  # Codex refresh tokens
    re.compile(r"(?i)((?:cookie|set-cookie)\s*[:=]\s*)[^\r\n]+"),
    re.compile(r"(?i)(__Secure-next-auth\.session-token[^=]*=)[^;\s]+"),
    re.compile(r"(?i)((?:access|refresh|id)_?token\"?\s*[:=]\s*\"?)[^\"\s,}]+"),
)

_known: set[str] = set()
_known_lock = threading.Lock()


def remember(values: Iterable[str | None]) -> None:
    """Add secret values (tokens, cookie values) that must never be shown, for the process's
    lifetime: every later `redact()` masks them, whoever calls it."""
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    if fresh:
        with _known_lock:
            _known.update(fresh)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret value, those in `secrets`, and anything shaped like a token
    masked."""
    with _known_lock:
        values = set(_known)
    values.update(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH)
    # Longest first, so a value that contains another is masked whole.
    for secret in sorted(values, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text
