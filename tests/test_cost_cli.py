"""`codexbar cost` and `codexbar pricing update` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from tests.conftest import FIXTURE_HOME


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "codexbar", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_cost_json_schema_and_totals():
    done = run("cost", "--all", "--tz", "UTC", "--json", "--home", str(FIXTURE_HOME))
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert set(body) == {
        "range",
        "totals",
        "today",
        "last_7_days",
        "days",
        "models",
        "projects",
        "efforts",
        "unpriced_models",
        "scan",
    }
    assert body["totals"]["total_tokens"] == 207_078
    assert set(body["totals"]) >= {
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
        "total_tokens",
        "cost_usd",
    }
    assert body["range"]["timezone"] == "UTC"
    assert [d["date"] for d in body["days"]] == [
        "2025-10-14",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
    ]
    assert body["days"][1]["models"]["gpt-5.5"]["total_tokens"] == 68_569
    assert set(body["scan"]) == {"files", "bytes_read", "ms", "files_from_cache"}
    assert "Scanning" not in done.stderr


def test_cost_text_by_model_and_unpriced(tmp_path):
    home = tmp_path / "home"
    folder = home / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    from tests.cost_helpers import meta, token_count, turn, usage

    (folder / "rollout-2026-11-20T10-00-00-u.jsonl").write_text(
        "\n".join(
            [
                meta("2026-11-20T10:00:00.000Z", "u"),
                turn("2026-11-20T10:00:01.000Z", "mystery-model"),
                token_count("2026-11-20T10:01:00.000Z", usage(1000, 0, 100)),
            ]
        )
        + "\n"
    )
    done = run(
        "cost",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
        "--by",
        "model",
        "--tz",
        "UTC",
        "--home",
        str(home),
    )
    assert done.returncode == 0, done.stderr
    assert "mystery-model" in done.stdout and "—" in done.stdout
    assert "Unpriced models" in done.stdout and "not a bill" in done.stdout


def test_cost_usage_errors_and_empty_home(tmp_path):
    assert run("cost", "--days", "3", "--all").returncode == 64
    assert run("cost", "--tz", "Mars/Base").returncode == 64
    done = run("cost", "--home", str(tmp_path / "none"))
    assert done.returncode == 0 and "No Codex sessions" in done.stdout


def test_pricing_update_keeps_openai_entries(tmp_path):
    table = {
        "gpt-9-test": {
            "litellm_provider": "openai",
            "input_cost_per_token": 2e-06,
            "output_cost_per_token": 8e-06,
            "cache_read_input_token_cost": 5e-07,
        },
        "claude-x": {
            "litellm_provider": "anthropic",
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 1e-06,
        },
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(table).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = run("pricing", "update", "--url", f"http://127.0.0.1:{server.server_port}/p.json")
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    saved = json.loads(
        (
            __import__("pathlib").Path(os.environ["CODEXBAR_DATA_DIR"])
            / "litellm-openai-prices.json"
        ).read_text()
    )
    assert set(saved["models"]) == {"gpt-9-test"}
    assert saved["models"]["gpt-9-test"] == {"input": "2", "output": "8", "cached_input": "0.5"}


def test_days_takes_what_the_cost_days_setting_takes(tmp_path):
    from codexbar.settings import SETTINGS_BY_KEY

    setting = SETTINGS_BY_KEY["cost_days"]
    assert (setting.minimum, setting.maximum) == (1, 365)
    home = tmp_path / "none"
    assert run("cost", "--days", "365", "--home", str(home)).returncode == 0
    for bad in ("0", "366"):
        done = run("cost", "--days", bad, "--home", str(home))
        assert done.returncode == 64 and "1<=x<=365" in done.stderr.replace(" ", "")
    config = run("config", "set", "cost_days", "366")
    assert config.returncode != 0


def test_pricing_update_without_network_keeps_the_bundled_prices():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run("pricing", "update", "--url", f"http://127.0.0.1:{port}/prices.json")
    assert done.returncode == 1
    assert "no network connection" in done.stderr and "stay in use" in done.stderr
    assert "Errno" not in done.stderr and "ConnectError" not in done.stderr
