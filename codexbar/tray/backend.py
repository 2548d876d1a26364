"""Picking the tray backend, and the pystray adapter (the only module that imports pystray).

On Linux the default is our own StatusNotifierItem (codexbar.tray.sni) whenever a
`org.kde.StatusNotifierWatcher` is on the session bus (KDE, XFCE, GNOME with the AppIndicator
extension, Waybar, Cinnamon, Budgie, LXQt). Without one, an XEmbed tray (trayer, stalonetray,
old panels) gets pystray's GTK backend, or its plain X11 one without PyGObject. With neither,
the SNI backend still starts: it says there is no tray and shows the icon once one appears.
Windows and macOS use pystray. CODEXBAR_TRAY_BACKEND (sni, appindicator, gtk, xorg, …) or
PYSTRAY_BACKEND forces a choice. The choice is made before pystray is imported, because
pystray's own fallback cannot catch the Xorg backend's display error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PIL import Image

from codexbar.tray.menu import Action, Row

log = logging.getLogger(__name__)

BACKENDS = ("sni", "appindicator", "gtk", "xorg", "win32", "darwin", "dummy")
SNI_WATCHER = "org.kde.StatusNotifierWatcher"


def has_display(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a tray can be shown at all (Windows and macOS always have a desktop session)."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _gi_has(namespace: str, version: str) -> bool:
    try:
        import gi

        gi.require_version(namespace, version)
        __import__(f"gi.repository.{namespace}")
        return True
    except (ImportError, ValueError, AttributeError):
        return False


def _probe_appindicator() -> bool:
    if not _probe_gtk():
        return False
    return _gi_has("AyatanaAppIndicator3", "0.1") or _gi_has("AppIndicator3", "0.1")


def _probe_gtk() -> bool:
    if not _gi_has("Gtk", "3.0"):
        return False
    from gi.repository import Gtk

    result = Gtk.init_check([])  # (ok, argv) in PyGObject's GTK 3 binding
    return bool(result[0] if isinstance(result, tuple) else result)


def _probe_sni_watcher() -> bool:
    try:
        from codexbar.tray.sni import session_bus_has
    except ImportError:  # dbus-fast missing (a non-Linux install)
        return False
    return session_bus_has(SNI_WATCHER) is True


def _probe_session_bus() -> bool:
    try:
        from codexbar.tray.sni import session_bus_has
    except ImportError:
        return False
    return session_bus_has("org.freedesktop.DBus") is not None


def _probe_xembed_tray() -> bool:
    """Whether an XEmbed tray manager (the `_NET_SYSTEM_TRAY_S<n>` selection owner) runs."""
    from Xlib import X, display

    connection = display.Display()
    try:
        screen = connection.get_default_screen()
        atom = connection.intern_atom(f"_NET_SYSTEM_TRAY_S{screen}")
        return connection.get_selection_owner(atom) != X.NONE
    finally:
        connection.close()


DEFAULT_PROBES: dict[str, Callable[[], bool]] = {
    "sni_watcher": _probe_sni_watcher,
    "xembed_tray": _probe_xembed_tray,
    "session_bus": _probe_session_bus,
    "appindicator": _probe_appindicator,
    "gtk": _probe_gtk,
}


def choose_backend(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    probes: Mapping[str, Callable[[], bool]] | None = None,
) -> str | None:
    """The tray backend to use (`sni` or a pystray backend name), or None when no tray can be
    shown here."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    forced = env.get("CODEXBAR_TRAY_BACKEND", "").strip() or env.get("PYSTRAY_BACKEND", "").strip()
    if forced:
        return forced
    if platform == "win32":
        return "win32"
    if platform == "darwin":
        return "darwin"
    if not has_display(env, platform):
        return None
    probes = {**DEFAULT_PROBES, **(probes or {})}

    def probe(name: str) -> bool:
        try:
            return bool(probes[name]())
        except Exception:  # a broken desktop component is a reason to fall back, not to crash
            log.debug("tray probe %s failed", name, exc_info=True)
            return False

    if probe("sni_watcher"):
        return "sni"
    if env.get("DISPLAY") and probe("xembed_tray"):
        return "gtk" if probe("gtk") else "xorg"
    if probe("session_bus"):
        return "sni"  # no tray yet: say so, and appear when one starts
    for name in ("appindicator", "gtk"):
        if probe(name):
            return name
    return "xorg" if env.get("DISPLAY") else None


def missing_packages_hint() -> str:
    return (
        "An XEmbed tray (trayer, stalonetray, old panels) needs PyGObject for a menu: on "
        "Debian/Ubuntu "
        "`sudo apt install libgirepository1.0-dev libcairo2-dev pkg-config python3-dev "
        "gir1.2-ayatanaappindicator3-0.1` then `.venv/bin/pip install 'PyGObject<3.51'` "
        "(see the README for Fedora and Arch)."
    )


# GTK's stock icon sizes: a status icon shows a pixbuf at the largest of these that fits its
# size (GtkStatusIcon's round_pixel_size), scaling anything bigger down and blurring it.
GTK_ICON_SIZES = (16, 24, 32, 48)


def gtk_pixel_size(allotted: int) -> int:
    if allotted < 16:
        return 64  # not docked yet: a size-changed signal follows
    return max(size for size in GTK_ICON_SIZES if size <= allotted)


class PystrayTray:
    """A tray icon with a menu of `Row`s; `on_action` receives the chosen `Action`."""

    def __init__(self, backend: str, on_action: Callable[[Action], None]) -> None:
        os.environ["PYSTRAY_BACKEND"] = backend
        import pystray

        self.backend = backend
        self._pystray = pystray
        self._on_action = on_action
        self._icon: Any = pystray.Icon("codexbar", title="codexbar")
        self._on_size: Callable[[], None] | None = None
        self._stopping = False

    # -- what the app calls ------------------------------------------------------------------

    @property
    def has_menu(self) -> bool:
        return bool(self._icon.HAS_MENU)

    @property
    def has_notification(self) -> bool:
        return bool(self._icon.HAS_NOTIFICATION)

    def icon_size(self) -> int:
        """The pixel size to draw at, so that nothing scales the image: for a docked GTK status
        icon, the GTK icon size it rounds its allotted size down to; else 64 (AppIndicator
        hosts and Windows scale a 64-px image down)."""
        status_icon = getattr(self._icon, "_status_icon", None)
        if status_icon is not None:
            try:
                return gtk_pixel_size(int(status_icon.get_size()))
            except Exception:
                pass
        return 64

    def on_size_changed(self, callback: Callable[[], None]) -> None:
        """Redraw when the GTK tray changes the icon's size (crisp, not rescaled)."""
        self._on_size = callback
        status_icon = getattr(self._icon, "_status_icon", None)
        if status_icon is not None:
            status_icon.connect("size-changed", lambda *_: self._size_changed())

    def open_menu_on_left_click(self) -> None:
        """GTK (XEmbed): a left click opens the limits menu, like the right click, instead of
        pystray's default action (which we do not have). AppIndicator hosts do this already;
        the plain X11 backend has no menu at all."""
        status_icon = getattr(self._icon, "_status_icon", None)
        popup = getattr(self._icon, "_on_status_icon_popup_menu", None)
        if status_icon is None or popup is None:
            return
        status_icon.connect("activate", lambda icon: popup(icon, 1, 0))

    def _size_changed(self) -> bool:
        if self._on_size is not None:
            self._on_size()
        return False  # let GTK scale the current image until the new one arrives

    def update(self, view: Any) -> None:
        """Safe from any thread: the GTK backends marshal onto their main loop."""
        size = self.icon_size()
        log.debug("drawing the tray icon at %d px", size)
        self._draw(view.drawing.image(size), view.title, view.rows)

    def _draw(self, image: Image.Image, title: str, rows: Sequence[Row]) -> None:
        self._icon.icon = image
        self._icon.title = title
        status_icon = getattr(self._icon, "_status_icon", None)
        if status_icon is not None:
            # pystray sets only the accessible title; GTK shows the tooltip separately.
            with contextlib.suppress(Exception):
                status_icon.set_tooltip_text(title)
        if self.has_menu:
            self._icon.menu = self._pystray.Menu(*[self._item(row) for row in rows])

    def notify(self, title: str, body: str) -> bool:
        if not self.has_notification:
            return False
        self._icon.notify(body, title)
        return True

    def run(self, setup: Callable[[], None]) -> None:
        """Blocks on the main thread until `stop()`; `setup` runs on pystray's setup thread."""

        def start(icon: Any) -> None:
            setup()  # draws the first image: pystray refuses to show an icon without one
            icon.visible = True

        try:
            self._icon.run(setup=start)
        except Exception as error:
            if not self._stopping:
                raise
            # Logging out tears down the session bus first; pystray's cleanup then fails to
            # withdraw a notification. The tray is gone either way.
            log.debug("tray cleanup after stop failed: %s", error)

    def stop(self) -> None:
        self._stopping = True
        self._icon.stop()

    # -- rows to pystray items ---------------------------------------------------------------

    def _item(self, row: Row) -> Any:
        pystray = self._pystray
        if row.is_separator:
            return pystray.Menu.SEPARATOR
        if row.submenu:
            return pystray.MenuItem(row.text, pystray.Menu(*[self._item(r) for r in row.submenu]))
        if row.action is None:  # information: a normal item at full contrast, a no-op click
            return pystray.MenuItem(row.text, lambda: None)
        checked = row.checked
        return pystray.MenuItem(
            row.text,
            self._callback(row.action),
            checked=None if checked is None else (lambda _item, value=checked: value),
            radio=row.radio,
        )

    def _callback(self, action: Action) -> Callable[[], None]:
        def activate() -> None:
            try:
                self._on_action(action)
            except Exception:  # a failing action must not take the menu down
                log.exception("menu action %s failed", action.kind)

        return activate
