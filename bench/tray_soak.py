"""Memory and CPU of the tray as users run it: `python -m codexbar` with the Linux default
backend (our StatusNotifierItem), 500 refreshes against a local server.

This process plays the desktop around the tray: a private dbus-daemon, a stand-in panel (the
StatusNotifierWatcher the item registers with, which re-reads IconPixmap, ToolTip and the
dbusmenu layout after every change signal, as a panel does, and clicks "Refresh now" through
com.canonical.dbusmenu), and the chatgpt.com stand-in whose session figure moves with every
request, so the icon, tooltip and menu change every time. Only the tray process is measured
(from /proc). Target: under 60 MB resident after 500 refreshes, no growth beyond 5 MB.

    .venv/bin/python bench/tray_soak.py [--refreshes 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusStr
from dbus_fast.service import ServiceInterface, method

from tests.conftest import FIXTURES, write_fresh_auth
from tests.fake_backend import FakeBackend, Reply
from tests.tray_helpers import fresh_wham

ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watcher(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.kde.StatusNotifierWatcher")
        self.items: list[str] = []
        self.registered = asyncio.Event()

    @method()
    def RegisterStatusNotifierItem(self, service: DBusStr):
        self.items.append(service)
        self.registered.set()


class Panel:
    """The stand-in SNI host, on its own asyncio thread."""

    def __init__(self, bus_address: str) -> None:
        self.bus_address = bus_address
        self.reads = 0
        self.loop = asyncio.new_event_loop()
        self.watcher = Watcher()
        self.bus: MessageBus | None = None
        self._pending: set[str] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.run(self._start())

    def run(self, coroutine, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _call(self, path, interface, member, signature, body):
        assert self.bus is not None
        reply = await self.bus.call(
            Message(
                destination=self.watcher.items[-1],
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=body,
            )
        )
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        return reply.body

    async def _start(self) -> None:
        self.bus = await MessageBus(bus_address=self.bus_address).connect()
        self.bus.export("/StatusNotifierWatcher", self.watcher)
        await self.bus.request_name("org.kde.StatusNotifierWatcher")
        await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=["type='signal'"],
            )
        )
        self.bus.add_message_handler(self._on_signal)
        self.loop.create_task(self._reader())

    def _on_signal(self, message: Message) -> None:
        if message.message_type == MessageType.SIGNAL and message.member in (
            "NewIcon",
            "NewToolTip",
            "LayoutUpdated",
        ):
            self._pending.add(message.member)

    async def _reader(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            for member in list(self._pending):
                self._pending.discard(member)
                if member == "LayoutUpdated":
                    await self._call("/MenuBar", MENU, "GetLayout", "iias", [0, -1, []])
                else:
                    name = "IconPixmap" if member == "NewIcon" else "ToolTip"
                    await self._call(
                        "/StatusNotifierItem",
                        "org.freedesktop.DBus.Properties",
                        "Get",
                        "ss",
                        [ITEM, name],
                    )
                self.reads += 1

    async def wait_registered(self) -> None:
        await asyncio.wait_for(self.watcher.registered.wait(), 60)

    async def click(self, label: str) -> None:
        _, layout = await self._call("/MenuBar", MENU, "GetLayout", "iias", [0, -1, []])
        item_id = next(
            child.value[0]
            for child in layout[2]
            if "label" in child.value[1] and child.value[1]["label"].value == label
        )
        await self._call(
            "/MenuBar", MENU, "Event", "isvu", [item_id, "clicked", Variant("s", ""), 0]
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refreshes", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("dbus-daemon") is None:
        raise SystemExit("the SNI tray bench needs dbus-daemon (Debian: apt install dbus)")

    root = Path(tempfile.mkdtemp(prefix="codexbar-soak-"))
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert daemon.stdout is not None
    bus_address = daemon.stdout.readline().strip()
    backend = FakeBackend().start()
    body = fresh_wham(FIXTURES / "wham_usage.json")
    served = {"n": 0}

    def usage(request):
        served["n"] += 1
        body["rate_limit"]["primary_window"]["used_percent"] = served["n"] % 100
        backend.requests.clear()  # the fake server records requests; not needed here
        return Reply(200, body)

    backend.routes["/backend-api/wham/usage"] = usage
    home = root / "home"
    write_fresh_auth(home)
    (home / "config.toml").write_text(f'chatgpt_base_url = "{backend.base_url}/"\n')
    config = root / "config"
    config.mkdir()
    (config / "config.toml").write_text('source = "oauth"\nrefresh_minutes = 0\n')
    panel = Panel(bus_address)
    env = {
        **os.environ,
        "CODEXBAR_CONFIG_DIR": str(config),
        "CODEXBAR_DATA_DIR": str(root / "data"),
        "CODEX_HOME": str(home),
        "DBUS_SESSION_BUS_ADDRESS": bus_address,
        "DISPLAY": os.environ.get("DISPLAY", ":0"),  # a desktop session, as far as it can tell
        "CODEXBAR_TRAY_BACKEND": "sni",  # what a desktop with a watcher gets by default
    }
    tray = subprocess.Popen(
        [sys.executable, "-m", "codexbar"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        panel.run(panel.wait_registered(), 60)
        deadline = time.monotonic() + 30
        while served["n"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        start_rss, cpu0, wall0 = rss_mb(tray.pid), cpu_seconds(tray.pid), time.monotonic()
        warm_rss = start_rss
        for index in range(args.refreshes):
            before = served["n"]
            panel.run(panel.click("Refresh now"))
            deadline = time.monotonic() + 30
            while served["n"] == before:
                if time.monotonic() > deadline or tray.poll() is not None:
                    raise SystemExit(f"refresh {index + 1} did not happen")
                time.sleep(0.002)
            if index == 49:
                warm_rss = rss_mb(tray.pid)
        time.sleep(1.0)  # the last signals and the panel's reads settle
        end_rss, cpu, wall = (
            rss_mb(tray.pid),
            cpu_seconds(tray.pid) - cpu0,
            time.monotonic() - wall0,
        )
    finally:
        tray.terminate()
        try:
            _, errors = tray.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            tray.kill()
            _, errors = tray.communicate()
        backend.stop()
        daemon.terminate()
        daemon.wait(5)
    if "Traceback" in errors:
        print(errors[-3000:], file=sys.stderr)
    refreshes = args.refreshes
    print("backend:              sni (python -m codexbar, its own process)")
    print(f"refreshes:            {refreshes} ({served['n']} HTTP requests served)")
    print(f"panel reads:          {panel.reads} (IconPixmap, ToolTip, GetLayout after signals)")
    print(f"RSS after the first:  {start_rss:.1f} MB")
    print(f"RSS after 50:         {warm_rss:.1f} MB")
    growth = end_rss - warm_rss
    print(f"RSS at end:           {end_rss:.1f} MB (growth after warm-up {growth:+.1f} MB)")
    print(f"CPU per refresh:      {cpu / refreshes * 1000:.1f} ms ({cpu:.2f} s total)")
    print(f"wall per refresh:     {wall / refreshes * 1000:.1f} ms")
    verdict = "under" if end_rss < 60 else "OVER"
    print(f"target:               {verdict} 60 MB")


if __name__ == "__main__":
    main()
