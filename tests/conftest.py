"""Shared fixtures. Every test runs with its own settings and data folders, and every test's
captured output is checked for the fixture secrets (a token must never reach the user)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_backend import FakeBackend

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
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
        for secret in SECRET_VALUES:
            if secret and secret in content:
                report.outcome = "failed"
                report.longrepr = (f"a secret value appeared in {section_name!r} of "
                                   f"{item.nodeid}: tokens and cookies must never be printed")
                return


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


def point_home_at(home: Path, backend: FakeBackend) -> None:
    """Make Codex (and our OAuth source) talk to the fake backend instead of chatgpt.com."""
    (home / "config.toml").write_text(f'chatgpt_base_url = "{backend.base_url}/"\n')
