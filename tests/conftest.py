"""Shared fixtures. Every test runs with its own settings and data folders, and every test's
captured output is checked for the fixture secrets (a token must never reach the user)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fake_backend import FakeBackend
from tests.fake_codex import fake_codex  # noqa: F401  (a fixture for the CLI-source tests)

# Copied from the project's shared reference material; a plain clone must test itself.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_HOME = FIXTURES / "codex_home"


def _fixture_secrets() -> list[str]:
    values: list[str] = []
    for path in (FIXTURE_HOME / "auth.json", FIXTURES / "auth_apikey.json"):
        data = json.loads(path.read_text())
        tokens = data.get("tokens") or {}
        values += [v for v in tokens.values() if isinstance(v, str) and v.count(".") >= 2]
        values += [tokens.get("refresh_token"), data.get("OPENAI_API_KEY")]
    return [v for v in values if v]


# Other test modules append the secret values they create (cookies, pasted headers).
SECRET_VALUES: list[str] = _fixture_secrets()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    for section_name, content in report.sections:
        if not section_name.endswith(report.when):  # each phase checks what it captured
            continue
        for secret in SECRET_VALUES:
            if secret and secret in content:
                report.outcome = "failed"
                report.longrepr = (
                    f"a secret value appeared in {section_name!r} of "
                    f"{item.nodeid}: tokens and cookies must never be printed"
                )
                return


def pytest_sessionfinish(session, exitstatus):
    """In CI every real component is installed, so a skipped test means one was missing: fail."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) skipped; in CI every component must be present",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch) -> Path:
    """Our own settings and database live in a fresh folder per test; no real ~/.codex."""
    root = tmp_path_factory.mktemp("codexbar-dirs")
    monkeypatch.setenv("CODEXBAR_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("CODEXBAR_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("CODEX_HOME", str(root / "no-codex-home"))
    monkeypatch.delenv("CODEX_AUTH_HOME", raising=False)
    return root


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    server = FakeBackend().start()
    yield server
    server.stop()


@pytest.fixture
def codex_home(tmp_path) -> Path:
    """A writable copy of the fixture Codex home (so tests may add files to it)."""
    home = tmp_path / "codex_home"
    shutil.copytree(FIXTURE_HOME, home)
    return home


def _reissue_jwt(token: str, **claims: object) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def write_fresh_auth(home: Path) -> Path:
    """The fixture auth.json with its access token's `exp` and `last_refresh` moved to now, so
    that tests run on the real clock (subprocesses, the real Codex CLI) keep passing after the
    fixture's dates have gone by. The new token joins SECRET_VALUES."""
    data = json.loads((FIXTURE_HOME / "auth.json").read_text())
    now = int(time.time())
    tokens = data["tokens"]
    tokens["access_token"] = _reissue_jwt(
        tokens["access_token"], iat=now, nbf=now, exp=now + 7 * 86400
    )
    tokens["id_token"] = _reissue_jwt(tokens["id_token"], iat=now, exp=now + 3600)
    SECRET_VALUES.extend([tokens["access_token"], tokens["id_token"]])
    data["last_refresh"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    home.mkdir(parents=True, exist_ok=True)
    path = home / "auth.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def point_home_at(home: Path, backend: FakeBackend) -> None:
    """Make Codex (and our OAuth source) talk to the fake backend instead of chatgpt.com."""
    (home / "config.toml").write_text(f'chatgpt_base_url = "{backend.base_url}/"\n')


def run_codexbar(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    """`python -m codexbar ARGS` as a user runs it: never a token, never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    output = result.stdout + result.stderr
    for secret in SECRET_VALUES:
        assert secret not in output, "a token reached the output"
    assert "Traceback" not in output, output
    return result
