"""`codexbar cost` under faults (issue 10 #1, #2, #3, #6, #9, #12, #15): a cache that cannot be
written, a lock held by another process, a file rewritten in place, pipes and devices among the
logs, a compressed bomb, a kill during a two-process scan, damaged cache contents. Never a wrong
or stale total, never a hang, never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest

from tests.cost_helpers import meta, token_count, turn, usage, write

HANG_GUARD = 60


def cost(home: Path, data: Path, *extra: str, prefix: tuple[str, ...] = (), **kw):
    env = {**os.environ, "CODEXBAR_DATA_DIR": str(data)}
    argv = [*prefix, sys.executable, "-m", "codexbar", "cost", "--all", "--json", "--tz=UTC"]
    return subprocess.run(
        [*argv, f"--home={home}", *extra],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env=env,
        **kw,
    )


def total(done: subprocess.CompletedProcess) -> int:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)["totals"]["total_tokens"]


def session(home: Path, sid: str, events: int, day: str = "2026-11-20") -> int:
    """A rollout with `events` responses of 1000 input + 100 output each; returns its total."""
    lines = [meta(f"{day}T08:00:00.000Z", sid), turn(f"{day}T08:00:01.000Z", "gpt-5.5")]
    for i in range(1, events + 1):
        moment = f"{day}T{8 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        lines.append(token_count(moment, usage(1000 * i, 0, 100 * i), usage(1000, 0, 100)))
    write(home, day, sid, lines)
    return 1100 * events


def many_sessions(home: Path, files: int, events: int) -> int:
    return sum(session(home, f"s{n:04d}", events) for n in range(files))


# -- #1: the cache cannot be written ---------------------------------------------------------


def test_a_file_size_limit_never_wipes_the_cache_nor_the_figures(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    first = many_sessions(home, 3, 50)
    assert total(cost(home, data)) == first  # cached
    second = first + sum(session(home, f"new{n}", 400) for n in range(20))
    limited = cost(home, data, prefix=("prlimit", "--fsize=33000"))
    assert total(limited) == second  # the figures just computed, not 0 and not the old ones
    assert "file-size limit" in limited.stderr and "not cached" in limited.stderr
    assert "rebuilt" not in limited.stderr
    again = cost(home, data)  # without the limit: the old entries are still there
    assert total(again) == second
    scan = json.loads(again.stdout)["scan"]
    assert scan["files_from_cache"] == 3 and again.stderr == ""


def test_a_full_disk_keeps_the_figures_and_says_so(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs (the full disk)")
    home, data = tmp_path / "home", tmp_path / "data"
    data.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(data)], check=True)
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("this machine does not allow mounting a tmpfs (the full disk)")
    try:
        first = many_sessions(home, 2, 20)
        assert total(cost(home, data)) == first
        second = first + sum(session(home, f"big{n}", 400) for n in range(30))
        full = cost(home, data)
        assert total(full) == second
        assert "disk is full" in full.stderr and "not cached" in full.stderr
        assert total(cost(home, data)) == second
    finally:
        subprocess.run(["umount", str(data)], check=False)


def test_a_read_only_database_keeps_the_figures(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    expected = many_sessions(home, 2, 10)
    assert total(cost(home, data)) == expected
    session(home, "late", 5)
    script = (
        "import sys, apsw, codexbar.store as s\n"
        "real = apsw.Connection\n"
        "s.apsw.Connection = lambda p, *a, **k: real(p, flags=apsw.SQLITE_OPEN_READONLY)\n"
        "from codexbar.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {**os.environ, "CODEXBAR_DATA_DIR": str(data)}
    done = subprocess.run(
        [sys.executable, "-c", script, "cost", "--all", "--json", "--tz=UTC", f"--home={home}"],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env=env,
    )
    assert total(done) == expected + 5500
    assert "read-only" in done.stderr and "not cached" in done.stderr


# -- #2: another process holds the write lock ------------------------------------------------


def test_a_held_write_lock_never_shows_older_totals(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    before = session(home, "live", 10)
    assert total(cost(home, data)) == before
    after = session(home, "live", 30)  # the session grew (rewritten longer here)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import apsw, sys, time\n"
            "db = apsw.Connection(sys.argv[1]); db.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True); time.sleep(30)\n",
            str(data / "codexbar.sqlite3"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        done = cost(home, data)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert total(done) == after
    assert "another codexbar process" in done.stderr and "not cached" in done.stderr
    assert waited < 20  # it waited a little for the lock, then showed what it computed
    assert total(cost(home, data)) == after


# -- #3: a file rewritten in place -----------------------------------------------------------


def test_a_file_rewritten_in_place_and_longer_is_read_again(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    path = write(
        home,
        "2026-11-20",
        "rw",
        [
            meta("2026-11-20T10:00:00.000Z", "rw"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10)),
        ],
    )
    assert total(cost(home, data)) == 110
    inode = path.stat().st_ino
    rewritten = "".join(
        x + "\n"
        for x in [
            meta("2026-11-20T10:00:00.000Z", "rw"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(300, 0, 30)),
            token_count("2026-11-20T10:02:00.000Z", usage(400, 0, 40)),
        ]
    )
    with open(path, "r+") as handle:  # same inode, new bytes, longer
        handle.write(rewritten)
    assert path.stat().st_ino == inode
    assert total(cost(home, data)) == 440


# -- #6: pipes and devices among the session logs --------------------------------------------


def test_fifos_and_devices_among_the_logs_are_skipped_without_blocking(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    expected = session(home, "real", 3)
    folder = home / "sessions" / "2026" / "11" / "20"
    os.mkfifo(folder / "rollout-2026-11-20T11-00-00-fifo.jsonl")
    (folder / "rollout-2026-11-20T11-00-01-zero.jsonl").symlink_to("/dev/zero")
    (home / "archived_sessions").mkdir()
    os.mkfifo(home / "archived_sessions" / "rollout-2026-11-20T11-00-02-fifo.jsonl")
    done = cost(home, data)  # a blocking open would hit the hang guard
    assert total(done) == expected
    assert "not a regular file" in done.stderr and "Errno" not in done.stderr


# -- #9: a compressed bomb -------------------------------------------------------------------


def test_a_zst_bomb_is_streamed_with_bounded_memory(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    home, data = tmp_path / "home", tmp_path / "data"
    expected = session(home, "real", 3)
    bomb = home / "archived_sessions" / "rollout-2026-11-20T12-00-00-bomb.jsonl.zst"
    bomb.parent.mkdir(parents=True)
    zeros = b"\0" * (8 << 20)
    with open(bomb, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
        out.write(meta("2026-11-20T12:00:00.000Z", "bomb").encode() + b"\n")
        out.write(b'{"timestamp":"2026-11-20T12:00:01.000Z","type":"turn_context","payload":"')
        for _ in range(256):  # 2 GB in one line that never ends
            out.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = cost(home, data)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert total(done) == expected
    assert "expands to more than" in done.stderr
    assert peak_mb < 150 or before / 1024 >= 150, f"peak RSS {peak_mb:.0f} MB"


# -- #12: killed during a scan shared with a second process ----------------------------------


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_a_parallel_scan_leaves_no_process(tmp_path, sig):
    if not Path("/proc/self/task").exists():
        pytest.skip("needs /proc (Linux) to watch the process tree")
    home, data = tmp_path / "home", tmp_path / "data"
    # ~200 MB of small lines: long enough to catch both processes at work
    folder = home / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    filler = (
        '{"timestamp":"2026-11-20T10:00:02.000Z","type":"response_item","payload":'
        '{"type":"message","content":"' + "w" * 120 + '"}}\n'
    ) * 50_000
    for n in range(24):
        body = meta("2026-11-20T10:00:00.000Z", f"k{n}") + "\n" + filler
        (folder / f"rollout-2026-11-20T10-00-00-k{n}.jsonl").write_text(body)
    env = {**os.environ, "CODEXBAR_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "codexbar", "cost", "--all", "--json", f"--home={home}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + HANG_GUARD
    helpers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None and not helpers:
        helpers = _children(proc.pid)
        time.sleep(0.005)
    assert helpers, "the scan finished before a second process was seen"
    proc.send_signal(sig)
    proc.wait(timeout=HANG_GUARD)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in helpers):
        time.sleep(0.05)
    assert not any(_alive(p) for p in helpers), "a helper process outlived the killed scan"


# -- #15: damaged cache contents -------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE cost_rows SET input = 'lots'",
        "UPDATE cost_files SET size = 'big'",
        "UPDATE cost_files SET state = '[1, 2]'",
        "DROP TABLE cost_rows",
        "DROP TABLE cost_files",
        "DROP TABLE cost_meta",
    ],
)
def test_damaged_cache_contents_are_rebuilt_not_a_crash_on_every_run(tmp_path, damage):
    home, data = tmp_path / "home", tmp_path / "data"
    expected = many_sessions(home, 2, 5)
    assert total(cost(home, data)) == expected
    db = apsw.Connection(str(data / "codexbar.sqlite3"))
    db.execute(damage)
    db.close()
    session(home, "s0000", 8)  # one file grew: its saved state is read back
    expected += 8 * 1100 - 5 * 1100
    first = cost(home, data)
    assert total(first) == expected
    second = cost(home, data)
    assert total(second) == expected and second.stderr == ""


def test_a_store_that_cannot_be_opened_still_gives_complete_figures(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    expected = many_sessions(home, 2, 5)
    done = cost(home, data, prefix=("prlimit", "--fsize=4096"))  # not even a new database fits
    assert total(done) == expected
    assert "could not be opened" in done.stderr and "not cached" in done.stderr
    assert "Errno" not in done.stderr and "disk I/O error" not in done.stderr
