"""A second process for big scans: on two cores, this process and one child take the files from
one queue, largest first, until none is left, so both finish together whatever the files are
like and however late the child got going.

Not multiprocessing: its pools kept a fork server, a resource tracker and workers running for
minutes after the parent was killed, and shipped whole parser states around. This is one plain
child (`python -m codexbar.cost.worker`, which imports only the parser) fed over stdin: a line
naming the zone, then batches of jobs, each sent when the child is about to run out (two are
in flight, so it never waits for this busy process). It answers with one JSON line per file:
the file's small state and sums, and a line after each batch. Closing its stdin ends it; it
dies with its parent: on Linux the kernel kills it (PR_SET_PDEATHSIG); elsewhere it notices
its parent is gone. A child that dies leaves its unanswered files to this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo

import orjson

from codexbar.cost.discovery import Found
from codexbar.cost.files import Job, Outcome, Prefetcher, scan_file, scan_in_order
from codexbar.cost.scanner import FileState

PR_SET_PDEATHSIG = 1
# A batch is cut at this many bytes or files: small enough that the last ones even out the
# two processes, big enough that feeding the child costs nothing.
BATCH_BYTES = 4 << 20
BATCH_FILES = 32
IN_FLIGHT = 2
# The child's answers pipe: room for a few batches' answers while this process holds the GIL.
PIPE_BYTES = 1 << 20
DONE = b'{"done":1}'  # the line after each batch's answers


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


class JobQueue:
    """The jobs, largest first; both processes take from the front."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.order = sorted(range(len(jobs)), key=lambda i: jobs[i][1].offset - jobs[i][0].size)
        self.next = 0

    def take_one(self) -> int | None:
        """The position (in `order`) of the next job, or None when all are taken."""
        if self.next >= len(self.order):
            return None
        self.next += 1
        return self.next - 1

    def take_batch(self) -> list[int]:
        """Job indexes for the child, up to BATCH_BYTES or BATCH_FILES."""
        batch, size = [], 0
        while self.next < len(self.order) and len(batch) < BATCH_FILES and size < BATCH_BYTES:
            i = self.order[self.next]
            item, state = self.jobs[i]
            batch.append(i)
            size += item.size - state.offset
            self.next += 1
        return batch


def _encode_state(state: FileState) -> dict:
    return {
        "state": state.fields(),
        "buckets": [[*key, *values] for key, values in state.buckets.items()],
    }


def _decode_state(data: dict) -> FileState:
    buckets = {tuple(row[:6]): row[6:] for row in data["buckets"]}
    return FileState.from_fields(data["state"], buckets)


class Child:
    """The running second process, fed batches from `jobs`. No thread: this process pumps the
    pipes between files (and between the chunks of a big one) — a reader thread made both
    processes' Python slower by contending for the GIL on every answer."""

    def __init__(self, jobs: JobQueue, tz: tzinfo | None) -> None:
        self.jobs = jobs
        self.sent: list[int] = []  # job indexes given to the child, in order
        self.answered: set[int] = set()
        self.inbox: list[tuple[int, dict]] = []
        self.partial = b""
        self.in_flight = 0
        self.finished = False  # its stdout is closed: it ended or died
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codexbar.cost.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.out = self.proc.stdout.fileno()
        os.set_blocking(self.out, False)
        with contextlib.suppress(AttributeError, OSError):  # Linux only; the default is 64 KB
            import fcntl

            fcntl.fcntl(self.out, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._send(orjson.dumps({"tz": zone_name(tz)}) + b"\n")
        while self.in_flight < IN_FLIGHT and self._feed():
            pass

    def _send(self, data: bytes) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return True
        except (OSError, ValueError):
            return False  # it died: its files are read here

    def _feed(self) -> bool:
        """Give the child its next batch (False: there is none; it is told so)."""
        assert self.proc.stdin is not None
        if self.proc.stdin.closed:
            return False
        batch = self.jobs.take_batch()
        if not batch:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            return False
        self.sent.extend(batch)
        self.in_flight += 1
        jobs = self.jobs.jobs
        line = orjson.dumps([[i, list(jobs[i][0]), _encode_state(jobs[i][1])] for i in batch])
        return self._send(line + b"\n")

    def pump(self, block: bool = False) -> None:
        """Take in what the child wrote (block: wait for at least something, or its end) and
        keep it fed."""
        while not self.finished:
            try:
                if block:
                    select.select([self.out], [], [])
                chunk = os.read(self.out, PIPE_BYTES)
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            if not chunk:
                self.finished = True
                break
            *lines, self.partial = (self.partial + chunk).split(b"\n")
            for line in lines:
                if line == DONE:
                    self.in_flight -= 1
                    while self.in_flight < IN_FLIGHT and self._feed():
                        pass
                    continue
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    item = orjson.loads(line)
                    self.inbox.append((int(item["i"]), item))
            if block:
                return

    def answers(self, block: bool) -> Iterator[tuple[int, dict | None]]:
        """The answers that have arrived (block: all of them, until the child is done); when
        it is done, the jobs it never answered, with None."""
        while True:
            self.pump(block)
            inbox, self.inbox = self.inbox, []
            for i, item in inbox:
                if i not in self.answered:
                    self.answered.add(i)
                    yield i, item
            if not block or self.finished:
                break
        if not self.finished:
            return
        self.proc.wait()
        for i in self.sent:
            if i not in self.answered:
                self.answered.add(i)
                yield i, None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


def _outcome(item: dict) -> Outcome:
    state = _decode_state(item) if item.get("state") is not None else None
    mark = bytes.fromhex(item["fp"]) if item.get("fp") else None
    return Outcome(state, int(item.get("read") or 0), item.get("problem"), mark)


def scan_shared(
    jobs: list[Job], tz: tzinfo | None, tick: Callable[[int], None]
) -> Iterator[tuple[Found, Outcome]]:
    """Every job's outcome, read here or by the child, in no particular order."""
    shared = JobQueue(jobs)
    child = Child(shared, tz)
    ahead = Prefetcher([jobs[i] for i in shared.order])
    try:

        def arrived(block: bool) -> Iterator[tuple[Found, Outcome]]:
            for i, answer in child.answers(block):
                item, state = jobs[i]
                if answer is None:  # the child died: read this one here
                    yield item, scan_file(item, state, tz, tick)
                    continue
                outcome = _outcome(answer)
                tick(outcome.bytes_read)
                yield item, outcome

        def tick_and_pump(size: int) -> None:
            tick(size)
            child.pump()

        while (position := shared.take_one()) is not None:
            ahead.at(position)
            item, state = jobs[shared.order[position]]
            outcome = scan_file(item, state, tz, tick_and_pump)
            ahead.saw(outcome)
            yield item, outcome
            yield from arrived(block=False)
        yield from arrived(block=True)
    finally:
        child.stop()


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
    source, out = sys.stdin.buffer, sys.stdout.buffer
    name = orjson.loads(source.readline())["tz"]
    tz = None if name is None else (UTC if name == "UTC" else ZoneInfo(name))
    for line in source:
        batch = orjson.loads(line)
        jobs = [(Found(*fields), _decode_state(saved)) for _i, fields, saved in batch]
        for (i, _fields, _saved), (_found, outcome) in zip(
            batch, scan_in_order(jobs, tz), strict=True
        ):
            answer: dict = {"i": i, "read": outcome.bytes_read, "problem": outcome.problem}
            if outcome.state is not None:
                answer.update(_encode_state(outcome.state))
            else:
                answer["state"] = None
            if outcome.fingerprint is not None:
                answer["fp"] = outcome.fingerprint.hex()
            out.write(orjson.dumps(answer) + b"\n")
        out.write(DONE + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
