"""Memory and CPU of the tray loop: 500 refreshes against a local server, as fast as they go.

Runs the real TrayApp (engine, OAuth source over HTTP, store, notifications, icon drawing, menu
model) with the pystray adapter replaced by a sink, driven by its own RefreshLoop with the
interval shortened to nothing. Prints resident memory at start, after warm-up and at the end,
and CPU seconds per refresh. Targets: under 80 MB, no growth beyond 5 MB.

    .venv/bin/python bench/tray_soak.py [--refreshes 500]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import FIXTURES, write_fresh_auth
from tests.fake_backend import FakeBackend, Reply
from tests.tray_helpers import fresh_wham


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sink:
    def __init__(self) -> None:
        self.updates = 0

    def update(self, image, title, rows) -> None:
        image.tobytes()  # what a backend does with it: encode the pixels
        self.updates += 1

    def icon_size(self) -> int:
        return 44

    def notify(self, title, body) -> bool:
        return True

    def stop(self) -> None:
        pass


def serve(conn) -> None:
    """The local chatgpt.com stand-in; the session figure moves so menus and icons change."""
    backend = FakeBackend().start()
    body = fresh_wham(FIXTURES / "wham_usage.json")
    counter = {"n": 0}

    def usage(request):
        counter["n"] += 1
        body["rate_limit"]["primary_window"]["used_percent"] = counter["n"] % 100
        backend.requests.clear()  # the fake server records requests; not needed here
        return Reply(200, body)

    backend.routes["/backend-api/wham/usage"] = usage
    conn.send(backend.base_url)
    conn.recv()
    backend.stop()
    conn.send(counter["n"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refreshes", type=int, default=500)
    parser.add_argument("--trace", action="store_true", help="show the top Python allocations")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="codexbar-soak-"))
    os.environ["CODEXBAR_CONFIG_DIR"] = str(root / "config")
    os.environ["CODEXBAR_DATA_DIR"] = str(root / "data")
    # The server runs in its own process, as chatgpt.com would: its memory is not ours.
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child,), daemon=True)
    server.start()
    base_url = parent.recv()
    home = root / "home"
    write_fresh_auth(home)
    (home / "config.toml").write_text(f'chatgpt_base_url = "{base_url}/"\n')
    os.environ["CODEX_HOME"] = str(home)

    from codexbar import settings
    from codexbar.app import App
    from codexbar.tray.app import TrayApp

    settings.save_value("source", "oauth")
    done = threading.Semaphore(0)
    tray_app = TrayApp(App.load(), Sink(), tick_seconds=0.01)
    original = tray_app.refresh_once

    def counted() -> bool:
        ok = original()
        done.release()
        return ok

    tray_app.loop._refresh = counted
    tray_app.loop.plan.set_interval(1)
    start_rss = rss_mb()
    tray_app.start()
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    warm_rss = None
    for index in range(args.refreshes):
        tray_app.loop.request()  # the accelerated interval: the next refresh at once
        if not done.acquire(timeout=30):
            raise SystemExit(f"refresh {index + 1} did not finish")
        if index == 49:
            warm_rss = rss_mb()
            if args.trace:
                import tracemalloc

                tracemalloc.start(12)
                before = tracemalloc.take_snapshot()
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    end_rss = rss_mb()
    if args.trace:
        after = tracemalloc.take_snapshot()
        for stat in after.compare_to(before, "traceback")[:5]:
            print(stat)
            print("\n".join(stat.traceback.format()[-12:]))
    tray_app.quit()
    parent.send("stop")
    server.join(5)
    requests = parent.recv() if parent.poll(5) else "?"
    print(f"refreshes:            {args.refreshes} ({requests} HTTP requests served)")
    print(f"RSS at start:         {start_rss:.1f} MB")
    print(f"RSS after 50:         {warm_rss:.1f} MB")
    growth = end_rss - warm_rss
    print(f"RSS at end:           {end_rss:.1f} MB (growth after warm-up {growth:+.1f} MB)")
    print(f"CPU per refresh:      {cpu / args.refreshes * 1000:.1f} ms ({cpu:.2f} s total)")
    print(f"wall per refresh:     {wall / args.refreshes * 1000:.1f} ms")


if __name__ == "__main__":
    main()
