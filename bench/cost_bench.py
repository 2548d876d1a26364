"""Benchmark of the cost scanner against ccusage 20 (`make bench`; not part of the tests).

Corpora (built once with bench/make_codex_home.py under .cache/bench, every trap on, UTC days):
  c2000  ~2 GB in ~740 files, 30 days (few big files)
  year   ~2 GB in ~8,100 files, 365 days (many small files)
  c100   ~100 MB, 30 days (a quick run)

On a warm page cache and the same files, runs are interleaved (ours, ccusage, ours, ...) and
medians printed with the ratio to ccusage: our cold scan (empty cache, `cost --all`), our warm
scan (whole process), `ccusage codex daily --json --offline` (the native binary of npm ccusage
20.0.24, installed under .cache/ccusage), peak RSS of each process tree, then in-process warm and
append-one-response timings as the tray runs them, and start-up (`--help`, `usage --source
logs`) next to `ccusage --help`. Totals are checked against truth.json for `--all` and for the
last 30 days.

    python bench/cost_bench.py [--corpora c2000,year] [--runs 5]
    python bench/cost_bench.py --corpora c100 --runs 3        # about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
GENERATOR = ROOT / "bench" / "make_codex_home.py"
CCUSAGE_VERSION = "20.0.24"
END_DATE = "2026-11-21"
# As installed: byte-compiled modules (a shell with PYTHONDONTWRITEBYTECODE would otherwise
# compile every module on every run, a third of a warm run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"TZ": "UTC"}
CODEXBAR = [str(ROOT / ".venv" / "bin" / "python"), "-m", "codexbar"]
CORPORA = {
    "c100": ["--target-mb", "100"],
    "c2000": ["--target-mb", "2000"],
    "year": [
        "--days",
        "365",
        "--sessions-per-day",
        "20",
        "--turns-per-session",
        "4",
        "--responses-per-turn",
        "4",
        "--payload-kb",
        "5",
    ],
}
WINDOW_DAYS = 30


def corpus(name: str) -> Path:
    out = CACHE / "bench" / name
    if not (out / "truth.json").exists():
        shutil.rmtree(out, ignore_errors=True)
        print(f"building the {name} corpus in {out} ...", flush=True)
        subprocess.run(
            [sys.executable, str(GENERATOR), "--out", str(out), "--end-date", END_DATE,
             "--stats", *CORPORA[name]],
            check=True,
            env=ENV,
        )  # fmt: skip
    return out


def ccusage() -> Path | None:
    """The native ccusage binary (the npm package's JS launcher only adds node's start-up)."""
    prefix = CACHE / "ccusage"
    native = prefix / "node_modules" / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
    if not native.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
             f"ccusage@{CCUSAGE_VERSION}", f"@ccusage/ccusage-linux-x64@{CCUSAGE_VERSION}"],
            check=False,
        )  # fmt: skip
    if not native.exists():
        return None
    native.chmod(0o755)  # npm leaves it without the execute bit; the launcher sets it too
    return native


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS of the whole process tree (KB, sampled every 5 ms), stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            stop.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {err.decode()[-2000:]}")
    return wall, peak, out.decode()


def warm_page_cache(home: Path) -> None:
    for path in home.rglob("*.jsonl"):
        with open(path, "rb") as handle:
            while handle.read(8 << 20):
                pass


def window_truth(truth: dict, since: str | None) -> dict[tuple[str, str], int]:
    return {
        (r["day"], r["model"]): r["total"]
        for r in truth["by_day_model"]
        if since is None or r["day"] >= since
    }


def check(out: str, truth: dict, since: str | None) -> str:
    body = json.loads(out)
    want = window_truth(truth, since)
    got = {(d["date"], m): f["total_tokens"] for d in body["days"] for m, f in d["models"].items()}
    total = sum(want.values())
    if got == want and body["totals"]["total_tokens"] == total:
        return "exact"
    return f"MISMATCH ({body['totals']['total_tokens']} vs {total})"


def median(results: list[tuple[float, int, str]]) -> float:
    return statistics.median(r[0] for r in results)


def line(name: str, results, base: float | None, size: int | None = None) -> None:
    wall = median(results)
    rss = max(r[1] for r in results) / 1024
    ratio = f"{wall / base:6.2f}x ccusage" if base else ""
    rate = f"{size / 1e6 / wall:7.0f} MB/s" if size else " " * 12
    print(f"  {name:<26} {wall * 1000:8.0f} ms {rate}  peak RSS {rss:5.0f} MB  {ratio}")


def in_process(home: Path, data: Path, runs: int, since: str, until: str) -> dict[str, float]:
    env = {**ENV, "CODEXBAR_DATA_DIR": str(data)}
    script = ROOT / "bench" / "cost_inprocess.py"
    out = subprocess.run(
        [CODEXBAR[0], str(script), str(home), str(runs), since, until],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def floors(home: Path) -> dict[str, float]:
    """What reading the bytes costs at all: `cat`, and Python walking every line with mmap and
    memchr (no parsing) — the floor under any pure-Python scanner."""
    import mmap

    files = [str(p) for p in home.rglob("*.jsonl")]
    started = time.perf_counter()
    for i in range(0, len(files), 500):
        subprocess.run(["cat", *files[i : i + 500]], stdout=subprocess.DEVNULL, check=True)
    cat = time.perf_counter() - started
    started = time.perf_counter()
    for path in files:
        with open(path, "rb") as handle:
            if not os.fstat(handle.fileno()).st_size:
                continue
            with mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapped:
                find, at = mapped.find, 0
                while (at := find(b"\n", at) + 1) > 0:
                    pass
    return {"cat": cat, "mmap_lines": time.perf_counter() - started}


def bench(name: str, runs: int, cc: Path | None) -> None:
    home = corpus(name)
    truth = json.loads((home / "truth.json").read_text())
    size = sum(p.stat().st_size for p in home.rglob("*.jsonl"))
    until = date.fromisoformat(END_DATE)
    since = (until - timedelta(days=WINDOW_DAYS - 1)).isoformat()
    warm_page_cache(home)
    base = ["cost", "--json", "--home", str(home), "--tz", "UTC"]
    ours_all = [*CODEXBAR, *base, "--all"]
    ours_window = [*CODEXBAR, *base, "--since", since, "--until", END_DATE]
    cc_argv = [str(cc), "codex", "daily", "--json", "--offline"] if cc else None
    cc_env = {**ENV, "CODEX_HOME": str(home)}
    cold, warm, theirs = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        env = {**ENV, "CODEXBAR_DATA_DIR": str(data)}
        for _ in range(runs):  # interleaved: the machine's load hits both alike
            shutil.rmtree(data, ignore_errors=True)
            cold.append(timed(ours_all, env))
            if cc_argv:
                theirs.append(timed(cc_argv, cc_env))
            warm.append(timed(ours_all, env))
        verdict_all = check(cold[-1][2], truth, None)
        shutil.rmtree(data, ignore_errors=True)
        verdict_window = check(timed(ours_window, env)[2], truth, since)
        window_warm = [timed(ours_window, env) for _ in range(runs)]
        in_proc = in_process(home, Path(scratch) / "inproc", runs, since, END_DATE)
    files = truth["corpus"]["files"]
    print(
        f"\n== {name}: {size / 1e6:.0f} MB in {files} files; totals vs truth.json: "
        f"--all {verdict_all}, last {WINDOW_DAYS} days {verdict_window}"
    )
    cc_wall = median(theirs) if theirs else None
    line("ours cold (--all)", cold, cc_wall, size)
    if theirs:
        line("ccusage codex daily", theirs, cc_wall, size)
    line("ours warm (--all, process)", warm, cc_wall)
    line(f"ours warm (--days {WINDOW_DAYS}, process)", window_warm, cc_wall)
    print(f"  {'ours warm (in-process)':<26} {in_proc['warm_ms']:8.1f} ms  (--days {WINDOW_DAYS})")
    floor = floors(home)
    print(
        f"  floor: cat {floor['cat'] * 1000:.0f} ms, Python mmap + memchr over every line "
        f"{floor['mmap_lines'] * 1000:.0f} ms (one core, no parsing)"
    )
    print(f"  {'ours append (in-process)':<26} {in_proc['append_ms']:8.1f} ms  (one response)")


def startup(runs: int, cc: Path | None) -> None:
    home = corpus("c100")
    print(f"\n== start-up (median of {runs})")
    env = {**ENV, "CODEXBAR_DATA_DIR": tempfile.mkdtemp()}
    rows = [
        ("codexbar --help", [str(ROOT / ".venv" / "bin" / "codexbar"), "--help"]),
        (
            "codexbar usage --source logs",
            [str(ROOT / ".venv" / "bin" / "codexbar"), "usage", "--source", "logs", "--json"],
        ),
    ]
    if cc:
        rows.append(("ccusage --help", [str(cc), "--help"]))
    for name, argv in rows:
        results = []
        for _ in range(runs):
            try:
                results.append(timed(argv, {**env, "CODEX_HOME": str(home)}))
            except RuntimeError:
                # `usage` exits non-zero when no reading is current; the time still counts
                start = time.perf_counter()
                subprocess.run(argv, env={**env, "CODEX_HOME": str(home)}, capture_output=True)
                results.append((time.perf_counter() - start, 0, ""))
        print(f"  {name:<30} {median(results) * 1000:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="c2000,year", help=f"from {', '.join(CORPORA)}")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-startup", action="store_true")
    args = parser.parse_args()
    subprocess.run(
        [CODEXBAR[0], "-m", "compileall", "-q", str(ROOT / "codexbar")], check=True, env=ENV
    )
    cc = ccusage()
    if cc is None:
        print("ccusage could not be installed: comparing without it")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    for name in args.corpora.split(","):
        bench(name.strip(), args.runs, cc)
    if not args.no_startup:
        startup(max(args.runs, 9), cc)


if __name__ == "__main__":
    main()
