"""Where a cold cost scan's time goes, on one core (`make bench-profile`; not part of the tests).

The corpus files are read into memory first, so that the page cache and the disk are out of the
picture, then parsed several ways, fastest of N runs each:

  walk lines        every line is looked at (its first bytes), none decoded
  + decode          the usage lines are also decoded with orjson, nothing counted
  full parse        what the scanner does: decoded and counted
  save              writing every file's state and sums to a fresh cache database

and the floors under any Python scanner: copying the bytes (`bytes(...)` of each file) and
finding every newline with memchr from Python (the loop alone, nothing looked at).

    python bench/cost_profile.py [--corpora c2000,year] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from cost_bench import corpus  # noqa: E402

from codexbar.cost import scanner  # noqa: E402
from codexbar.cost.cache import CachedFile, CostCache  # noqa: E402
from codexbar.cost.discovery import discover  # noqa: E402
from codexbar.store import Store  # noqa: E402


def fastest(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def parse_all(datas: list[bytes]) -> list[scanner.FileState]:
    days = scanner.DayResolver(UTC)
    states = []
    for data in datas:
        state = scanner.FileState()
        scanner.scan_stream(io.BytesIO(data), state, days)
        states.append(state)
    return states


def walk_newlines(datas: list[bytes]) -> None:
    for data in datas:
        find, at = data.find, 0
        while (at := find(b"\n", at) + 1) > 0:
            pass


def profile(name: str, runs: int) -> None:
    home = corpus(name)
    found = discover([home], None, None, {}).files
    datas = []
    for item in found:
        with open(item.path, "rb") as handle:
            datas.append(handle.read())
    size = sum(map(len, datas))
    lines = sum(data.count(b"\n") for data in datas)
    parser = scanner.Parser
    real = {n: getattr(parser, n) for n in ("_decode_dispatch", "_record_line")}
    rows: list[tuple[str, float]] = []
    rows.append(("copy the bytes", fastest(runs, lambda: [bytearray(d) for d in datas])))
    rows.append(("memchr every newline", fastest(runs, lambda: walk_newlines(datas))))

    def skip(self, data, start, end):
        self.state.record_pending = 0

    def decode(self, data, start, end):
        scanner.orjson.loads(memoryview(data)[start:end])
        self.state.record_pending = 0

    def decode_record(self, data, start, end):
        scanner.orjson.loads(memoryview(data)[start:end])
        self.state.record_pending = 2  # as a record does: the token_count after it is skipped

    try:
        parser._decode_dispatch = parser._record_line = skip  # type: ignore[method-assign]
        rows.append(("walk lines", fastest(runs, lambda: parse_all(datas))))
        parser._decode_dispatch = decode  # type: ignore[method-assign]
        parser._record_line = decode_record  # type: ignore[method-assign]
        rows.append(("+ decode usage lines", fastest(runs, lambda: parse_all(datas))))
    finally:
        for method, function in real.items():
            setattr(parser, method, function)
    rows.append(("full parse", fastest(runs, lambda: parse_all(datas))))
    states = parse_all(datas)

    def save() -> None:
        with tempfile.TemporaryDirectory() as scratch:
            store = Store(Path(scratch) / "cost.sqlite3")
            writer = CostCache(store, "UTC").writer()
            for item, state in zip(found, states, strict=True):
                meta = CachedFile(
                    item.dev, item.ino, item.size, item.mtime_ns, state.session_id,
                    state.project, state.last_event_ms, b"\0" * 8,
                )  # fmt: skip
                writer.add(item.path, meta, state)
            writer.finish()
            store.close()

    rows.append(("save to the cache", fastest(runs, save)))
    decoded = sum(sum(c[5] for c in s.buckets.values()) for s in states)
    print(
        f"\n== {name}: {size / 1e6:.0f} MB, {len(found)} files, {lines:,} lines, "
        f"{decoded:,} responses counted (one core, fastest of {runs})"
    )
    for label, seconds in rows:
        per_line = seconds / lines * 1e6
        print(f"  {label:<24} {seconds * 1000:7.0f} ms  {per_line:5.2f} us/line")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="c2000,year")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    for name in args.corpora.split(","):
        profile(name.strip(), args.runs)


if __name__ == "__main__":
    main()
