"""Locating a Codex home and reading (never writing) what Codex keeps there."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codexbar.settings import Settings

from codexbar.safe_files import UnreadableFile, read_text

# Codex's config.toml is a few KB; anything near this is not one.
MAX_CONFIG_BYTES = 1024 * 1024

DEFAULT_CHATGPT_BASE_URL = "https://chatgpt.com/backend-api"


def resolve_home(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """`--home` if given, else `$CODEX_HOME` if set and non-empty, else `~/.codex` (as Codex).

    Always absolute: the Codex CLI is started in another working directory, where a relative
    `homes/exp` would name a different folder (or none)."""
    if explicit:
        return _absolute(Path(explicit).expanduser())
    env = os.environ if env is None else env
    value = env.get("CODEX_HOME", "").strip()
    return _absolute(Path(value).expanduser() if value else Path.home() / ".codex")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def codex_homes(settings: Settings, explicit: tuple[str, ...] = ()) -> list[Path]:
    """`--home` (repeatable) wins, then the settings' list, then $CODEX_HOME or ~/.codex. A
    home named twice is one home (one account), in the place it was first named."""
    if explicit:
        return list(dict.fromkeys(resolve_home(h) for h in explicit))
    configured = [h for h in settings.get("codex_homes") if h.strip()]
    if configured:
        return list(dict.fromkeys(resolve_home(h) for h in configured))
    return [resolve_home(None)]


def auth_path(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """Newer Codex builds can keep auth.json apart from the rest of the home."""
    env = os.environ if env is None else env
    auth_home = env.get("CODEX_AUTH_HOME", "").strip()
    return (Path(auth_home).expanduser() if auth_home else home) / "auth.json"


def read_codex_config(home: Path) -> dict[str, Any]:
    """Codex's own config.toml, or {} when it is missing or unreadable (Codex reports that).

    Read through safe_files: a FIFO in its place must not hang us, and a file nested thousands
    of tables deep (RecursionError in the TOML parser) is as unusable as a broken one."""
    try:
        return tomllib.loads(read_text(home / "config.toml", MAX_CONFIG_BYTES))
    except (UnreadableFile, tomllib.TOMLDecodeError, RecursionError):
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
