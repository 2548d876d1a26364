"""Our StatusNotifierItem and dbusmenu on a real, private dbus-daemon, read by a client the way a
panel reads them: properties, change signals, the menu layout, clicks. (Registration with a
real panel, the no-host case and panel restarts run under xfce4-panel in tests/e2e.)"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from dataclasses import replace

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from codexbar.tray.app import View
from codexbar.tray.backend import choose_backend
from codexbar.tray.dbusmenu import MenuTree
from codexbar.tray.icon import Drawing, icon_state
from codexbar.tray.menu import Action, Row, Tooltip, TrayState, build_menu
from codexbar.tray.sni import NoSessionBus, SniTray, argb_pixmap
from tests.e2e.desktop import wait
from tests.tray_helpers import NOW, reading

ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


def view_of(snapshot, rows=None) -> View:
    state = TrayState(snapshot=snapshot)
    return View(
        drawing=Drawing(icon_state(snapshot)),
        tooltip=Tooltip("Codex usage", ("Session: 82% left",)),
        title="Codex",
        rows=rows if rows is not None else build_menu(state, NOW),
    )


@pytest.fixture
def bus_address():
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (Debian: apt install dbus)")  # a failure under CI=true
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(5)


class Client:
    """A panel's side of the bus, on its own loop thread; collects the item's signals."""

    def __init__(self, address: str, service: str) -> None:
        self.service = service
        self.signals: list[tuple[str, list]] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def connect():
            return await MessageBus(bus_address=address).connect()

        self.bus = self.run(connect())
        self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "AddMatch",
            "s",
            ["type='signal'"],
            destination="org.freedesktop.DBus",
        )
        self.bus.add_message_handler(self._on_message)

    def _on_message(self, message: Message) -> None:
        if message.message_type == MessageType.SIGNAL and message.sender != "org.freedesktop.DBus":
            self.signals.append((message.member, message.body))

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def call(self, _service, path, interface, member, signature="", body=(), destination=None):
        reply = self.run(
            self.bus.call(
                Message(
                    destination=destination or self.service,
                    path=path,
                    interface=interface,
                    member=member,
                    signature=signature,
                    body=list(body),
                )
            )
        )
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        return reply.body

    def prop(self, name: str):
        return self.call(
            None,
            "/StatusNotifierItem",
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            [ITEM, name],
        )[0].value

    def layout(self):
        return self.call(None, "/MenuBar", MENU, "GetLayout", "iias", [0, -1, []])


@pytest.fixture
def running(bus_address):
    actions: list[Action] = []
    done = threading.Event()
    tray = SniTray(lambda a: (actions.append(a), done.set()), bus_address=bus_address)
    ready = threading.Event()
    thread = threading.Thread(target=tray.run, args=(ready.set,), daemon=True)
    thread.start()
    assert ready.wait(10), "the item never came up"
    client = Client(bus_address, tray.bus_name)
    yield tray, client, actions
    tray.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_properties_and_change_signals(running):
    tray, client, _ = running
    tray.update(view_of(reading()))
    wait(lambda: client.prop("IconPixmap"), "the pixmaps")
    pixmaps = client.prop("IconPixmap")
    assert [p[0] for p in pixmaps] == [16, 22, 24, 32, 48, 64]
    assert all(len(p[2]) == p[0] * p[1] * 4 for p in pixmaps)
    assert list(client.prop("ToolTip")[2:]) == ["Codex usage", "Session: 82% left"]
    assert client.prop("Status") == "Active" and client.prop("ItemIsMenu") is True
    assert client.prop("Menu") == "/MenuBar" and client.prop("Id") == "codexbar"

    client.signals.clear()
    blocked = replace(reading(), blocked="Out of credits <for now> & more")
    tray.update(view_of(blocked))
    wait(lambda: ("NewStatus", ["NeedsAttention"]) in client.signals, "NewStatus")
    members = {name for name, _ in client.signals}
    assert {"NewIcon", "LayoutUpdated"} <= members
    assert client.prop("Status") == "NeedsAttention"
    assert client.prop("AttentionIconPixmap") == []  # hosts show the (red) icon itself

    client.signals.clear()
    tray.update(view_of(blocked))  # nothing changed: no signals, an open menu stays open
    import time

    time.sleep(0.3)
    assert client.signals == []


def test_pixmaps_are_argb_in_network_order():
    from PIL import Image

    image = Image.new("RGBA", (1, 1), (10, 20, 30, 40))
    assert argb_pixmap(image) == [1, 1, bytes([40, 10, 20, 30])]


def test_menu_layout_reads_like_the_rows(running):
    tray, client, _ = running
    tray.update(view_of(reading()))
    wait(lambda: len(client.layout()[1][2]) > 5, "the menu")
    _revision, (root_id, root_props, children) = client.layout()
    assert root_id == 0 and root_props["children-display"].value == "submenu"
    items = [c.value for c in children]
    labels = [i[1].get("label", Variant("s", "-")).value for i in items]
    assert labels[:3] == [
        "Codex — dev.fixture@example.com · Plus",
        "Session: 82% left · resets in 1h 50m",
        "Weekly: 55% left · resets in 2d 6h",
    ]
    assert all(i[1]["enabled"].value for i in items if "label" in i[1])  # no disabled grey
    separators = [i for i in items if i[1].get("type", Variant("s", "")).value == "separator"]
    assert len(separators) == 2
    source = next(i for i in items if i[1].get("label", Variant("s", "")).value == "Usage source")
    assert source[1]["children-display"].value == "submenu"
    radios = [c.value[1] for c in source[2]]
    assert all(r["toggle-type"].value == "radio" for r in radios)
    assert radios[0]["toggle-state"].value == 1  # "Auto" is the default
    shown = next(i for i in items if i[1].get("label", Variant("s", "")).value.startswith("Show"))
    assert shown[1]["toggle-type"].value == "checkmark" and shown[1]["toggle-state"].value == 0


def click(client: Client, item_id: int) -> None:
    client.call(None, "/MenuBar", MENU, "Event", "isvu", [item_id, "clicked", Variant("s", ""), 0])


def test_clicks_reach_the_rows_actions(running):
    tray, client, actions = running
    tray.update(view_of(reading()))
    wait(lambda: len(client.layout()[1][2]) > 5, "the menu")
    items = {
        c.value[1].get("label", Variant("s", "")).value: c.value[0] for c in client.layout()[1][2]
    }
    click(client, items["Refresh now"])
    wait(lambda: Action("refresh") in actions, "the refresh action")
    click(client, items["Session: 82% left · resets in 1h 50m"])
    wait(lambda: Action("dashboard") in actions, "the figure row's action")
    actions.clear()
    client.call(None, "/StatusNotifierItem", ITEM, "SecondaryActivate", "ii", [0, 0])
    wait(lambda: actions == [Action("refresh")], "middle click: refresh")
    client.call(None, "/StatusNotifierItem", ITEM, "Activate", "ii", [0, 0])
    wait(lambda: actions[-1] == Action("dashboard"), "activate: the usage page")
    missing = client.call(
        None, "/MenuBar", MENU, "EventGroup", "a(isvu)", [[[9999, "clicked", Variant("s", ""), 0]]]
    )
    assert missing == [[9999]]


def test_row_ids_survive_a_change_of_text():
    tree = MenuTree()
    tree.replace(
        [Row("Session: 82% left", Action("dashboard")), Row("Refresh now", Action("refresh"))]
    )
    before = dict(zip((r.text for r in tree.rows.values()), tree.rows, strict=True))
    tree.replace(
        [Row("Session: 81% left", Action("dashboard")), Row("Refresh now", Action("refresh"))]
    )
    after = dict(zip((r.text for r in tree.rows.values()), tree.rows, strict=True))
    assert after["Refresh now"] == before["Refresh now"]
    assert after["Session: 81% left"] == before["Session: 82% left"]
    assert tree.properties(after["Refresh now"])["label"].value == "Refresh now"
    tree.replace([Row("snake_case", None)])
    (only,) = tree.rows
    assert tree.properties(only)["label"].value == "snake__case"  # not a mnemonic


def test_backend_choice():
    yes, no = (lambda: True), (lambda: False)
    linux = {"DISPLAY": ":0"}

    def choose(**probes):
        base = {
            "sni_watcher": no,
            "xembed_tray": no,
            "session_bus": no,
            "appindicator": no,
            "gtk": no,
        }
        return choose_backend(linux, "linux", {**base, **probes})

    assert choose(sni_watcher=yes, xembed_tray=yes, gtk=yes) == "sni"  # XFCE has both
    assert choose(xembed_tray=yes, gtk=yes, session_bus=yes) == "gtk"  # trayer
    assert choose(xembed_tray=yes, session_bus=yes) == "xorg"  # trayer, no PyGObject
    assert choose(session_bus=yes) == "sni"  # GNOME without the extension: wait for a host
    assert choose() == "xorg"
    assert choose_backend({"CODEXBAR_TRAY_BACKEND": "gtk"}, "linux") == "gtk"
    assert choose_backend({}, "linux") is None  # no desktop session
    assert choose_backend({}, "win32") == "win32"


def test_a_panel_falling_behind_does_not_drop_the_connection(running):
    """Forty pixmap reads at once (35 KB each) overrun the socket's send buffer. Plain
    dbus-fast takes the full buffer for a lost connection and the icon would vanish; the item
    must keep answering."""
    tray, client, _ = running
    tray.update(view_of(reading()))
    wait(lambda: client.prop("IconPixmap"), "the pixmaps")

    def read() -> Message:  # one message per call: each needs its own serial
        return Message(
            destination=tray.bus_name,
            path="/StatusNotifierItem",
            interface="org.freedesktop.DBus.Properties",
            member="Get",
            signature="ss",
            body=[ITEM, "IconPixmap"],
        )

    async def many_reads():
        return await asyncio.gather(*(client.bus.call(read()) for _ in range(40)))

    replies = client.run(many_reads())
    assert all(r.message_type == MessageType.METHOD_RETURN for r in replies)
    assert all(len(r.body[0].value) == 6 for r in replies)
    assert client.prop("Status") == "Active"  # still connected


def test_a_lost_bus_connection_is_made_again(running):
    import socket

    tray, client, _ = running
    tray.update(view_of(reading()))
    wait(lambda: client.prop("IconPixmap"), "the pixmaps")
    old_bus = tray._bus
    tray._loop.call_soon_threadsafe(old_bus._sock.shutdown, socket.SHUT_RDWR)
    wait(lambda: tray._bus is not None and tray._bus is not old_bus, "a new connection", 15)
    blocked = replace(reading(), blocked="Out of credits")
    tray.update(view_of(blocked))  # changes made after the reconnect reach the panel

    def attention() -> bool:
        try:
            return client.prop("Status") == "NeedsAttention"
        except AssertionError:  # the name is not back yet
            return False

    wait(attention, "the item on the new connection", 15)
    assert len(client.prop("IconPixmap")) == 6


def test_no_session_bus_at_start_is_said_in_words(tmp_path):
    """Forcing the SNI backend where no bus runs is a sentence, not a dbus-fast traceback."""
    tray = SniTray(lambda action: None, bus_address=f"unix:path={tmp_path / 'no-bus'}")
    started = []
    with pytest.raises(NoSessionBus) as raised:
        tray.run(lambda: started.append(True))
    assert "no D-Bus session bus" in str(raised.value) and not started
    assert "Error" not in str(raised.value)
