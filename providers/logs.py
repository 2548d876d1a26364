"""Session-log source: the last rate-limit reading Codex wrote into its own session logs.

Offline and always available, but only as fresh as the last Codex request: the snapshot's
`observed_at` is the time of that log line, and windows whose reset has since passed are flagged.
Files are read backwards from the end, newest first, so the cost does not grow with history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from codexbar.codex_auth import read_auth
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import Identity, UsageSnapshot
from codexbar.parsing import parse_timestamp
from codexbar.rate_limits import RateLimitReading, parse_rate_limit_snapshot
from codexbar.sources import SourceContext, UsageSource

BLOCK_SIZE = 64 * 1024
# token_count lines are a few KB; a line longer than this is a bulky response item, not ours.
MAX_INTERESTING_LINE = 1024 * 1024
_MARKER = b'"rate_limits"'


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

    Memory stays bounded: a line longer than MAX_INTERESTING_LINE is skipped, not accumulated."""
    with open(path, "rb") as handle:
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


def latest_main_reading(path: Path) -> tuple[RateLimitReading, datetime] | None:
    """The newest main-bucket reading in one file, with the timestamp of its line."""
    for line in lines_backwards(path):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a partly written last line, or damage: Codex skips these too
        if not isinstance(record, dict):
            continue
        payload = record.get("payload")
        if not isinstance(payload, dict) or payload.get("type") != "token_count":
            continue
        observed_at = parse_timestamp(record.get("timestamp"))
        if observed_at is None:
            continue
        reading = parse_rate_limit_snapshot(payload.get("rate_limits"), observed_at)
        if reading is not None and reading.is_main:
            return reading, observed_at
    return None


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
        best: tuple[RateLimitReading, datetime] | None = None
        for mtime, path in files:
            # A file cannot hold a line newer than its last write, so once the best reading is
            # newer than a file's mtime, no older file can beat it.
            if best is not None and best[1].timestamp() >= mtime:
                break
            try:
                found = latest_main_reading(path)
            except OSError:
                continue
            if found is not None and (best is None or found[1] > best[1]):
                best = found
        if best is None:
            raise SourceError(
                ErrorKind.PARSE,
                "No rate-limit reading in the logs: Codex has not recorded any "
                "limits in its sessions (API-key and custom-provider sessions "
                "carry none).",
                "Use the OAuth or Codex CLI source.",
            )
        reading, observed_at = best
        return UsageSnapshot(
            source=self.name,
            fetched_at=ctx.now(),
            observed_at=observed_at,
            windows=reading.windows,
            credits=reading.credits,
            identity=self._identity(ctx, reading),
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
