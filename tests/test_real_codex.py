"""`codexbar usage --source rpc|pty` against the real Codex CLI 0.171.0 and a local chatgpt.com.

`.ci/run` installs `@openai/codex@0.171.0` and exports CODEXBAR_TEST_CODEX. Outside CI these
tests skip when the CLI is absent; with CI=true a missing CLI is a failure.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import statistics
import subprocess
import sys
import threading
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
        "CI=true but the real Codex CLI is missing: .ci/run must install @openai/codex@0.171.0 "
        "and export CODEXBAR_TEST_CODEX",
        pytrace=False,
    )
pytestmark = pytest.mark.skipif(
    CODEX is None, reason="real Codex CLI not installed (set CODEXBAR_TEST_CODEX)"
)

ACCOUNT_ID = json.loads((FIXTURE_HOME / "auth.json").read_text())["tokens"]["account_id"]


# Every Codex child inherits this variable: it finds them wherever their scratch home is.
MARKER = f"CODEXBAR_TEST_RUN={os.getpid()}-{time.time_ns()}"


def marked_env(**changes: str) -> dict[str, str]:
    """This process's environment (as the test has set it), marked, with `changes`."""
    name, value = MARKER.split("=")
    return {**os.environ, name: value, **changes}


def codex_processes() -> list[int]:
    """Processes (a daemon included) started by this test run's codexbar."""
    needle = f"{MARKER}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def assert_no_codex_left(seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while codex_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert codex_processes() == [], "a codex process outlived codexbar"


def home_state(home: Path) -> dict[str, tuple[str, bytes | None]]:
    """Every file and folder under `home`, with its mode and bytes."""
    return {
        str(path.relative_to(home)): (
            stat.filemode(path.lstat().st_mode),
            path.read_bytes() if path.is_file() else None,
        )
        for path in sorted(home.rglob("*"))
    }


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
    assert_no_codex_left()


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
        env=marked_env(CODEX_HOME=str(home)),
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
        env=marked_env(PATH=f"{CODEX.parent}{os.pathsep}{os.environ['PATH']}"),
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
            f"\n`codexbar usage --source rpc` (real codex 0.171.0): median "
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
        env=marked_env(CODEX_HOME=str(real_home)),
    )
    out = result.stdout
    for secret in SECRET_VALUES:
        assert secret not in out + result.stderr
    rpc = out.split("rpc — Codex CLI\n")[1].split("\npty — ")[0]
    pty = out.split("pty — Codex CLI /status\n")[1]
    assert "codex-cli 0.171.0" in rpc and "ok in " in rpc
    assert "Weekly " in rpc and "% used" not in rpc  # in the terms `usage` uses
    assert "ok in " in pty.splitlines()[1] and "credits 113" in pty


def test_ci_runs_the_newest_cli():
    assert CODEX is not None
    version = subprocess.run([str(CODEX), "--version"], capture_output=True, text=True).stdout
    if os.environ.get("CI") == "true":
        assert version.strip() == "codex-cli 0.171.0"


@pytest.mark.parametrize("source", ["oauth", "rpc", "pty", "logs"])
def test_the_codex_home_is_byte_identical_after_every_source(source, real_home, backend):
    """Files, bytes and modes: the real Codex 0.171 rewrites config.toml and fills its home
    with databases, locks and skills unless it runs in codexbar's scratch home."""
    serve(backend, "wham_usage.json")
    (real_home / "config.toml").chmod(0o644)
    before = home_state(real_home)
    code, body = usage(source, real_home)
    if source != "logs":  # no session logs in this home: an error, and still no write
        assert code == 0, body["error"]
    assert home_state(real_home) == before


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (a hung chatgpt.com)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/backend-api"

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("source", ["auto", "rpc", "pty"])
def test_a_backend_that_never_answers_ends_in_time_with_no_codex_left(source, tmp_path):
    server = SilentServer()
    home = tmp_path / "codex-home"
    write_fresh_auth(home)
    (home / "config.toml").write_text(f'chatgpt_base_url = "{server.base_url}/"\n')
    assert CODEX is not None
    settings_module.save_value("codex_path", str(CODEX))
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "codexbar", "usage", "--source", source],
            capture_output=True,
            text=True,
            timeout=60,
            env=marked_env(CODEX_HOME=str(home)),
        )
    finally:
        elapsed = time.monotonic() - started
        server.close()
    out = result.stdout + result.stderr
    for secret in SECRET_VALUES:
        assert secret not in out
    print(
        f"\n`codexbar usage --source {source}` against a silent backend: {elapsed:.1f} s, "
        f"exit {result.returncode}"
    )
    assert elapsed < 20.0 + 1.0  # Auto's deadline plus the interpreter's start-up
    assert result.returncode == 4, out
    assert any(words in out for words in ("within", "gave up waiting")), out  # a timeout
    assert "Errno" not in out and "Traceback" not in out
    assert_no_codex_left()
