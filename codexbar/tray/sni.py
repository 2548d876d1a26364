"""The Linux tray: our own `org.kde.StatusNotifierItem` on the session bus, with dbus-fast.

Why our own item instead of pystray's AppIndicator backend: it needs no PyGObject (no compiler,
no system packages: `pip install` is enough), and it gives what libappindicator could not
through pystray: a tooltip with the figures, an icon drawn at each size the panel uses (16 to
64 px) instead of one big image scaled down, a status the panel can highlight, and a menu whose
figure rows are normal items. Why dbus-fast: it is the maintained pure-Python successor of
dbus-next (which has had no release since 2021), with asyncio and a service API; jeepney is
also maintained but has no service objects, so every property and signal would be hand-rolled.

Clicks: the item says `ItemIsMenu`, so a left click opens the limits menu on hosts that honour
it (KDE, XFCE, GNOME's AppIndicator extension). A host that sends `Activate` anyway (Waybar's
left click) opens the Codex usage page, like a click on a figure row; the middle click
(`SecondaryActivate`) refreshes now.

Without a host (GNOME without the AppIndicator extension, say) the app says so once, keeps
running, and registers as soon as a `org.kde.StatusNotifierWatcher` appears on the bus, which
also covers a panel restart. A lost bus connection is re-made every two seconds until it is back.

Threads: the asyncio loop runs on the main thread; `update`, `notify` and `stop` may be called
from any thread and hand their work to the loop.

The D-Bus signatures are the annotations (dbus-fast reads them), hence no
`from __future__ import annotations` and the aliases below.
"""

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusInt32, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal
from PIL import Image

from codexbar.tray.dbusmenu import MENU_PATH, DbusMenu
from codexbar.tray.icon import PIXMAP_SIZES
from codexbar.tray.menu import Action

log = logging.getLogger(__name__)

Pixmaps = Annotated[list[Any], DBusSignature("a(iiay)")]
ToolTipStruct = Annotated[list[Any], DBusSignature("(sa(iiay)ss)")]

ITEM_PATH = "/StatusNotifierItem"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
DBUS = "org.freedesktop.DBus"
NOTIFICATIONS = "org.freedesktop.Notifications"
RECONNECT_SECONDS = 2.0

NO_HOST_TITLE = "codexbar: no tray to show its icon in"
NO_HOST_BODY = (
    "This desktop has no StatusNotifierItem tray, so the codexbar icon cannot be shown yet. "
    "On GNOME, install and enable the AppIndicator extension (Debian and Ubuntu: "
    "sudo apt install gnome-shell-extension-appindicator, then "
    "gnome-extensions enable ubuntu-appindicators@ubuntu.com, and log in again). "
    "codexbar keeps running and its icon appears as soon as a tray starts."
)

Pixmap = list[Any]  # [width, height, ARGB32 bytes in network byte order]


def argb_pixmap(image: Image.Image) -> Pixmap:
    """An SNI pixmap: (width, height, bytes) with each pixel as A, R, G, B."""
    rgba = image.convert("RGBA")
    r, g, b, a = rgba.split()
    return [rgba.width, rgba.height, Image.merge("RGBA", (a, r, g, b)).tobytes()]


class StatusNotifierItem(ServiceInterface):
    """The item's properties, methods and signals; the values come from `SniTray`."""

    def __init__(self, on_activate: Callable[[], None], on_secondary: Callable[[], None]) -> None:
        super().__init__(ITEM_INTERFACE)
        self.title = "Codex usage"
        self.status = "Active"
        self.pixmaps: list[Pixmap] = []
        self.tooltip_title = "Codex usage"
        self.tooltip_body = ""
        self._on_activate = on_activate
        self._on_secondary = on_secondary

    @dbus_property(access=PropertyAccess.READ)
    def Category(self) -> DBusStr:
        return "ApplicationStatus"

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:
        return "codexbar"

    @dbus_property(access=PropertyAccess.READ)
    def Title(self) -> DBusStr:
        return self.title

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> DBusStr:
        return self.status

    @dbus_property(access=PropertyAccess.READ)
    def WindowId(self) -> DBusInt32:
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def IconName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def IconPixmap(self) -> Pixmaps:
        return self.pixmaps

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconPixmap(self) -> Pixmaps:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconPixmap(self) -> Pixmaps:
        # Empty on purpose: the icon itself shows the alarm (red bars), and hosts fall back to
        # it while the status is NeedsAttention. A copy would double every icon transfer.
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionMovieName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def ToolTip(self) -> ToolTipStruct:
        return ["", [], self.tooltip_title, self.tooltip_body]

    @dbus_property(access=PropertyAccess.READ)
    def ItemIsMenu(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Menu(self) -> DBusObjectPath:
        return MENU_PATH

    @method()
    def ContextMenu(self, x: DBusInt32, y: DBusInt32):
        pass  # hosts draw the menu from com.canonical.dbusmenu themselves

    @method()
    def Activate(self, x: DBusInt32, y: DBusInt32):
        self._on_activate()

    @method()
    def SecondaryActivate(self, x: DBusInt32, y: DBusInt32):
        self._on_secondary()

    @method()
    def Scroll(self, delta: DBusInt32, orientation: DBusStr):
        pass

    @signal()
    def NewTitle(self):
        pass

    @signal()
    def NewIcon(self):
        pass

    @signal()
    def NewAttentionIcon(self):
        pass

    @signal()
    def NewToolTip(self):
        pass

    @signal()
    def NewStatus(self) -> DBusStr:
        return self.status


class _PatientSocket:
    """The bus socket as dbus-fast's writer sees it, with a full send buffer reported as
    "0 bytes sent" (so the writer waits until the socket is writable and goes on) instead of
    a BlockingIOError, which dbus-fast treats as a lost connection: the icon would vanish when
    a slow panel falls ~200 KB behind (the bug dbus-fast inherited from dbus-next, issue 153
    there). Our pixmaps make that reachable: all sizes of one icon are 35 KB."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def send(self, data: Any) -> int:
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    def sendmsg(self, *args: Any) -> int:
        try:
            return self._sock.sendmsg(*args)
        except BlockingIOError:
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def tolerate_full_socket(bus: MessageBus) -> None:
    """Wrap the connected bus's writer socket (see _PatientSocket). dbus-fast keeps it in a
    private attribute; if a release renames it, nothing is wrapped and this says so."""
    writer = getattr(bus, "_writer", None)
    if writer is None or not hasattr(writer, "sock"):
        log.info("dbus-fast changed: a full bus socket may drop the tray connection")
        return
    if not isinstance(writer.sock, _PatientSocket):
        writer.sock = _PatientSocket(writer.sock)


def _escape(text: str) -> str:
    """Tooltip bodies may be read as markup (KDE, XFCE): keep `<`, `>` and `&` literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class NoSessionBus(Exception):
    """The desktop session has no D-Bus session bus to publish the icon on."""

    def __str__(self) -> str:
        return (
            "There is no D-Bus session bus here (DBUS_SESSION_BUS_ADDRESS is not set, or its "
            "bus is gone), so the StatusNotifierItem icon cannot be shown. Start codexbar from "
            "your desktop session, or choose another tray with CODEXBAR_TRAY_BACKEND=gtk."
        )


class SniTray:
    """The Tray the app draws into (see codexbar.tray.app.Tray), as a StatusNotifierItem."""

    backend = "sni"

    def __init__(
        self,
        on_action: Callable[[Action], None],
        *,
        on_no_host: Callable[[], None] | None = None,
        bus_address: str | None = None,
    ) -> None:
        self._on_action = on_action
        self._on_no_host = on_no_host
        self._bus_address = bus_address
        self.item = StatusNotifierItem(
            on_activate=lambda: self._dispatch(Action("dashboard")),
            on_secondary=lambda: self._dispatch(Action("refresh")),
        )
        self.menu = DbusMenu(on_action)
        self.bus_name = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
        self.registered = threading.Event()  # set while a watcher knows about us
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bus: MessageBus | None = None
        self._stopped: asyncio.Event | None = None
        self._said_no_host = False
        self._view: Any = None
        self._rows: tuple | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- what the app calls (any thread) -------------------------------------------------------

    def update(self, view: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self._view = view  # drawn once the bus is up
            return
        loop.call_soon_threadsafe(self._apply, view)

    def notify(self, title: str, body: str) -> bool:
        """A desktop notification over our own bus connection (no notify-send needed)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        future = asyncio.run_coroutine_threadsafe(self._notify(title, body), loop)
        try:
            return bool(future.result(timeout=5))
        except Exception as error:
            log.info("notification failed: %s", error)
            return False

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)

    def run(self, setup: Callable[[], None]) -> None:
        """Blocks on the calling (main) thread until `stop()`. `setup` runs on its own thread
        once the item is on the bus. Raises NoSessionBus when there is no bus to start on."""
        asyncio.run(self._main(setup))

    # -- on the loop ---------------------------------------------------------------------------

    async def _main(self, setup: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self._connect()
        except Exception as error:  # no bus at all at start: the caller says so in words
            log.debug("no session bus", exc_info=True)
            raise NoSessionBus() from error
        threading.Thread(target=setup, name="codexbar-setup", daemon=True).start()
        while True:
            await self._register()
            assert self._bus is not None
            lost = asyncio.ensure_future(self._bus.wait_for_disconnect())
            stop = asyncio.ensure_future(self._stopped.wait())
            done, _ = await asyncio.wait({lost, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                lost.cancel()
                self._bus.disconnect()
                return
            stop.cancel()
            with contextlib.suppress(Exception):
                lost.result()
            log.warning("lost the session bus connection; reconnecting")
            self._drop_bus()
            while not await self._reconnect():
                if self._stopped.is_set():
                    return

    async def _connect(self) -> None:
        if self._bus_address:
            bus = MessageBus(bus_address=self._bus_address)
        else:
            bus = MessageBus(bus_type=BusType.SESSION)
        self._bus = await bus.connect()
        tolerate_full_socket(self._bus)
        self._bus.export(ITEM_PATH, self.item)
        self._bus.export(MENU_PATH, self.menu)
        await self._bus.request_name(self.bus_name)
        await self._watch_for_watcher()
        if self._view is not None:
            self._apply(self._view)

    async def _reconnect(self) -> bool:
        """One attempt, after a pause (a logout tears the bus down for good: then stop() comes)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), RECONNECT_SECONDS)
        if self._stopped.is_set():
            return False
        try:
            await self._connect()
        except Exception as error:
            log.info("the session bus is not back yet: %s", error)
            self._drop_bus()
            return False
        return True

    def _drop_bus(self) -> None:
        bus, self._bus = self._bus, None
        self.registered.clear()
        if bus is not None:
            for path in (ITEM_PATH, MENU_PATH):
                with contextlib.suppress(Exception):
                    bus.unexport(path)

    def _apply(self, view: Any) -> None:
        self._view = view
        item, bus = self.item, self._bus
        if bus is None:
            return  # drawn when the bus is back
        pixmaps = [argb_pixmap(image) for image in view.drawing.pixmaps(PIXMAP_SIZES)]
        status = "NeedsAttention" if view.drawing.state.needs_attention else "Active"
        tip_title, tip_body = view.tooltip.title, _escape(view.tooltip.body)
        if pixmaps != item.pixmaps:
            item.pixmaps = pixmaps
            item.NewIcon()
        if (tip_title, tip_body) != (item.tooltip_title, item.tooltip_body):
            item.tooltip_title, item.tooltip_body = tip_title, tip_body
            item.NewToolTip()
        if status != item.status:
            item.status = status
            item.NewStatus()
        if tuple(view.rows) != self._rows:
            self._rows = tuple(view.rows)
            self.menu.set_rows(view.rows)

    async def _call(self, message: Message) -> Message | None:
        assert self._bus is not None
        try:
            return await self._bus.call(message)
        except Exception as error:  # the bus going away during logout
            log.debug("D-Bus call %s failed: %s", message.member, error)
            return None

    async def _watch_for_watcher(self) -> None:
        rule = (
            f"type='signal',sender='{DBUS}',interface='{DBUS}',"
            f"member='NameOwnerChanged',arg0='{WATCHER}'"
        )
        await self._call(
            Message(
                destination=DBUS,
                path="/org/freedesktop/DBus",
                interface=DBUS,
                member="AddMatch",
                signature="s",
                body=[rule],
            )
        )
        assert self._bus is not None
        self._bus.add_message_handler(self._on_message)

    def _on_message(self, message: Message) -> None:
        if (
            message.message_type == MessageType.SIGNAL
            and message.member == "NameOwnerChanged"
            and message.body
            and message.body[0] == WATCHER
        ):
            new_owner = message.body[2]
            if new_owner:  # a panel started, or restarted: register with it
                log.info("a tray host appeared; registering the icon")
                task = asyncio.ensure_future(self._register())
                self._tasks.add(task)  # kept until done: the loop holds only weak references
                task.add_done_callback(self._tasks.discard)
            else:
                self.registered.clear()
                log.info("the tray host went away; the icon returns when it restarts")

    async def _register(self) -> None:
        reply = await self._call(
            Message(
                destination=WATCHER,
                path=WATCHER_PATH,
                interface=WATCHER,
                member="RegisterStatusNotifierItem",
                signature="s",
                body=[self.bus_name],
            )
        )
        if reply is not None and reply.message_type == MessageType.METHOD_RETURN:
            self.registered.set()
            log.info("tray icon registered with %s", WATCHER)
            return
        self.registered.clear()
        if not self._said_no_host:
            self._said_no_host = True
            print(f"{NO_HOST_TITLE}. {NO_HOST_BODY}", file=sys.stderr)
            if self._on_no_host is not None:
                threading.Thread(target=self._on_no_host, daemon=True).start()

    async def _notify(self, title: str, body: str) -> bool:
        reply = await self._call(
            Message(
                destination=NOTIFICATIONS,
                path="/org/freedesktop/Notifications",
                interface=NOTIFICATIONS,
                member="Notify",
                signature="susssasa{sv}i",
                body=[
                    "codexbar",
                    0,
                    "",
                    title,
                    body,
                    [],
                    {"urgency": Variant("y", 1)},
                    -1,
                ],
            )
        )
        return reply is not None and reply.message_type == MessageType.METHOD_RETURN

    def _dispatch(self, action: Action) -> None:
        def run() -> None:
            try:
                self._on_action(action)
            except Exception:
                log.exception("tray action %s failed", action.kind)

        threading.Thread(target=run, daemon=True).start()


def session_bus_has(name: str, timeout: float = 2.0) -> bool | None:
    """Whether `name` has an owner on the session bus; None when there is no session bus."""

    async def ask() -> bool:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
        try:
            reply = await bus.call(
                Message(
                    destination=DBUS,
                    path="/org/freedesktop/DBus",
                    interface=DBUS,
                    member="NameHasOwner",
                    signature="s",
                    body=[name],
                )
            )
            return bool(reply and reply.message_type == MessageType.METHOD_RETURN and reply.body[0])
        finally:
            bus.disconnect()

    try:
        return asyncio.run(asyncio.wait_for(ask(), timeout))
    except Exception:
        return None
