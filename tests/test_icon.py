"""The icon's pixels: bar fills proportional to the percent, dimming, the no-reading look."""

from __future__ import annotations

import pytest

from codexbar.tray.icon import (
    FILL_ALPHA,
    NO_READING,
    STALE_FILL_ALPHA,
    Bar,
    IconState,
    geometry,
    icon_state,
    render_icon,
    resolve_theme,
    summary_line,
)
from tests.tray_helpers import reading


def filled_run(image, y: int, minimum_alpha: int = 200) -> int:
    """How many pixels of row y, from the bar's left edge, are drawn at fill strength."""
    g = geometry(image.width)
    count = 0
    for x in range(g.left, g.right):
        if image.getpixel((x, y))[3] >= minimum_alpha:
            count += 1
        else:
            break
    return count


def middle_rows(size: int) -> tuple[int, int]:
    g = geometry(size)
    return g.top_y + g.top_h // 2, g.bottom_y + g.bottom_h // 2


@pytest.mark.parametrize("size", [16, 22, 24, 32, 36, 48, 64, 128])
def test_fill_widths_follow_the_percent_left(size):
    image = render_icon(icon_state(reading(18, 45)), size)
    top, bottom = middle_rows(size)
    g = geometry(size)
    assert image.size == (size, size) and image.mode == "RGBA"
    assert filled_run(image, top) == g.fill_width(82)
    assert filled_run(image, bottom) == g.fill_width(55)
    assert image.getpixel((0, 0))[3] == 0  # transparent background


def test_show_used_flips_the_fill():
    image = render_icon(icon_state(reading(18, 45), show_used=True), 64)
    top, bottom = middle_rows(64)
    assert filled_run(image, top) == geometry(64).fill_width(18)
    assert filled_run(image, bottom) == geometry(64).fill_width(45)


def test_stale_reading_is_dimmed():
    fresh = render_icon(icon_state(reading()), 64)
    stale = render_icon(icon_state(reading(), stale=True), 64)
    top, _ = middle_rows(64)
    x = geometry(64).left + 5
    assert fresh.getpixel((x, top))[3] == FILL_ALPHA
    assert stale.getpixel((x, top))[3] == STALE_FILL_ALPHA
    assert filled_run(stale, top, STALE_FILL_ALPHA) == geometry(64).fill_width(82)


def test_no_reading_never_looks_like_full_bars():
    empty = render_icon(NO_READING, 64)
    full = render_icon(icon_state(reading(0, 0)), 64)
    top, _bottom = middle_rows(64)
    g = geometry(64)
    # Full: every pixel of the middle rows is solid. Empty: only the slash crosses them.
    assert filled_run(full, top) == g.width
    solid = [x for x in range(g.left, g.right) if empty.getpixel((x, top))[3] == 255]
    assert 0 < len(solid) <= 6
    assert empty != full
    assert icon_state(None) == NO_READING


def test_weekly_used_up_empties_the_session_bar():
    image = render_icon(icon_state(reading(10, 100)), 64)
    top, bottom = middle_rows(64)
    assert filled_run(image, top) == 0 and filled_run(image, bottom) == 0


def test_only_a_weekly_window_goes_on_top_with_an_empty_track_below():
    state = icon_state(reading(None, 30))
    assert state.top == Bar(70) and state.bottom is None
    image = render_icon(state, 64)
    top, bottom = middle_rows(64)
    assert filled_run(image, top) == geometry(64).fill_width(70)
    assert filled_run(image, bottom, 1) == 0 or image.getpixel((40, bottom))[3] < 100


def test_low_window_is_tinted_and_tint_can_be_switched_off():
    tinted = render_icon(icon_state(reading(90, 10)), 64)
    plain = render_icon(IconState(Bar(10, "low"), Bar(90), tint=False), 64)
    top, _ = middle_rows(64)
    x = geometry(64).left + 1
    assert tinted.getpixel((x, top))[:3] != (255, 255, 255)
    assert plain.getpixel((x, top))[:3] == (255, 255, 255)


def test_light_theme_draws_dark_bars():
    image = render_icon(icon_state(reading()), 64, theme="light")
    top, _ = middle_rows(64)
    r, g, b, a = image.getpixel((geometry(64).left + 3, top))
    assert a == 255 and max(r, g, b) < 60


def test_auto_theme_reads_the_desktop():
    assert resolve_theme("auto", {"GTK_THEME": "Adwaita:dark"}) == "dark"
    assert resolve_theme("auto", {"GTK_THEME": "Adwaita"}) == "light"
    assert resolve_theme("light", {}) == "light"


def test_summary_line():
    assert summary_line(reading()) == "Codex: 5h 82% · week 55%"
    assert summary_line(reading(), show_used=True) == "Codex: 5h 18% · week 45% used"
    assert summary_line(reading(), stale=True).endswith("(stale)")
    assert summary_line(None) == "Codex: no reading"
