"""Dashboard API timings on the ~2 GB bench corpus (not part of the tests).

Builds (or reuses) .cache/bench/c<MB> with bench/make_codex_home.py, serves it with a real
DashboardServer, and times every cost endpoint over HTTP: the first (cold) call, then warm calls
both with the 5-second answer memo and without it (the cost cache and the recent-events index are
warm, the summary is recomputed). Prints one line per endpoint, median milliseconds.

    python bench/dashboard_bench.py [--mb 2000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["TZ"] = "UTC"

import httpx  # noqa: E402

from bench.cost_bench import corpus  # noqa: E402
from codexbar.dashboard.api import Dashboard  # noqa: E402
from codexbar.dashboard.server import DashboardServer  # noqa: E402
from codexbar.store import Store  # noqa: E402

NOW = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
ENDPOINTS = [
    ("/api/summary", {"range": "last30days"}),
    ("/api/summary", {"range": "alltime"}),
    ("/api/timeseries", {"range": "last30days", "bucket": "day", "metric": "cost"}),
    ("/api/timeseries", {"range": "last7days", "bucket": "hour", "metric": "tokens"}),
    ("/api/timeseries", {"range": "last30days", "bucket": "hour", "metric": "cost"}),
    ("/api/breakdown", {"range": "last30days", "by": "project"}),
    ("/api/events", {"range": "last30days", "limit": "50"}),
    ("/api/events", {"range": "alltime", "limit": "500"}),
    ("/api/sessions/active", {"minutes": "30"}),
    ("/api/limits/history", {"window": "session", "days": "7"}),
    ("/api/homes", {}),
    ("/api/pricing", {}),
]


def no_limits(home, store):
    raise RuntimeError("the bench does not read limits")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    home = corpus(args.mb)
    size = sum(p.stat().st_size for p in home.rglob("*.jsonl"))
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CODEXBAR_CONFIG_DIR"] = folder
        store = Store(Path(folder) / "bench.sqlite3")
        dash = Dashboard([home], store, fetch_usage=no_limits, tz=ZoneInfo("UTC"), now=lambda: NOW)
        server = DashboardServer(dash)
        server.start_in_thread()
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}",
            headers={"Authorization": f"Bearer {server.secret}"},
            timeout=600,
        )
        print(f"corpus {home} ({size / 1e9:.2f} GB), median of {args.runs} warm calls, ms")
        print(f"{'endpoint':<58}{'cold':>9}{'memo':>8}{'no memo':>9}")
        for path, params in ENDPOINTS:

            def call(path: str = path, params: dict = params) -> float:
                start = time.perf_counter()
                response = client.get(path, params=params)
                response.raise_for_status()
                return (time.perf_counter() - start) * 1000

            cold = call()
            memo = statistics.median(call() for _ in range(args.runs))
            fresh = []
            for _ in range(args.runs):
                dash.forget_costs()
                fresh.append(call())
            name = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
            print(f"{name:<58}{cold:>9.0f}{memo:>8.1f}{statistics.median(fresh):>9.1f}")
        server.shutdown()
        store.close()


if __name__ == "__main__":
    main()
