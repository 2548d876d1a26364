"""The real `codexbar` command, run as a subprocess against the local chatgpt.com stand-in: its
stdout, stderr (with -v logging) and every file it writes are searched for the cookie and token
values the tests created. Also the end-to-end check of `usage --source web --json`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import providers.web as web
from tests.conftest import FIXTURES, SECRET_VALUES, write_fresh_auth
from tests.fake_backend import Reply, Request, echo_headers
from tests.fake_codex import install_fake_codex
from tests.test_browser_cookies import SESSION_TOKEN, SIGNED_IN, make_firefox_store

ACCESS_TOKEN = "cli-access-token-2b3c4d5e6f7a8b9c"
PASTED_VALUE = "cli-pasted-session-0f1e2d3c4b5a6978"
PASTED = f"Cookie: __Secure-next-auth.session-token={PASTED_VALUE}; oai-did=cli-did-1122"
SECRET_VALUES.extend([ACCESS_TOKEN, PASTED_VALUE, "cli-did-1122"])
CODEX = [sys.executable, "-m", "codexbar"]
# The browser's store, Codex's login, our 0600 file and keyrings.alt's file; all else is scanned
# (our SQLite store included).
MEANT_TO_HOLD_SECRETS = {"cookies.sqlite", "auth.json", "secrets.json", "keyring_pass.cfg"}


@pytest.fixture
def world(tmp_path, backend, monkeypatch):
    """A user: HOME with a signed-in Firefox, a Codex home, our config dir, the fake chatgpt.com."""
    home = tmp_path / "user"
    make_firefox_store(home / ".mozilla/firefox", SIGNED_IN)
    codex_home = tmp_path / "codex"
    write_fresh_auth(codex_home)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "CODEX_HOME")
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        CODEX_HOME=str(codex_home),
        CODEXBAR_CONFIG_DIR=str(config_dir),
        CODEXBAR_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    env[web.ORIGIN_ENV] = f"http://127.0.0.1:{backend.port}"
    env.pop("PYTHON_KEYRING_BACKEND", None)
    return tmp_path, env


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CODEX, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def set_mode(env: dict[str, str], mode: str) -> None:
    assert run(["config", "set", "web.cookies", mode], env).returncode == 0


def assert_clean(root: Path, *results: subprocess.CompletedProcess) -> None:
    """No secret in any output, nor in any file written outside the Codex home and the stores
    that are meant to hold it (the browser's database, our secrets file)."""
    texts = [r.stdout + r.stderr for r in results]
    for path in root.rglob("*"):
        if path.is_file() and path.name not in MEANT_TO_HOLD_SECRETS:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for text in texts:
        for secret in SECRET_VALUES:
            assert secret not in text, "a secret value leaked"


def usage_routes(backend) -> None:
    body = json.loads((FIXTURES / "wham_usage.json").read_text())

    def usage(request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return Reply(401, {"detail": "Unauthorized"})
        return Reply(200, body)

    def session(request: Request) -> Reply:
        cookie = request.headers.get("cookie", "")
        if SESSION_TOKEN in cookie or PASTED_VALUE in cookie:
            return Reply(
                200, {"user": {"email": "dev.fixture@example.com"}, "accessToken": ACCESS_TOKEN}
            )
        return Reply(200, {})

    backend.routes[web.USAGE_PATH] = usage
    backend.routes[web.SESSION_PATH] = session


def test_usage_source_web_json_end_to_end(world, backend):
    root, env = world
    usage_routes(backend)
    set_mode(env, "browser")
    result = run(["-v", "usage", "--source", "web", "--json"], env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["source"] == "web" and body["error"] is None
    used = {w["id"]: w["used_percent"] for w in body["windows"]}
    assert used["session"] == 18.0 and used["weekly"] == 45.0
    assert body["credits"]["balance"] in ("112.50", 112.5)
    assert body["identity"]["email"] == "dev.fixture@example.com"
    assert_clean(root, result)


def test_doctor_and_error_paths_print_no_secret(world, backend):
    root, env = world
    set_mode(env, "browser")
    results = []
    for reply in (
        Reply(401, {"detail": f"bad token Bearer {ACCESS_TOKEN}"}),  # a server echoing secrets
        Reply(403, "<title>Just a moment...</title>", headers={"cf-mitigated": "challenge"}),
    ):
        backend.routes[web.USAGE_PATH] = reply
        backend.routes[web.SESSION_PATH] = Reply(200, {"accessToken": ACCESS_TOKEN})
        results.append(run(["-v", "usage", "--source", "web", "--json"], env))
        results.append(run(["-v", "doctor"], env))
    doctor = results[-1].stdout
    assert "web — chatgpt.com cookies" in doctor
    assert "3 for chatgpt.com, 1 for openai.com" in doctor and "Firefox" in doctor
    assert "Cloudflare" in doctor
    assert_clean(root, *results)


def test_set_cookie_reads_stdin_and_manual_mode_uses_it(world, backend):
    root, env = world
    usage_routes(backend)
    stored = run(["-v", "config", "set-cookie"], env, stdin=PASTED + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "Stored the Cookie header (2 cookies)" in stored.stdout
    assert "not encrypted" in stored.stdout  # no keyring here: said plainly
    assert "config set web.cookies manual" in stored.stdout
    secrets_file = Path(env["CODEXBAR_CONFIG_DIR"]) / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    set_mode(env, "manual")
    result = run(["-v", "usage", "--source", "web", "--json"], env)
    assert json.loads(result.stdout)["source"] == "web", result.stderr
    assert PASTED_VALUE in backend.requests[0].headers["cookie"]
    doctor = run(["doctor"], env)
    assert "pasted Cookie header: 2 cookies, stored in" in doctor.stdout
    bad = run(["config", "set-cookie"], env, stdin="not-a-header-but-secret-ish\n")
    assert bad.returncode == 64 and "not-a-header" not in bad.stderr
    cleared = run(["config", "clear-cookie"], env)
    assert cleared.returncode == 0 and not secrets_file.exists()
    assert_clean(root, stored, result, doctor, bad, cleared)


def test_set_cookie_into_a_named_file_keyring(world):
    root, env = world
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    stored = run(["config", "set-cookie"], env, stdin=PASTED)
    assert stored.returncode == 0, stored.stderr
    assert "PlaintextKeyring (chosen by PYTHON_KEYRING_BACKEND" in stored.stdout
    assert not (Path(env["CODEXBAR_CONFIG_DIR"]) / "secrets.json").exists()
    assert_clean(root, stored)


# --- a server or a Codex that echoes the login back: -v logs, --json and doctor stay clean.

OPAQUE_REFRESH_TOKEN = "Qm7opaque4Lx9Tv2Hd8Rk5Wz1Np6Bs3"
SECRET_VALUES.append(OPAQUE_REFRESH_TOKEN)
HTTP_DEBUG_MARKERS = ("send_request_headers", "receive_response_headers", "httpcore", "hpack")


def oauth_env(env: dict[str, str], backend) -> dict[str, str]:
    codex_home = Path(env["CODEX_HOME"])
    (codex_home / "config.toml").write_text(f'chatgpt_base_url = "{backend.base_url}/"\n')
    return env


def test_echoed_authorization_never_reaches_verbose_logs_or_doctor(world, backend):
    root, env = world
    oauth_env(env, backend)
    backend.routes["/backend-api/wham/usage"] = echo_headers(500)
    results = [
        run(["-v", "usage", "--source", "oauth"], env),
        run(["-v", "usage", "--source", "oauth", "--json"], env),
        run(["-v", "doctor"], env),
    ]
    assert "chatgpt.com answered with an error (HTTP 500)" in results[0].stdout
    assert backend.requests[0].headers["authorization"].startswith("Bearer ")
    for result in results:
        assert "Traceback" not in result.stderr
        assert not any(marker in result.stderr for marker in HTTP_DEBUG_MARKERS), result.stderr
    assert "codexbar: DEBUG" in results[0].stderr  # -v still logs codexbar's own lines
    assert_clean(root, *results)


def test_echoed_cookies_never_reach_verbose_logs(world, backend):
    root, env = world
    set_mode(env, "browser")
    backend.routes[web.USAGE_PATH] = echo_headers(502)
    backend.routes[web.SESSION_PATH] = echo_headers(502)
    result = run(["-v", "usage", "--source", "web", "--json"], env)
    assert json.loads(result.stdout)["error"]["kind"] == "network"
    assert SESSION_TOKEN in backend.requests[0].headers["cookie"]  # it was sent, and echoed
    assert_clean(root, result)


@pytest.mark.parametrize(
    "args",
    [["usage", "--source", "rpc"], ["usage", "--source", "rpc", "--json"], ["doctor"]],
    ids=["text", "json", "doctor"],
)
def test_an_opaque_refresh_token_in_codex_stderr_is_never_printed(world, tmp_path, args):
    """No pattern knows an opaque token: only the values read from auth.json can mask it."""
    root, env = world
    auth_file = Path(env["CODEX_HOME"]) / "auth.json"
    auth = json.loads(auth_file.read_text())
    auth["tokens"]["refresh_token"] = OPAQUE_REFRESH_TOKEN  # no rt_ prefix, no JWT shape
    auth_file.write_text(json.dumps(auth))
    fake = install_fake_codex(tmp_path / "fake-bin", "app_server.py")
    env.update(FAKE_CODEX_MODE="leak_refresh_token")
    assert run(["config", "set", "codex_path", str(fake)], env).returncode == 0
    result = run(args, env)
    out = result.stdout + result.stderr
    assert "token refresh failed" in out  # Codex's stderr is shown, redacted
    assert "redacted" in out
    assert "Traceback" not in out
    assert_clean(root, result)
