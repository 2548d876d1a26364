"""Where codexbar keeps its own files (never inside a Codex home)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "codexbar"


def _dir(env_var: str, default: str) -> Path:
    override = os.environ.get(env_var, "").strip()
    return Path(override).expanduser() if override else Path(default)


def config_dir() -> Path:
    """`~/.config/codexbar` on Linux; `CODEXBAR_CONFIG_DIR` overrides it."""
    return _dir("CODEXBAR_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """`~/.local/share/codexbar` on Linux; `CODEXBAR_DATA_DIR` overrides it."""
    return _dir("CODEXBAR_DATA_DIR", platformdirs.user_data_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "config.toml"


def store_path() -> Path:
    return data_dir() / "codexbar.sqlite3"
