"""Which rollout files can hold usage for a date range, across one or more Codex homes.

`sessions/YYYY/MM/DD/` is named by the session's local start date, so only the day folders in the
range (padded by a day each side for time zones) are listed. `archived_sessions/` is flat: a file
whose name carries a date must fall in the padded range; one without a date is always read.
A `.jsonl.zst` (Codex's cold compression) is read unless the plain `.jsonl` of the same name
exists. Each file costs one `stat`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

NAME_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
SUFFIXES = (".jsonl", ".jsonl.zst")


@dataclass(frozen=True)
class Found:
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


def _in_range(day: date | None, since: date | None, until: date | None) -> bool:
    if day is None:
        return True
    return (since is None or day >= since) and (until is None or day <= until)


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
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    except PermissionError:
        problems.append(f"{path}: permission denied; skipped")
        return []
    except OSError as error:
        problems.append(f"{path}: {error.strerror or error}; skipped")
        return []


def _digits(name: str, width: int) -> int | None:
    return int(name) if len(name) == width and name.isdigit() else None


def _day_dirs(root: str, since: date | None, until: date | None, problems: list[str]):
    """sessions/YYYY/MM/DD folders that can hold the range; anything else under sessions/ too."""
    for year in _scandir(root, problems):
        y = _digits(year.name, 4)
        if y is None:
            if year.is_file() and year.name.endswith(SUFFIXES):
                yield None, [year]  # a flat file directly under sessions/
            continue
        if (since and y < since.year) or (until and y > until.year):
            continue
        for month in _scandir(year.path, problems):
            m = _digits(month.name, 2)
            if m is None or not 1 <= m <= 12:
                continue
            if since and (y, m) < (since.year, since.month):
                continue
            if until and (y, m) > (until.year, until.month):
                continue
            for day in _scandir(month.path, problems):
                d = _digits(day.name, 2)
                try:
                    folder_date = date(y, m, d) if d is not None else None
                except ValueError:
                    folder_date = None
                if folder_date is None or not _in_range(folder_date, since, until):
                    continue
                yield folder_date, _scandir(day.path, problems)


def discover(homes: list[Path], since: date | None, until: date | None) -> Discovery:
    """Files that may hold events between `since` and `until` (local days, inclusive; None =
    open-ended), padded by one day each side."""
    pad = timedelta(days=1)
    lo = since - pad if since else None
    hi = until + pad if until else None
    result = Discovery()
    chosen: dict[str, tuple[os.DirEntry[str], bool]] = {}
    for home in homes:
        sessions = os.path.join(home, "sessions")
        for _, entries in _day_dirs(sessions, lo, hi, result.problems):
            for entry in entries:
                if entry.name.endswith(SUFFIXES):
                    chosen[entry.path] = (entry, False)
        for entry in _scandir(os.path.join(home, "archived_sessions"), result.problems):
            if entry.name.endswith(SUFFIXES) and _in_range(_name_date(entry.name), lo, hi):
                chosen[entry.path] = (entry, True)
    for path, (entry, archived) in sorted(chosen.items()):
        compressed = path.endswith(".zst")
        if compressed and path[:-4] in chosen:
            continue  # the plain file wins: Codex decompressed it to append again
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
        except FileNotFoundError:
            continue  # deleted between listing and stat
        except OSError as error:
            result.problems.append(f"{path}: {error.strerror or error}; skipped")
            continue
        result.files.append(
            Found(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, archived, compressed)
        )
    return result
