"""In-process timings of the cost scanner, as the tray runs it: one Store kept open, repeated
`cost_summary` calls. Run by cost_bench.py in a child process with its own data dir.

    python bench/cost_inprocess.py HOME RUNS SINCE UNTIL  ->  {"warm_ms": …, "append_ms": …}
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

# A response that counts: a token_count whose totals grow, as Codex appends after each turn.
EVENT = (
    '{"timestamp":"%sT23:59:%02d.000Z","type":"event_msg","payload":{"type":"token_count",'
    '"info":{"total_token_usage":{"input_tokens":%d,"cached_input_tokens":0,"output_tokens":1,'
    '"reasoning_output_tokens":0,"total_tokens":%d},"last_token_usage":{"input_tokens":1,'
    '"cached_input_tokens":0,"output_tokens":1,"reasoning_output_tokens":0,"total_tokens":2}},'
    '"rate_limits":null}}\n'
)


def main() -> None:
    home, runs = Path(sys.argv[1]), int(sys.argv[2])
    since, until = date.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
    homes, store = [home], Store()

    def timed() -> float:
        started = time.perf_counter()
        cost_summary(homes, store=store, tz=UTC, since=since, until=until)
        return (time.perf_counter() - started) * 1000

    timed()  # bring the cache up to date
    warm = [timed() for _ in range(runs)]
    newest = max(home.glob("sessions/**/*.jsonl"), key=lambda p: p.stat().st_mtime)
    original = newest.stat().st_size
    appended = []
    try:
        for i in range(runs):
            with open(newest, "a") as handle:
                big = 10**9 + i  # larger than any real running total, so it is new usage
                handle.write(EVENT % (until.isoformat(), i, big, big + 1))
            appended.append(timed())
    finally:
        with open(newest, "r+b") as handle:
            handle.truncate(original)
    print(
        json.dumps({"warm_ms": statistics.median(warm), "append_ms": statistics.median(appended)})
    )


if __name__ == "__main__":
    main()
