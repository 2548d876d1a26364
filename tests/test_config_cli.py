"""Issue 9 §7: the small things a user hit in `config set`, `doctor` and `usage --home`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from codexbar import settings as settings_module
from tests.conftest import FIXTURE_HOME, SECRET_VALUES
from tests.conftest import run_codexbar as run


@pytest.fixture
def desktop(tmp_path, monkeypatch) -> Path:
    """Where the Linux autostart entry goes, in a folder of the test's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autostart" / "codexbar.desktop"


@pytest.mark.skipif(sys.platform != "linux", reason="the autostart file checked is Linux's")
def test_launch_at_login_setting_creates_and_removes_the_autostart_entry(desktop):
    assert run("autostart", "on").returncode == 0
    expected = desktop.read_bytes()
    assert run("autostart", "off").returncode == 0 and not desktop.exists()

    result = run("config", "set", "launch_at_login", "true")
    assert result.returncode == 0, result.stderr
    assert desktop.read_bytes() == expected  # exactly what `autostart on` writes
    assert "Launch at login: on" in result.stdout
    result = run("config", "set", "launch_at_login", "false")
    assert result.returncode == 0 and not desktop.exists()
    assert settings_module.load().get("launch_at_login") is False


def test_codex_path_must_be_an_executable_file(tmp_path):
    plain = tmp_path / "codex.txt"
    plain.write_text("not a program")
    for bad in (plain, tmp_path / "missing"):
        result = run("config", "set", "codex_path", str(bad))
        assert result.returncode == 64
        assert "is not an executable file" in result.stderr
    assert settings_module.load().get("codex_path") == ""
    program = tmp_path / "codex"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    assert run("config", "set", "codex_path", str(program)).returncode == 0
    assert run("config", "set", "codex_path", "").returncode == 0  # back to searching PATH


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("refresh_minutes", "-1", "expected one of 0, 1, 2, 5, 15, 30"),
        ("auto_deadline_seconds", "-5", "must be at least 5"),
        ("cost_days", "0", "must be at least 1"),
        ("cost_days", "366", "must be at most 365"),
    ],
)
def test_out_of_range_values_get_a_validation_message(key, value, words):
    result = run("config", "set", key, value)
    assert result.returncode == 64
    assert words in result.stderr and "No such option" not in result.stderr


def test_cost_days_bounds():
    setting = settings_module.lookup("cost_days")
    assert (setting.minimum, setting.maximum) == (1, 365)
    assert run("config", "set", "cost_days", "365").returncode == 0


def test_several_homes_each_show_their_block(tmp_path):
    other = tmp_path / "other"
    shutil.copytree(FIXTURE_HOME, other)
    result = run("usage", "--source", "logs", "--home", str(FIXTURE_HOME), "--home", str(other))
    assert "first Codex home only" not in result.stderr
    assert f"({FIXTURE_HOME})" in result.stdout and f"({other})" in result.stdout
    settings_module.save_value("codex_homes", [str(FIXTURE_HOME), str(other)])
    assert result.stdout.count("== ") == 2
    assert run("usage", "--source", "logs").stdout.count("== ") == 2


def test_doctor_says_an_expiry_once(tmp_path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURE_HOME, home)  # its access token expired on 2026-11-28
    out = run("doctor", "--home", str(home)).stdout
    login = next(line for line in out.splitlines() if line.startswith("Codex login:"))
    assert login.count("expire") == 1, login


def test_the_metrics_token_is_never_listed_only_said_to_be_set():
    token = "scrape-me-not-0123456789"
    SECRET_VALUES.append(token)  # the suite fails the test if it is printed anywhere
    done = run("config", "set", "metrics.token", token)
    assert done.returncode == 0 and "metrics.token = (set)" in done.stdout
    listed = run("config", "list")
    assert "metrics.token = (set;" in listed.stdout and token not in listed.stdout
    assert settings_module.load().get("metrics.token") == token
