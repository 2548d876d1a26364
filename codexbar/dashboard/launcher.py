"""The tray's "Open dashboard": one `codexbar dashboard` child, started on the first click and
reused after (its address carries the run's secret, so the tray keeps it, never prints it)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

START_TIMEOUT_SECONDS = 20


class LocalDashboard:
    def __init__(self, homes: Sequence[Path]) -> None:
        self.homes = [Path(h) for h in homes]
        self.process: subprocess.Popen[str] | None = None
        self._url: str | None = None
        self._lock = threading.Lock()

    def url(self) -> str | None:
        """The running dashboard's address (starting it when needed); None if it did not start."""
        with self._lock:
            if self.process is not None and self.process.poll() is None and self._url:
                return self._url
            command = [sys.executable, "-m", "codexbar", "dashboard", "--no-browser", "--print-url"]
            for home in self.homes:
                command += ["--home", str(home)]
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            first_line: list[str] = []
            reader = threading.Thread(
                target=lambda: first_line.append(self.process.stdout.readline()), daemon=True
            )
            reader.start()
            reader.join(START_TIMEOUT_SECONDS)
            url = first_line[0].strip() if first_line else ""
            if not url.startswith("http://127.0.0.1:"):
                self.stop()
                return None
            self._url = url
            return url

    def stop(self) -> None:
        process, self.process, self._url = self.process, None, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(2)
