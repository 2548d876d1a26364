"""The XEmbed fallback under a real X server: Xvfb, trayer as the tray host (no StatusNotifierItem
watcher on the bus, so the app picks pystray's GTK backend by itself), pointed at a local server
serving the wham/usage fixture, with the default theme ("auto", which cannot tell the panel's
colour here).

On a light (#eeeeee) and a dark (#2b2b2b) panel: the docked icon has enough pixels at 3:1
contrast against the panel, and its two bars are filled to 82% and 55% left. On the light one,
a *left* click opens the GTK menu, whose rows (read back with tesseract) are the ones the menu
model builds. Screenshots are kept under a temporary folder (printed with -s).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from codexbar.store import Store
from codexbar.tray.menu import TrayState, build_menu
from tests.conftest import FIXTURES, point_home_at, write_fresh_auth
from tests.e2e.desktop import (
    DARK_PANEL,
    LIGHT_PANEL,
    SCREEN,
    codexbar_app,
    contrasting_pixels,
    differing_box,
    require,
    screenshot,
    session_bus,
    shots_dir,
    stop,
    wait,
    xvfb,
)
from tests.fake_backend import Reply
from tests.tray_helpers import fresh_wham

TOOLS = ("Xvfb", "trayer", "xdotool", "import", "dbus-daemon", "tesseract")
USAGE_PATH = "/backend-api/wham/usage"
TRAY_HEIGHT = 40


def _missing_gi() -> list[str]:
    try:
        import gi

        gi.require_version("Gtk", "3.0")
    except (ImportError, ValueError):
        return ["PyGObject (pip install 'PyGObject<3.51')"]
    return []


@contextlib.contextmanager
def trayer(env: dict[str, str], background: tuple[int, int, int]):
    tint = "0x" + "".join(f"{c:02x}" for c in background)
    process = subprocess.Popen(
        [
            "trayer",
            *("--edge", "top", "--align", "left", "--widthtype", "request"),
            *("--height", str(TRAY_HEIGHT), "--SetDockType", "true", "--expand", "true"),
            *("--transparent", "true", "--alpha", "0", "--tint", tint),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield process
    finally:
        stop(process)


def panel_strip(image: Image.Image, background) -> tuple[int, int, int, int]:
    """trayer's box: as wide as its icons ask, so the X root (black) shows to its right."""

    def near(pixel) -> bool:  # trayer's tint lands a step off the asked-for colour
        return max(abs(a - b) for a, b in zip(pixel, background, strict=True)) <= 4

    width = 0
    while width < image.width and near(image.getpixel((width, 0))):
        width += 1
    return (0, 0, max(width, 1), TRAY_HEIGHT)


def _bars(image: Image.Image, box: tuple[int, int, int, int]) -> list[tuple[int, int, int]]:
    """Per bar (top to bottom): (middle row, fill pixels, fill + track pixels). The default
    look draws a white fill (250) and a mid-grey track (136) inside a dark outline; neither
    panel (#eeeeee, #2b2b2b) has those values."""
    grey = image.convert("L")
    left, top, right, bottom = box
    rows = []
    for y in range(top, bottom):
        values = [grey.getpixel((x, y)) for x in range(left, right)]
        gauge = [i for i, v in enumerate(values) if v >= 245 or 90 <= v <= 200]
        if gauge and any(90 <= values[i] <= 200 for i in gauge):  # a row through the track
            span = values[gauge[0] : gauge[-1] + 1]
            rows.append((y, sum(v >= 245 for v in span), len(span)))
    groups: list[list[tuple[int, int, int]]] = []
    for row in rows:
        if groups and groups[-1][-1][0] == row[0] - 1:
            groups[-1].append(row)
        else:
            groups.append([row])
    return [g[len(g) // 2] for g in groups if len(g) >= 2]


@pytest.mark.parametrize("background", [LIGHT_PANEL, DARK_PANEL], ids=["light", "dark"])
def test_icon_docks_reads_on_the_panel_and_left_click_opens_the_menu(backend, tmp_path, background):
    require(TOOLS, _missing_gi())
    backend.routes[USAGE_PATH] = Reply(200, fresh_wham(FIXTURES / "wham_usage.json"))
    home = tmp_path / "home"
    write_fresh_auth(home)
    point_home_at(home, backend)
    shots = shots_dir()
    name = "light" if background == LIGHT_PANEL else "dark"
    config_dir = Path(os.environ["CODEXBAR_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text('source = "oauth"\n')  # the default theme
    with xvfb() as x_env, session_bus(x_env) as env, trayer(env, background):
        app_env = {**env, "CODEX_HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        app_env.pop("XDG_CURRENT_DESKTOP", None)  # nothing to ask about the panel's colour
        outputs: list[str] = []
        with codexbar_app(app_env, outputs):
            backend.wait_for_requests(1, timeout=30)

            def docked() -> bool:
                image = screenshot(env, shots / f"tray-{name}.png")
                box = differing_box(image, panel_strip(image, background), background)
                return box is not None and box[2] - box[0] >= 12

            wait(docked, "the icon to dock in trayer", 30)
            time.sleep(1.0)  # the first drawing may still be the refreshing look
            image = screenshot(env, shots / f"tray-{name}.png")
            box = differing_box(image, panel_strip(image, background), background)
            assert box is not None
            width, height = box[2] - box[0], box[3] - box[1]
            assert width >= 12 and height >= 8, box
            strong = contrasting_pixels(image, box, image.getpixel((0, 0)))
            assert strong >= 0.3 * width * height, (strong, box, name)
            bars = _bars(image, box)
            assert len(bars) == 2, f"expected two bars, got {bars}"
            for (y, fill, span), expected in zip(bars, (0.82, 0.55), strict=True):
                assert span >= 10, f"bar too narrow at y={y}"
                assert abs(fill / span - expected) <= 0.1, (y, fill, span, expected)
            if background == LIGHT_PANEL:
                _left_click_opens_the_menu(env, box, shots)
    assert "tray backend: gtk" in outputs[0]  # chosen without being forced: trayer is XEmbed


def _left_click_opens_the_menu(env, box, shots: Path) -> None:
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    subprocess.run(
        ["xdotool", "mousemove", str(cx), str(cy), "click", "1"], env=env, check=True, timeout=10
    )
    time.sleep(1.5)
    menu_shot = screenshot(env, shots / "menu.png")
    region = menu_shot.crop((0, TRAY_HEIGHT, SCREEN[0], SCREEN[1]))
    assert region.convert("L").getextrema()[1] > 100, "no menu appeared below the tray"
    # Every row is a normal item now (no disabled grey); a plain threshold is enough for OCR.
    grey = region.convert("L").point(lambda v: 0 if v < 160 else 255)
    big = grey.resize((region.width * 3, region.height * 3), Image.LANCZOS)
    big.save(shots / "menu-region.png")
    ocr = subprocess.run(
        ["tesseract", str(shots / "menu-region.png"), "-", "--psm", "6"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    (shots / "menu.txt").write_text(ocr)
    flat = " ".join(ocr.split())
    assert "82% left" in flat and "55% left" in flat, flat
    snapshot = Store().last_snapshot()
    assert snapshot is not None
    model_rows = build_menu(TrayState(snapshot=snapshot), datetime.now(UTC))
    for row in model_rows[1:4]:  # Session, Weekly, Credits
        expected = " ".join(row.text.replace("·", "-").split())
        # The countdown may have moved a minute; OCR misreads the ≈ and – of the credits'
        # message estimates, so those are left to the menu's own tests.
        text = expected.split(" (≈")[0]
        minutes_free = text.rsplit(" ", 1)[0] if "resets in" in text else text
        assert minutes_free in flat, (expected, flat)
    assert "Refresh now" in flat and "Quit" in flat, flat
