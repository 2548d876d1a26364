"""Starting the tray: one instance, the right backend, and a calm fallback without a desktop."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

from codexbar.app import App
from codexbar.tray.backend import choose_backend, missing_packages_hint
from codexbar.tray.single_instance import InstanceLock, ask_running_instance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartResult:
    """Why the tray did not start (`started` False) and what to tell the user."""

    started: bool
    message: str | None = None
    show_report: bool = False


NO_DISPLAY = (
    "No desktop session was found ($DISPLAY and $WAYLAND_DISPLAY are unset), so the tray icon "
    "cannot be shown; this is the usage report instead. Run `codexbar` (or `make run`) from a "
    "terminal inside your desktop session to start the tray, or `codexbar autostart on` to "
    "start it at every login."
)


def run_tray(homes: tuple[str, ...] = ()) -> StartResult:
    """Run the tray until Quit. Returns at once when it cannot or need not start."""
    backend = choose_backend()
    if backend is None:
        return StartResult(False, NO_DISPLAY, show_report=True)
    if ask_running_instance():
        return StartResult(False, "codexbar is already running; it was asked to refresh now.")

    holder: dict[str, object] = {}

    def refresh_requested() -> None:
        tray_app = holder.get("app")
        if tray_app is not None:
            tray_app.loop.request()  # type: ignore[attr-defined]

    lock = InstanceLock.acquire(refresh_requested)
    if lock is None:  # lost a race with another instance starting at the same moment
        ask_running_instance()
        return StartResult(False, "codexbar is already running; it was asked to refresh now.")
    try:
        return _run(backend, homes, holder)
    finally:
        lock.close()


def _make_tray(backend: str, dispatch):
    if backend == "sni":
        from codexbar.tray.sni import NO_HOST_BODY, NO_HOST_TITLE, SniTray

        def tell_no_host() -> None:
            from codexbar.tray import autostart
            from codexbar.tray.notifications import DesktopNotifier

            DesktopNotifier(autostart.icon_path(), fallback=tray.notify).send(
                NO_HOST_TITLE, NO_HOST_BODY
            )

        tray = SniTray(dispatch, on_no_host=tell_no_host)
        return tray
    from codexbar.tray.backend import PystrayTray

    return PystrayTray(backend, dispatch)


def _run(backend: str, homes: tuple[str, ...], holder: dict[str, object]) -> StartResult:
    from codexbar.tray.app import TrayApp

    def dispatch(action) -> None:
        tray_app = holder.get("app")
        if tray_app is not None:
            tray_app.handle(action)  # type: ignore[attr-defined]

    try:
        tray = _make_tray(backend, dispatch)
    except Exception as error:  # e.g. a GTK that cannot open the display, a missing backend
        log.debug("tray backend %s failed", backend, exc_info=True)
        return StartResult(
            False,
            f"The tray could not start with the {backend} backend ({error}). "
            + missing_packages_hint(),
            show_report=True,
        )
    log.info("tray backend: %s", backend)
    app = App.load(homes)
    tray_app = TrayApp(app, tray)
    holder["app"] = tray_app
    if hasattr(tray, "on_size_changed"):  # pystray's GTK icon: redraw at the docked size
        tray.on_size_changed(lambda: tray_app.redraw(force=True))
        tray.open_menu_on_left_click()

    def on_signal(signum, frame) -> None:  # Ctrl-C or a logout's SIGTERM: quit cleanly
        threading.Thread(target=tray_app.quit, daemon=True).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    _wake_python_for_signals(backend)
    unavailable: tuple[type[Exception], ...] = ()
    if backend == "sni":
        from codexbar.tray.sni import NoSessionBus

        unavailable = (NoSessionBus,)
    try:
        tray.run(tray_app.start)
    except unavailable as error:  # said in words, then the report instead of an icon
        tray_app.quit()
        return StartResult(False, str(error), show_report=True)
    tray_app.quit()
    return StartResult(True)


def _wake_python_for_signals(backend: str) -> None:
    """GTK's main loop sits in C, where Python signal handlers do not run: a GLib timeout hands
    control back to Python twice a second so Ctrl-C and SIGTERM are handled."""
    if backend not in ("gtk", "appindicator"):
        return
    try:
        from gi.repository import GLib

        GLib.timeout_add(500, lambda: True)
    except Exception:
        log.debug("no GLib timer for signals", exc_info=True)
