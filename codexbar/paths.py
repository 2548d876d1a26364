"""Where codexbar keeps its own files (never inside a Codex home)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "codexbar"


def _dir(env_var: str, default: str) -> Path:
    override = os.environ.get(env_var, "").strip()
    return Path(override).expanduser() if override else Path(default)


def _platform_dir(xdg_var: str, xdg_default: str, kind: str) -> str:
    """The XDG folder on Linux and the BSDs, as platformdirs gives it (an empty or relative
    XDG variable is ignored); platformdirs itself elsewhere. Not imported on Linux: it costs
    every command a tenth of its start-up."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        base = os.environ.get(xdg_var, "").strip()
        if not os.path.isabs(base):
            base = os.path.expanduser(xdg_default)
        return os.path.join(base, APP_NAME)
    import platformdirs

    return getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False)


def config_dir() -> Path:
    """`~/.config/codexbar` on Linux; `CODEXBAR_CONFIG_DIR` overrides it."""
    return _dir("CODEXBAR_CONFIG_DIR", _platform_dir("XDG_CONFIG_HOME", "~/.config", "config"))


def data_dir() -> Path:
    """`~/.local/share/codexbar` on Linux; `CODEXBAR_DATA_DIR` overrides it."""
    return _dir("CODEXBAR_DATA_DIR", _platform_dir("XDG_DATA_HOME", "~/.local/share", "data"))


def settings_path() -> Path:
    return config_dir() / "config.toml"


def store_path() -> Path:
    return data_dir() / "codexbar.sqlite3"


# What codexbar keeps (readings with emails and account ids, project paths, a pasted cookie) is
# the user's alone: folders 0700 and files 0600, whatever the umask.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _is_ours(path: Path) -> bool:
    path = Path(os.path.abspath(path))
    for own in (config_dir(), data_dir()):
        own = Path(os.path.abspath(own))
        if path == own or own in path.parents:
            return True
    return False


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as 0700 (mkdir's mode is cut by the umask, and
    `parents=True` gives parents the default mode). One of codexbar's own folders that exists
    with more (an older codexbar made them 0777 under umask 000) is taken down to 0700; a
    folder of someone else's (~/.config/autostart) keeps its mode."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it a moment ago: its mode is its own
        os.chmod(folder, PRIVATE_DIR_MODE)
    if os.name == "posix" and _is_ours(path) and (path.stat().st_mode & 0o777) != 0o700:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def make_private_file(path: Path) -> None:
    """Create `path` empty as 0600 if it is missing, else take its mode down to 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        if os.name == "posix" and (path.stat().st_mode & 0o777) != PRIVATE_FILE_MODE:
            os.chmod(path, PRIVATE_FILE_MODE)
        return
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)  # O_CREAT's mode is cut by the umask; never widened
