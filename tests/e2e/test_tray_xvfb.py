"""The tray under a real X server: Xvfb, trayer as the tray host, the app with pystray's GTK
backend inside dbus-run-session, pointed at a local server serving the wham/usage fixture.

Checks the docked icon's pixels (two bars at 82% and 55% left) and, after a right click with
xdotool, that the GTK menu shows the rows the menu model builds (read back with tesseract).
Screenshots are kept under a temporary folder (printed with -s). Outside CI the test skips
when the tools are missing; under CI=true it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from codexbar.store import Store
from codexbar.tray.menu import TrayState, build_menu
from tests.conftest import FIXTURES, point_home_at, write_fresh_auth
from tests.fake_backend import Reply
from tests.tray_helpers import fresh_wham

TOOLS = ("Xvfb", "trayer", "xdotool", "import", "dbus-run-session", "tesseract")
USAGE_PATH = "/backend-api/wham/usage"
TRAY_HEIGHT = 40
SCREEN = (640, 480)


def _missing() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    try:
        import gi

        gi.require_version("Gtk", "3.0")
    except (ImportError, ValueError):
        missing.append("PyGObject (pip install 'PyGObject<3.51')")
    return missing


@pytest.fixture
def x_server():
    missing = _missing()
    if missing:
        message = "tray e2e needs " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    display = f":{90 + os.getpid() % 100}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "DISPLAY": display}
    _wait(
        lambda: (
            subprocess.run(["xdotool", "getmouselocation"], env=env, capture_output=True).returncode
            == 0
        ),
        "Xvfb",
    )
    trayer = subprocess.Popen(
        [
            "trayer",
            "--edge",
            "top",
            "--align",
            "left",
            "--widthtype",
            "request",
            "--height",
            str(TRAY_HEIGHT),
            "--transparent",
            "false",
            "--tint",
            "0x000000",
            "--SetDockType",
            "true",
            "--expand",
            "true",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield env
    finally:
        for process in (trayer, xvfb):
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def _wait(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _screenshot(env, path: Path) -> Image.Image:
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    return Image.open(path).convert("RGB")


def _icon_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the icon's window inside the black tray strip (GTK paints it light)."""
    strip = image.crop((0, 0, image.width, TRAY_HEIGHT)).convert("L")
    bright = strip.point(lambda v: 255 if v > 40 else 0)
    return bright.getbbox()


def _row_run(image: Image.Image, y: int, x0: int, x1: int) -> tuple[int, int]:
    """(solid fill pixels from the bar's left end, all bar pixels) along one row. The light
    theme draws near-black fills and grey tracks on the tray's light GTK background."""
    grey = image.convert("L")
    values = [grey.getpixel((x, y)) for x in range(x0, x1)]
    bar = [v for v in values if v < 200]
    fill = 0
    for v in values:
        if v < 90:
            fill += 1
        elif fill:
            break
    return fill, len(bar)


def test_icon_docks_and_menu_opens(x_server, backend, tmp_path):
    env = x_server
    backend.routes[USAGE_PATH] = Reply(200, fresh_wham(FIXTURES / "wham_usage.json"))
    home = tmp_path / "home"
    write_fresh_auth(home)
    point_home_at(home, backend)
    shots = Path(tempfile.mkdtemp(prefix="codexbar-e2e-"))
    print(f"screenshots in {shots}")
    config_dir = Path(os.environ["CODEXBAR_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text('source = "oauth"\ntheme = "light"\n')
    app_env = {
        **env,
        "PYSTRAY_BACKEND": "gtk",
        "CODEX_HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    app = subprocess.Popen(
        ["dbus-run-session", "--", sys.executable, "-m", "codexbar", "-v"],
        env=app_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        backend.wait_for_requests(1, timeout=30)
        assert backend.requests, "the tray never asked the local server for the usage"
        box = None

        def docked() -> bool:
            nonlocal box
            image = _screenshot(env, shots / "tray.png")
            box = _icon_box(image)
            return box is not None and box[2] - box[0] >= 12

        _wait(docked, "the icon to dock in trayer", 30)
        time.sleep(1.0)  # the first drawing may still be the stored/refreshing look
        image = _screenshot(env, shots / "tray.png")
        box = _icon_box(image)
        left, top, right, bottom = box
        size = bottom - top  # the icon is square; its bars span most of its width
        g_rows = list(range(top, bottom))  # getbbox: right and bottom exclusive
        runs = [(y, *_row_run(image, y, left, right)) for y in g_rows]
        bars = [r for r in runs if r[2] > 0]
        assert bars, "no bar pixels found"
        # Two groups of rows: the session bar above, the weekly bar below.
        groups: list[list[tuple[int, int, int]]] = [[bars[0]]]
        for row in bars[1:]:
            if row[0] == groups[-1][-1][0] + 1:
                groups[-1].append(row)
            else:
                groups.append([row])
        groups = [g for g in groups if len(g) >= 2]
        assert len(groups) == 2, (
            f"expected two bars, got rows {[[r[0] for r in g] for g in groups]}"
        )
        for group, expected in zip(groups, (0.82, 0.55), strict=True):
            y, fill, width = group[len(group) // 2]
            assert width >= 10, f"bar too narrow at y={y}"
            assert abs(fill / width - expected) <= 0.08, (y, fill, width, expected)
        assert size >= 12

        # Right click opens the GTK menu; its rows are what the menu model built.
        cx, cy = (left + right) // 2, (top + bottom) // 2
        subprocess.run(
            ["xdotool", "mousemove", str(cx), str(cy), "click", "3"],
            env=env,
            check=True,
            timeout=10,
        )
        time.sleep(1.5)
        menu_shot = _screenshot(env, shots / "menu.png")
        region = menu_shot.crop((0, TRAY_HEIGHT, SCREEN[0], SCREEN[1]))
        assert region.convert("L").getextrema()[1] > 100, "no menu appeared below the tray"
        # Read-only rows are drawn light grey (disabled): darken all text for the OCR.
        grey = region.convert("L").point(lambda v: 0 if v < 225 else 255)
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
        assert "82% left" in flat, flat
        # The usage rows read back are the ones the menu model builds for the stored reading.
        snapshot = Store().last_snapshot()
        assert snapshot is not None
        model_rows = build_menu(TrayState(snapshot=snapshot), datetime.now(UTC))
        for row in model_rows[1:4]:  # Session, Weekly, Credits
            expected = " ".join(row.text.replace("·", "-").split())
            minutes_free = expected.rsplit(" ", 1)[0]  # the countdown may have moved a minute
            assert minutes_free in flat, (expected, flat)
        assert "55% left" in flat, flat
        assert "Refresh now" in flat and "Quit" in flat, flat
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGTERM)
        try:
            output, _ = app.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            output, _ = app.communicate()
        print(output[-3000:])
    assert "Traceback" not in output
