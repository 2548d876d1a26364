"""Which colour the panel behind the tray icon is: light, dark, or unknown.

The `theme` setting describes the *panel*: "light-panel" draws dark bars, "dark-panel" light
bars, and "auto" asks the desktop, in this order: GNOME Shell (its top bar is dark whatever the
colour scheme), the XDG desktop portal's `org.freedesktop.appearance` `color-scheme`, GTK's
gsettings, XFCE's xfconf (the panel's own background colour when it has one), KDE's
`kdeglobals`, and the Windows registry. When nothing answers, the answer is "unknown" and the
icon uses its two-tone look, which reads on light and dark panels alike: a wrong guess must
never make the icon invisible.

The answers are cached for a minute: a redraw must not spawn programs every time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

LIGHT, DARK, UNKNOWN = "light", "dark", "unknown"
THEMES = ("auto", "light-panel", "dark-panel")
_FIXED = {"light-panel": LIGHT, "dark-panel": DARK, "light": LIGHT, "dark": DARK}
PROBE_TIMEOUT_SECONDS = 1.0
CACHE_SECONDS = 60.0

Env = Mapping[str, str]
Run = Callable[[list[str]], str | None]


def _run(command: list[str]) -> str | None:
    """A desktop tool's answer, or None when it is missing, fails or hangs."""
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _desktops(env: Env) -> set[str]:
    return {d.strip().upper() for d in env.get("XDG_CURRENT_DESKTOP", "").split(":") if d}


def from_gnome_shell(env: Env, run: Run) -> str | None:
    # GNOME Shell's top bar stays dark in both colour schemes (its extension shows our icon).
    desktops = _desktops(env)
    if "GNOME" in desktops and not desktops & {"UNITY", "BUDGIE", "CINNAMON", "XFCE"}:
        return DARK
    return None


def portal_color_scheme(timeout: float = PROBE_TIMEOUT_SECONDS) -> int | None:
    """The portal's `color-scheme`: 0 no preference, 1 prefers dark, 2 prefers light."""
    try:
        return asyncio.run(asyncio.wait_for(_read_portal(), timeout))
    except Exception:  # no bus, no portal, an old portal without ReadOne: no answer
        return None


async def _read_portal() -> int | None:
    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    bus = await MessageBus().connect()
    try:
        for member in ("ReadOne", "Read"):
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.portal.Desktop",
                    path="/org/freedesktop/portal/desktop",
                    interface="org.freedesktop.portal.Settings",
                    member=member,
                    signature="ss",
                    body=["org.freedesktop.appearance", "color-scheme"],
                )
            )
            if reply is None or reply.message_type != MessageType.METHOD_RETURN:
                continue
            value = reply.body[0].value
            while hasattr(value, "value"):  # `Read` wraps the value in one more variant
                value = value.value
            return int(value)
        return None
    finally:
        bus.disconnect()


def from_portal(env: Env, run: Run) -> str | None:
    scheme = portal_color_scheme()
    return {1: DARK, 2: LIGHT}.get(scheme) if scheme is not None else None


def from_gsettings(env: Env, run: Run) -> str | None:
    scheme = run(["gsettings", "get", "org.gnome.desktop.interface", "color-scheme"])
    if scheme and "dark" in scheme:
        return DARK
    if scheme and "light" in scheme:
        return LIGHT
    gtk = run(["gsettings", "get", "org.gnome.desktop.interface", "gtk-theme"])
    if gtk and "dark" in gtk.lower():
        return DARK
    return None  # 'default' and a plain theme name say nothing about the panel


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def from_xfconf(env: Env, run: Run) -> str | None:
    if "XFCE" not in _desktops(env):
        return None
    channel = ["xfconf-query", "-c", "xfce4-panel", "-p"]
    if run([*channel, "/panels/panel-1/background-style"]) == "1":  # a solid colour
        rgba = run([*channel, "/panels/panel-1/background-rgba"])
        numbers = []
        for line in (rgba or "").splitlines():
            try:
                numbers.append(float(line.strip()))
            except ValueError:
                continue
        if len(numbers) >= 3:
            return DARK if _luminance(tuple(numbers[:3])) < 0.18 else LIGHT
    dark_mode = run([*channel, "/panels/dark-mode"])
    if dark_mode == "true":
        return DARK
    theme = run(["xfconf-query", "-c", "xsettings", "-p", "/Net/ThemeName"])
    if theme:
        return DARK if "dark" in theme.lower() else LIGHT
    return None


def from_kdeglobals(env: Env, run: Run) -> str | None:
    if "KDE" not in _desktops(env):
        return None
    path = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kdeglobals"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("ColorScheme="):
            return DARK if "dark" in line.lower() else LIGHT
    return None


def from_gtk_theme_env(env: Env, run: Run) -> str | None:
    gtk_theme = env.get("GTK_THEME", "").lower()
    if not gtk_theme:
        return None
    return DARK if "dark" in gtk_theme else LIGHT


def from_windows(env: Env, run: Run) -> str | None:
    if sys.platform != "win32":
        return None
    try:
        import winreg

        key = winreg.OpenKey(
            winreg.HKEY_CURRENT_USER,
            r"Software\Microsoft\Windows\CurrentVersion\Themes\Personalize",
        )
        value, _ = winreg.QueryValueEx(key, "SystemUsesLightTheme")  # the taskbar's colour
        return LIGHT if value else DARK
    except OSError:
        return None


PROBES = (
    from_gtk_theme_env,
    from_gnome_shell,
    from_portal,
    from_gsettings,
    from_xfconf,
    from_kdeglobals,
    from_windows,
)


def detect_panel(env: Env | None = None, run: Run = _run) -> str:
    """`light`, `dark` or `unknown`: the first desktop setting that answers."""
    env = os.environ if env is None else env
    for probe in PROBES:
        try:
            answer = probe(env, run)
        except Exception:  # a broken desktop tool is no answer, never a crash
            answer = None
        if answer is not None:
            return answer
    return UNKNOWN


_cache: dict[str, tuple[float, str]] = {}
_cache_lock = threading.Lock()


def panel_colour(theme: str, env: Env | None = None, run: Run = _run) -> str:
    """What the icon should be drawn for: the fixed choice, or the desktop's answer for auto."""
    if theme in _FIXED:
        return _FIXED[theme]
    if env is not None:  # tests and callers with their own environment are not cached
        return detect_panel(env, run)
    with _cache_lock:
        cached = _cache.get("auto")
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    answer = detect_panel(None, run)
    with _cache_lock:
        _cache["auto"] = (time.monotonic(), answer)
    return answer
