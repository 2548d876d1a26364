"""Keeping tokens and cookies out of everything we print, log or store."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "«redacted»"

_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),  # API keys
    re.compile(r"\brt_[A-Za-z0-9._-]{8,}"),  # Codex refresh tokens
    re.compile(r"(?i)((?:cookie|set-cookie)\s*[:=]\s*)[^\r\n]+"),
    re.compile(r"(?i)(__Secure-next-auth\.session-token[^=]*=)[^;\s]+"),
    re.compile(r"(?i)((?:access|refresh|id)_?token\"?\s*[:=]\s*\"?)[^\"\s,}]+"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret value and anything shaped like a token masked."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text
