"""`codexbar usage --source rpc|pty` against the real Codex CLI 0.169.0 and a local chatgpt.com.

`.ci/run` installs `@openai/codex@0.169.0` and exports CODEXBAR_TEST_CODEX. Outside CI these
tests skip when the CLI is absent; with CI=true a missing CLI is a failure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codexbar import settings as settings_module
from codexbar.sources import SourceContext
from providers.rpc import RpcSource
from tests.conftest import FIXTURE_HOME, FIXTURES, SECRET_VALUES, point_home_at, write_fresh_auth
from tests.fake_backend import Reply

REPO = Path(__file__).resolve().parents[1]
LOCAL_INSTALL = REPO / ".cache" / "codex-cli" / "node_modules" / ".bin" / "codex"


def _real_codex() -> Path | None:
    configured = os.environ.get("CODEXBAR_TEST_CODEX", "").strip()
    path = Path(configured) if configured else LOCAL_INSTALL
    return path if path.is_file() else None


CODEX = _real_codex()
if CODEX is None and os.environ.get("CI") == "true":
    pytest.fail(
        "CI=true but the real Codex CLI is missing: .ci/run must install @openai/codex@0.169.0 "
        "and export CODEXBAR_TEST_CODEX",
        pytrace=False,
    )
pytestmark = pytest.mark.skipif(
    CODEX is None, reason="real Codex CLI not installed (set CODEXBAR_TEST_CODEX)"
)

ACCOUNT_ID = json.loads((FIXTURE_HOME / "auth.json").read_text())["tokens"]["account_id"]


def codex_processes_for(home: Path) -> list[int]:
    """Processes (a daemon included) whose CODEX_HOME is this test home."""
    needle = f"CODEX_HOME={home}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def real_home(tmp_path, backend) -> Path:
    """A Codex home logged in with the fixture account, talking to the local backend."""
    home = tmp_path / "codex-home"
    home.mkdir()
    write_fresh_auth(home)
    point_home_at(home, backend)
    backend.routes["/backend-api/wham/accounts/check"] = Reply(
        200,
        {
            "accounts": [
                {
                    "id": ACCOUNT_ID,
                    "workspace_backend_origin": "https://chatgpt.com",
                    "account_routing_override": "NO_CONSTRAINT",
                }
            ]
        },
    )
    yield home
    deadline = time.monotonic() + 5
    while codex_processes_for(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert codex_processes_for(home) == [], "a codex process outlived codexbar"


def serve(backend, fixture: str) -> None:
    body = json.loads((FIXTURES / fixture).read_text())
    backend.routes["/backend-api/wham/usage"] = Reply(200, body)


def usage(source: str, home: Path) -> tuple[int, dict]:
    assert CODEX is not None
    settings_module.save_value("codex_path", str(CODEX))
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "usage", "--source", source, "--json"],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "CODEX_HOME": str(home)},
    )
    for secret in SECRET_VALUES:
        assert secret not in result.stdout + result.stderr, "a token reached the output"
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def windows(body: dict) -> dict[str, float]:
    return {w["id"]: w["used_percent"] for w in body["windows"]}


@pytest.mark.parametrize("source", ["rpc", "pty"])
def test_plus_account(source, real_home, backend):
    serve(backend, "wham_usage.json")
    code, body = usage(source, real_home)
    assert code == 0, body["error"]
    assert windows(body) == {"session": 18, "weekly": 45}
    assert body["identity"]["email"] == "dev.fixture@example.com"
    assert body["identity"]["plan"] == "plus"
    # The app-server passes the balance through; the card rounds it as Codex displays it.
    assert body["credits"]["balance"] == ("112.50" if source == "rpc" else "113")
    weekly = next(w for w in body["windows"] if w["id"] == "weekly")
    assert weekly["resets_at"] == "2026-11-24T06:30:00Z" or source == "pty"
    assert body["source"] == source


@pytest.mark.parametrize("source", ["rpc", "pty"])
def test_pro_account_weekly_only_with_spark(source, real_home, backend):
    serve(backend, "wham_usage_pro_credits_additional.json")
    code, body = usage(source, real_home)
    assert code == 0, body["error"]
    assert windows(body) == {"weekly": 37, "spark-session": 12, "spark-weekly": 3}
    if source == "rpc":
        assert body["identity"]["plan"] == "pro"
        assert body["credits"]["balance"] == "412.75"
    else:
        assert body["credits"]["balance"] == "413"


@pytest.mark.parametrize("source", ["rpc", "pty"])
def test_limit_reached(source, real_home, backend):
    serve(backend, "wham_usage_limit_reached.json")
    code, body = usage(source, real_home)
    assert code == 0, body["error"]
    assert windows(body) == {"session": 100, "weekly": 71}
    assert body["credits"] is None or body["credits"]["balance"] is None


@pytest.mark.parametrize("source", ["rpc", "pty"])
def test_backend_answers_401(source, real_home, backend):
    backend.routes["/backend-api/wham/usage"] = Reply(401, {"detail": "token expired"})
    code, body = usage(source, real_home)
    assert code != 0
    if source == "rpc":
        assert body["error"]["kind"] == "auth"
        assert "401" in body["error"]["message"]
    else:  # the TUI shows no figures and no reason for them
        assert body["error"]["kind"] == "parse"
        assert "not available yet" in body["error"]["message"]


@pytest.mark.parametrize("source", ["rpc", "pty"])
def test_logged_out_home_is_auth(source, real_home, backend):
    serve(backend, "wham_usage.json")
    (real_home / "auth.json").unlink()
    code, body = usage(source, real_home)
    assert code == 1
    assert body["error"]["kind"] == "auth"
    assert "codex login" in body["error"]["message"]
    assert not any(r.path.endswith("/wham/usage") for r in backend.requests)


def test_timings(real_home, backend, capsys):
    """Prints the figures for the notes; asserts nothing about time."""
    serve(backend, "wham_usage.json")
    one_shot = []
    for _ in range(5):
        started = time.monotonic()
        code, _ = usage("rpc", real_home)
        one_shot.append(time.monotonic() - started)
        assert code == 0
    source = RpcSource()
    ctx = SourceContext(
        home=real_home,
        env={**os.environ, "PATH": f"{CODEX.parent}{os.pathsep}{os.environ['PATH']}"},
        keep_alive=True,
    )
    kept = []
    try:
        for _ in range(6):
            started = time.monotonic()
            assert source.fetch(ctx).window("weekly").used_percent == 45
            kept.append(time.monotonic() - started)
    finally:
        source.close()
    with capsys.disabled():
        print(
            f"\n`codexbar usage --source rpc` (real codex 0.169.0): median "
            f"{statistics.median(one_shot) * 1000:.0f} ms over {len(one_shot)} runs; "
            f"kept-alive refresh: first {kept[0] * 1000:.0f} ms, then median "
            f"{statistics.median(kept[1:]) * 1000:.0f} ms"
        )


def test_doctor_shows_both_cli_sources_with_timings(real_home, backend):
    serve(backend, "wham_usage.json")
    settings_module.save_value("codex_path", str(CODEX))
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CODEX_HOME": str(real_home)},
    )
    out = result.stdout
    for secret in SECRET_VALUES:
        assert secret not in out + result.stderr
    rpc = out.split("rpc — Codex CLI\n")[1].split("\npty — ")[0]
    pty = out.split("pty — Codex CLI /status\n")[1]
    assert "codex-cli 0.169.0" in rpc and "ok in " in rpc
    assert "Weekly " in rpc and "% used" not in rpc  # in the terms `usage` uses
    assert "ok in " in pty.splitlines()[1] and "credits 113" in pty
