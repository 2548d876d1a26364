"""codexbar's own settings: a small TOML file with documented defaults.

A broken file is reported (with its line) and left exactly as it is; the app then runs on defaults.
Writes go through a temporary file and a rename, and keep the user's comments and layout.
"""

from __future__ import annotations

import errno
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codexbar import paths
from codexbar.safe_files import UnreadableFile, read_text

if TYPE_CHECKING:
    import tomlkit

# Our settings are a few hundred bytes; a file past this is not ours to parse.
MAX_SETTINGS_BYTES = 1024 * 1024

SOURCE_CHOICES = ("auto", "oauth", "rpc", "pty", "web", "logs")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Setting:
    key: str  # dotted: "web.cookies" lives in the [web] table
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    # A value that opens a door (a bearer token): listings show that it is set, never what it is.
    secret: bool = False
    # Earlier names of choices, still accepted so an older settings file stays valid.
    aliases: dict[str, str] | None = field(default=None, hash=False, compare=False)

    def parse_text(self, text: str) -> Any:
        """Turn what the user typed after `config set KEY` into a value of the right type."""
        default = self.default
        if isinstance(default, bool):
            value: Any = _parse_bool(text)
        elif isinstance(default, int):
            value = int(text.strip())
        elif isinstance(default, list):
            items = [part.strip() for part in text.split(",") if part.strip()]
            value = [int(p) for p in items] if self._int_list() else items
        else:
            value = text.strip()
        return self.validate(value)

    def _int_list(self) -> bool:
        return self.key == "notify.thresholds"

    def validate(self, value: Any) -> Any:
        default = self.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("expected a whole number")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"must be at most {self.maximum}")
        elif isinstance(default, list):
            if not isinstance(value, list):
                raise ValueError("expected a list")
            if self._int_list():
                if not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 < v < 100 for v in value
                ):
                    raise ValueError("expected percentages between 1 and 99")
                value = sorted(set(value), reverse=True)
            elif not all(isinstance(v, str) for v in value):
                raise ValueError("expected a list of strings")
        elif not isinstance(value, str):
            raise ValueError("expected text")
        if self.aliases and value in self.aliases:
            value = self.aliases[value]
        if self.choices is not None and value not in self.choices:
            raise ValueError("expected one of " + ", ".join(map(str, self.choices)))
        return value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "source",
        "auto",
        "Usage source: auto walks oauth, rpc, pty, web (if enabled), logs.",
        choices=SOURCE_CHOICES,
    ),
    Setting(
        "refresh_minutes",
        5,
        "Minutes between refreshes in the tray; 0 means manual only.",
        choices=(0, 1, 2, 5, 15, 30),
    ),
    Setting("show_used", False, "Show how much is used instead of how much is left."),
    Setting(
        "theme",
        "auto",
        "The panel the tray icon sits on: auto (ask the desktop; a look for any panel when it "
        "cannot tell), light-panel (dark bars) or dark-panel (light bars).",
        choices=("auto", "light-panel", "dark-panel"),
        aliases={"light": "light-panel", "dark": "dark-panel"},
    ),
    Setting("codex_homes", [], "Codex homes to read; empty means $CODEX_HOME or ~/.codex."),
    Setting("codex_path", "", "Path of the codex executable; empty means search PATH."),
    Setting("cost_days", 30, "Days of history in the cost summary.", minimum=1, maximum=365),
    Setting(
        "tray.account",
        "",
        "With several Codex homes, the account the tray icon shows (an email or a home); "
        "empty shows the most constrained one.",
    ),
    Setting("notify.enabled", True, "Desktop notifications for limit changes."),
    Setting("notify.thresholds", [50, 20], "Warn when a window falls below these percents left."),
    Setting(
        "notify.pace",
        True,
        "Warn once per window when it is projected to run out over 30 minutes before its reset.",
    ),
    Setting("launch_at_login", False, "Start the tray when you log in."),
    Setting(
        "web.cookies",
        "off",
        "chatgpt.com cookies: off, browser or manual (pasted header).",
        choices=("off", "browser", "manual"),
    ),
    Setting(
        "web.browser",
        "auto",
        "Browser to read cookies from; auto tries them in order.",
        choices=("auto", "firefox", "chrome", "chromium", "brave", "edge", "vivaldi", "opera"),
    ),
    Setting(
        "auto_deadline_seconds",
        20,
        "Seconds Auto may spend on one reading across all its sources.",
        minimum=5,
        maximum=120,
    ),
    Setting(
        "metrics.token",
        "",
        "Bearer token a scraper sends to the dashboard's GET /metrics; needed to listen beyond "
        "127.0.0.1 (16 characters or more).",
        secret=True,
    ),
    Setting(
        "rpc.idle_minutes",
        10,
        "Stop the kept-alive codex app-server after this many idle minutes.",
        minimum=1,
        maximum=1440,
    ),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


class SettingsError(Exception):
    pass


def lookup(key: str) -> Setting:
    try:
        return SETTINGS_BY_KEY[key]
    except KeyError:
        known = ", ".join(SETTINGS_BY_KEY)
        raise SettingsError(f"Unknown setting {key!r}. Known settings: {known}.") from None


def _dig(table: dict[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = table
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


@dataclass(frozen=True)
class Settings:
    values: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # Problems found while loading, each a sentence naming the file and line; the app shows them
    # in `doctor` and the tray and carries on with defaults for the affected keys.
    problems: tuple[str, ...] = ()

    def get(self, key: str) -> Any:
        return self.values.get(key, lookup(key).default)

    def __getitem__(self, key: str) -> Any:
        return self.get(key)


def _describe_decode_error(path: Path, error: tomllib.TOMLDecodeError) -> str:
    return (
        f"Settings file {path} is not valid TOML ({error}); using defaults. "
        "The file was left as it is: fix or delete it."
    )


def _read_settings_text(path: Path) -> str | None:
    """The settings file's text; None when there is none; UnreadableFile (in words) when there
    is something we cannot read: a folder, a FIFO (which would block for ever), not UTF-8."""
    if not os.path.lexists(path):
        return None
    return read_text(path, MAX_SETTINGS_BYTES)


def load(path: Path | None = None) -> Settings:
    path = path or paths.settings_path()
    try:
        text = _read_settings_text(path)
        if text is None:
            return Settings(path=path)
        data = tomllib.loads(text)
    except UnreadableFile as error:
        return Settings(
            path=path,
            problems=(f"Settings file: {error}; using defaults. The file was left as it is.",),
        )
    except tomllib.TOMLDecodeError as error:
        return Settings(path=path, problems=(_describe_decode_error(path, error),))
    except RecursionError:
        return Settings(
            path=path,
            problems=(
                f"Settings file {path} is nested too deeply to be codexbar's settings; using "
                "defaults. The file was left as it is: fix or delete it.",
            ),
        )

    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        present, raw = _dig(data, setting.key)
        if not present:
            continue
        try:
            values[setting.key] = setting.validate(raw)
        except ValueError as error:
            problems.append(
                f"Settings file {path}: {setting.key} = {raw!r} is invalid ({error}); "
                f"using the default {setting.default!r}."
            )
    return Settings(values=values, path=path, problems=tuple(problems))


def atomic_write_text(path: Path, text: str, mode: int = paths.PRIVATE_FILE_MODE) -> None:
    """Write `text` so that readers see either the old or the new file, never half of one."""
    paths.ensure_private_dir(path.parent)
    import tempfile  # only when writing: it costs every command's start-up

    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _edit_document(path: Path, change: Callable[[tomlkit.TOMLDocument], None]) -> None:
    """Apply `change` to the settings file. Anything that stops it is a SettingsError in words,
    and the file is then left exactly as it was."""
    import tomlkit  # only when writing (it keeps the user's comments): a tenth of start-up

    try:
        text = _read_settings_text(path) or ""
    except UnreadableFile as error:
        raise SettingsError(
            f"Settings file: {error}; not changing it. Fix or delete it, then try again."
        ) from None
    try:
        tomllib.loads(text)
        document = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.ParseError) as error:
        raise SettingsError(
            f"Settings file {path} is not valid TOML ({error}); not changing it. "
            "Fix or delete the file, then try again."
        ) from None
    except RecursionError:
        raise SettingsError(
            f"Settings file {path} is nested too deeply to be codexbar's settings; not "
            "changing it. Fix or delete the file, then try again."
        ) from None
    change(document)
    try:
        atomic_write_text(path, tomlkit.dumps(document))
    except OSError as error:
        raise SettingsError(
            f"Could not save the settings in {path.parent} ({_why_not_written(error)}); "
            "nothing was changed."
        ) from None


def _why_not_written(error: OSError) -> str:
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the disk is read-only",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.ENOTDIR: "a file is in the way of the folder",
        errno.EISDIR: "a folder is in the way of the file",
    }
    return reasons.get(error.errno or 0, "the file system refused")


def save_values(values: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """Validate and store several settings in one atomic write, keeping the rest of the file
    (and its comments) intact. Nothing is written unless every value is valid."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        try:
            checked[key] = lookup(key).validate(value)
        except ValueError as error:
            raise SettingsError(f"Invalid value for {key}: {error}.") from None

    def change(document: tomlkit.TOMLDocument) -> None:
        import tomlkit

        for key, value in checked.items():
            *tables, name = key.split(".")
            node: Any = document
            for table in tables:
                if table not in node or not isinstance(node[table], dict):
                    node[table] = tomlkit.table()
                node = node[table]
            node[name] = value

    _edit_document(path or paths.settings_path(), change)
    return checked


def save_value(key: str, value: Any, path: Path | None = None) -> Any:
    """Validate and store one setting."""
    return save_values({key: value}, path)[key]


def set_from_text(key: str, text: str, path: Path | None = None) -> Any:
    setting = lookup(key)
    try:
        value = setting.parse_text(text)
    except ValueError as error:
        raise SettingsError(f"Invalid value for {key}: {error}.") from None
    return save_value(key, value, path)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
