"""Session-log source: the last rate-limit reading Codex wrote into its own session logs.

Offline and always available, but only as fresh as the last Codex request: the snapshot's
`observed_at` is the time of the main bucket's line, and windows whose reset has since passed
are flagged. Extra buckets (Spark) come from their own newest lines, kept when they are no older
than the main reading by more than EXTRA_BUCKET_SLACK. Files are read backwards from the end,
newest first, so the cost does not grow with history. One damaged line (huge numbers, deep
nesting, not JSON) is skipped; it never costs the source.

Codex's `logs_2.sqlite` is not read: 0.171.0 writes no rate-limit events there, only tracing
lines (see tests/fixtures/real_cli_0.171.0/README.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from codexbar.codex_auth import read_auth
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import Identity, UsageSnapshot
from codexbar.parsing import parse_timestamp
from codexbar.rate_limits import RateLimitReading, parse_rate_limit_snapshot
from codexbar.safe_files import UnreadableFile, open_regular
from codexbar.sources import SourceContext, UsageSource

BLOCK_SIZE = 64 * 1024
# token_count lines are a few KB; a line longer than this is a bulky response item, not ours.
MAX_INTERESTING_LINE = 1024 * 1024
_MARKER = b'"rate_limits"'
# How much older than the main reading an extra bucket's reading may be and still be shown with
# it (Codex's own /status calls limits stale after 15 minutes).
EXTRA_BUCKET_SLACK = timedelta(minutes=15)


def session_files(home: Path) -> list[tuple[float, Path]]:
    """Plain-JSONL rollouts under sessions/ and archived_sessions/, newest first by mtime.

    Compressed (.jsonl.zst) rollouts are old by construction and never hold the newest reading."""
    found: list[tuple[float, Path]] = []
    for root in (home / "sessions", home / "archived_sessions"):
        for directory, _dirs, files in os.walk(root):
            for name in files:
                if name.endswith(".jsonl"):
                    path = Path(directory, name)
                    try:
                        found.append((path.stat().st_mtime, path))
                    except OSError:
                        continue  # deleted or unreadable meanwhile
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def lines_backwards(path: Path) -> Iterator[bytes]:
    """Complete lines containing `"rate_limits"`, last first, reading the file from its end.

    Memory stays bounded: a line longer than MAX_INTERESTING_LINE is skipped, not accumulated.
    Only a regular file is opened (a FIFO named like a rollout would block for ever)."""
    with os.fdopen(open_regular(path), "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        carry = b""
        skipping = False  # inside an over-long line whose start we have not reached yet
        while position > 0:
            start = max(0, position - BLOCK_SIZE)
            handle.seek(start)
            block = handle.read(position - start)
            position = start
            pieces = block.split(b"\n")
            if skipping:
                if len(pieces) == 1:
                    continue
                pieces[-1] = b""  # the tail belongs to the over-long line
                skipping = False
            else:
                pieces[-1] += carry
            carry = pieces[0]
            for line in reversed(pieces[1:]):
                if _MARKER in line:
                    yield line
            if len(carry) > MAX_INTERESTING_LINE:
                carry, skipping = b"", True
        if carry and not skipping and _MARKER in carry:
            yield carry


def _reading_of(line: bytes) -> tuple[RateLimitReading, datetime] | None:
    """The rate-limit reading of one `token_count` line, or None for any other or damaged line."""
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            return None
        payload = record.get("payload")
        if not isinstance(payload, dict) or payload.get("type") != "token_count":
            return None
        observed_at = parse_timestamp(record.get("timestamp"))
        if observed_at is None:
            return None
        reading = parse_rate_limit_snapshot(payload.get("rate_limits"), observed_at)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None  # a partly written last line, or damage: Codex skips these too
    return (reading, observed_at) if reading is not None else None


@dataclass
class LatestReadings:
    """The newest main-bucket reading and each extra bucket's newest, across files."""

    main: tuple[RateLimitReading, datetime] | None = None
    extras: dict[str, tuple[RateLimitReading, datetime]] = field(default_factory=dict)

    def offer(self, reading: RateLimitReading, observed_at: datetime) -> None:
        if reading.is_main:
            if self.main is None or observed_at > self.main[1]:
                self.main = (reading, observed_at)
            return
        known = self.extras.get(reading.limit_id)
        if known is None or observed_at > known[1]:
            self.extras[reading.limit_id] = (reading, observed_at)

    def horizon(self) -> datetime | None:
        """No line older than this can change the answer any more."""
        return None if self.main is None else self.main[1] - EXTRA_BUCKET_SLACK

    def shown_extras(self) -> list[RateLimitReading]:
        horizon = self.horizon()
        return [r for r, at in self.extras.values() if horizon is not None and at >= horizon]


def scan_file(path: Path, found: LatestReadings) -> None:
    """Offer every reading of one file, newest first, until older lines cannot matter."""
    for line in lines_backwards(path):
        result = _reading_of(line)
        if result is None:
            continue
        found.offer(*result)
        horizon = found.horizon()
        if horizon is not None and result[1] < horizon:
            return


def latest_main_reading(path: Path) -> tuple[RateLimitReading, datetime] | None:
    """The newest main-bucket reading in one file, with the timestamp of its line."""
    found = LatestReadings()
    scan_file(path, found)
    return found.main


class SessionLogSource(UsageSource):
    name = "logs"
    title = "Session logs"
    order = 90
    uses_network = False

    def fetch(self, ctx: SourceContext) -> UsageSnapshot:
        files = session_files(ctx.home)
        if not files:
            raise SourceError(
                ErrorKind.PARSE,
                f"No rate-limit reading in the logs: there are no Codex sessions in {ctx.home}.",
                "Use Codex once, or choose another source.",
            )
        found = LatestReadings()
        for mtime, path in files:
            # A file cannot hold a line newer than its last write, so once the readings found
            # are newer than a file's mtime, no older file can change them.
            horizon = found.horizon()
            if horizon is not None and horizon.timestamp() >= mtime:
                break
            try:
                scan_file(path, found)
            except (OSError, UnreadableFile):
                continue
        if found.main is None:
            raise SourceError(
                ErrorKind.PARSE,
                "No rate-limit reading in the logs: Codex has not recorded any "
                "limits in its sessions (API-key and custom-provider sessions "
                "carry none).",
                "Use the OAuth or Codex CLI source.",
            )
        reading, observed_at = found.main
        extras = found.shown_extras()
        return UsageSnapshot(
            source=self.name,
            fetched_at=ctx.now(),
            observed_at=observed_at,
            windows=reading.windows + tuple(w for extra in extras for w in extra.windows),
            credits=reading.credits,
            identity=self._identity(ctx, reading),
            credit_pool=reading.credit_pool,
            blocked=reading.blocked,
            notes=reading.notes + tuple(n for extra in extras for n in extra.notes),
        )

    @staticmethod
    def _identity(ctx: SourceContext, reading: RateLimitReading) -> Identity:
        try:
            auth = read_auth(ctx.home, ctx.env).identity
        except SourceError:
            auth = Identity()
        return Identity(
            email=auth.email, plan=reading.plan or auth.plan, account_id=auth.account_id
        )
