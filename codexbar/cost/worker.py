"""A second process for big cold scans: on two cores, this process reads half of the bytes while
the scan's own process reads the other half.

Not multiprocessing: its pools kept a fork server, a resource tracker and workers running for
minutes after the parent was killed, and shipped whole parser states around. This is one plain
child (`python -m codexbar.cost.worker`) that gets its jobs as one JSON document on stdin and
answers with one JSON line per file: the file's small state and sums. It dies with its parent:
on Linux the kernel kills it (PR_SET_PDEATHSIG); elsewhere it notices its parent is gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo

import orjson

from codexbar.cost.discovery import Found
from codexbar.cost.scanner import FileState

# Measured on 8,000 small files: saving, adding up and decoding one file's answer cost this
# process about what parsing 64 KB of log does.
PER_FILE_BYTES = 64 << 10
PR_SET_PDEATHSIG = 1


def zone_name(tz: tzinfo | None) -> str | bool | None:
    """How the child rebuilds `tz`: an IANA key, None for the system zone, False if it cannot."""
    if tz is None:
        return None
    if tz is UTC or tz == UTC:
        return "UTC"
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) and isinstance(tz, ZoneInfo) else False


def usable(jobs: int, tz: tzinfo | None) -> bool:
    # A frozen build's executable is the app itself, not a Python that can run `-m`.
    frozen = getattr(sys, "frozen", False)
    return not frozen and jobs >= 2 and (os.cpu_count() or 1) >= 2 and zone_name(tz) is not False


def split(jobs: list[tuple[Found, FileState]]) -> tuple[list[int], list[int]]:
    """Job indexes for this process and for the child, so that both finish together. This
    process also decodes the child's answers, saves every file to the cache and adds up: work
    that grows with the number of files, counted here as PER_FILE_BYTES of reading each."""
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][0].size - jobs[i][1].offset)
    mine: list[int] = []
    theirs: list[int] = []
    loads = [PER_FILE_BYTES * len(jobs), 0]
    for i in reversed(order):  # largest first
        side = 0 if loads[0] <= loads[1] else 1
        (mine if side == 0 else theirs).append(i)
        loads[side] += jobs[i][0].size - jobs[i][1].offset
    return mine, theirs


def _encode_state(state: FileState) -> dict:
    return {
        "state": state.to_json().decode(),  # a string: decoded once, by FileState.from_json
        "buckets": [[*key, *values] for key, values in state.buckets.items()],
    }


def _decode_state(data: dict) -> FileState:
    buckets = {tuple(row[:6]): row[6:] for row in data["buckets"]}
    return FileState.from_json(data["state"], buckets)


class Child:
    """The running second process; `results()` yields (job index, outcome fields)."""

    def __init__(self, jobs: list[tuple[Found, FileState]], indexes: list[int], tz) -> None:
        self.indexes = indexes
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codexbar.cost.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.lines: list[bytes] = []
        self.done = threading.Event()
        # Drain its answers while this process scans its own half (a full pipe would stall it).
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        document = {
            "tz": zone_name(tz),
            "jobs": [[list(jobs[i][0]), _encode_state(jobs[i][1])] for i in indexes],
        }
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(orjson.dumps(document))
            self.proc.stdin.close()
        except OSError:
            pass  # it died: results() reports the missing files

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
        self.done.set()

    def results(self) -> Iterator[tuple[int, dict | None]]:
        self.done.wait()
        self.proc.wait()
        answered: dict[int, dict] = {}
        for line in self.lines:
            try:
                item = orjson.loads(line)
                answered[item["i"]] = item
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
        for position, i in enumerate(self.indexes):
            yield i, answered.get(position)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def outcome_fields(item: dict) -> tuple[FileState | None, int, str | None, bytes | None]:
    state = _decode_state(item) if item.get("state") is not None else None
    mark = bytes.fromhex(item["fp"]) if item.get("fp") else None
    return state, int(item.get("read") or 0), item.get("problem"), mark


def _die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    _die_with_parent()
    from codexbar.cost.index import scan_in_order

    document = orjson.loads(sys.stdin.buffer.read())
    name = document["tz"]
    tz = None if name is None else (UTC if name == "UTC" else ZoneInfo(name))
    out = sys.stdout.buffer
    jobs = [(Found(*fields), _decode_state(saved)) for fields, saved in document["jobs"]]
    for number, (_found, outcome) in enumerate(scan_in_order(jobs, tz)):
        answer: dict = {"i": number, "read": outcome.bytes_read, "problem": outcome.problem}
        if outcome.state is not None:
            answer.update(_encode_state(outcome.state))
        else:
            answer["state"] = None
        if outcome.fingerprint is not None:
            answer["fp"] = outcome.fingerprint.hex()
        out.write(orjson.dumps(answer) + b"\n")
    out.flush()


if __name__ == "__main__":
    main()
