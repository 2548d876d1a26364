"""Benchmark of the cost scanner (`make bench`; not part of the tests).

Builds ~100 MB and ~2 GB corpora with bench/make_codex_home.py (every trap on, UTC days)
under .cache/bench, then times, on a warm page cache: our cold scan (empty cache), our warm scan
(whole process `codexbar cost --json`, and in-process), the scan after appending one event, and
`ccusage codex daily --json --offline` (npm ccusage 20.0.24, installed under .cache/ccusage).
Prints median wall time, MB/s, peak RSS, ratios to ccusage, and checks totals against truth.json.

    python bench/cost_bench.py [--sizes 100,2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
GENERATOR = ROOT / "bench" / "make_codex_home.py"
CCUSAGE_VERSION = "20.0.24"
END_DATE = "2026-11-21"
ENV = {**os.environ, "TZ": "UTC"}


def corpus(mb: int) -> Path:
    out = CACHE / "bench" / f"c{mb}"
    if not (out / "truth.json").exists():
        shutil.rmtree(out, ignore_errors=True)
        print(f"building the {mb} MB corpus in {out} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--out",
                str(out),
                "--target-mb",
                str(mb),
                "--end-date",
                END_DATE,
                "--stats",
            ],
            check=True,
            env=ENV,
        )
    return out


def ccusage() -> Path | None:
    prefix = CACHE / "ccusage"
    binary = prefix / "node_modules" / ".bin" / "ccusage"
    if not binary.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                f"ccusage@{CCUSAGE_VERSION}",
                f"@ccusage/ccusage-linux-x64@{CCUSAGE_VERSION}",
            ],
            check=False,
        )
    return binary if binary.exists() else None


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KB) of the child, stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    wrapped = ["/usr/bin/time", "-f", "%M", *argv] if Path("/usr/bin/time").exists() else argv
    start = time.perf_counter()
    done = subprocess.run(wrapped, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]}")
    rss = before
    if wrapped is not argv:
        rss = int(done.stderr.strip().splitlines()[-1])
    else:
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, rss, done.stdout


def warm_page_cache(home: Path) -> None:
    subprocess.run(
        f"find {home} -type f -name '*.jsonl' -exec cat {{}} + > /dev/null", shell=True, check=True
    )


def check(out: str, truth: dict) -> str:
    body = json.loads(out)
    want = {(r["day"], r["model"]): r["total"] for r in truth["by_day_model"]}
    got = {(d["date"], m): f["total_tokens"] for d in body["days"] for m, f in d["models"].items()}
    ok = got == want and body["totals"]["total_tokens"] == truth["grand_total"]["total"]
    return (
        "exact"
        if ok
        else f"MISMATCH ({body['totals']['total_tokens']} vs {truth['grand_total']['total']})"
    )


def in_process(home: Path, data: Path, runs: int) -> dict[str, float]:
    env = {**ENV, "CODEXBAR_DATA_DIR": str(data)}
    script = ROOT / "bench" / "cost_inprocess.py"
    out = subprocess.run(
        [sys.executable, str(script), str(home), str(runs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def bench(mb: int, runs: int, ccusage_bin: Path | None) -> None:
    home = corpus(mb)
    truth = json.loads((home / "truth.json").read_text())
    size = sum(p.stat().st_size for p in home.rglob("*.jsonl"))
    warm_page_cache(home)
    ours = [
        str(ROOT / ".venv" / "bin" / "codexbar"),
        "cost",
        "--json",
        "--home",
        str(home),
        "--tz",
        "UTC",
        "--since",
        "2026-10-23",
        "--until",
        END_DATE,
    ]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        env = {**ENV, "CODEXBAR_DATA_DIR": str(data)}
        cold = []
        for _ in range(runs):
            shutil.rmtree(data, ignore_errors=True)
            cold.append(timed(ours, env))
        verdict = check(cold[-1][2], truth)
        warm = [timed(ours, env) for _ in range(runs)]
        in_proc = in_process(home, data, runs)
        # append one event to the newest file, then rescan (then restore the file)
        newest = max(home.rglob("sessions/**/*.jsonl"), key=lambda p: p.stat().st_mtime)
        original = newest.stat().st_size
        event = (
            '{"timestamp":"2026-11-21T23:59:00.000Z","type":"event_msg","payload":{"type":'
            '"token_count","info":null,"rate_limits":null}}\n'
        )
        appended = []
        try:
            for _ in range(runs):
                with open(newest, "a") as handle:
                    handle.write(event)
                appended.append(timed(ours, env))
        finally:
            with open(newest, "r+b") as handle:
                handle.truncate(original)
        rows += [
            ("ours cold", cold),
            ("ours warm (process)", warm),
            ("ours append 1 event", appended),
        ]
    cc = None
    if ccusage_bin:
        cc_env = {**ENV, "CODEX_HOME": str(home)}
        cc = [
            timed([str(ccusage_bin), "codex", "daily", "--json", "--offline"], cc_env)
            for _ in range(runs)
        ]
        rows.append(("ccusage codex daily", cc))
    print(
        f"\n== {mb} MB corpus: {size / 1e6:.0f} MB in {truth['corpus']['files']} files; "
        f"our totals vs truth.json: {verdict}"
    )
    base = statistics.median(r[0] for r in cc) if cc else None
    for name, results in rows:
        wall = statistics.median(r[0] for r in results)
        rss = max(r[1] for r in results) / 1024
        ratio = f"{wall / base:5.2f}x ccusage" if base else ""
        rate = f"{size / 1e6 / wall:8.0f} MB/s" if "cold" in name or "ccusage" in name else " " * 13
        print(f"  {name:<22} {wall * 1000:8.0f} ms {rate}  peak RSS {rss:6.0f} MB  {ratio}")
    print(f"  {'ours warm (in-process)':<22} {in_proc['warm_ms']:8.1f} ms")
    print(f"  {'ours append (in-proc.)':<22} {in_proc['append_ms']:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,2000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    binary = ccusage()
    if binary is None:
        print("ccusage could not be installed: comparing without it")
    for mb in (int(x) for x in args.sizes.split(",")):
        bench(mb, args.runs, binary)


if __name__ == "__main__":
    main()
