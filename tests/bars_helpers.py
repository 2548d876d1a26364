"""Running codexbar as a status bar or scraper runs it, and saving a reading to the store."""

from __future__ import annotations

import os
import subprocess
import sys

from codexbar.models import UsageSnapshot
from codexbar.store import Store


def run_codexbar(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`codexbar ARGS` in a real process, with this test's settings and data folders."""
    return subprocess.run(
        [sys.executable, "-m", "codexbar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def save_reading(snapshot: UsageSnapshot) -> None:
    """Store a reading as the tray would after a refresh."""
    store = Store()
    try:
        store.save_snapshot(snapshot)
    finally:
        store.close()
