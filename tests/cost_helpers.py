"""Small builders of rollout lines for the cost scanner tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def usage(inp: int, cached: int = 0, out: int = 0, reasoning: int = 0) -> dict[str, int]:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }


def line(ts: str, kind: str, payload: dict) -> str:
    return json.dumps({"timestamp": ts, "type": kind, "payload": payload}, separators=(",", ":"))


def meta(ts: str, sid: str, cwd: str = "/p", **extra) -> str:
    return line(ts, "session_meta", {"id": sid, "timestamp": ts, "cwd": cwd, **extra})


def turn(ts: str, model: str, effort: str | None = "medium") -> str:
    payload = {"model": model, "cwd": "/p", "summary": "auto"}
    if effort:
        payload["effort"] = effort
    return line(ts, "turn_context", payload)


def token_count(
    ts: str, total: dict | None, last: dict | None = None, context_window: int | None = None
) -> str:
    info = None if total is None and last is None else {}
    if total is not None:
        info["total_token_usage"] = total
    if last is not None:
        info["last_token_usage"] = last
    if info is not None and context_window is not None:
        info["model_context_window"] = context_window
    return line(ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": None})


def record(ts: str, thread: str, rid: str, use: dict, thread_total: dict | None = None) -> str:
    payload = {"thread_id": thread, "session_id": thread, "response_id": rid, "usage": use}
    if thread_total is not None:
        payload["thread_token_usage"] = thread_total
    return line(ts, "token_usage_record", payload)


def write(home: Path, day: str, sid: str, lines: list[str], archived: bool = False) -> Path:
    name = f"rollout-{day}T10-00-00-{sid}.jsonl"
    folder = home / "archived_sessions" if archived else home / "sessions" / day.replace("-", "/")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(x + "\n" for x in lines))
    return path


def inotify_descriptors() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == "anon_inode:inotify"
        except OSError:
            continue  # the descriptor listdir itself used
    return count
