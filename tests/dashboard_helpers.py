"""A lived-in Codex home and store for the dashboard tests, and a running dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from codexbar import settings as settings_module
from codexbar.dashboard.api import Dashboard
from codexbar.dashboard.limits import limits_fetcher
from codexbar.dashboard.server import DashboardServer
from codexbar.models import Identity, RateWindow, UsageSnapshot
from codexbar.store import Store
from tests.cost_helpers import line, meta, record, turn, usage, write

MODELS = (("gpt-5.5", "high"), ("gpt-5.3-codex", "medium"), ("gpt-5.4-mini", "low"))
PROJECTS = ("/home/dev/widget-api", "/home/dev/projects/legacy-tool", "/home/dev/site")
CONTEXT_WINDOW = 258_400


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _task_started(moment: datetime) -> str:
    return line(
        _ts(moment),
        "event_msg",
        {"type": "task_started", "turn_id": "t", "model_context_window": CONTEXT_WINDOW},
    )


def _rate_limits(moment: datetime, session_used: float, weekly_used: float) -> str:
    session_reset = moment + timedelta(hours=2)
    weekly_reset = moment + timedelta(days=3, hours=12)
    payload = {
        "type": "token_count",
        "info": None,
        "rate_limits": {
            "limit_id": "codex",
            "limit_name": None,
            "primary": {
                "used_percent": session_used,
                "window_minutes": 300,
                "resets_at": int(session_reset.timestamp()),
            },
            "secondary": {
                "used_percent": weekly_used,
                "window_minutes": 10080,
                "resets_at": int(weekly_reset.timestamp()),
            },
            "credits": {"has_credits": True, "unlimited": False, "balance": "112.50"},
        },
    }
    return line(_ts(moment), "event_msg", payload)


@dataclass
class LivedInHome:
    home: Path
    now: datetime
    active_session: str


def build_home(root: Path, now: datetime | None = None, days: int = 12) -> LivedInHome:
    """Sessions on each of the last `days` days (three models, three projects), and one session
    that answered a minute ago, with Codex's own rate-limit reading and context-window size."""
    now = now or datetime.now(UTC)
    home = root / "codex_home"
    (home / "sessions").mkdir(parents=True)
    (home / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": None, "tokens": None}))
    for back in range(days, 0, -1):
        day_start = (now - timedelta(days=back)).replace(hour=9, minute=0, second=0, microsecond=0)
        for n in range(1 + back % 3):
            model, effort = MODELS[(back + n) % len(MODELS)]
            sid = f"0199aaaa-{back:04d}-7000-8000-{n:012d}"
            start = day_start + timedelta(hours=3 * n)
            lines = [
                meta(_ts(start), sid, cwd=PROJECTS[(back + n) % 3]),
                turn(_ts(start + timedelta(seconds=1)), model, effort),
            ]
            for r in range(3 + back % 4):
                at = start + timedelta(minutes=7 * r + 1)
                scale = 1 + (back * 7 + r * 3) % 11
                lines.append(
                    record(
                        _ts(at),
                        sid,
                        f"resp-{back}-{n}-{r}",
                        usage(4000 * scale, 1500 * scale, 300 * scale, 120 * scale),
                    )
                )
            write(home, start.astimezone().date().isoformat(), sid, lines)
    sid = "0199bbbb-0000-7000-8000-000000000001"
    start = now - timedelta(minutes=20)
    lines = [
        meta(_ts(start), sid, cwd="/home/dev/widget-api"),
        turn(_ts(start + timedelta(seconds=1)), "gpt-5.5", "high"),
        _task_started(start + timedelta(seconds=2)),
    ]
    for r in range(4):
        at = now - timedelta(minutes=16 - 5 * r)
        lines.append(
            record(_ts(at), sid, f"resp-live-{r}", usage(60_000 + 30_000 * r, 40_000, 2000, 800))
        )
    lines.append(_rate_limits(now - timedelta(minutes=1), 62.0, 41.0))
    write(home, start.astimezone().date().isoformat(), sid, lines)
    return LivedInHome(home, now, sid)


def save_history(store: Store, now: datetime, days: int = 7) -> None:
    """Readings every 15 minutes for `days` days: session usage climbing in working hours."""
    moment = now - timedelta(days=days)
    while moment <= now:
        session_start = moment.replace(minute=0, second=0, microsecond=0) - timedelta(
            hours=moment.hour % 5
        )
        week_start = (now - timedelta(days=3, hours=12)) - timedelta(days=7) * (
            1 if moment < now - timedelta(days=3, hours=12) else 0
        )
        working = 8 <= moment.hour < 19
        used = min(100.0, (moment - session_start) / timedelta(minutes=4)) if working else 0.0
        weekly = min(100.0, (moment - week_start) / timedelta(hours=2.2))
        store.save_snapshot(
            UsageSnapshot(
                source="oauth",
                fetched_at=moment,
                observed_at=moment,
                windows=(
                    RateWindow(round(used), 300, session_start + timedelta(hours=5)),
                    RateWindow(round(weekly), 10080, week_start + timedelta(days=7)),
                ),
                identity=Identity(),  # as the session logs of the lived-in home say: no account
            )
        )
        moment += timedelta(minutes=15)


def use_logs_source(config_dir: Path) -> None:
    """Limits from the session logs: offline, and from the lived-in home's own reading."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text('source = "logs"\n')


@contextmanager
def running_dashboard(
    homes: list[Path], store_path: Path | None = None, **server_options
) -> Iterator[DashboardServer]:
    """`server_options`: DashboardServer's keywords (host, metrics_token)."""
    store = Store(store_path)
    settings = settings_module.load()
    server = DashboardServer(
        Dashboard(homes, store, fetch_usage=limits_fetcher(settings)), **server_options
    )
    server.start_in_thread()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        store.close()
