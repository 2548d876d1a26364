"""The preferences window (Tk, in its own process so it never fights the tray's main loop).

`validate_form` and `save_form` hold all the logic and are tested without a display; the window
only collects strings and booleans. Every value is validated before anything is written, and the
settings file is written once, atomically; the tray notices the change and applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codexbar import paths
from codexbar import settings as settings_module
from codexbar.settings import SettingsError, lookup

SOURCES = (
    ("auto", "Auto"),
    ("oauth", "OAuth"),
    ("rpc", "Codex CLI"),
    ("pty", "Codex CLI /status"),
    ("web", "chatgpt.com cookies"),
    ("logs", "Session logs"),
)
COOKIE_MODES = (("off", "Off"), ("browser", "From my browser"), ("manual", "Pasted Cookie header"))
THEMES = (
    ("auto", "Automatic (ask the desktop)"),
    ("light-panel", "For light panels (dark bars)"),
    ("dark-panel", "For dark panels (light bars)"),
)
# Field names as the window shows them, so every message names what the user sees.
LABELS = {
    "source": "Usage source",
    "refresh_minutes": "Refresh every",
    "show_used": "Show usage as used",
    "theme": "Icon colours",
    "notify.thresholds": "Warn below (% left)",
    "notify.enabled": "Desktop notifications",
    "codex_homes": "Codex home folders",
    "codex_path": "Codex CLI path",
    "cost_days": "Cost window (days)",
    "launch_at_login": "Launch at login",
    "web.cookies": "chatgpt.com cookies",
    "web.browser": "Browser",
}
SUCCESS_COLOUR = "#1a6b2a"
ERROR_COLOUR = "#a33"


class PrefsUnavailable(Exception):
    pass


@dataclass
class Validated:
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cookie_header: str | None = None  # a newly pasted header, to store in the keyring


def form_from_settings(settings: settings_module.Settings) -> dict[str, Any]:
    """The form's fields as the window shows them (text fields as text)."""
    return {
        "source": settings.get("source"),
        "refresh_minutes": str(settings.get("refresh_minutes")),
        "show_used": settings.get("show_used"),
        "theme": settings.get("theme"),
        "notify.thresholds": ", ".join(str(t) for t in settings.get("notify.thresholds")),
        "notify.enabled": settings.get("notify.enabled"),
        "codex_homes": "\n".join(settings.get("codex_homes")),
        "codex_path": settings.get("codex_path"),
        "cost_days": str(settings.get("cost_days")),
        "launch_at_login": settings.get("launch_at_login"),
        "web.cookies": settings.get("web.cookies"),
        "web.browser": settings.get("web.browser"),
        "cookie_header": "",
    }


def _number_problem(setting: settings_module.Setting, raw: str) -> str | None:
    """What is wrong with typed text for a number field, in words (before Python's own
    "invalid literal for int()" can reach the window)."""
    text = raw.strip()
    if setting.key == "notify.thresholds":
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            return "enter whole percentages between 1 and 99, separated by commas"
        return None
    is_number = isinstance(setting.default, int) and not isinstance(setting.default, bool)
    if is_number and not text.isdigit():
        return "enter a whole number"
    return None


def _codex_path_problem(raw: str) -> str | None:
    from codexbar.codex_cli import find_codex
    from codexbar.errors import SourceError

    try:
        find_codex(raw, {})
    except SourceError:
        return "not an executable file, nor a folder that holds the codex program"
    return None


def validate_form(form: Mapping[str, Any]) -> Validated:
    """Every field checked against the settings schema; messages name the field as the window
    shows it and say in words what to enter."""
    result = Validated()
    for key, raw in form.items():
        if key == "cookie_header":
            continue
        setting = lookup(key)
        label = LABELS.get(key, key)
        try:
            if key == "codex_homes":
                homes = [line.strip() for line in str(raw).splitlines() if line.strip()]
                missing = [h for h in homes if not Path(h).expanduser().is_dir()]
                if missing:
                    raise ValueError("not a folder: " + ", ".join(missing))
                value: Any = setting.validate(homes)
            elif key == "codex_path":
                value = str(raw).strip()
                if value and (problem := _codex_path_problem(value)):
                    raise ValueError(problem)
            elif isinstance(raw, str) and not isinstance(setting.default, str):
                if problem := _number_problem(setting, raw):
                    raise ValueError(problem)
                value = setting.parse_text(raw)
            else:
                value = setting.validate(raw)
        except ValueError as error:
            result.errors.append(f"{label}: {error}")
            continue
        result.values[key] = value
    header = str(form.get("cookie_header") or "").strip()
    if header:
        from codexbar.secrets import clean_cookie_header

        try:
            result.cookie_header = clean_cookie_header(header)
        except ValueError as error:
            result.errors.append(f"Cookie header: {error}")
    if result.values.get("web.cookies") == "manual" and not header:
        from codexbar.secrets import COOKIE_HEADER, get_secret

        if not get_secret(COOKIE_HEADER):
            result.errors.append(
                "Cookie header: paste the Cookie header from chatgpt.com, or pick another mode."
            )
    return result


def save_form(validated: Validated, path: Path | None = None) -> list[str]:
    """Write all values in one atomic replace (comments and unknown keys kept), store a pasted
    cookie header in the keyring, and switch launch at login. Returns what to tell the user."""
    if validated.errors:
        raise SettingsError("; ".join(validated.errors))
    path = path or paths.settings_path()
    previous = settings_module.load(path)
    settings_module.save_values(validated.values, path)
    messages = [f"Saved to {path}."]
    if validated.cookie_header:
        from codexbar.secrets import COOKIE_HEADER, set_secret

        messages.append(
            f"Cookie header stored {set_secret(COOKIE_HEADER, validated.cookie_header)}."
        )
    login = validated.values.get("launch_at_login")
    if login is not None and login != previous.get("launch_at_login"):
        from codexbar.tray import autostart

        try:
            state = autostart.enable() if login else autostart.disable()
            messages.append(f"Launch at login: {autostart.describe(state)}.")
        except OSError as error:
            messages.append(f"Launch at login could not be changed: {in_words(error)}.")
    return messages


def in_words(error: OSError) -> str:
    """`permission denied (/path)` rather than `[Errno 13] Permission denied: '/path'`."""
    words = (error.strerror or "the file could not be written").lower()
    return f"{words} ({error.filename})" if error.filename else words


def run_window() -> None:  # pragma: no cover - exercised by hand and under Xvfb
    try:
        import tkinter as tk
        from tkinter import ttk
    except ImportError as error:
        raise PrefsUnavailable(
            f"The preferences window needs Tk ({error}). Install it (Debian/Ubuntu: "
            "`sudo apt install python3-tk`) or use `codexbar config set KEY VALUE`."
        ) from None
    try:
        root = tk.Tk()
    except tk.TclError as error:
        raise PrefsUnavailable(
            f"The preferences window cannot open ({error}). Use `codexbar config set KEY VALUE`."
        ) from None
    _PrefsWindow(root, tk, ttk)
    root.mainloop()


class _PrefsWindow:  # pragma: no cover - a thin view over validate_form / save_form
    def __init__(self, root: Any, tk: Any, ttk: Any) -> None:
        from codexbar.secrets import COOKIE_HEADER, describe_backend, get_secret

        self.root, self.tk = root, tk
        root.title("codexbar preferences")
        settings = settings_module.load()
        form = form_from_settings(settings)
        frame = ttk.Frame(root, padding=12)
        frame.grid(sticky="nsew")
        self.vars: dict[str, Any] = {}
        row = 0

        def label(text: str) -> None:
            ttk.Label(frame, text=text).grid(row=row, column=0, sticky="nw", pady=3, padx=(0, 8))

        def combo(key: str, text: str, choices: tuple[tuple[str, str], ...]) -> None:
            nonlocal row
            label(text)
            names = {title: name for name, title in choices}
            var = tk.StringVar(value=dict(choices).get(form[key], form[key]))
            ttk.Combobox(frame, textvariable=var, values=list(names), state="readonly").grid(
                row=row, column=1, sticky="ew"
            )
            self.vars[key] = (var, names)
            row += 1

        def entry(key: str, text: str) -> None:
            nonlocal row
            label(text)
            var = tk.StringVar(value=form[key])
            ttk.Entry(frame, textvariable=var).grid(row=row, column=1, sticky="ew")
            self.vars[key] = (var, None)
            row += 1

        def check(key: str, text: str) -> None:
            nonlocal row
            var = tk.BooleanVar(value=form[key])
            ttk.Checkbutton(frame, text=text, variable=var).grid(row=row, column=1, sticky="w")
            self.vars[key] = (var, None)
            row += 1

        combo("source", "Usage source", SOURCES)
        minutes = tuple((str(m), f"{m} min" if m else "Manual") for m in (1, 2, 5, 15, 30, 0))
        combo("refresh_minutes", "Refresh every", minutes)
        check("show_used", "Show usage as used (instead of left)")
        combo("theme", LABELS["theme"], THEMES)
        entry("notify.thresholds", "Warn below (% left)")
        check("notify.enabled", "Desktop notifications")
        label("Codex home folders\n(one per line)")
        self.homes = tk.Text(frame, height=3, width=48)
        self.homes.insert("1.0", form["codex_homes"])
        self.homes.grid(row=row, column=1, sticky="ew")
        row += 1
        entry("codex_path", "Codex CLI path\n(empty: search PATH)")
        entry("cost_days", "Cost window (days)")
        check("launch_at_login", "Launch at login")
        combo("web.cookies", "chatgpt.com cookies", COOKIE_MODES)
        browsers = tuple((b, b.capitalize()) for b in lookup("web.browser").choices or ())
        combo("web.browser", "Browser", browsers)
        label("Cookie header")
        self.cookie = tk.StringVar()
        ttk.Entry(frame, textvariable=self.cookie, show="•").grid(row=row, column=1, sticky="ew")
        row += 1
        stored = "a header is stored" if get_secret(COOKIE_HEADER) else "none stored"
        ttk.Label(frame, text=f"({stored}; {describe_backend()})", wraplength=360).grid(
            row=row, column=1, sticky="w"
        )
        row += 1
        self.status = tk.StringVar()
        self.status_label = ttk.Label(frame, textvariable=self.status, wraplength=420)
        self.status_label.grid(row=row, column=0, columnspan=2, sticky="w", pady=6)
        row += 1
        buttons = ttk.Frame(frame)
        buttons.grid(row=row, column=0, columnspan=2, sticky="e")
        ttk.Button(buttons, text="Close", command=root.destroy).pack(side="right")
        ttk.Button(buttons, text="Save", command=self.save).pack(side="right", padx=6)
        frame.columnconfigure(1, weight=1)

    def collect(self) -> dict[str, Any]:
        form: dict[str, Any] = {}
        for key, (var, names) in self.vars.items():
            value = var.get()
            form[key] = names.get(value, value) if names else value
        form["codex_homes"] = self.homes.get("1.0", "end")
        form["cookie_header"] = self.cookie.get()
        return form

    def save(self) -> None:
        validated = validate_form(self.collect())
        if validated.errors:
            self.show("\n".join(validated.errors), ERROR_COLOUR)
            return
        try:
            self.show(" ".join(save_form(validated)), SUCCESS_COLOUR)
            self.cookie.set("")
        except (SettingsError, OSError) as error:
            text = in_words(error) if isinstance(error, OSError) else str(error)
            self.show(f"Not saved: {text}", ERROR_COLOUR)

    def show(self, text: str, colour: str) -> None:
        """Errors in red, success in green: a saved form must not look like a failure."""
        self.status_label.configure(foreground=colour)
        self.status.set(text)
