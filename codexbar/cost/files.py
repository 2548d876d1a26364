"""Reading rollout files: open one safely, parse it from its saved state to its end, and
fingerprint what was parsed. Used by the scan's own process and by its second process
(codexbar/cost/worker.py), so it imports nothing of the cache or the store.
"""

from __future__ import annotations

import os
import stat
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from codexbar.cost.discovery import Found
from codexbar.cost.scanner import DayResolver, FileState, scan_stream

# A compressed rollout inflates about 10x; one that inflates past this is not a rollout.
ZST_MIN_LIMIT = 256 << 20
ZST_MAX_RATIO = 200
FINGERPRINT_BYTES = 1024
# How far ahead of the parser the kernel is asked to read (when the logs are not in memory).
PREFETCH_BYTES = 16 << 20
PREFETCH_FILES = 64

Job = tuple[Found, FileState]


@dataclass
class Outcome:
    state: FileState | None  # None: the file was skipped (gone, unreadable)
    bytes_read: int = 0
    problem: str | None = None
    fingerprint: bytes | None = None
    from_disk: bool = False  # its bytes were not all in memory: worth reading ahead


_probe = bytearray(1)


def _in_memory(fd: int, offset: int) -> bool:
    """Whether the byte at `offset` is in the page cache (a read that would not wait); True
    where this cannot be asked, since prefetching is then impossible too."""
    nowait = getattr(os, "RWF_NOWAIT", None)
    if nowait is None or not hasattr(os, "posix_fadvise"):
        return True
    try:
        os.preadv(fd, [_probe], offset, nowait)
    except BlockingIOError:
        return False
    except OSError:
        return False  # a file system that cannot say: read ahead, as if it were on disk
    return True


def _open(found: Found):
    # O_NONBLOCK: a FIFO swapped in after discovery's stat must not block the scan.
    fd = os.open(found.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    handle = os.fdopen(fd, "rb", buffering=0)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(0, "not a regular file")
    if not found.compressed:
        return handle, handle
    import zstandard

    return handle, zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True)


def fingerprint(fd: int, offset: int) -> bytes:
    """A hash of the file's first bytes and of the bytes just before `offset`: if either changed,
    the file was rewritten and what was parsed is no longer what it holds."""
    head = os.pread(fd, min(offset, FINGERPRINT_BYTES), 0)
    start = max(0, offset - FINGERPRINT_BYTES)
    tail = os.pread(fd, offset - start, start)
    # Not a defence against anyone, just change detection: two CRCs (zlib loads in a fraction
    # of the time hashlib's OpenSSL does, and this runs in every command's start-up).
    return (zlib.crc32(head) << 32 | zlib.crc32(tail, len(head))).to_bytes(8, "big")


_resolvers: dict[object, DayResolver] = {}


def day_resolver(tz: tzinfo | None) -> DayResolver:
    """One resolver per zone and process, so its memo serves every file. The system zone is
    keyed by its current offsets: a laptop that changes zone gets a new one."""
    key = tz if tz is not None else ("system", time.timezone, time.altzone, time.tzname)
    resolver = _resolvers.get(key)
    if resolver is None:
        resolver = _resolvers[key] = DayResolver(tz)
    return resolver


def scan_file(
    item: Found,
    state: FileState,
    tz: tzinfo | None,
    tick: Callable[[int], None] | None = None,
) -> Outcome:
    """Parse one file from its saved state to its end."""
    try:
        handle, stream = _open(item)
    except FileNotFoundError:
        return Outcome(None)  # deleted since it was listed
    except OSError as error:
        return Outcome(None, problem=f"{item.path}: {error.strerror or error}; skipped")
    problem = None
    from_disk = False
    try:
        if item.compressed:
            state = FileState()
            limit = max(ZST_MIN_LIMIT, ZST_MAX_RATIO * item.size)
        else:
            limit = None
            from_disk = item.size > state.offset and not _in_memory(handle.fileno(), state.offset)
            if state.offset:
                handle.seek(state.offset)
        read, complete = scan_stream(stream, state, day_resolver(tz), tick, limit)
        if not complete:
            problem = (
                f"{item.path}: expands to more than {limit >> 20} MB, which no session log "
                "does; only that much was read"
            )
        mark = None if item.compressed else fingerprint(handle.fileno(), state.offset)
    except OSError as error:
        return Outcome(None, problem=f"{item.path}: {error.strerror or error}; skipped")
    except Exception as error:  # a corrupt .zst stream, for one
        reason = type(error).__name__ if not str(error) else str(error)
        return Outcome(None, problem=f"{item.path}: unreadable ({reason}); skipped")
    finally:
        handle.close()
    return Outcome(state, read, problem, mark, from_disk)


def prefetch(item: Found, offset: int) -> None:
    """Ask the kernel to start reading a file while the one before it is parsed: when the page
    cache no longer holds the logs, disk reads then overlap the Python work."""
    if not hasattr(os, "posix_fadvise") or item.compressed:
        return
    try:
        fd = os.open(item.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, offset, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass  # not a regular file, or a file system that cannot
    finally:
        os.close(fd)


class Prefetcher:
    """Keeps the kernel reading up to PREFETCH_BYTES (and PREFETCH_FILES) beyond the job being
    parsed, for jobs taken in the order given — once a file was found not to be in memory:
    asking costs two system calls per file, a tenth of parsing one when the logs are cached."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = jobs
        self.ahead = 0  # the next job to prefetch
        self.queued = 0  # bytes asked for beyond the current job
        self.on_disk = False

    def saw(self, outcome: Outcome) -> None:
        self.on_disk = self.on_disk or outcome.from_disk

    def at(self, number: int) -> None:
        if not self.on_disk:
            return
        jobs = self.jobs
        item, state = jobs[number]
        self.queued -= item.size - state.offset if number < self.ahead else 0
        if self.ahead <= number:
            self.ahead, self.queued = number + 1, 0
        while (
            self.ahead < len(jobs)
            and self.queued < PREFETCH_BYTES
            and self.ahead - number <= PREFETCH_FILES
        ):
            following, its_state = jobs[self.ahead]
            prefetch(following, its_state.offset)
            self.queued += following.size - its_state.offset
            self.ahead += 1


def scan_in_order(
    jobs: Sequence[Job],
    tz: tzinfo | None,
    tick: Callable[[int], None] | None = None,
) -> Iterator[tuple[Found, Outcome]]:
    """Scan files one after another, the next few megabytes already on their way."""
    ahead = Prefetcher(jobs)
    for number, (item, state) in enumerate(jobs):
        ahead.at(number)
        outcome = scan_file(item, state, tz, tick)
        ahead.saw(outcome)
        yield item, outcome
