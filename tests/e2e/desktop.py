"""A throwaway desktop for the tray's end-to-end tests: Xvfb, a private session bus, screenshots
and contrast measurements. Outside CI a test skips when a tool is missing; with CI=true it fails.
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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

SCREEN = (640, 480)
LIGHT_PANEL = (0xEE, 0xEE, 0xEE)
DARK_PANEL = (0x2B, 0x2B, 0x2B)


def require(tools: tuple[str, ...], extra_missing: list[str] | None = None) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None] + (extra_missing or [])
    if not missing:
        return
    message = "tray e2e needs " + ", ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def xvfb() -> Iterator[dict[str, str]]:
    """A fresh X server; yields the environment that points at it."""
    display = f":{100 + os.getpid() % 400}"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    try:
        wait(
            lambda: (
                subprocess.run(
                    ["xdotool", "getmouselocation"], env=env, capture_output=True
                ).returncode
                == 0
            ),
            "Xvfb",
        )
        yield env
    finally:
        stop(server)


@contextlib.contextmanager
def session_bus(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A private session bus whose activated services (xfconfd) inherit `env`."""
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        assert address, "dbus-daemon printed no address"
        yield {**env, "DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        stop(daemon)


def shots_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="codexbar-e2e-"))
    print(f"screenshots in {path}")
    return path


def screenshot(env: dict[str, str], path: Path) -> Image.Image:
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    return Image.open(path).convert("RGB")


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def contrasting_pixels(
    image: Image.Image, box: tuple[int, int, int, int], background: tuple[int, int, int]
) -> int:
    """How many pixels in `box` stand out from `background` at 3:1 or more."""
    region = image.crop(box).convert("RGB")
    cache: dict[tuple[int, int, int], bool] = {}
    count = 0
    for pixel in region.get_flattened_data():
        if pixel not in cache:
            cache[pixel] = contrast(pixel, background) >= 3.0
        count += cache[pixel]
    return count


def differing_box(
    image: Image.Image, box: tuple[int, int, int, int], background: tuple[int, int, int]
) -> tuple[int, int, int, int] | None:
    """The bounding box (in image coordinates) of the pixels in `box` unlike `background`."""
    region = image.crop(box).convert("RGB")
    mask = Image.new("L", region.size, 0)
    mask.putdata(
        [
            255 if max(abs(p[i] - background[i]) for i in range(3)) > 24 else 0
            for p in region.get_flattened_data()
        ]
    )
    found = mask.getbbox()
    if found is None:
        return None
    return (box[0] + found[0], box[1] + found[1], box[0] + found[2], box[1] + found[3])


@contextlib.contextmanager
def codexbar_app(env: dict[str, str], outputs: list[str]) -> Iterator[subprocess.Popen]:
    """`python -m codexbar -v` as a user starts it, with the default backend choice (no
    backend forced). On leaving, SIGTERM must make it quit cleanly within 10 s; its output is
    printed (shown with -s or on failure) and appended to `outputs`."""
    app_env = dict(env)
    for name in ("PYSTRAY_BACKEND", "CODEXBAR_TRAY_BACKEND"):
        app_env.pop(name, None)
    app = subprocess.Popen(
        [sys.executable, "-m", "codexbar", "-v"],
        env=app_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield app
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGTERM)
        try:
            output, _ = app.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            output, _ = app.communicate()
            output += "\n(did not quit within 10 s of SIGTERM)"
        print(output[-3000:])
        outputs.append(output)
    assert "Traceback" not in output
    assert app.returncode == 0, f"the tray did not quit cleanly on SIGTERM ({app.returncode})"
