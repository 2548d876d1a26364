"""The inotify watcher of the session folders (codexbar/cost/changes.py) and its use by discovery:
real inotify on real temporary folders, real `cost_summary` refreshes on one Store. The figures
are the behaviour under test; counting os.stat only checks that the saving happens."""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import logging
import os
import random
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from codexbar.cost import changes, cost_summary
from codexbar.cost.changes import FolderWatcher
from codexbar.cost.discovery import discover
from codexbar.store import Store
from tests.cost_helpers import inotify_descriptors, meta, token_count, turn, usage, write

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 10, 1, 10, 5, tzinfo=UTC).timestamp()

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="inotify exists on Linux only"
)


@pytest.fixture
def watcher():
    w = FolderWatcher()
    yield w
    w.close()


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "cost.sqlite3")
    yield s
    s.close()


@pytest.fixture
def rollout_stats(monkeypatch) -> list[str]:
    """The rollout files os.stat was asked about (cleared by the test before each refresh)."""
    seen: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        if str(path).endswith((".jsonl", ".jsonl.zst")):
            seen.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    return seen


def week(homes: list[Path], store: Store) -> int:
    """The total tokens of the week up to NOW, as the tray asks for them every refresh."""
    summary = cost_summary(homes, store=store, tz=UTC, now=NOW, days=7)
    assert not summary.warnings, summary.warnings
    return summary.range.total_tokens


def session(home: Path, day: str, sid: str, inp: int, out: int) -> Path:
    ts = f"{day}T09:00:00.000Z"
    return write(
        home, day, sid, [meta(ts, sid), turn(ts, "gpt-5.5"), token_count(ts, usage(inp, 0, out))]
    )


def append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def tree(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*")}


# -- the watcher on its own ---------------------------------------------------------------------


@linux_only
def test_the_first_question_is_do_not_know_then_only_folders_with_events(tmp_path, watcher):
    quiet, busy = tmp_path / "quiet", tmp_path / "busy"
    quiet.mkdir(), busy.mkdir()
    (busy / "a.jsonl").write_text("{}\n")
    assert watcher.watch(str(quiet)) is not None and watcher.watch(str(busy)) is not None
    assert watcher.changed() is None  # nothing was asked before: look at everything
    assert watcher.changed() == set()
    append(busy / "a.jsonl", "{}")
    assert watcher.changed() == {str(busy)}
    assert watcher.changed() == set()  # drained: reported once


@linux_only
@pytest.mark.parametrize(
    "change",
    ["append", "new file", "rename", "delete", "new mtime", "replace"],
)
def test_each_kind_of_change_reports_its_folder(tmp_path, watcher, change):
    folder, elsewhere = tmp_path / "day", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    rollout = folder / "rollout-a.jsonl"
    rollout.write_text("{}\n")
    (elsewhere / "new.jsonl").write_text("{}\n")
    watcher.watch(str(folder))
    watcher.changed()
    if change == "append":
        append(rollout, "{}")
    elif change == "new file":
        (folder / "rollout-b.jsonl").write_text("{}\n")
    elif change == "rename":
        rollout.rename(folder / "rollout-c.jsonl")
    elif change == "delete":
        rollout.unlink()
    elif change == "new mtime":
        os.utime(rollout, (LONG_AGO, LONG_AGO))
    elif change == "replace":  # a file moved in over it: same name, another inode
        (elsewhere / "new.jsonl").replace(rollout)
    assert watcher.changed() == {str(folder)}


@linux_only
def test_a_new_day_folder_shows_on_its_parent_and_is_watched_before_it_is_listed(tmp_path, watcher):
    month = tmp_path / "2026" / "11"
    month.mkdir(parents=True)
    watcher.watch(str(month))
    watcher.changed()
    day = month / "21"
    day.mkdir()
    (day / "rollout-x.jsonl").write_text("{}\n")  # written right away, before any watch on it
    assert watcher.changed() == {str(month)}  # the parent says: look again
    wd = watcher.watch(str(day))  # as discovery does: watch, then list
    assert wd is not None and [p.name for p in day.iterdir()] == ["rollout-x.jsonl"]
    append(day / "rollout-x.jsonl", "{}")
    assert watcher.changed() == {str(day)}
    assert watcher.watch(str(day)) == wd  # the same folder, watched without a break


@linux_only
def test_a_path_that_now_leads_to_another_folder_gets_another_descriptor(tmp_path, watcher):
    first, second, link = tmp_path / "first", tmp_path / "second", tmp_path / "link"
    first.mkdir(), second.mkdir()
    link.symlink_to(first)
    before = watcher.watch(str(link))
    link.unlink()
    link.symlink_to(second)  # no event on `first`: only the descriptor tells
    after = watcher.watch(str(link))
    assert before is not None and after is not None and after != before


@linux_only
def test_an_overflowed_event_queue_means_do_not_know(tmp_path, watcher):
    folder = tmp_path / "day"
    folder.mkdir()
    a, b = folder / "a.jsonl", folder / "b.jsonl"
    a.write_text(""), b.write_text("")
    watcher.watch(str(folder))
    watcher.changed()
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    for i in range(limit + 10):  # alternating files: the kernel merges only repeated events
        os.utime(a if i % 2 else b, (i, i))
    assert watcher.changed() is None
    append(a, "{}")
    assert watcher.changed() == {str(folder)}  # answering again after the full look


@linux_only
def test_a_removed_watch_means_do_not_know(tmp_path, watcher):
    kept, removed = tmp_path / "kept", tmp_path / "removed"
    kept.mkdir(), removed.mkdir()
    watcher.watch(str(kept)), watcher.watch(str(removed))
    watcher.changed()
    removed.rmdir()  # its watch goes with it (IN_IGNORED)
    assert watcher.changed() is None
    assert watcher.changed() == set()


@linux_only
def test_a_closed_watcher_knows_nothing_and_watches_nothing(tmp_path):
    watcher = FolderWatcher()
    before = inotify_descriptors()
    watcher.watch(str(tmp_path))
    watcher.changed()
    watcher.close()
    assert inotify_descriptors() == before - 1
    assert watcher.changed() is None and watcher.watch(str(tmp_path)) is None
    watcher.close()  # twice is harmless


def test_without_inotify_the_module_imports_and_answers_do_not_know(tmp_path):
    """macOS and Windows, as far as this module can tell: the platform name is all it looks at
    before loading libc (so on Linux the child process pretends to be elsewhere)."""
    code = (
        "import sys; sys.platform = 'darwin'\n"
        "from codexbar.cost.changes import FolderWatcher\n"
        "w = FolderWatcher()\n"
        f"print(w.changed(), w.watch({str(tmp_path)!r}), w.changed())\n"
        "w.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "None"]


# -- discovery and cost figures through one long-lived Store -----------------------------------


@linux_only
def test_every_change_shows_in_the_very_next_figures(tmp_path, store, rollout_stats):
    home = tmp_path / "home"
    old = session(home, "2026-10-01", "old", 1000, 100)
    os.utime(old, (LONG_AGO, LONG_AGO))  # left in a folder weeks before the range
    recent = session(home, "2026-11-19", "recent", 200, 20)
    other = session(home, "2026-11-20", "other", 30, 3)
    before = tree(home)
    assert week([home], store) == 253
    assert week([home], store) == 253  # the watcher starts here, before a full stat pass
    rollout_stats.clear()
    assert week([home], store) == 253
    assert rollout_stats == []  # nothing happened: no rollout file stat'ed again

    # `codex resume` of the old session appends to its file: no new entry in any folder
    append(old, token_count("2026-11-21T08:00:00.000Z", usage(1400, 0, 150)))
    rollout_stats.clear()
    assert week([home], store) == 253 + 450
    assert set(rollout_stats) == {str(old)}  # only the folder that had an event

    new = session(home, "2026-11-21", "new", 7, 1)  # a new day folder
    assert week([home], store) == 703 + 8

    other.unlink()
    assert week([home], store) == 711 - 33

    replacement = recent.with_name("replacement.tmp")
    replacement.write_text(
        meta("2026-11-19T09:00:00.000Z", "recent")
        + "\n"
        + token_count("2026-11-19T09:00:00.000Z", usage(500, 0, 50))
        + "\n"
    )
    replacement.replace(recent)  # same name, another inode
    assert week([home], store) == 678 - 220 + 550

    append(new, token_count("2026-11-21T11:00:00.000Z", usage(17, 0, 2)))
    rollout_stats.clear()
    assert week([home], store) == 1008 + 11
    assert set(rollout_stats) == {str(new)}
    assert tree(home) - before == {
        str(p.relative_to(home)) for p in (new.parent, new)
    }  # only what the test made: watching writes nothing


@linux_only
def test_one_refresh_never_watches_and_closing_the_store_ends_the_watch(tmp_path):
    home = tmp_path / "home"
    session(home, "2026-11-20", "s", 10, 1)
    store = Store(tmp_path / "cost.sqlite3")
    before = inotify_descriptors()
    assert week([home], store) == 11
    assert inotify_descriptors() == before  # a one-shot run pays for nothing
    assert week([home], store) == 11
    assert inotify_descriptors() == before + 1
    week([home], store)
    assert inotify_descriptors() == before + 1  # one watcher per Store
    store.close()
    assert inotify_descriptors() == before


@linux_only
def test_a_home_replaced_by_a_symlink_to_another_folder(tmp_path, store):
    first, second, home = tmp_path / "first", tmp_path / "second", tmp_path / "home"
    session(first, "2026-11-20", "s", 10, 1)
    copy = session(second, "2026-11-20", "s", 40, 4)  # the same names, other files
    home.symlink_to(first)
    for _ in range(3):
        assert week([home], store) == 11
    home.unlink()
    home.symlink_to(second)  # no event in any folder watched
    assert week([home], store) == 44
    append(copy, token_count("2026-11-20T10:00:00.000Z", usage(50, 0, 5)))
    assert week([home], store) == 55


@linux_only
def test_homes_that_appear_later_and_folders_that_go(tmp_path, store):
    present, later = tmp_path / "present", tmp_path / "later"
    session(present, "2026-11-19", "p", 10, 1)
    for _ in range(3):
        assert week([present, later], store) == 11
    made = session(later, "2026-11-20", "l", 20, 2)  # its sessions/ did not exist until now
    assert week([present, later], store) == 33
    append(made, token_count("2026-11-20T10:00:00.000Z", usage(30, 0, 3)))
    assert week([present, later], store) == 44
    for path in sorted((later / "sessions").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()  # the day, month and year folders
    assert week([present, later], store) == 11
    session(later, "2026-11-20", "again", 5, 1)
    assert week([present, later], store) == 17


@linux_only
def test_links_are_stat_ed_every_time_since_their_writes_happen_elsewhere(tmp_path, store):
    """A write through a hard link or to a symlink's target is an event on the other folder
    only: such a folder's files are stat'ed on every refresh."""
    home, outside = tmp_path / "home", tmp_path / "outside"
    outside.mkdir()
    target = session(tmp_path / "elsewhere", "2026-11-19", "linked", 10, 1)
    day = home / "sessions/2026/11/19"
    day.mkdir(parents=True)
    (day / target.name).symlink_to(target)
    hard = session(home, "2026-11-20", "hard", 20, 2)
    other_name = outside / "other-name.jsonl"
    os.link(hard, other_name)
    for _ in range(3):
        assert week([home], store) == 33
    append(target, token_count("2026-11-19T10:00:00.000Z", usage(40, 0, 4)))
    assert week([home], store) == 33 + 33
    append(other_name, token_count("2026-11-20T10:00:00.000Z", usage(50, 0, 5)))
    assert week([home], store) == 66 + 33


@linux_only
def test_a_folder_that_cannot_be_watched_is_stat_ed_every_time(
    tmp_path, store, monkeypatch, caplog, rollout_stats
):
    """ENOSPC (fs.inotify.max_user_watches reached) cannot be made real here without changing a
    sysctl, so it is injected at the ctypes boundary: inotify_add_watch returns -1 with errno
    ENOSPC for one day folder; every other call is the real one."""
    home = tmp_path / "home"
    full = session(home, "2026-11-19", "full", 10, 1)
    fine = session(home, "2026-11-20", "fine", 20, 2)
    real = changes._libc()
    refused = os.fsencode(full.parent)

    def add_watch(fd, path, mask):
        if path == refused:
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return real.inotify_add_watch(fd, path, mask)

    monkeypatch.setattr(
        changes, "_libc", lambda: dataclasses.replace(real, inotify_add_watch=add_watch)
    )
    caplog.set_level(logging.DEBUG, logger="codexbar.cost.changes")
    for _ in range(3):
        assert week([home], store) == 33
    rollout_stats.clear()
    assert week([home], store) == 33
    assert rollout_stats == [str(full)]  # the unwatched folder only
    append(full, token_count("2026-11-19T10:00:00.000Z", usage(40, 0, 4)))
    assert week([home], store) == 66
    append(fine, token_count("2026-11-20T10:00:00.000Z", usage(50, 0, 5)))
    assert week([home], store) == 99
    told = [r.getMessage() for r in caplog.records if "max_user_watches" in r.getMessage()]
    assert len(told) == 1 and str(full.parent) in told[0]  # said once, not on every refresh


@linux_only
def test_a_folder_on_a_network_file_system_is_stat_ed_every_time(
    tmp_path, store, monkeypatch, rollout_stats
):
    """Another machine's writes to NFS raise no inotify event here. The file system type is
    injected at the ctypes boundary (statfs says NFS for one folder); watches are real."""
    home = tmp_path / "home"
    remote = session(home, "2026-11-19", "remote", 10, 1)
    session(home, "2026-11-20", "local", 20, 2)
    real = changes._libc()
    nfs = os.fsencode(remote.parent)

    def fs_type(path):
        return 0x6969 if path == nfs else real.fs_type(path)

    monkeypatch.setattr(changes, "_libc", lambda: dataclasses.replace(real, fs_type=fs_type))
    for _ in range(3):
        assert week([home], store) == 33
    rollout_stats.clear()
    assert week([home], store) == 33
    assert rollout_stats == [str(remote)]


@linux_only
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_discovery_with_a_watcher_equals_a_full_stat_pass_after_any_change(
    tmp_path, seed, rollout_stats
):
    """The invariant of discover(): whatever happens to the files, what it finds with a
    watcher (most folders' stats remembered) is exactly what a full stat pass finds."""
    rng = random.Random(seed)
    homes = [tmp_path / "one", tmp_path / "two"]
    outside = tmp_path / "outside"  # where links lead: no watch there
    outside.mkdir()
    days = ["2026-11-18", "2026-11-19", "2026-11-20", "2026-10-01"]
    week_start = int(datetime(2026, 11, 14, tzinfo=UTC).timestamp() * 1000)
    made: list[Path] = []
    aliases: list[Path] = []  # other names of files in the homes
    cached: dict = {}

    def folder() -> Path:
        home, day = rng.choice(homes), rng.choice(days)
        if rng.random() < 0.2:
            return home / "archived_sessions"
        return home / "sessions" / day.replace("-", "/")

    def new_file() -> None:
        where = folder()
        where.mkdir(parents=True, exist_ok=True)
        name = f"rollout-{rng.choice(days)}T10-00-00-{rng.randrange(10**6)}.jsonl"
        if rng.random() < 0.15:
            name += ".zst"
        path = where / name
        path.write_text("{}\n")
        made.append(path)

    def some_file() -> Path | None:
        alive = [p for p in made if os.path.lexists(p)]
        return rng.choice(alive) if alive else None

    def change() -> None:
        path = some_file()
        kind = rng.randrange(13)
        if path is None or kind == 0:
            new_file()
        elif kind == 1:
            append(path, "{}")
        elif kind == 2:
            path.unlink()
        elif kind == 3:
            when = rng.choice([LONG_AGO, NOW.timestamp()])
            os.utime(path, (when, when), follow_symlinks=False)
        elif kind == 4:
            renamed = path.with_name(f"rollout-2026-11-19T10-00-00-{rng.randrange(10**6)}.jsonl")
            path.rename(renamed)
            made.append(renamed)
        elif kind == 5:  # replaced: same name, another inode
            spare = path.with_name("spare.tmp")
            spare.write_text("{}\n{}\n")
            spare.replace(path)
        elif kind == 6:  # the cache learns a file as it is now, with an old or a new last event
            st = os.stat(path)
            last = rng.choice([None, week_start - 1, week_start + 1])
            cached[str(path)] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, None, None, last)
        elif kind == 7:  # something that is not a regular file, under a rollout name
            odd = path.with_name(f"rollout-2026-11-20T10-00-00-fifo{rng.randrange(10**6)}.jsonl")
            os.mkfifo(odd)  # not in `made`: opening it to append would block
        elif kind == 8 and path.parent.name != "archived_sessions":
            for entry in path.parent.iterdir():
                entry.unlink()
            path.parent.rmdir()  # a day folder deleted
        elif kind == 9:
            path.chmod(0o600 if rng.random() < 0.5 else 0o644)
        elif kind == 10:  # a hard link elsewhere: writes through it are events out there
            alias = outside / f"hard-{rng.randrange(10**6)}"
            os.link(path, alias)
            aliases.append(alias)
        elif kind == 11:  # a rollout name that is a symbolic link to a file out there
            target = outside / f"target-{rng.randrange(10**6)}"
            target.write_text("{}\n")
            link = path.with_name(f"rollout-2026-11-20T10-00-00-link{rng.randrange(10**6)}.jsonl")
            link.symlink_to(target)
            aliases.append(target)
        elif aliases:
            append(rng.choice(aliases), "{}")  # written through another name

    watcher = FolderWatcher()
    watched_stats = full_stats = 0
    try:
        for _ in range(6):
            new_file()
        for _step in range(150):
            # the tray's week, another range (the dashboard), or everything
            since_ms = rng.choice([week_start, week_start, None])
            until = rng.choice([NOW.date(), NOW.date(), date(2026, 11, 18), None])
            rollout_stats.clear()
            with_watcher = discover(homes, since_ms, until, cached, watcher)
            watched_stats += len(rollout_stats)
            rollout_stats.clear()
            full_pass = discover(homes, since_ms, until, cached)
            full_stats += len(rollout_stats)
            assert with_watcher.files == full_pass.files
            assert with_watcher.listed == full_pass.listed
            assert with_watcher.problems == full_pass.problems
            for _ in range(rng.randrange(3)):
                change()
        assert watched_stats < full_stats  # remembered stats were used along the way
    finally:
        watcher.close()
