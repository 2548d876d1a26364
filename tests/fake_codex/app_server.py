"""A fake `codex … app-server`: answers from the fixture transcript, misbehaves on request.

FAKE_CODEX_MODE holds comma-separated flags:
  session=N          answer as transcript session N (1 Plus, 2 API key, 3 logged out, 4 backend 503)
  hang_before_init   never answer anything
  hang_after_init    answer `initialize`, then nothing
  crash_mid_reply    write half of the rate-limits reply, then exit
  garbage            print lines that are not JSON-RPC messages first
  out_of_order       answer `account/read` after the rate-limits reply
  ignore_sigterm     ignore SIGTERM, and start a helper in the group that ignores it too
  unknown_method     answer the rate-limits request as an old CLI would (unknown variant)
  body_recovery      fail with -32603 carrying a wham/usage body after `body=`
  notify             after each rate-limits reply, send a sparse account/rateLimits/updated
  die_after_read     exit right after answering the rate-limits request
  die_on_second_read exit without answering the second rate-limits request
  exit_at_once=N     print FAKE_CODEX_STDERR (if set) to stderr and exit with code N at once
  no_app_server      exit 2 at once, as a Codex without the subcommand: "unrecognized subcommand"
  leak_refresh_token print the home's refresh token to stderr, then exit 1 without answering
  flood_requests     send server→client requests as fast as possible, never reading stdin
  huge_number        answer the rate-limits request with a 5000-digit integer in it
FAKE_CODEX_LOG: a file that gets one line per launch (pid, CODEX_HOME, argv).
FAKE_CODEX_HELPER_PID: where `ignore_sigterm` writes its helper's pid.
FAKE_CODEX_SEEN: see _seen.py (what it saw of its home; it also rewrites config.toml as Codex).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from _seen import record_home

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODE = set(filter(None, os.environ.get("FAKE_CODEX_MODE", "").split(",")))
SESSION = next((int(m.split("=")[1]) for m in MODE if m.startswith("session=")), 1)
write_lock = threading.Lock()


def replies(session: int) -> dict[str, dict]:
    """The server's reply to each method in one transcript session (the first one wins)."""
    by_id: dict[int, str] = {}
    answers: dict[str, dict] = {}
    for line in (FIXTURES / "app_server_transcript.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["session"] != session:
            continue
        msg = entry["msg"]
        if entry["dir"] == "client->server" and "id" in msg:
            by_id[msg["id"]] = msg["method"]
        elif entry["dir"] == "server->client" and "id" in msg:
            method = by_id.get(msg["id"])
            if method and method not in answers and "Not initialized" not in json.dumps(msg):
                answers[method] = msg
    return answers


def send(message: dict) -> None:
    with write_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def reply(request_id: int, template: dict) -> None:
    send({**template, "id": request_id})


def main() -> None:
    record_home()
    if log := os.environ.get("FAKE_CODEX_LOG"):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {os.environ.get('CODEX_HOME')} {' '.join(sys.argv[1:])}\n")
    if "ignore_sigterm" in MODE:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        helper = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import signal,time;signal.signal(signal.SIGTERM, signal.SIG_IGN);time.sleep(3600)",
            ]
        )
        Path(os.environ["FAKE_CODEX_HELPER_PID"]).write_text(str(helper.pid))
    if "hang_before_init" in MODE:
        time.sleep(3600)
    exit_code = next((int(m.split("=")[1]) for m in MODE if m.startswith("exit_at_once=")), None)
    if exit_code is not None:
        sys.stderr.write(os.environ.get("FAKE_CODEX_STDERR", ""))
        sys.stderr.flush()
        os._exit(exit_code)
    if "no_app_server" in MODE:
        sys.stderr.write(
            "error: unrecognized subcommand 'app-server'\n\nUsage: codex [OPTIONS] [PROMPT]\n"
        )
        sys.stderr.flush()
        os._exit(2)
    if "leak_refresh_token" in MODE:
        auth = json.loads((Path(os.environ["CODEX_HOME"]) / "auth.json").read_text())
        token = auth["tokens"]["refresh_token"]
        sys.stderr.write(f"ERROR codex_login: token refresh failed for refresh_token {token}\n")
        sys.stderr.write(f"retrying with {token}\n")
        sys.stderr.flush()
        os._exit(1)
    if "flood_requests" in MODE:
        approval = {"method": "item/commandExecution/requestApproval", "params": {"x": "y" * 200}}
        for number in range(10**9):
            send({"id": number, **approval})
    if "garbage" in MODE:
        print("WARNING: this is not JSON", flush=True)
        print('{"half": ', flush=True)
        print("[1, 2, 3]", flush=True)
        print(json.dumps({"id": 999, "result": {"stray": True}}), flush=True)
    answers = replies(SESSION)
    plus = replies(1)
    reads = 0
    held_account = None
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            continue  # `initialized`
        if method == "initialize":
            reply(request_id, answers["initialize"])
            send({"method": "configWarning", "params": {"summary": "fake warning"}})
            send({"method": "remoteControl/status/changed", "params": {"status": "disabled"}})
            continue
        if "hang_after_init" in MODE:
            continue
        if method == "account/read":
            template = answers.get("account/read", plus["account/read"])
            if "out_of_order" in MODE:
                held_account = (request_id, template)
            else:
                reply(request_id, template)
            continue
        if method == "account/rateLimits/read":
            reads += 1
            if "die_on_second_read" in MODE and reads == 2:
                os._exit(0)
            answer_rate_limits(request_id, answers)
            if held_account is not None:
                reply(*held_account)
                held_account = None
            if "notify" in MODE:
                threading.Timer(0.2, send_update, args=(reads,)).start()
            if "die_after_read" in MODE:
                time.sleep(0.1)
                os._exit(0)
            continue
        unknown = {"code": -32600, "message": f"unknown variant `{method}`"}
        send({"id": request_id, "error": unknown})


def answer_rate_limits(request_id: int, answers: dict[str, dict]) -> None:
    if "unknown_method" in MODE:
        reply(request_id, replies(1)["account/quota/read"])
        return
    if "body_recovery" in MODE:
        body = (FIXTURES / "wham_usage_pro_credits_additional.json").read_text()
        message = (
            "failed to fetch codex rate limits: Decode error for GET "
            "https://chatgpt.com/backend-api/wham/usage: unknown variant `prolite`; "
            f"content-type=application/json; body={body}"
        )
        send({"id": request_id, "error": {"code": -32603, "message": message}})
        return
    template = answers["account/rateLimits/read"]
    if "huge_number" in MODE:
        text = json.dumps({**template, "id": request_id})
        text = text.replace('"usedPercent": 45', '"usedPercent": ' + "9" * 5000, 1)
        with write_lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        return
    if "result" in template:  # session 1 sends a sparse update before its reply
        send(
            {
                "method": "account/rateLimits/updated",
                "params": {"rateLimits": {"limitId": "codex", "primary": {"usedPercent": 18}}},
            }
        )
    if "crash_mid_reply" in MODE:
        text = json.dumps({**template, "id": request_id})
        sys.stdout.write(text[: len(text) // 2])
        sys.stdout.flush()
        os._exit(3)
    reply(request_id, template)


def send_update(reads: int) -> None:
    """A sparse update: only the 5-hour window moved; everything null stays as it was."""
    send(
        {
            "method": "account/rateLimits/updated",
            "params": {
                "rateLimits": {
                    "limitId": "codex",
                    "limitName": None,
                    "primary": {"usedPercent": 18 + 10 * reads, "windowDurationMins": 300},
                    "secondary": None,
                    "credits": None,
                    "planType": None,
                }
            },
        }
    )


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        main()
