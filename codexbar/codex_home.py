"""Locating a Codex home and reading (never writing) what Codex keeps there."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codexbar.settings import Settings

DEFAULT_CHATGPT_BASE_URL = "https://chatgpt.com/backend-api"


def resolve_home(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """`--home` if given, else `$CODEX_HOME` if set and non-empty, else `~/.codex` (as Codex)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ if env is None else env
    value = env.get("CODEX_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".codex"


def codex_homes(settings: Settings, explicit: tuple[str, ...] = ()) -> list[Path]:
    """`--home` (repeatable) wins, then the settings' list, then $CODEX_HOME or ~/.codex."""
    if explicit:
        return [resolve_home(h) for h in explicit]
    configured = [h for h in settings.get("codex_homes") if h.strip()]
    if configured:
        return [resolve_home(h) for h in configured]
    return [resolve_home(None)]


def auth_path(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """Newer Codex builds can keep auth.json apart from the rest of the home."""
    env = os.environ if env is None else env
    auth_home = env.get("CODEX_AUTH_HOME", "").strip()
    return (Path(auth_home).expanduser() if auth_home else home) / "auth.json"


def read_codex_config(home: Path) -> dict[str, Any]:
    """Codex's own config.toml, or {} when it is missing or unreadable (Codex reports that)."""
    try:
        with open(home / "config.toml", "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def chatgpt_base_url(config: Mapping[str, Any]) -> str:
    """The backend base Codex talks to, normalised the way Codex normalises it."""
    raw = config.get("chatgpt_base_url")
    base = raw.strip() if isinstance(raw, str) and raw.strip() else DEFAULT_CHATGPT_BASE_URL
    base = base.rstrip("/")
    if (
        base.startswith(("https://chatgpt.com", "https://chat.openai.com"))
        and "/backend-api" not in base
    ):
        base += "/backend-api"
    return base


def usage_url(base: str) -> str:
    return f"{base}/wham/usage" if "/backend-api" in base else f"{base}/api/codex/usage"
