"""Which panel the icon is drawn for: fixed choices, the desktop's answers in order, and
"unknown" (the two-tone look for any panel) when nothing answers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading

import pytest
from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusStr, DBusVariant
from dbus_fast.service import ServiceInterface, method

from codexbar import settings as settings_module
from codexbar.tray import theme
from codexbar.tray.theme import DARK, LIGHT, UNKNOWN, detect_panel, panel_colour


def answers(table: dict[tuple[str, ...], str]):
    """A stand-in for running desktop tools: only the listed commands answer."""

    def run(command: list[str]) -> str | None:
        return table.get(tuple(command))

    return run


@pytest.fixture(autouse=True)
def no_portal(monkeypatch):
    monkeypatch.setattr(theme, "portal_color_scheme", lambda timeout=1.0: None)


XFCONF = ("xfconf-query", "-c", "xfce4-panel", "-p")


def test_fixed_choices_name_the_panel():
    assert panel_colour("light-panel", {}) == LIGHT
    assert panel_colour("dark-panel", {}) == DARK
    assert "light-panel" in settings_module.lookup("theme").choices


def test_nothing_answers_means_unknown():
    assert detect_panel({}, answers({})) == UNKNOWN


def test_gnome_shell_top_bar_is_dark_whatever_the_scheme():
    run = answers(
        {("gsettings", "get", "org.gnome.desktop.interface", "color-scheme"): "'prefer-light'"}
    )
    assert detect_panel({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, run) == DARK


def test_portal_answers_before_gsettings(monkeypatch):
    monkeypatch.setattr(theme, "portal_color_scheme", lambda timeout=1.0: 2)
    run = answers(
        {("gsettings", "get", "org.gnome.desktop.interface", "color-scheme"): "'prefer-dark'"}
    )
    assert detect_panel({}, run) == LIGHT
    monkeypatch.setattr(theme, "portal_color_scheme", lambda timeout=1.0: 0)  # no preference
    assert detect_panel({}, run) == DARK


def test_gsettings_default_says_nothing():
    run = answers(
        {("gsettings", "get", "org.gnome.desktop.interface", "color-scheme"): "'default'"}
    )
    assert detect_panel({}, run) == UNKNOWN


def test_xfce_panel_colour_decides():
    light = answers(
        {
            (*XFCONF, "/panels/panel-1/background-style"): "1",
            (*XFCONF, "/panels/panel-1/background-rgba"): "Value is an array with 4 items:\n\n"
            "0.933\n0.933\n0.933\n1.000",
            (*XFCONF, "/panels/dark-mode"): "true",
        }
    )
    assert detect_panel({"XDG_CURRENT_DESKTOP": "XFCE"}, light) == LIGHT
    dark_mode = answers({(*XFCONF, "/panels/dark-mode"): "true"})
    assert detect_panel({"XDG_CURRENT_DESKTOP": "XFCE"}, dark_mode) == DARK
    assert detect_panel({}, dark_mode) == UNKNOWN  # not asked outside XFCE


def test_kdeglobals(tmp_path):
    (tmp_path / "kdeglobals").write_text("[General]\nColorScheme=BreezeDark\n")
    env = {"XDG_CURRENT_DESKTOP": "KDE", "XDG_CONFIG_HOME": str(tmp_path)}
    assert detect_panel(env, answers({})) == DARK
    (tmp_path / "kdeglobals").write_text("[General]\nColorScheme=BreezeLight\n")
    assert detect_panel(env, answers({})) == LIGHT


def test_a_failing_tool_is_no_answer():
    def broken(command):
        raise OSError("exec format error")

    assert detect_panel({"XDG_CURRENT_DESKTOP": "XFCE"}, broken) == UNKNOWN


def test_the_portal_is_asked_over_the_session_bus(monkeypatch):
    """A real dbus-daemon with a portal Settings object answering `color-scheme`."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon")  # conftest fails a skip under CI=true

    class Settings(ServiceInterface):
        def __init__(self) -> None:
            super().__init__("org.freedesktop.portal.Settings")

        @method()
        def ReadOne(self, namespace: DBusStr, key: DBusStr) -> DBusVariant:
            assert (namespace, key) == ("org.freedesktop.appearance", "color-scheme")
            return Variant("u", 1)

    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        address = daemon.stdout.readline().strip()
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        async def serve():
            bus = await MessageBus(bus_address=address).connect()
            bus.export("/org/freedesktop/portal/desktop", Settings())
            await bus.request_name("org.freedesktop.portal.Desktop")
            ready.set()
            await asyncio.Event().wait()

        thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
        thread.start()
        assert ready.wait(10)
        monkeypatch.undo()  # the real portal probe, not the autouse stand-in
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        assert theme.portal_color_scheme(timeout=5) == 1
        assert detect_panel({}, answers({})) == DARK
    finally:
        daemon.terminate()
        daemon.wait(5)
