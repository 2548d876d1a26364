"""Which rollout files can hold usage for a date range, across one or more Codex homes.

A file belongs to a range by *time*, not by folder: `sessions/YYYY/MM/DD/` is named after the day
a session started, and a session resumed weeks later (or left open over a weekend) appends to the
same file. So every rollout under `sessions/` (any depth) and `archived_sessions/` is listed, and
one `stat` decides: a file whose modification time, or whose cached newest event, is at or after
the range's start can hold usage in it; an older file is never opened. The folder or file-name
date still bounds the other end, since a session has no events before it started.

A `.jsonl.zst` (Codex's cold compression) is read unless the plain `.jsonl` of the same name
exists. Anything that is not a regular file (a FIFO, a device) is skipped without being opened.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from codexbar.cost.cache import CachedFile

NAME_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
SUFFIXES = (".jsonl", ".jsonl.zst")
# The folder date is the session's *local* start day; allow for any zone.
START_PAD = timedelta(days=1)
MAX_DEPTH = 4


class Found(NamedTuple):  # a tuple: thousands are built on every run
    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    archived: bool
    compressed: bool


@dataclass
class Discovery:
    files: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)  # rollout files seen, in range or not


def _name_date(name: str) -> date | None:
    match = NAME_DATE.search(name)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _scandir(path: str, problems: list[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except PermissionError:
        problems.append(f"{path}: permission denied; skipped")
        return []
    except OSError as error:
        problems.append(f"{path}: {error.strerror or error}; skipped")
        return []


class _Listing(NamedTuple):
    key: tuple[int, int, int]  # the folder's (dev, ino, mtime_ns) when it was listed
    files: tuple[str, ...]  # rollout-looking names
    paths: tuple[str, ...]  # their paths (kept: a string's hash is computed once)
    zst: bool  # whether any of them is compressed
    folders: tuple[str, ...]  # sub-folder names (not hidden)


# Folder listings of this process (the tray scans the same homes every few minutes). A folder's
# mtime changes whenever an entry is added, removed or renamed, so an unchanged folder is not
# listed again; its files are still stat'ed one by one, since appending to a file (a resumed
# session) leaves its folder's mtime alone.
_listings: dict[str, _Listing] = {}
MAX_LISTINGS = 50_000
# A folder's mtime comes from a coarse clock: an entry added in the same tick as the change
# before it leaves the mtime as it was. A listing is trusted only when the folder had been
# unchanged for this long when it was taken.
SETTLED_NS = 2_000_000_000
# Windows' scandir returns every file's stat with the listing: nothing to save there.
MEMO_LISTINGS = os.name != "nt"


def _list(folder: str, subfolders: bool, problems: list[str]) -> _Listing | None:
    """The rollout-looking files and the sub-folders of `folder` (None: nothing there)."""
    key = None
    if MEMO_LISTINGS:
        try:
            st = os.stat(folder)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            pass  # _scandir below says why in words
        else:
            key = (st.st_dev, st.st_ino, st.st_mtime_ns)
            memo = _listings.get(folder)
            if memo is not None and memo.key == key:
                return memo
            listed_at = time.time_ns()
    files, folders = [], []
    reported = len(problems)
    for entry in _scandir(folder, problems):
        name = entry.name
        if name.endswith(SUFFIXES):
            files.append(name)
        elif subfolders and not name.startswith("."):
            try:
                if entry.is_dir():
                    folders.append(name)
            except OSError:
                continue
    prefix = os.path.join(folder, "")
    paths = tuple([prefix + name for name in files])
    zst = any(name.endswith(".zst") for name in files)
    listing = _Listing(key or (0, 0, 0), tuple(files), paths, zst, tuple(folders))
    # Not a listing that failed: its problem is to be reported again next time.
    if key is not None and listed_at - key[2] > SETTLED_NS and len(problems) == reported:
        if len(_listings) >= MAX_LISTINGS:
            _listings.clear()
        _listings[folder] = listing
    return listing


def _folder_date(parts: tuple[str, ...]) -> date | None:
    """The date of a sessions/YYYY/MM/DD folder (None for any other folder)."""
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def _too_late(parts: tuple[str, ...], latest: date | None) -> bool:
    """Whether a sessions/ sub-folder only holds sessions started after `latest`."""
    if latest is None or not parts or not all(p.isdigit() for p in parts):
        return False
    if len(parts) == 1 and len(parts[0]) == 4:
        return int(parts[0]) > latest.year
    if len(parts) == 2 and len(parts[0]) == 4:
        return (int(parts[0]), int(parts[1])) > (latest.year, latest.month)
    folder = _folder_date(parts)
    return folder is not None and folder > latest


def _walk(root: str, latest: date | None, problems: list[str]):
    """(folder parts below `root`, listing) of every folder under `root` that holds files."""
    stack: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, parts = stack.pop()
        listing = _list(folder, len(parts) < MAX_DEPTH, problems)
        if listing is None:
            continue
        for name in listing.folders:
            below = (*parts, name)
            if not _too_late(below, latest):
                stack.append((os.path.join(folder, name), below))
        if listing.files:
            yield parts, listing


def discover(
    homes: list[Path],
    since_ms: int | None,
    until: date | None,
    cached: Mapping[str, CachedFile] | None = None,
) -> Discovery:
    """Files that may hold events at or after `since_ms` (epoch ms; None: any) and on or before
    the local day `until` (None: any).

    A file belongs when it changed since the range began (its mtime), unless the cache saw it
    unchanged and knows its newest event is older; an unchanged file whose newest event is in
    the range belongs whatever its mtime says."""
    latest = until + START_PAD if until else None
    result = Discovery()
    folders: list[tuple[_Listing, bool, date | None]] = []
    for home in homes:
        sessions = os.path.join(home, "sessions")
        for parts, listing in _walk(sessions, latest, result.problems):
            folders.append((listing, False, _folder_date(parts)))
        archived = _list(os.path.join(home, "archived_sessions"), False, result.problems)
        if archived is not None and archived.files:
            folders.append((archived, True, None))
    get = (cached or {}).get
    listed, problems, files = result.listed, result.problems, result.files
    add, regular, stat_of = listed.add, stat.S_IFREG, os.stat
    for listing, archived, folder in folders:
        names: set[str] | None = None  # built only for a folder that holds a .zst
        # A dated folder after the range was never walked; other files carry their own date.
        by_name = latest is not None and folder is None
        if not by_name:
            listed.update(listing.paths)
        zst = listing.zst
        for name, path in zip(listing.files, listing.paths, strict=True):
            if by_name:
                if (_name_date(name) or latest) > latest:  # type: ignore[operator]
                    continue  # started after the range
                add(path)
            compressed = zst and name.endswith(".zst")
            if compressed:
                if names is None:
                    names = set(listing.files)
                if name[:-4] in names:
                    continue  # the plain file wins: Codex decompressed it to append again
            try:
                st = stat_of(path)  # the one stat a file costs
            except FileNotFoundError:
                continue  # deleted between listing and stat
            except OSError as error:
                problems.append(f"{path}: {error.strerror or error}; skipped")
                continue
            if st.st_mode & 0o170000 != regular:
                if not stat.S_ISDIR(st.st_mode):
                    problems.append(f"{path} is not a regular file (a pipe or a device)")
                continue
            mtime = st.st_mtime_ns
            if since_ms is not None:
                known = get(path)
                # (dev, ino, size, mtime_ns, ..., last_event_ms): unchanged since it was parsed?
                if (
                    known is not None
                    and known[3] == mtime
                    and known[2] == st.st_size
                    and known[1] == st.st_ino
                    and known[0] == st.st_dev
                ):
                    if known[6] is None or known[6] < since_ms:
                        continue  # unchanged, and all its events are older than the range
                elif mtime // 1_000_000 < since_ms:
                    continue  # nothing written since the range began
            files.append(Found(path, st.st_dev, st.st_ino, st.st_size, mtime, archived, compressed))
    return result
