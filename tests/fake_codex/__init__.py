"""Fake `codex` executables: small Python scripts the tests put first on PATH.

`app_server.py` replays `app_server_transcript.jsonl` and misbehaves on request; `tui.py` draws
a `/status` card, an update modal or a sign-in screen in a real pseudo-terminal. Both are told
what to do through environment variables (FAKE_CODEX_*), so one wrapper serves every test.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from providers import _appserver

HERE = Path(__file__).resolve().parent


def install_fake_codex(bin_dir: Path, script: str) -> Path:
    """Write an executable `codex` into `bin_dir` that runs `script` (app_server.py or tui.py)
    with this interpreter; returns its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "codex"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / script}" "$@"\n')
    path.chmod(0o755)
    return path


@dataclass
class FakeCodex:
    path: Path
    log: Path
    helper_pid_file: Path
    monkeypatch: pytest.MonkeyPatch
    seen_file: Path | None = None

    def mode(self, *flags: str) -> None:
        self.monkeypatch.setenv("FAKE_CODEX_MODE", ",".join(flags))

    def launches(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split(" ") for line in self.log.read_text().splitlines()]

    def pids(self) -> list[int]:
        return [int(fields[0]) for fields in self.launches()]

    def seen(self) -> list[dict]:
        """Per launch, what the fake saw of its CODEX_HOME (see _seen.py)."""
        if self.seen_file is None or not self.seen_file.exists():
            return []
        return [json.loads(line) for line in self.seen_file.read_text().splitlines()]


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for a parent that is not us."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return gone(pid)


@pytest.fixture
def fake_codex(tmp_path, monkeypatch) -> FakeCodex:
    bin_dir = tmp_path / "bin"
    path = install_fake_codex(bin_dir, "app_server.py")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "launches.log"
    monkeypatch.setenv("FAKE_CODEX_LOG", str(log))
    helper = tmp_path / "helper.pid"
    monkeypatch.setenv("FAKE_CODEX_HELPER_PID", str(helper))
    monkeypatch.delenv("FAKE_CODEX_MODE", raising=False)
    seen = tmp_path / "seen.jsonl"
    monkeypatch.setenv("FAKE_CODEX_SEEN", str(seen))
    # Short deadlines keep the hang tests quick; the behaviour is the same at 10 s and 5 s.
    monkeypatch.setattr(_appserver, "START_TIMEOUT_SECONDS", 1.5)
    monkeypatch.setattr(_appserver, "REQUEST_TIMEOUT_SECONDS", 1.0)
    return FakeCodex(path, log, helper, monkeypatch, seen)
