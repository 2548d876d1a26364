"""The default Linux tray under a real SNI host: Xvfb, a private session bus, xfce4-panel with
its status tray (the panel is configured through an xfconf file this test writes), and the app
started as a user would (`python -m codexbar`), pointed at a local server with the wham/usage
fixture.

Over D-Bus, as the panel sees it: the item registers with the panel's StatusNotifierWatcher,
its ToolTip carries the figures, its IconPixmap holds small drawn sizes, and the dbusmenu
layout has "Refresh now", whose "clicked" event makes the app fetch again. Screenshots of the
panel on a light and a dark background must show the icon with enough contrast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, method
from PIL import Image

from tests.conftest import FIXTURES, point_home_at, write_fresh_auth
from tests.e2e.desktop import (
    DARK_PANEL,
    LIGHT_PANEL,
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

Strings = Annotated[list[str], DBusSignature("as")]
Hints = Annotated[dict[str, Any], DBusSignature("a{sv}")]
ServerInfo = Annotated[list[str], DBusSignature("ssss")]

USAGE_PATH = "/backend-api/wham/usage"
PANEL_HEIGHT = 30
WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"

PANEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="{height}"/>
      <property name="background-style" type="uint" value="1"/>
      <property name="background-rgba" type="array">
        <value type="double" value="{r}"/>
        <value type="double" value="{g}"/>
        <value type="double" value="{b}"/>
        <value type="double" value="1"/>
      </property>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="icon-size" type="int" value="22"/>
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"""


def write_panel_config(xdg_config: Path, background: tuple[int, int, int]) -> None:
    folder = xdg_config / "xfce4" / "xfconf" / "xfce-perchannel-xml"
    folder.mkdir(parents=True, exist_ok=True)
    r, g, b = (f"{c / 255:.4f}" for c in background)
    (folder / "xfce4-panel.xml").write_text(PANEL_XML.format(height=PANEL_HEIGHT, r=r, g=g, b=b))


# -- a D-Bus client, as the panel is one ---------------------------------------------------------


async def _call(bus, destination, path, interface, member, signature="", body=()):
    reply = await bus.call(
        Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
    )
    assert reply.message_type == MessageType.METHOD_RETURN, (member, reply.body)
    return reply.body


async def _get(bus, destination, path, interface, name):
    body = await _call(
        bus, destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, name)
    )
    return body[0].value


def on_bus(address: str, work):
    async def run():
        bus = await MessageBus(bus_address=address).connect()
        try:
            return await asyncio.wait_for(work(bus), 10)
        finally:
            bus.disconnect()

    return asyncio.run(run())


def registered_items(address: str) -> list[str]:
    async def work(bus):
        try:
            return await _get(
                bus, WATCHER, "/StatusNotifierWatcher", WATCHER, "RegisteredStatusNotifierItems"
            )
        except AssertionError:
            return []

    try:
        return on_bus(address, work)
    except Exception:
        return []


def item_address(entry: str) -> tuple[str, str]:
    """A watcher entry is `service` or `service/path`."""
    if "/" in entry:
        service, _, path = entry.partition("/")
        return service, "/" + path
    return entry, "/StatusNotifierItem"


def find_label(layout, label: str) -> int | None:
    item_id, props, children = layout
    if props.get("label") and props["label"].value == label:
        return item_id
    for child in children:
        found = find_label(child.value, label)
        if found is not None:
            return found
    return None


def labels(layout) -> list[str]:
    _, props, children = layout
    own = [props["label"].value] if "label" in props else []
    return own + [text for child in children for text in labels(child.value)]


# -- the desktop -----------------------------------------------------------------------------------


@contextlib.contextmanager
def desktop_bus(tmp_path: Path, background: tuple[int, int, int]):
    """Xvfb and a session bus, set up for an xfce4-panel on `background` (not started)."""
    require(
        ("Xvfb", "xfce4-panel", "xfconf-query", "dbus-daemon", "xdotool", "import", "tesseract")
    )
    xdg = tmp_path / "xdg"
    write_panel_config(xdg, background)
    with xvfb() as x_env:
        base = {
            **x_env,
            "XDG_CONFIG_HOME": str(xdg),
            "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
            "XDG_CURRENT_DESKTOP": "XFCE",
        }
        with session_bus(base) as env:
            yield env


@contextlib.contextmanager
def xfce_panel(env: dict[str, str]):
    panel = subprocess.Popen(
        ["xfce4-panel", "--disable-wm-check"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        address = env["DBUS_SESSION_BUS_ADDRESS"]
        wait(lambda: watcher_present(address), "xfce4-panel's StatusNotifierWatcher", 30)
        yield panel
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(panel.pid, signal.SIGTERM)
        stop(panel)
        wait(lambda: not watcher_present(env["DBUS_SESSION_BUS_ADDRESS"]), "the panel to go", 20)


@contextlib.contextmanager
def xfce_desktop(tmp_path: Path, background: tuple[int, int, int]):
    with desktop_bus(tmp_path, background) as env, xfce_panel(env):
        yield env


def watcher_present(address: str) -> bool:
    async def work(bus):
        body = await _call(
            bus,
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            "s",
            (WATCHER,),
        )
        return bool(body[0])

    try:
        return on_bus(address, work)
    except Exception:
        return False


@contextlib.contextmanager
def tray_app(
    env: dict[str, str],
    tmp_path: Path,
    backend,
    outputs: list[str] | None = None,
    fixture: str = "wham_usage.json",
):
    outputs = [] if outputs is None else outputs
    backend.routes[USAGE_PATH] = Reply(200, fresh_wham(FIXTURES / fixture))
    home = tmp_path / "home"
    write_fresh_auth(home)
    point_home_at(home, backend)
    config_dir = Path(os.environ["CODEXBAR_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text('source = "oauth"\n')  # the default theme: auto
    with codexbar_app({**env, "CODEX_HOME": str(home)}, outputs) as app:
        yield app


def test_default_backend_is_an_sni_item_the_panel_shows(tmp_path, backend):
    shots = shots_dir()
    with xfce_desktop(tmp_path, LIGHT_PANEL) as env, tray_app(env, tmp_path, backend):
        address = env["DBUS_SESSION_BUS_ADDRESS"]
        wait(lambda: bool(registered_items(address)), "the item to register with the panel", 30)
        service, path = item_address(registered_items(address)[0])
        backend.wait_for_requests(1, timeout=30)

        def figures_in_tooltip() -> bool:
            tip = on_bus(address, lambda bus: _get(bus, service, path, ITEM, "ToolTip"))
            return "82% left" in tip[3]

        wait(figures_in_tooltip, "the figures in the tooltip", 30)

        async def read_item(bus):
            names = ("ToolTip", "IconPixmap", "Status", "Menu", "ItemIsMenu", "Category")
            return {name: await _get(bus, service, path, ITEM, name) for name in names}

        item = on_bus(address, read_item)
        _icon, _pixmaps, title, body = item["ToolTip"]
        assert title == "Codex usage"
        assert "Session: 82% left" in body and "Weekly: 55% left" in body, body
        sizes = sorted(width for width, height, _data in item["IconPixmap"])
        assert sizes == [16, 22, 24, 32, 48, 64]
        small = next(p for p in item["IconPixmap"] if p[0] == 22)
        assert len(small[2]) == 22 * 22 * 4
        assert any(small[2][i] == 255 for i in range(0, len(small[2]), 4)), "22 px is empty"
        assert item["Status"] == "Active" and item["ItemIsMenu"] is True
        assert item["Category"] == "ApplicationStatus"

        async def layout(bus):
            body = await _call(bus, service, item["Menu"], MENU, "GetLayout", "iias", (0, -1, []))
            return body

        _revision, tree = on_bus(address, layout)
        rows = labels(tree)
        assert any(r.startswith("Session: 82% left") for r in rows), rows
        refresh_id = find_label(tree, "Refresh now")
        assert refresh_id is not None, rows
        before = len(backend.requests)

        async def click(bus):
            await _call(
                bus,
                service,
                item["Menu"],
                MENU,
                "Event",
                "isvu",
                (refresh_id, "clicked", Variant("s", ""), 0),
            )

        on_bus(address, click)
        backend.wait_for_requests(before + 1, timeout=30)
        assert len(backend.requests) > before, "Refresh now did not fetch"

        panel_shot = _panel_screenshot(env, shots / "xfce-light.png")
        box = _assert_icon_visible(panel_shot, LIGHT_PANEL)
        _left_click_shows_the_menu(env, box, shots)


def _left_click_shows_the_menu(env, box, shots: Path) -> None:
    """ItemIsMenu: the panel opens our dbusmenu on a left click and draws its rows."""
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    subprocess.run(
        ["xdotool", "mousemove", str(cx), str(cy), "click", "1"], env=env, check=True, timeout=10
    )
    region_path = shots / "xfce-menu-region.png"

    def menu_drawn() -> bool:
        shot = screenshot(env, shots / "xfce-menu.png")
        region = shot.crop((0, PANEL_HEIGHT, shot.width, shot.height))
        return region.convert("L").getextrema()[1] > 100

    wait(menu_drawn, "the panel to draw the menu", 15)
    import time

    time.sleep(0.5)
    shot = screenshot(env, shots / "xfce-menu.png")
    region = shot.crop((0, PANEL_HEIGHT, shot.width, shot.height)).convert("L")
    big = region.point(lambda v: 0 if v < 160 else 255).resize(
        (region.width * 3, region.height * 3), Image.LANCZOS
    )
    big.save(region_path)
    ocr = subprocess.run(
        ["tesseract", str(region_path), "-", "--psm", "6"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    (shots / "xfce-menu.txt").write_text(ocr)
    flat = " ".join(ocr.split())
    assert "82% left" in flat and "Refresh now" in flat and "Quit" in flat, flat


@pytest.mark.parametrize("background", [DARK_PANEL], ids=["dark"])
def test_the_icon_reads_on_a_dark_xfce_panel(tmp_path, backend, background):
    shots = shots_dir()
    with xfce_desktop(tmp_path, background) as env, tray_app(env, tmp_path, backend):
        address = env["DBUS_SESSION_BUS_ADDRESS"]
        wait(lambda: bool(registered_items(address)), "the item to register with the panel", 30)
        backend.wait_for_requests(1, timeout=30)
        _wait_for_drawn_icon(env, shots / "xfce-dark.png", background)
        _assert_icon_visible(_panel_screenshot(env, shots / "xfce-dark.png"), background)


@pytest.mark.parametrize("background", [LIGHT_PANEL, DARK_PANEL], ids=["light", "dark"])
def test_limit_reached_is_red_and_needs_attention_in_the_panel(tmp_path, backend, background):
    shots = shots_dir()
    name = "light" if background == LIGHT_PANEL else "dark"
    with (
        xfce_desktop(tmp_path, background) as env,
        tray_app(env, tmp_path, backend, fixture="wham_usage_limit_reached.json"),
    ):
        address = env["DBUS_SESSION_BUS_ADDRESS"]
        wait(lambda: bool(registered_items(address)), "the item to register with the panel", 30)
        service, path = item_address(registered_items(address)[0])

        def attention() -> bool:
            status = on_bus(address, lambda bus: _get(bus, service, path, ITEM, "Status"))
            return status == "NeedsAttention"

        wait(attention, "NeedsAttention for a used-up window", 30)
        tip = on_bus(address, lambda bus: _get(bus, service, path, ITEM, "ToolTip"))
        assert "Session: 0% left" in tip[3], tip[3]
        image = _panel_screenshot(env, shots / f"xfce-limit-{name}.png")
        box = _assert_icon_visible(image, background)
        red = [
            p
            for p in image.crop(box).convert("RGB").get_flattened_data()
            if p[0] >= 150 and p[1] <= 110 and p[2] <= 110
        ]
        assert len(red) >= 40, f"only {len(red)} red pixels in the icon at {box}"


class Notifications(ServiceInterface):
    """The desktop's notification server (none is installed here): records what it is asked
    to show."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.shown: list[tuple[str, str]] = []

    @method()
    def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: Strings,
        hints: Hints,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        self.shown.append((summary, body))
        return len(self.shown)

    @method()
    def GetCapabilities(self) -> Strings:
        return ["body"]

    @method()
    def GetServerInformation(self) -> ServerInfo:
        return ["test", "codexbar", "1", "1.2"]


@contextlib.contextmanager
def notification_server(address: str):
    server = Notifications()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stopped = asyncio.Event()

    async def serve():
        bus = await MessageBus(bus_address=address).connect()
        bus.export("/org/freedesktop/Notifications", server)
        await bus.request_name("org.freedesktop.Notifications")
        ready.set()
        await stopped.wait()
        bus.disconnect()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10), "the notification server did not start"
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stopped.set)
        thread.join(5)


def test_without_a_tray_it_says_so_once_then_appears_and_survives_a_panel_restart(
    tmp_path, backend
):
    outputs: list[str] = []
    with (
        desktop_bus(tmp_path, DARK_PANEL) as env,
        notification_server(env["DBUS_SESSION_BUS_ADDRESS"]) as notifications,
        tray_app(env, tmp_path, backend, outputs),
    ):
        address = env["DBUS_SESSION_BUS_ADDRESS"]
        wait(lambda: bool(notifications.shown), "the no-tray notification", 30)
        title, body = notifications.shown[0]
        assert title == "codexbar: no tray to show its icon in"
        assert "AppIndicator extension" in body and "gnome-extensions enable" in body
        backend.wait_for_requests(1, timeout=30)  # it keeps running, and refreshing
        for start in ("first", "restarted"):
            with xfce_panel(env):
                wait(lambda: bool(registered_items(address)), f"registration ({start} panel)", 30)
                assert any("StatusNotifierItem" in entry for entry in registered_items(address))
    assert len(notifications.shown) == 1, notifications.shown  # said once, not per panel
    output = outputs[0]
    assert output.count("codexbar: no tray to show its icon in") == 1
    assert "tray backend: sni" in output


def _panel_screenshot(env, path: Path) -> Image.Image:
    import time

    time.sleep(1.5)  # the panel redraws after NewIcon
    return screenshot(env, path)


def _wait_for_drawn_icon(env, path: Path, background) -> None:
    def drawn() -> bool:
        image = screenshot(env, path)
        return differing_box(image, (0, 0, image.width, PANEL_HEIGHT), background) is not None

    wait(drawn, "the icon in the panel", 30)


def _assert_icon_visible(image: Image.Image, background: tuple[int, int, int]):
    box = differing_box(image, (0, 0, image.width, PANEL_HEIGHT), background)
    assert box is not None, "nothing drawn on the panel"
    width, height = box[2] - box[0], box[3] - box[1]
    assert 12 <= width <= 40 and 8 <= height <= PANEL_HEIGHT, box
    strong = contrasting_pixels(image, box, background)
    assert strong >= 0.25 * width * height, (strong, box)
    return box
