"""Each account's limits for the dashboard: the `usage --json` object, with pace and its text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codexbar.app import App
from codexbar.engine import UsageReport
from codexbar.history import snapshot_paces
from codexbar.pace import pace_text
from codexbar.report import report_to_json
from codexbar.settings import Settings
from codexbar.store import Store


def limits_fetcher(settings: Settings):
    """A `fetch_usage(home, store_path)` for the Dashboard: one reading of that home's account,
    saved to the store like every reading (so it feeds the history too), on a connection of
    its own."""

    def fetch(home: Path, store_path: Path) -> tuple[UsageReport, dict[str, Any]]:
        app = App(settings=settings, homes=[home])
        try:
            store: Store | None = Store(store_path)
        except Exception:
            store = None  # the reading still shows, with a pace from the window's average
        try:
            report = app.fetch_usage(interactive=False, store=store)
            db = store.db if store is not None else None
            paces = {} if report.snapshot is None else snapshot_paces(report.snapshot, db)
        finally:
            if store is not None:
                store.close()
        body = report_to_json(report, paces)
        now = datetime.now(UTC)
        for window in body["windows"]:
            pace = paces.get(window["id"])
            window["pace_text"] = (
                pace_text(pace, now) if pace is not None and window["pace"] is not None else None
            )
        body["source_title"] = app.titles.get(body["source"] or "", body["source"])
        return report, body

    return fetch
