"""Which rollout files can hold usage for a date range, across one or more Codex homes.

A file belongs to a range by *time*, not by folder: `sessions/YYYY/MM/DD/` is named after the day
a session started, and a session resumed weeks later (or left open over a weekend) appends to the
same file. So every rollout under `sessions/` (any depth) and `archived_sessions/` is listed, and
one `stat` decides: a file whose modification time, or whose cached newest event, is at or after
the range's start can hold usage in it; an older file is never opened. The folder or file-name
date still bounds the other end, since a session has no events before it started.

A `.jsonl.zst` (Codex's cold compression) is read unless the plain `.jsonl` of the same name
exists. Anything that is not a regular file (a FIFO, a device) is skipped without being opened.

A long-running process passes a `FolderWatcher` (codexbar/cost/changes.py): the files of a folder
it vouches for are not stat'ed again, their stats of the last pass are used.
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
    from codexbar.cost.changes import FolderWatcher

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
    links: bool  # whether any of the files is a symbolic link


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
    links = False
    reported = len(problems)
    for entry in _scandir(folder, problems):
        name = entry.name
        if name.endswith(SUFFIXES):
            files.append(name)
            if not links:
                try:
                    links = entry.is_symlink()
                except OSError:
                    links = True  # cannot tell: treat it as one
        elif subfolders and not name.startswith("."):
            try:
                if entry.is_dir():
                    folders.append(name)
            except OSError:
                continue
    prefix = os.path.join(folder, "")
    paths = tuple([prefix + name for name in files])
    zst = any(name.endswith(".zst") for name in files)
    listing = _Listing(key or (0, 0, 0), tuple(files), paths, zst, tuple(folders), links)
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


def _walk(root: str, latest: date | None, problems: list[str], watcher: FolderWatcher | None):
    """(folder, its parts below `root`, listing, watch) of every folder under `root` that holds
    files; the watch is the watcher's descriptor (None: not vouched for, or no watcher)."""
    stack: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, parts = stack.pop()
        # Watched before it is listed: whatever is written into it after the listing is an event.
        wd = watcher.watch(folder) if watcher is not None else None
        listing = _list(folder, len(parts) < MAX_DEPTH, problems)
        if listing is None:
            continue
        for name in listing.folders:
            below = (*parts, name)
            if not _too_late(below, latest):
                stack.append((os.path.join(folder, name), below))
        if listing.files:
            yield folder, parts, listing, wd


class _FolderStats(NamedTuple):
    watcher: int  # the serial of the watcher that vouches for the folder
    wd: int  # the folder's watch, in place before these stats were taken
    paths: tuple[str, ...]  # the files listed then, in the order of `found`
    # Per listed file: a Found (a regular file), its st_mode (anything else), None (not stat'ed).
    found: list[Found | int | None]


# The per-file stats of this process, per folder, kept only while a watcher vouches that nothing
# happened in the folder since they were taken; an event on it drops them.
_file_stats: dict[str, _FolderStats] = {}


def _remembered(
    folder: str, listing: _Listing, wd: int | None, watcher: FolderWatcher | None
) -> list[Found | int | None] | None:
    """The list to take a folder's stats from and keep them in (None: stat, keep nothing)."""
    if watcher is None or wd is None or listing.links:
        return None  # a write through a link elsewhere is no event on this folder
    memo = _file_stats.get(folder)
    if (
        memo is not None
        and memo.watcher == watcher.serial
        and memo.wd == wd  # watched without a break, and the path still leads to it
        and memo.paths == listing.paths  # (a folder changed lately is listed on each pass)
    ):
        return memo.found
    return [None] * len(listing.files)


def _not_regular(path: str, mode: int, problems: list[str]) -> None:
    if not stat.S_ISDIR(mode):
        problems.append(f"{path} is not a regular file (a pipe or a device)")


def discover(
    homes: list[Path],
    since_ms: int | None,
    until: date | None,
    cached: Mapping[str, CachedFile] | None = None,
    watcher: FolderWatcher | None = None,
) -> Discovery:
    """Files that may hold events at or after `since_ms` (epoch ms; None: any) and on or before
    the local day `until` (None: any).

    A file belongs when it changed since the range began (its mtime), unless the cache saw it
    unchanged and knows its newest event is older; an unchanged file whose newest event is in
    the range belongs whatever its mtime says.

    With a `watcher` the result is identical to a full stat pass, in every case: a folder's
    file stats of an earlier pass are used only when they were taken with its watch already in
    place, that watch has been there since without a break and still is the one the path leads
    to (the same descriptor), no event arrived for the folder since (an event drops them), and
    it lists the same files; a folder holding a link (hard or symbolic), one on a network
    file system and one whose stats could not all be taken are stat'ed on every pass."""
    if watcher is None:
        return _discover(homes, since_ms, until, cached, None)
    with watcher.pass_lock:  # another pass draining events meanwhile would make these stale
        return _discover(homes, since_ms, until, cached, watcher)


def _discover(
    homes: list[Path],
    since_ms: int | None,
    until: date | None,
    cached: Mapping[str, CachedFile] | None,
    watcher: FolderWatcher | None,
) -> Discovery:
    latest = until + START_PAD if until else None
    result = Discovery()
    if watcher is not None:
        changes = watcher.changed()
        if changes is None:
            _file_stats.clear()  # do not know what changed: nothing remembered is trusted
        else:
            for folder in changes:
                _file_stats.pop(folder, None)
    folders: list[tuple[str, _Listing, bool, date | None, int | None]] = []
    for home in homes:
        sessions = os.path.join(home, "sessions")
        for path, parts, listing, wd in _walk(sessions, latest, result.problems, watcher):
            folders.append((path, listing, False, _folder_date(parts), wd))
        path = os.path.join(home, "archived_sessions")
        wd = watcher.watch(path) if watcher is not None else None
        archived = _list(path, False, result.problems)
        if archived is not None and archived.files:
            folders.append((path, archived, True, None, wd))
    get = (cached or {}).get
    listed, problems, files = result.listed, result.problems, result.files
    add, regular, stat_of = listed.add, stat.S_IFREG, os.stat
    for where, listing, archived, folder, wd in folders:
        names: set[str] | None = None  # built only for a folder that holds a .zst
        # A dated folder after the range was never walked; other files carry their own date.
        by_name = latest is not None and folder is None
        if not by_name:
            listed.update(listing.paths)
        zst = listing.zst
        remembered = _remembered(where, listing, wd, watcher)
        complete = True  # every file asked for was stat'ed: what was found may be kept
        for number, (name, path) in enumerate(zip(listing.files, listing.paths, strict=True)):
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
            known_stat = None if remembered is None else remembered[number]
            if known_stat is None:
                try:
                    st = stat_of(path)  # the one stat a file costs
                except FileNotFoundError:
                    complete = False
                    continue  # deleted between listing and stat
                except OSError as error:
                    problems.append(f"{path}: {error.strerror or error}; skipped")
                    complete = False
                    continue
                if st.st_nlink > 1:
                    complete = False  # a write through its other name is no event here
                if st.st_mode & 0o170000 != regular:
                    if remembered is not None:
                        remembered[number] = st.st_mode
                    _not_regular(path, st.st_mode, problems)
                    continue
                dev, ino, size, mtime = st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
                if remembered is not None:
                    known_stat = Found(path, dev, ino, size, mtime, archived, compressed)
                    remembered[number] = known_stat
            elif type(known_stat) is int:
                _not_regular(path, known_stat, problems)
                continue
            else:
                _, dev, ino, size, mtime, _, _ = known_stat
            if since_ms is not None:
                known = get(path)
                # (dev, ino, size, mtime_ns, ..., last_event_ms): unchanged since it was parsed?
                if (
                    known is not None
                    and known[3] == mtime
                    and known[2] == size
                    and known[1] == ino
                    and known[0] == dev
                ):
                    if known[6] is None or known[6] < since_ms:
                        continue  # unchanged, and all its events are older than the range
                elif mtime // 1_000_000 < since_ms:
                    continue  # nothing written since the range began
            files.append(known_stat or Found(path, dev, ino, size, mtime, archived, compressed))
        if remembered is not None:
            if complete:
                if len(_file_stats) >= MAX_LISTINGS:
                    _file_stats.clear()
                _file_stats[where] = _FolderStats(watcher.serial, wd, listing.paths, remembered)
            else:
                _file_stats.pop(where, None)
    return result
