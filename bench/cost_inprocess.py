"""In-process timings of the cost scanner, as the tray runs it: one Store kept open, repeated
`cost_summary` calls. Run by cost_bench.py in a child process with its own data dir.

    python bench/cost_inprocess.py HOME RUNS  ->  {"warm_ms": …, "append_ms": …}
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import UTC, date
from pathlib import Path

from codexbar.cost import cost_summary
from codexbar.store import Store

SINCE, UNTIL = date(2026, 10, 23), date(2026, 11, 21)
# A response that counts: a token_count whose totals grow, as Codex appends after each turn.
EVENT = (
    '{"timestamp":"2026-11-21T23:59:%02d.000Z","type":"event_msg","payload":{"type":"token_count",'
    '"info":{"total_token_usage":{"input_tokens":%d,"cached_input_tokens":0,"output_tokens":1,'
    '"reasoning_output_tokens":0,"total_tokens":%d},"last_token_usage":{"input_tokens":1,'
    '"cached_input_tokens":0,"output_tokens":1,"reasoning_output_tokens":0,"total_tokens":2}},'
    '"rate_limits":null}}\n'
)


def timed(homes: list[Path], store: Store) -> float:
    started = time.perf_counter()
    cost_summary(homes, store=store, tz=UTC, since=SINCE, until=UNTIL)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    home, runs = Path(sys.argv[1]), int(sys.argv[2])
    homes, store = [home], Store()
    timed(homes, store)  # bring the cache up to date
    warm = [timed(homes, store) for _ in range(runs)]
    newest = max(home.glob("sessions/**/*.jsonl"), key=lambda p: p.stat().st_mtime)
    original = newest.stat().st_size
    appended = []
    try:
        for i in range(runs):
            with open(newest, "a") as handle:
                big = 10**9 + i  # larger than any real running total, so it is new usage
                handle.write(EVENT % (i, big, big + 1))
            appended.append(timed(homes, store))
    finally:
        with open(newest, "r+b") as handle:
            handle.truncate(original)
    print(
        json.dumps({"warm_ms": statistics.median(warm), "append_ms": statistics.median(appended)})
    )


if __name__ == "__main__":
    main()
