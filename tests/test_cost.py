"""The cost scanner against known totals: the fixture home, the real Codex 0.169.0 logs, and
generated corpora with every trap on (their truth.json is accumulated while generating)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from codexbar.cost import cost_summary
from codexbar.cost import index as index_module
from codexbar.store import Store
from tests.conftest import FIXTURE_HOME, FIXTURES
from tests.cost_helpers import meta, record, token_count, turn, usage, write

GENERATOR = Path(__file__).resolve().parents[1] / "bench" / "make_codex_home.py"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def cells(summary) -> dict[tuple[str, str], list[int]]:
    out = {}
    for day in summary.days:
        for model, f in day.models.items():
            out[(day.date, model)] = [
                f.input_tokens,
                f.cached_input_tokens,
                f.cache_write_input_tokens,
                f.output_tokens,
                f.reasoning_output_tokens,
                f.total_tokens,
            ]
    return out


def scan(homes, store, **kw):
    kw.setdefault("all_time", True)
    return cost_summary([Path(h) for h in homes], store=store, tz=UTC, now=NOW, **kw)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "cost.sqlite3")
    yield s
    s.close()


def test_fixture_home_matches_the_readme_table(store):
    summary = scan([FIXTURE_HOME], store)
    assert cells(summary) == {
        ("2025-10-14", "gpt-5-codex"): [17612, 7936, 0, 1645, 1024, 19257],
        ("2026-11-19", "gpt-5.5"): [64619, 40064, 0, 3950, 2560, 68569],
        ("2026-11-19", "gpt-5.3-codex"): [55097, 26880, 0, 2638, 1408, 57735],
        ("2026-11-20", "gpt-5.3-codex"): [32224, 15104, 0, 3191, 1792, 35415],
        ("2026-11-20", "gpt-5.5"): [9870, 0, 4096, 1422, 768, 11292],
        ("2026-11-21", "gpt-5.5"): [12050, 9600, 1024, 2760, 1664, 14810],
    }
    assert summary.range.total_tokens == 207_078
    assert summary.today.total_tokens == 14_810
    assert summary.unpriced_models == []
    # Priced per event at the bundled rates (gpt-5.5 5/0.5/30, gpt-5.3-codex 1.75/0.175/14,
    # gpt-5-codex 1.25/0.125/10 per 1M).
    by_model = {m: f.cost_usd for m, f in summary.models.items()}
    assert float(by_model["gpt-5-codex"]) == pytest.approx(
        (9676 * 1.25 + 7936 * 0.125 + 1645 * 10) / 1e6
    )
    gpt55_uncached = 64619 + 9870 + 12050 - (40064 + 9600) - (4096 + 1024)
    assert float(by_model["gpt-5.5"]) == pytest.approx(
        (gpt55_uncached * 5 + 49664 * 0.5 + 5120 * 5 + (3950 + 1422 + 2760) * 30) / 1e6
    )
    # Warm: nothing read again.
    again = scan([FIXTURE_HOME], store)
    assert again.scan.files_from_cache == again.scan.files == 3
    assert again.scan.bytes_read == 0
    assert cells(again) == cells(summary)


def test_real_cli_logs_match_truth(store):
    truth = json.loads((FIXTURES / "real_cli_0.169.0" / "truth.json").read_text())
    summary = scan([FIXTURES / "real_cli_0.169.0" / "codex_home"], store)
    got = cells(summary)
    for row in truth["by_day_model"]:
        inp, cached, _, out, reasoning, total = got[(row["day"], row["model"])]
        assert (inp, cached, out, reasoning, total) == (
            row["input"],
            row["cached"],
            row["output"],
            row["reasoning"],
            row["total"],
        )
    assert summary.range.total_tokens == truth["grand_total"]
    assert summary.range.responses == truth["responses"]


def generate(out: Path, **rates) -> dict:
    args = [sys.executable, str(GENERATOR), "--out", str(out), "--end-date", "2026-11-21"]
    args += ["--days", "6", "--sessions-per-day", "4", "--turns-per-session", "4"]
    args += ["--responses-per-turn", "3", "--payload-kb", "2", "--seed", str(rates.pop("seed", 7))]
    defaults = {
        "fork-rate": 0.5,
        "archived-dup-rate": 0.3,
        "archived-rate": 0.1,
        "reemit-rate": 0.3,
        "compaction-rate": 0.3,
        "legacy-rate": 0.2,
        "garbage-rate": 0.3,
    }
    defaults.update(rates)
    for name, value in defaults.items():
        args += [f"--{name}", str(value)]
    subprocess.run(args, check=True, env={**os.environ, "TZ": "UTC"})
    return json.loads((out / "truth.json").read_text())


def truth_cells(truth) -> dict[tuple[str, str], list[int]]:
    return {
        (r["day"], r["model"]): [
            r["input"],
            r["cached_input"],
            r["cache_write_input"],
            r["output"],
            r["reasoning_output"],
            r["total"],
        ]
        for r in truth["by_day_model"]
    }


@pytest.mark.parametrize("seed", [7, 11])
def test_generated_corpus_with_every_trap_matches_truth(tmp_path, store, seed):
    truth = generate(tmp_path / "home", seed=seed)
    assert truth["traps"].get("forked_children") and truth["traps"].get("archived_duplicates")
    summary = scan([tmp_path / "home"], store)
    assert cells(summary) == truth_cells(truth)
    assert summary.range.responses == truth["grand_total"]["responses"]


def test_fork_whose_parent_is_missing_counts_only_its_own_usage(tmp_path, store):
    truth = generate(tmp_path / "home", seed=3, **{"fork-rate": 0.9, "legacy-rate": 0})
    sessions = {s["id"]: s for s in truth["sessions"]}
    parents = {s["forked_from_id"] for s in truth["sessions"] if s["forked_from_id"]}
    removed = 0
    for sid in parents:
        info = sessions[sid]
        if info["forked_from_id"]:
            continue  # keep chains' middles: their own children still replay them
        for path in (tmp_path / "home").rglob(f"*{sid}.jsonl"):
            path.unlink()
        removed += info["total"]
    assert removed
    summary = scan([tmp_path / "home"], store)
    assert summary.range.total_tokens == truth["grand_total"]["total"] - removed


def test_archived_copy_counts_once_and_days_follow_the_time_zone(tmp_path, store):
    home = tmp_path / "home"
    lines = [
        meta("2026-11-20T22:00:00.000Z", "s1"),
        turn("2026-11-20T22:00:01.000Z", "gpt-5.5"),
        token_count("2026-11-20T22:30:00.000Z", usage(100, 10, 5)),
        token_count("2026-11-20T23:30:00.000Z", usage(250, 30, 9)),
    ]
    write(home, "2026-11-20", "s1", lines)
    write(home, "2026-11-20", "s1", lines, archived=True)
    utc = scan([home], store)
    assert utc.range.total_tokens == 259
    assert [d.date for d in utc.days] == ["2026-11-20"]
    from zoneinfo import ZoneInfo

    berlin = cost_summary([home], store=store, tz=ZoneInfo("Europe/Berlin"), now=NOW, all_time=True)
    assert {d.date: d.figures.total_tokens for d in berlin.days} == {
        "2026-11-20": 105,
        "2026-11-21": 154,
    }


def test_resume_counters_going_backwards_never_inflate(tmp_path, store):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "s2",
        [
            meta("2026-11-20T10:00:00.000Z", "s2"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10), usage(100, 0, 10)),
            token_count("2026-11-20T10:01:00.002Z", usage(100, 0, 10), usage(100, 0, 10)),
            # the "context full" display hack: a total with no input or output
            token_count("2026-11-20T10:02:00.000Z", {"total_tokens": 258400}, {"total_tokens": 5}),
            # the counter restarts (a resumed stream): its own response counts, nothing more
            token_count("2026-11-20T10:03:00.000Z", usage(40, 0, 4), usage(40, 0, 4)),
            token_count("2026-11-20T10:04:00.000Z", usage(100, 0, 10), usage(60, 0, 6)),
            # estimate-only after compaction: totals unchanged
            token_count("2026-11-20T10:05:00.000Z", usage(100, 0, 10), {"total_tokens": 900}),
            token_count("2026-11-20T10:06:00.000Z", usage(130, 0, 12), usage(30, 0, 2)),
        ],
    )
    summary = scan([home], store)
    f = summary.range
    # Real usage was 100 + 40 + 60 + 30 input. After a reset the scanner may undercount (the
    # restarted stream's 100 looks like a re-emission) but never counts the old totals again.
    assert 100 + 40 + 30 <= f.input_tokens <= 100 + 40 + 60 + 30
    assert 10 + 4 + 2 <= f.output_tokens <= 10 + 4 + 6 + 2


def test_records_count_once_per_response_and_foreign_records_are_replays(tmp_path, store):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "child",
        [
            meta("2026-11-20T10:00:00.000Z", "child", forked_from_id="parent"),
            turn("2026-11-20T10:00:00.001Z", "gpt-5.5"),
            record(
                "2026-11-20T10:00:00.002Z", "parent", "r1", usage(500, 0, 50), usage(500, 0, 50)
            ),
            token_count("2026-11-20T10:00:00.003Z", usage(500, 0, 50), usage(500, 0, 50)),
            turn("2026-11-20T10:05:00.000Z", "gpt-5.4-mini", "high"),
            record("2026-11-20T10:05:10.000Z", "child", "r2", usage(70, 20, 7), usage(570, 20, 57)),
            token_count("2026-11-20T10:05:10.001Z", usage(570, 20, 57), usage(70, 20, 7)),
            record("2026-11-20T10:05:10.002Z", "child", "r2", usage(70, 20, 7), usage(570, 20, 57)),
            token_count("2026-11-20T10:05:10.003Z", usage(570, 20, 57), usage(70, 20, 7)),
        ],
    )
    summary = scan([home], store)
    assert cells(summary) == {("2026-11-20", "gpt-5.4-mini"): [70, 20, 0, 7, 0, 77]}
    assert set(summary.efforts) == {"high"}
    assert set(summary.projects) == {"/p"}


def test_legacy_fork_replay_burst_is_a_baseline(tmp_path, store):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "kid",
        [
            meta("2026-11-20T10:00:00.000Z", "kid", forked_from_id="gone"),
            meta("2026-11-20T10:00:00.001Z", "gone"),
            turn("2026-11-20T10:00:00.001Z", "gpt-5.1-codex-max"),
            token_count("2026-11-20T10:00:00.002Z", usage(300, 0, 30), usage(300, 0, 30)),
            token_count("2026-11-20T10:00:00.003Z", usage(700, 0, 70), usage(400, 0, 40)),
            turn("2026-11-20T10:09:00.000Z", "gpt-5.1-codex-max"),
            token_count("2026-11-20T10:09:30.000Z", usage(750, 0, 75), usage(50, 0, 5)),
        ],
    )
    assert scan([home], store).range.total_tokens == 55


def test_zst_files_are_read_and_the_plain_file_wins(tmp_path, store):
    zstandard = pytest.importorskip("zstandard")
    home = tmp_path / "home"
    path = write(
        home,
        "2026-11-20",
        "z1",
        [
            meta("2026-11-20T10:00:00.000Z", "z1"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(1000, 0, 100)),
        ],
    )
    compressed = path.with_name(path.name + ".zst")
    compressed.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    assert scan([home], store).range.total_tokens == 1100  # plain + .zst: once
    path.unlink()
    assert scan([home], store).range.total_tokens == 1100  # .zst alone


def test_incremental_append_and_incomplete_last_line(tmp_path, store):
    home = tmp_path / "home"
    path = write(
        home,
        "2026-11-20",
        "inc",
        [
            meta("2026-11-20T10:00:00.000Z", "inc"),
            turn("2026-11-20T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 20, 10, 4)),
        ],
    )
    assert scan([home], store).range.total_tokens == 110
    pending = token_count("2026-11-20T10:02:00.000Z", usage(160, 40, 16, 7))
    with open(path, "a") as handle:
        handle.write(pending[:40])  # Codex is mid-write
    half = scan([home], store)
    assert half.range.total_tokens == 110
    with open(path, "a") as handle:
        handle.write(pending[40:] + "\n")
    done = scan([home], store)
    assert done.scan.bytes_read == len(pending) + 1  # only the completed line was read
    f = done.range
    assert (f.input_tokens, f.cached_input_tokens, f.output_tokens, f.reasoning_output_tokens) == (
        160,
        40,
        16,
        7,
    )
    # Replaced by a shorter file: read again from the start.
    write(
        home,
        "2026-11-20",
        "inc",
        [
            meta("2026-11-20T10:00:00.000Z", "inc"),
            token_count("2026-11-20T10:01:00.000Z", usage(5, 0, 1)),
        ],
    )
    assert scan([home], store).range.total_tokens == 6


def test_parser_version_bump_and_corrupt_state_rebuild(tmp_path, store, monkeypatch):
    home = tmp_path / "home"
    path = write(
        home,
        "2026-11-20",
        "v",
        [
            meta("2026-11-20T10:00:00.000Z", "v"),
            token_count("2026-11-20T10:01:00.000Z", usage(100, 0, 10)),
        ],
    )
    scan([home], store)
    from codexbar.cost import cache as cache_module

    monkeypatch.setattr(cache_module, "PARSER_VERSION", 999)
    again = scan([home], store)
    assert again.scan.files_from_cache == 0 and again.range.total_tokens == 110
    store.db.execute("UPDATE cost_files SET state = 'not json'")
    with open(path, "a") as handle:
        handle.write(token_count("2026-11-20T10:02:00.000Z", usage(150, 0, 15)) + "\n")
    rebuilt = scan([home], store)
    assert rebuilt.range.total_tokens == 165
    assert any("rebuilt" in w for w in rebuilt.warnings)


def test_permission_errors_are_reported_and_skipped(tmp_path, store, monkeypatch):
    home = tmp_path / "home"
    write(
        home,
        "2026-11-20",
        "ok",
        [
            meta("2026-11-20T10:00:00.000Z", "ok"),
            token_count("2026-11-20T10:01:00.000Z", usage(10, 0, 1)),
        ],
    )
    secret = write(
        home,
        "2026-11-20",
        "no",
        [
            meta("2026-11-20T10:00:00.000Z", "no"),
            token_count("2026-11-20T10:01:00.000Z", usage(99, 0, 9)),
        ],
    )
    if os.geteuid() == 0:  # root reads anything: make open() refuse like the kernel would
        real_open = os.open

        def refusing_open(path, *args, **kwargs):
            if str(path) == str(secret):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(index_module.os, "open", refusing_open)
    else:
        secret.chmod(0)
    summary = scan([home], store)
    assert summary.range.total_tokens == 11
    assert any("Permission denied" in w and secret.name in w for w in summary.warnings)


def test_two_processes_scanning_at_once_agree(tmp_path):
    truth = generate(tmp_path / "home", seed=5)
    code = (
        "import json,sys;from datetime import UTC;from pathlib import Path;"
        "from codexbar.cost import cost_summary;"
        "s=cost_summary([Path(sys.argv[1])],tz=UTC,all_time=True);"
        "print(json.dumps([s.range.total_tokens,s.scan.files_from_cache]))"
    )
    env = {**os.environ, "CODEXBAR_DATA_DIR": str(tmp_path / "data")}
    # Create the database first: concurrent *creation* (migrations) is the store's concern;
    # this test is about concurrent scans writing the cost cache.
    Store(tmp_path / "data" / "codexbar.sqlite3").close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "home")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for (out, err), p in zip(results, procs, strict=True):
        assert p.returncode == 0, err
        assert json.loads(out)[0] == truth["grand_total"]["total"]
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total, from_cache = json.loads(out)
    assert total == truth["grand_total"]["total"] and from_cache > 0
    check = Store(tmp_path / "data" / "codexbar.sqlite3")
    assert check.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_range_limits_discovery_and_days(tmp_path, store):
    home = tmp_path / "home"
    for day in ("2026-10-01", "2026-11-15", "2026-11-21"):
        path = write(
            home,
            day,
            f"s{day}",
            [
                meta(f"{day}T10:00:00.000Z", f"s{day}"),
                token_count(f"{day}T10:01:00.000Z", usage(10, 0, 1)),
            ],
        )
        written = datetime.fromisoformat(f"{day}T10:01:00+00:00").timestamp()
        os.utime(path, (written, written))
    summary = cost_summary([home], store=store, tz=UTC, now=NOW, days=7)
    assert (summary.since, summary.until) == (date(2026, 11, 15), date(2026, 11, 21))
    assert summary.scan.files == 2 and summary.range.total_tokens == 22
    assert summary.scan.files_listed == 3  # the old file cost a stat, never a read
    assert summary.today.total_tokens == 11
    explicit = cost_summary(
        [home], store=store, tz=UTC, now=NOW, since=date(2026, 9, 1), until=date(2026, 10, 31)
    )
    assert explicit.range.total_tokens == 11 and explicit.today.total_tokens == 0


def test_missing_home_has_no_sessions(tmp_path, store):
    summary = scan([tmp_path / "nowhere"], store)
    assert not summary.has_sessions and summary.range.total_tokens == 0
    assert summary.range.cost_usd == 0


def test_copy_of_fixture_home_is_untouched(codex_home, store):
    before = {p: p.read_bytes() for p in codex_home.rglob("*.jsonl")}
    scan([codex_home], store)
    assert {p: p.read_bytes() for p in codex_home.rglob("*.jsonl")} == before
    shutil.rmtree(codex_home / "archived_sessions")
    assert scan([codex_home], store).range.total_tokens == 207_078 - 19_257


def test_a_scan_shared_with_a_second_process_matches_truth(tmp_path, store, monkeypatch):
    from codexbar.cost import worker

    monkeypatch.setattr(index_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(worker.os, "cpu_count", lambda: 2)
    children = []

    class CountedChild(worker.Child):
        def __init__(self, *args, **kwargs):
            children.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(worker, "Child", CountedChild)
    truth = generate(tmp_path / "home", seed=5)
    summary = scan([tmp_path / "home"], store)
    assert len(children) == 1 and children[0].sent  # it really read some of the files
    assert children[0].proc.returncode == 0
    assert cells(summary) == truth_cells(truth)
    assert summary.range.responses == truth["grand_total"]["responses"]
    again = scan([tmp_path / "home"], store)  # what the child parsed was cached like the rest
    assert again.scan.bytes_read == 0 and cells(again) == cells(summary)


def test_a_second_process_that_dies_mid_scan_leaves_its_files_to_this_one(
    tmp_path, store, monkeypatch
):
    from codexbar.cost import worker

    monkeypatch.setattr(index_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(worker.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(worker, "BATCH_FILES", 2)
    killed = []

    class DyingChild(worker.Child):
        def pump(self, block=False):
            super().pump(block)
            if self.inbox and not killed:  # its first answers are in: it dies with more to do
                killed.append(self.proc.pid)
                self.proc.kill()

    monkeypatch.setattr(worker, "Child", DyingChild)
    truth = generate(tmp_path / "home", seed=11)
    summary = scan([tmp_path / "home"], store)
    assert killed
    assert cells(summary) == truth_cells(truth)
    assert summary.range.responses == truth["grand_total"]["responses"]


def test_files_not_in_memory_are_read_ahead_and_cached_ones_are_not(tmp_path, store, monkeypatch):
    """Asking the kernel to read ahead costs two system calls a file: done only once a file is
    found not to be in the page cache (here: evicted with POSIX_FADV_DONTNEED)."""
    from codexbar.cost import files

    if not hasattr(os, "RWF_NOWAIT") or not hasattr(os, "posix_fadvise"):
        pytest.skip("needs Linux's RWF_NOWAIT and posix_fadvise")
    asked: list[str] = []
    real = files.prefetch
    monkeypatch.setattr(
        files, "prefetch", lambda item, at: asked.append(item.path) or real(item, at)
    )
    home = tmp_path / "home"

    def sessions(names: range) -> list[Path]:
        return [
            write(home, "2026-11-20", f"s{n}", [token_count("2026-11-20T10:00:00.000Z", usage(10))])
            for n in names
        ]

    sessions(range(3))
    assert scan([home], store).range.total_tokens == 30
    assert asked == []  # just written: in memory
    for path in sessions(range(3, 9)):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # only clean pages can be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    assert scan([home], store).range.total_tokens == 90
    assert asked, "no file was read ahead although none was in memory"


def test_repeated_scans_see_new_files_and_appends_in_folders_listed_before(tmp_path, store):
    """The tray scans every few minutes in one process, which remembers folder listings: a file
    added to a folder, one added within the same clock tick as the listing (the folder's mtime
    looks unchanged), and an append to an old session (its folder unchanged) all still count."""
    home = tmp_path / "home"
    old = write(home, "2026-10-01", "old", [meta("2026-10-01T10:00:00.000Z", "old")])
    folder = old.parent
    settled = NOW.timestamp() - 86400 * 30
    os.utime(old, (settled, settled))
    os.utime(folder, (settled, settled))
    assert scan([home], store).range.total_tokens == 0
    assert scan([home], store).range.total_tokens == 0  # this time from the remembered listing

    with old.open("a") as handle:  # `codex resume` appends; the folder's mtime stays
        handle.write(token_count("2026-11-21T09:00:00.000Z", usage(5, 0, 1)) + "\n")
    os.utime(folder, (settled, settled))
    assert scan([home], store).range.total_tokens == 6

    write(home, "2026-10-01", "added", [token_count("2026-10-01T11:00:00.000Z", usage(7))])
    assert scan([home], store).range.total_tokens == 13  # the folder's mtime moved on

    # Listed just after a change: a file added in the same tick leaves the mtime as it was.
    tick = folder.stat().st_mtime_ns
    assert scan([home], store).range.total_tokens == 13
    write(home, "2026-10-01", "same-tick", [token_count("2026-10-01T12:00:00.000Z", usage(9))])
    os.utime(folder, ns=(tick, tick))
    assert scan([home], store).range.total_tokens == 22


def test_figures_kept_from_an_earlier_run_follow_prices_today_and_files(tmp_path, store):
    """A warm run reuses the priced figures of the last run of its range only while nothing they
    depend on changed: the same figures again; new prices, a new day or a new file re-price."""
    from codexbar.cost.pricing import PriceTable

    home = tmp_path / "home"
    write(
        home,
        "2026-11-21",
        "s1",
        [
            meta("2026-11-21T10:00:00.000Z", "s1"),
            turn("2026-11-21T10:00:01.000Z", "gpt-5.5"),
            token_count("2026-11-21T10:01:00.000Z", usage(1_000_000, 0, 1_000_000)),
        ],
    )
    first = scan([home], store)
    again = scan([home], store)
    assert again.range == first.range and again.days == first.days
    assert again.models == first.models and again.range.cost_usd > 0

    overrides = tmp_path / "prices.json"
    overrides.write_text(json.dumps({"models": {"gpt-5.5": {"input": 1, "output": 2}}}))
    repriced = scan([home], store, prices=PriceTable.load(overrides=overrides))
    assert repriced.range.cost_usd == 3

    tomorrow = cost_summary([home], store=store, tz=UTC, now=NOW.replace(day=22), all_time=True)
    assert tomorrow.today.total_tokens == 0 and tomorrow.range.total_tokens == 2_000_000

    write(home, "2026-11-21", "s2", [token_count("2026-11-21T11:00:00.000Z", usage(5, 0, 1))])
    assert scan([home], store).range.total_tokens == 2_000_006


def test_a_folder_that_cannot_be_listed_is_reported_on_every_scan(tmp_path, store, monkeypatch):
    from codexbar.cost import discovery

    home = tmp_path / "home"
    path = write(home, "2026-11-20", "s", [token_count("2026-11-20T10:01:00.000Z", usage(10))])
    locked = path.parent
    settled = NOW.timestamp() - 86400
    os.utime(locked, (settled, settled))
    real_scandir = os.scandir

    def refusing_scandir(folder):
        if str(folder) == str(locked):
            raise PermissionError(13, "Permission denied", str(folder))
        return real_scandir(folder)

    monkeypatch.setattr(discovery.os, "scandir", refusing_scandir)
    for _ in range(2):  # the second scan must not trust a listing that failed
        summary = scan([home], store)
        assert summary.range.total_tokens == 0
        assert any("permission denied" in w and str(locked) in w for w in summary.warnings)


def test_figures_of_a_run_overtaken_by_another_process_are_not_reused(tmp_path, monkeypatch):
    """Process A reads a file and saves its sums; before A prices them, process B reads the
    grown file and saves newer sums. A's figures must never be shown by a later run."""
    from codexbar.cost import cache as cache_module

    home = tmp_path / "home"
    path = write(home, "2026-11-21", "s", [token_count("2026-11-21T10:00:00.000Z", usage(10))])
    real_finish = cache_module.CacheWriter.finish
    overtaken = []

    def save_then_overtaken(self, gone=()):
        real_finish(self, gone)
        if not overtaken:
            overtaken.append(True)
            with path.open("a") as handle:
                handle.write(token_count("2026-11-21T11:00:00.000Z", usage(30)) + "\n")
            other = Store(tmp_path / "cost.sqlite3")  # process B, its own connection
            try:
                assert scan([home], other).range.total_tokens == 30
            finally:
                other.close()

    monkeypatch.setattr(cache_module.CacheWriter, "finish", save_then_overtaken)
    first = Store(tmp_path / "cost.sqlite3")
    try:
        assert scan([home], first).range.total_tokens == 10  # A: what it read
    finally:
        first.close()
    later = Store(tmp_path / "cost.sqlite3")
    try:
        assert scan([home], later).range.total_tokens == 30
    finally:
        later.close()
