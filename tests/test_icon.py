"""The icon's pixels: fills proportional to the percent at every size, legible on light and dark
panels, and the used-up, blocked, stale and no-reading looks told apart at 22 px."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from PIL import Image

from codexbar.models import CreditPool
from codexbar.tray.icon import (
    NO_READING,
    PIXMAP_SIZES,
    TWO_TONE,
    Bar,
    Drawing,
    IconState,
    geometry,
    icon_state,
    render_icon,
    summary_line,
)
from codexbar.tray.theme import DARK, LIGHT, UNKNOWN
from tests.e2e.desktop import DARK_PANEL, LIGHT_PANEL, contrast, contrasting_pixels
from tests.tray_helpers import NOW, reading


def middle_rows(size: int) -> tuple[int, int]:
    g = geometry(size)
    return g.top_y + g.top_h // 2, g.bottom_y + g.bottom_h // 2


def run_of(image: Image.Image, y: int, colour: tuple[int, int, int]) -> int:
    """How many pixels of row y, from the inside of the bar's left edge, have `colour`."""
    g = geometry(image.width)
    count = 0
    for x in range(g.inner_left, g.inner_left + g.inner_width):
        pixel = image.getpixel((x, y))
        if pixel[3] > 0 and pixel[:3] == colour:
            count += 1
        else:
            break
    return count


FILL = TWO_TONE.fill[:3]
RED = TWO_TONE.out[:3]


def on(background: tuple[int, int, int], icon: Image.Image) -> Image.Image:
    tile = Image.new("RGBA", icon.size, (*background, 255))
    tile.alpha_composite(icon)
    return tile.convert("RGB")


@pytest.mark.parametrize("size", [16, 22, 24, 32, 36, 48, 64, 128])
def test_fill_widths_follow_the_percent_left(size):
    image = render_icon(icon_state(reading(18, 45)), size)
    top, bottom = middle_rows(size)
    g = geometry(size)
    assert image.size == (size, size) and image.mode == "RGBA"
    assert run_of(image, top, FILL) == g.fill_width(82)
    assert run_of(image, bottom, FILL) == g.fill_width(55)
    assert image.getpixel((0, 0))[3] == 0  # transparent background


def test_each_size_is_drawn_on_its_own_grid_not_scaled():
    images = Drawing(icon_state(reading())).pixmaps()
    assert [i.width for i in images] == list(PIXMAP_SIZES)
    for image in images:  # no anti-aliased in-between colours: crisp bars
        colours = {p for p in image.get_flattened_data() if p[3] > 0}
        assert colours <= {TWO_TONE.outline, TWO_TONE.track, TWO_TONE.fill}, image.width


def test_show_used_flips_the_fill():
    image = render_icon(icon_state(reading(18, 45), show_used=True), 64)
    top, bottom = middle_rows(64)
    assert run_of(image, top, FILL) == geometry(64).fill_width(18)
    assert run_of(image, bottom, FILL) == geometry(64).fill_width(45)


@pytest.mark.parametrize("background", [LIGHT_PANEL, DARK_PANEL], ids=["light", "dark"])
@pytest.mark.parametrize("size", [16, 22, 32])
def test_the_default_look_reads_on_light_and_dark_panels(background, size):
    """The panel colour is unknown: the two-tone bars keep 3:1 contrast on both, and the fill
    stands out from its track, so the level reads too."""
    image = on(background, render_icon(icon_state(reading()), size, UNKNOWN))
    g = geometry(size)
    box = (g.left, g.top_y, g.right, g.bottom_y + g.bottom_h)
    area = (box[2] - box[0]) * (box[3] - box[1])
    assert contrasting_pixels(image, box, background) >= 0.35 * area
    assert contrast(TWO_TONE.fill[:3], TWO_TONE.track[:3]) >= 3.0


@pytest.mark.parametrize("panel, background", [(LIGHT, LIGHT_PANEL), (DARK, DARK_PANEL)])
def test_a_known_panel_gets_bars_that_contrast_with_it(panel, background):
    image = on(background, render_icon(icon_state(reading()), 22, panel))
    top, _ = middle_rows(22)
    x = geometry(22).inner_left + 2
    assert contrast(image.getpixel((x, top)), background) >= 7


@pytest.mark.parametrize("show_used", [False, True], ids=["left", "used"])
def test_used_up_is_a_full_red_bar_in_both_modes(show_used):
    image = render_icon(icon_state(reading(100, 60), show_used=show_used), 22)
    top, bottom = middle_rows(22)
    g = geometry(22)
    assert run_of(image, top, RED) == g.inner_width
    assert run_of(image, bottom, RED) == 0  # the weekly window is fine
    assert icon_state(reading(100, 60)).needs_attention


def test_blocked_is_red_with_a_no_entry_bar_unlike_used_up():
    blocked = replace(reading(), blocked="Your workspace has run out of credits.")
    state = icon_state(blocked)
    assert state.blocked and state.needs_attention
    image = render_icon(state, 22)
    used_up = render_icon(icon_state(reading(100, 100)), 22)
    g = geometry(22)
    for y0, height in ((g.top_y, g.top_h), (g.bottom_y, g.bottom_h)):
        bar = {
            image.getpixel((x, y))[:3]
            for x in range(g.inner_left, g.right - g.border)
            for y in range(y0 + g.border, y0 + height - g.border)
        }
        assert bar == {RED, (255, 255, 255)}  # red, crossed by the white bar
    assert image.tobytes() != used_up.tobytes()


def test_stale_reading_is_dimmed_and_hatched():
    fresh = render_icon(icon_state(reading()), 22)
    stale = render_icon(icon_state(reading(), stale=True), 22)
    top, _ = middle_rows(22)
    g = geometry(22)
    fresh_alpha = [fresh.getpixel((x, top))[3] for x in range(g.inner_left, g.right - 1)]
    stale_alpha = [stale.getpixel((x, top))[3] for x in range(g.inner_left, g.right - 1)]
    assert set(fresh_alpha) == {255}
    assert max(stale_alpha) < 200 and len(set(stale_alpha)) > 1  # dimmer, and textured


def test_no_reading_never_looks_like_full_bars():
    empty = render_icon(NO_READING, 22)
    full = render_icon(icon_state(reading(0, 0)), 22)
    top, _ = middle_rows(22)
    g = geometry(22)
    assert run_of(full, top, FILL) == g.inner_width
    assert run_of(empty, top, FILL) == 0
    solid = [x for x in range(g.left, g.right) if empty.getpixel((x, top))[3] == 255]
    assert 0 < len(solid) <= 6  # only the slash crosses the middle of the bar
    assert icon_state(None) == NO_READING and not NO_READING.needs_attention


def test_weekly_used_up_empties_the_session_bar_and_turns_both_red():
    image = render_icon(icon_state(reading(10, 100)), 64)
    top, bottom = middle_rows(64)
    g = geometry(64)
    assert run_of(image, top, RED) == g.inner_width and run_of(image, bottom, RED) == g.inner_width


def test_only_a_weekly_window_goes_on_top_with_an_empty_track_below():
    state = icon_state(reading(None, 30))
    assert state.top == Bar(70) and state.bottom is None
    image = render_icon(state, 64)
    top, bottom = middle_rows(64)
    assert run_of(image, top, FILL) == geometry(64).fill_width(70)
    assert image.getpixel((40, bottom))[3] < 200  # the dimmed empty track


def test_a_binding_monthly_credit_pool_takes_the_lower_bar():
    pool = CreditPool(Decimal(100), Decimal(90), NOW.replace(month=12, day=1))
    state = icon_state(replace(reading(18, 45), credit_pool=pool))
    assert state.top == Bar(82) and state.bottom.fill_percent == pytest.approx(10)
    loose = CreditPool(Decimal(100), Decimal(5), NOW.replace(month=12, day=1))
    assert icon_state(replace(reading(18, 45), credit_pool=loose)).bottom == Bar(55)


def test_low_window_is_tinted_and_tint_can_be_switched_off():
    tinted = render_icon(icon_state(reading(90, 10)), 64)
    plain = render_icon(IconState(Bar(10, "low"), Bar(90), tint=False), 64)
    top, _ = middle_rows(64)
    x = geometry(64).inner_left
    assert tinted.getpixel((x, top))[:3] == TWO_TONE.low[:3]
    assert plain.getpixel((x, top))[:3] == FILL


def test_summary_line_says_left_or_used():
    assert summary_line(reading()) == "Codex: session 82% left · weekly 55% left"
    assert summary_line(reading(), show_used=True) == "Codex: session 18% used · weekly 45% used"
    assert summary_line(reading(), stale=True).endswith("(stale)")
    assert summary_line(None) == "Codex: no reading"
