"""The tray icon, drawn with Pillow: two bars, the session on top and the weekly window below.

Drawn directly at each size a tray asks for (16 to 64 px and up), on whole pixels and without
anti-aliasing, so the bars stay crisp instead of being scaled down from one big image.

Legible on any panel: when the panel's colour is unknown the bars are two-tone gauges (a dark
outline, a mid-grey track, a white fill), which keep at least 3:1 contrast against light and
dark panels alike; a known light or dark panel gets a cleaner one-colour look.

States read by colour *and* shape, in both the "left" and the "used" modes:
- used up: the whole bar is red (full length whatever the mode);
- blocked: every bar red, crossed by a white bar like a no-entry sign;
- stale (the last refresh failed, or the reading is old): dimmed and hatched;
- no reading at all: empty tracks crossed by a slash, so a failure never looks like "100% left".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw

from codexbar import formatting as fmt
from codexbar.models import CreditPool, RateWindow, UsageSnapshot
from codexbar.pace import Pace
from codexbar.report import display_windows
from codexbar.tray.theme import DARK, LIGHT, UNKNOWN

# The sizes an SNI host may ask for; each is drawn on its own pixel grid.
PIXMAP_SIZES = (16, 22, 24, 32, 48, 64)

RGBA = tuple[int, int, int, int]


@dataclass(frozen=True)
class Palette:
    outline: RGBA
    track: RGBA
    fill: RGBA
    low: RGBA  # below the lowest warning threshold
    out: RGBA  # used up or blocked
    mark: RGBA  # the blocked bar and the slash's core


# Contrast (WCAG) against #eeeeee and #2b2b2b: the grey track is >3:1 against both, the white fill
# >3:1 against the track, the dark outline draws the bar's edge on light panels.
TWO_TONE = Palette(
    outline=(20, 20, 20, 255),
    track=(136, 136, 136, 255),
    fill=(250, 250, 250, 255),
    low=(255, 184, 40, 255),
    out=(235, 64, 52, 255),
    mark=(255, 255, 255, 255),
)
FOR_DARK_PANELS = Palette(
    outline=(255, 255, 255, 150),
    track=(255, 255, 255, 70),
    fill=(255, 255, 255, 255),
    low=(255, 184, 40, 255),
    out=(240, 80, 68, 255),
    mark=(255, 255, 255, 255),
)
FOR_LIGHT_PANELS = Palette(
    outline=(0, 0, 0, 190),
    track=(0, 0, 0, 60),
    fill=(24, 24, 24, 255),
    low=(196, 110, 0, 255),
    out=(200, 30, 30, 255),
    mark=(255, 255, 255, 255),
)
PALETTES = {UNKNOWN: TWO_TONE, DARK: FOR_DARK_PANELS, LIGHT: FOR_LIGHT_PANELS}

STALE_ALPHA = 0.6  # a stale bar is drawn at reduced strength, and hatched
EMPTY_ALPHA = 0.45  # the tracks of the no-reading look

OK, LOW, OUT = "ok", "low", "out"


@dataclass(frozen=True)
class Bar:
    fill_percent: float  # how much of the bar is filled, 0-100
    level: str = OK  # ok, low or out: picks the optional tint; out also fills the whole bar
    dim: bool = False  # this limit's reset has passed: the figure is probably old


@dataclass(frozen=True)
class IconState:
    """What the icon shows. `top` None means no reading at all (the slashed look)."""

    top: Bar | None
    bottom: Bar | None = None
    stale: bool = False
    tint: bool = True
    blocked: bool = False

    @property
    def no_reading(self) -> bool:
        return self.top is None and not self.blocked

    @property
    def needs_attention(self) -> bool:
        """Blocked, or a limit is used up: SNI's NeedsAttention status."""
        return self.blocked or any(
            b is not None and b.level == OUT for b in (self.top, self.bottom)
        )


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
    border: int  # outline width; the fill lives inside it

    @property
    def inner_left(self) -> int:
        return self.left + self.border

    @property
    def inner_width(self) -> int:
        return self.right - self.left - 2 * self.border

    @property
    def width(self) -> int:
        return self.right - self.left

    def fill_width(self, percent: float) -> int:
        return round(self.inner_width * max(0.0, min(100.0, percent)) / 100)


def geometry(size: int) -> BarGeometry:
    """A 36-px layout scaled to `size` and snapped to whole pixels: bars as tall as the icon
    allows, since the panel gives us a square and the figures are all we show."""
    margin = max(1, round(size * 1.5 / 36))
    top_y = max(1, round(size * 4 / 36))
    top_h = max(6, round(size * 14 / 36))
    gap = max(2, round(size * 3 / 36))
    bottom_h = max(4, round(size * 10 / 36))
    bottom_y = top_y + top_h + gap
    border = 1 if size < 40 else 2
    return BarGeometry(margin, size - margin, top_y, top_h, bottom_y, bottom_h, border)


def level_of(remaining_percent: float, thresholds: Sequence[int]) -> str:
    if remaining_percent <= 0:
        return OUT
    if thresholds and remaining_percent < min(thresholds):
        return LOW
    return OK


def _window_bar(window: RateWindow, show_used: bool, thresholds: Sequence[int]) -> Bar:
    fill = window.clamped_used_percent if show_used else window.remaining_percent
    return Bar(fill, level_of(window.remaining_percent, thresholds), dim=window.reset_passed)


def _pool_bar(pool: CreditPool, show_used: bool, thresholds: Sequence[int]) -> Bar:
    fill = min(100.0, pool.used_percent) if show_used else pool.remaining_percent
    return Bar(fill, level_of(pool.remaining_percent, thresholds), dim=pool.reset_passed)


def icon_state(
    snapshot: UsageSnapshot | None,
    *,
    show_used: bool = False,
    stale: bool = False,
    thresholds: Sequence[int] = (50, 20),
    tint: bool = True,
) -> IconState:
    """The icon for a reading: session on top, weekly (or monthly) below, weekly cap applied.

    Plans with only a weekly window show it on top and a dimmed empty track below. A monthly
    credit pool takes the lower bar when it is the binding limit (less of it left than of the
    windows), since that is then what stops the user first."""
    if snapshot is None:
        return NO_READING
    windows = {w.id: w for w in display_windows(snapshot)}
    session = windows.get("session")
    longer = windows.get("weekly") or windows.get("monthly")
    shown: list[Bar] = [
        _window_bar(w, show_used, thresholds) for w in (session, longer) if w is not None
    ]
    pool = snapshot.credit_pool
    lanes = [w for w in (session, longer) if w is not None and not w.reset_passed]
    if pool is not None and (
        not lanes or pool.remaining_percent < min(w.remaining_percent for w in lanes)
    ):
        shown = [*shown[:1], _pool_bar(pool, show_used, thresholds)]
    blocked = snapshot.blocked is not None
    if not shown and not blocked:
        return IconState(top=None, stale=stale)
    return IconState(
        top=shown[0] if shown else None,
        bottom=shown[1] if len(shown) > 1 else None,
        stale=stale,
        tint=tint,
        blocked=blocked,
    )


def _scaled(colour: RGBA, factor: float) -> RGBA:
    return (*colour[:3], round(colour[3] * factor))


def _draw_bar(
    image: Image.Image,
    box: tuple[int, int, int, int],
    bar: Bar | None,
    state: IconState,
    palette: Palette,
    border: int,
) -> None:
    """One bar on its own layer (so dimming touches only it), then composited."""
    left, top, right, bottom = box  # inclusive, as ImageDraw wants them
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    radius = 1 if bottom - top < 10 else 2
    out = state.blocked or (bar is not None and bar.level == OUT)
    draw.rounded_rectangle(box, radius, fill=palette.outline)
    inner = (left + border, top + border, right - border, bottom - border)
    track = palette.out if out else palette.track
    if out and palette is not TWO_TONE:
        track = _scaled(palette.out, 0.55)  # a red track: "used up" in the "left" mode too
    draw.rectangle(inner, fill=track)
    if bar is not None or state.blocked:
        inner_width = inner[2] - inner[0] + 1
        percent = 100.0 if out else max(0.0, min(100.0, bar.fill_percent if bar else 0.0))
        fill_w = round(inner_width * percent / 100)
        if out:  # red whatever the tint setting: used up must never look full
            colour = palette.out
        elif state.tint and bar is not None and bar.level == LOW:
            colour = palette.low
        else:
            colour = palette.fill
        if fill_w > 0:
            draw.rectangle((inner[0], inner[1], inner[0] + fill_w - 1, inner[3]), fill=colour)
        if state.blocked:  # the no-entry bar across the middle
            height = inner[3] - inner[1] + 1
            mark_h = max(1, height // 3)
            y0 = inner[1] + (height - mark_h) // 2
            x_pad = max(1, inner_width // 6)
            draw.rectangle(
                (inner[0] + x_pad, y0, inner[2] - x_pad, y0 + mark_h - 1), fill=palette.mark
            )
    dim = state.stale or (bar is not None and bar.dim) or (bar is None and not state.blocked)
    if dim:
        alpha = layer.getchannel("A").point(
            lambda a: round(a * (EMPTY_ALPHA if bar is None else STALE_ALPHA))
        )
        if bar is not None:  # hatch the stale bar: every third diagonal left out
            pixels = alpha.load()
            for y in range(inner[1], inner[3] + 1):
                for x in range(inner[0], inner[2] + 1):
                    if (x + y) % 3 == 0:
                        pixels[x, y] = round(pixels[x, y] * 0.35)
        layer.putalpha(alpha)
    image.alpha_composite(layer)


def _draw_slash(image: Image.Image, g: BarGeometry, palette: Palette) -> None:
    """A two-tone slash (dark edge, light core) that reads on every panel."""
    size = image.width
    draw = ImageDraw.Draw(image)
    start, end = (g.left, size - g.left - 1), (g.right - 1, g.left)
    core = max(1, size // 16)
    core_colour = palette.fill if palette is FOR_LIGHT_PANELS else palette.mark
    draw.line((*start, *end), fill=(*palette.outline[:3], 255), width=core + 2)
    draw.line((*start, *end), fill=core_colour, width=core)


def render_icon(state: IconState, size: int = 64, panel: str = UNKNOWN) -> Image.Image:
    """An RGBA image `size` pixels square with a transparent background, drawn for a panel
    that is `light`, `dark` or `unknown` (see codexbar.tray.theme)."""
    size = max(16, int(size))
    palette = PALETTES.get(panel, TWO_TONE)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    g = geometry(size)
    top_box = (g.left, g.top_y, g.right - 1, g.top_y + g.top_h - 1)
    bottom_box = (g.left, g.bottom_y, g.right - 1, g.bottom_y + g.bottom_h - 1)
    _draw_bar(image, top_box, state.top, state, palette, g.border)
    _draw_bar(image, bottom_box, state.bottom, state, palette, g.border)
    if state.no_reading:
        _draw_slash(image, g, palette)
    return image


@dataclass(frozen=True)
class Drawing:
    """The icon as the backends receive it: drawn on demand at whatever size they need."""

    state: IconState
    panel: str = UNKNOWN

    def image(self, size: int) -> Image.Image:
        return render_icon(self.state, size, self.panel)

    def pixmaps(self, sizes: Sequence[int] = PIXMAP_SIZES) -> list[Image.Image]:
        return [self.image(size) for size in sizes]


def summary_line(
    snapshot: UsageSnapshot | None,
    *,
    show_used: bool = False,
    stale=False,
    paces: Mapping[str, Pace] | None = None,
    now: datetime | None = None,
) -> str:
    """The one-line tooltip: `Codex: session 82% left · weekly 55% left`, `(stale)` when dimmed;
    with `paces`, a window that would run out before its reset adds `· session runs out in 1h`."""
    if snapshot is None:
        return "Codex: no reading"
    if snapshot.blocked:
        return f"Codex: blocked — {snapshot.blocked}"
    parts = []
    word = "used" if show_used else "left"
    for window in display_windows(snapshot):
        if window.is_main and window.id in ("session", "weekly", "monthly"):
            value = window.clamped_used_percent if show_used else window.remaining_percent
            parts.append(f"{window.label.lower()} {fmt.percent(value)} {word}")
    if not parts:
        return "Codex: limits not available"
    text = "Codex: " + " · ".join(parts)
    if paces and now is not None and not stale:
        for window in snapshot.main_windows:
            pace = paces.get(window.id)
            runs_out = pace.runs_out_at if pace is not None and not window.reset_passed else None
            if runs_out is not None and runs_out > now:
                name = window.label.lower()
                text += f" · {name} runs out {fmt.reset_countdown(runs_out, now)}"
    return text + (" (stale)" if stale else "")


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


def app_icon(size: int = 256, state: IconState | None = None) -> Image.Image:
    """The application icon (for .desktop files and notifications): the bars on a dark rounded
    tile, so it reads on any notification background. `state` draws a particular look, e.g. the
    one a notification announces."""
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(tile).rounded_rectangle(
        (0, 0, size - 1, size - 1), size // 5, fill=(32, 36, 44, 255)
    )
    state = state or IconState(top=Bar(82), bottom=Bar(55))
    bars = render_icon(state, size=size * 3 // 4, panel=DARK)
    offset = (size - bars.width) // 2
    tile.alpha_composite(bars, (offset, offset + size // 32))
    return tile
