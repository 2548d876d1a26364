"""The tray icon, drawn with Pillow: two bars, the session on top and the weekly window below.

Drawn directly at the size the tray asks for, on whole pixels and without anti-aliasing, so the
bars stay crisp from 16 px to HiDPI sizes. A stale reading is dimmed; no reading at all draws empty
outlines crossed by a slash, so a failure can never look like "100% left".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw

from codexbar import formatting as fmt
from codexbar.models import RateWindow, UsageSnapshot
from codexbar.pace import Pace
from codexbar.report import display_windows

THEMES = ("auto", "light", "dark")
# Foreground colours: a "dark" theme means a dark panel, so the bars are drawn light.
_FOREGROUND = {"dark": (255, 255, 255), "light": (24, 24, 24)}
_LOW_TINT = (255, 176, 32)  # below the lowest warning threshold
_OUT_TINT = (235, 64, 52)  # used up

# Alphas after CodexBar's renderer (track 0.28, stroke 0.44; stale 0.18 / 0.28 and fill 0.55).
FILL_ALPHA = 255
STALE_FILL_ALPHA = 140
TRACK_ALPHA = 71
STALE_TRACK_ALPHA = 46
STROKE_ALPHA = 112
STALE_STROKE_ALPHA = 71
EMPTY_ALPHA = 150  # outlines and slash of the "no reading" look

OK, LOW, OUT = "ok", "low", "out"


@dataclass(frozen=True)
class Bar:
    fill_percent: float  # how much of the bar is filled, 0-100
    level: str = OK  # ok, low or out: picks the optional tint
    dim: bool = False  # this window's reset has passed: the figure is probably old


@dataclass(frozen=True)
class IconState:
    """What the icon shows. `top` None means no reading at all (the slashed look)."""

    top: Bar | None
    bottom: Bar | None = None
    stale: bool = False
    tint: bool = True

    @property
    def no_reading(self) -> bool:
        return self.top is None


NO_READING = IconState(top=None)


@dataclass(frozen=True)
class BarGeometry:
    """Pixel boxes of the two bars at one size, shared by the renderer and the pixel tests."""

    left: int
    right: int  # exclusive
    top_y: int
    top_h: int
    bottom_y: int
    bottom_h: int

    @property
    def width(self) -> int:
        return self.right - self.left

    def fill_width(self, percent: float) -> int:
        return round(self.width * max(0.0, min(100.0, percent)) / 100)


def geometry(size: int) -> BarGeometry:
    """CodexBar's 36-px layout scaled to `size` and snapped to whole pixels."""
    margin = max(1, round(size * 3 / 36))
    top_y = round(size * 6 / 36)
    top_h = max(3, round(size * 12 / 36))
    bottom_h = max(2, round(size * 8 / 36))
    bottom_y = max(top_y + top_h + 1, round(size * 22 / 36))
    return BarGeometry(margin, size - margin, top_y, top_h, bottom_y, bottom_h)


def window_level(window: RateWindow, thresholds: Sequence[int]) -> str:
    remaining = window.remaining_percent
    if remaining <= 0:
        return OUT
    if thresholds and remaining < min(thresholds):
        return LOW
    return OK


def _bar(window: RateWindow, show_used: bool, thresholds: Sequence[int]) -> Bar:
    fill = window.clamped_used_percent if show_used else window.remaining_percent
    return Bar(fill, window_level(window, thresholds), dim=window.reset_passed)


def icon_state(
    snapshot: UsageSnapshot | None,
    *,
    show_used: bool = False,
    stale: bool = False,
    thresholds: Sequence[int] = (50, 20),
    tint: bool = True,
) -> IconState:
    """The icon for a reading: session on top, weekly (or monthly) below, weekly cap applied.

    Plans with only a weekly window show it on top and a dimmed empty track below."""
    if snapshot is None:
        return NO_READING
    windows = {w.id: w for w in display_windows(snapshot)}
    session = windows.get("session")
    longer = windows.get("weekly") or windows.get("monthly")
    first, second = (session, longer) if session is not None else (longer, None)
    if first is None:
        return IconState(top=None, stale=stale)
    return IconState(
        top=_bar(first, show_used, thresholds),
        bottom=None if second is None else _bar(second, show_used, thresholds),
        stale=stale,
        tint=tint,
    )


def _fill_colour(bar: Bar, state: IconState, foreground: tuple[int, int, int]):
    if state.tint and bar.level == OUT:
        return _OUT_TINT
    if state.tint and bar.level == LOW:
        return _LOW_TINT
    return foreground


def _draw_bar(
    image: Image.Image,
    box: tuple[int, int, int, int],
    bar: Bar | None,
    state: IconState,
    foreground: tuple[int, int, int],
) -> None:
    left, top, _right, bottom = box  # right/bottom inclusive, as ImageDraw wants them
    height = bottom - top + 1
    radius = max(0, min(height // 2, 3 if height < 10 else height // 3))
    stale = state.stale or (bar is not None and bar.dim)
    track_alpha = STALE_TRACK_ALPHA if stale or bar is None else TRACK_ALPHA
    stroke_alpha = STALE_STROKE_ALPHA if stale or bar is None else STROKE_ALPHA
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        box, radius, fill=(*foreground, track_alpha), outline=(*foreground, stroke_alpha)
    )
    if bar is None:
        return
    width = geometry(image.width).width
    fill_w = round(width * max(0.0, min(100.0, bar.fill_percent)) / 100)
    if fill_w <= 0:
        return
    # The fill follows the track's rounded shape: paint through a mask of the track.
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius, fill=255)
    clip = Image.new("L", image.size, 0)
    ImageDraw.Draw(clip).rectangle((left, top, left + fill_w - 1, bottom), fill=255)
    mask = Image.composite(mask, clip, clip)
    colour = _fill_colour(bar, state, foreground)
    alpha = STALE_FILL_ALPHA if stale else FILL_ALPHA
    layer = Image.new("RGBA", image.size, (*colour, alpha))
    image.paste(layer, (0, 0), mask)


def render_icon(state: IconState, size: int = 64, theme: str = "dark") -> Image.Image:
    """An RGBA image `size` pixels square with a transparent background."""
    size = max(16, int(size))
    foreground = _FOREGROUND["light" if resolve_theme(theme) == "light" else "dark"]
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    g = geometry(size)
    top_box = (g.left, g.top_y, g.right - 1, g.top_y + g.top_h - 1)
    bottom_box = (g.left, g.bottom_y, g.right - 1, g.bottom_y + g.bottom_h - 1)
    if state.no_reading:
        draw = ImageDraw.Draw(image)
        for box in (top_box, bottom_box):
            draw.rounded_rectangle(box, 2, outline=(*foreground, EMPTY_ALPHA))
        line = max(1, size // 16)
        draw.line(
            (g.left, size - g.left - 1, g.right - 1, g.left), fill=(*foreground, 255), width=line
        )
        return image
    _draw_bar(image, top_box, state.top, state, foreground)
    _draw_bar(image, bottom_box, state.bottom, state, foreground)
    return image


def summary_line(
    snapshot: UsageSnapshot | None,
    *,
    show_used: bool = False,
    stale=False,
    paces: Mapping[str, Pace] | None = None,
    now: datetime | None = None,
) -> str:
    """The tooltip: `Codex: 5h 82% · week 55%` (or `… used`), `(stale)` when dimmed; with
    `paces`, a window that would run out before its reset adds `· 5h runs out in 1h 40m`."""
    if snapshot is None:
        return "Codex: no reading"
    names = {"session": "5h", "weekly": "week", "monthly": "month"}
    parts = []
    for window in display_windows(snapshot):
        if window.is_main and window.id in names:
            value = window.clamped_used_percent if show_used else window.remaining_percent
            parts.append(f"{names[window.id]} {fmt.percent(value)}")
    if not parts:
        return "Codex: limits not available"
    text = "Codex: " + " · ".join(parts) + (" used" if show_used else "")
    if paces and now is not None and not stale:
        for window in snapshot.main_windows:
            pace = paces.get(window.id)
            runs_out = pace.runs_out_at if pace is not None and not window.reset_passed else None
            if window.id in names and runs_out is not None and runs_out > now:
                text += f" · {names[window.id]} runs out {fmt.reset_countdown(runs_out, now)}"
    return text + (" (stale)" if stale else "")


# -- theme ---------------------------------------------------------------------------------------


def resolve_theme(theme: str, env: Mapping[str, str] | None = None) -> str:
    """`light` or `dark` (the colour of the panel). Auto guesses from the desktop; most Linux
    panels (GNOME's top bar always) are dark, so that is the fallback."""
    if theme in ("light", "dark"):
        return theme
    env = os.environ if env is None else env
    gtk_theme = env.get("GTK_THEME", "").lower()
    if gtk_theme:
        return "dark" if "dark" in gtk_theme else "light"
    if sys.platform == "win32":
        return _windows_theme()
    if "KDE" in env.get("XDG_CURRENT_DESKTOP", "").upper():
        return _kde_theme(Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config"))
    return "dark"


def _kde_theme(config_home: Path) -> str:
    try:
        text = (config_home / "kdeglobals").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "dark"
    for line in text.splitlines():
        if line.startswith("ColorScheme="):
            return "dark" if "dark" in line.lower() else "light"
    return "dark"


def _windows_theme() -> str:
    try:
        import winreg

        key = winreg.OpenKey(
            winreg.HKEY_CURRENT_USER,
            r"Software\Microsoft\Windows\CurrentVersion\Themes\Personalize",
        )
        value, _ = winreg.QueryValueEx(key, "SystemUsesLightTheme")
        return "light" if value else "dark"
    except OSError:
        return "dark"


def state_is_stale(
    snapshot: UsageSnapshot | None,
    now: datetime,
    *,
    last_refresh_failed: bool,
    refresh_minutes: int,
) -> bool:
    """Stale when the last refresh failed or the reading is older than two refresh intervals
    (manual refresh: older than 30 minutes)."""
    if snapshot is None:
        return False
    if last_refresh_failed:
        return True
    limit_minutes = 2 * refresh_minutes if refresh_minutes > 0 else 30
    return (now - snapshot.observed_at).total_seconds() > limit_minutes * 60


def app_icon(size: int = 256) -> Image.Image:
    """The application icon (for .desktop files and notifications): the bars on a rounded tile."""
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(tile).rounded_rectangle(
        (0, 0, size - 1, size - 1), size // 5, fill=(32, 36, 44, 255)
    )
    bars = render_icon(IconState(top=Bar(82), bottom=Bar(55)), size=size * 3 // 4, theme="dark")
    offset = (size - bars.width) // 2
    tile.alpha_composite(bars, (offset, offset + size // 32))
    return tile
