"""Settings: documented defaults, validation, a broken file reported and kept, atomic writes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codexbar import paths
from codexbar import settings as s


def test_defaults_when_there_is_no_file():
    loaded = s.load()
    assert loaded.problems == ()
    assert loaded.get("source") == "auto"
    assert loaded.get("refresh_minutes") == 5
    assert loaded.get("notify.thresholds") == [50, 20]
    assert loaded.get("web.cookies") == "off"


def test_set_keeps_comments_and_other_values():
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        '# my settings\nshow_used = true  # I like used\n\n[web]\nbrowser = "firefox"\n'
    )
    s.set_from_text("web.cookies", "manual")
    s.set_from_text("notify.thresholds", "20, 50")
    text = path.read_text()
    assert "# my settings" in text and "# I like used" in text
    loaded = s.load()
    assert loaded.get("show_used") is True
    assert loaded.get("web.cookies") == "manual" and loaded.get("web.browser") == "firefox"
    assert loaded.get("notify.thresholds") == [50, 20]


@pytest.mark.parametrize(
    "key, text",
    [
        ("source", "carrier-pigeon"),
        ("refresh_minutes", "7"),
        ("refresh_minutes", "soon"),
        ("show_used", "maybe"),
        ("notify.thresholds", "0,150"),
        ("cost_days", "0"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_written(key, text):
    with pytest.raises(s.SettingsError):
        s.set_from_text(key, text)
    assert not paths.settings_path().exists()


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(s.SettingsError, match="refresh_minutes"):
        s.set_from_text("refresh", "5")


def test_broken_file_is_reported_with_its_line_and_left_untouched():
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    broken = 'source = "oauth"\nrefresh_minutes = = 5\n'
    path.write_text(broken)
    loaded = s.load()
    assert loaded.get("source") == "auto"  # defaults, not half a file
    assert len(loaded.problems) == 1 and "line 2" in loaded.problems[0]
    with pytest.raises(s.SettingsError, match="not changing it"):
        s.set_from_text("source", "logs")
    assert path.read_text() == broken


def test_invalid_value_in_file_falls_back_for_that_key_only():
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text('source = "logs"\nrefresh_minutes = 7\n')
    loaded = s.load()
    assert loaded.get("source") == "logs"
    assert loaded.get("refresh_minutes") == 5
    assert "refresh_minutes" in loaded.problems[0]


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "x" / "config.toml"
    s.atomic_write_text(target, "a = 1\n", mode=0o600)
    assert target.read_text() == "a = 1\n"
    assert (target.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["config.toml"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codexbar", *args], capture_output=True, text=True, timeout=60
    )


def test_config_command_round_trip():
    assert run_cli("config", "path").stdout.strip() == str(paths.settings_path())
    result = run_cli("config", "set", "refresh_minutes", "15")
    assert result.returncode == 0, result.stderr
    assert run_cli("config", "get", "refresh_minutes").stdout.strip() == "15"
    bad = run_cli("config", "set", "refresh_minutes", "7")
    assert bad.returncode == 64 and "Invalid value" in bad.stderr
    assert "refresh_minutes = 15" in run_cli("config", "list").stdout


def test_cli_warns_about_a_broken_file_and_runs_on_defaults():
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("[web\n")
    result = run_cli("config", "get", "source")
    assert result.returncode == 0
    assert result.stdout.strip() == "auto"
    assert "not valid TOML" in result.stderr and "line 1" in result.stderr


def test_the_old_theme_names_still_load_as_the_panel_names():
    """`light`/`dark` were renamed `light-panel`/`dark-panel`: an older file stays valid."""
    path = paths.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('theme = "light"\n')
    loaded = s.load()
    assert loaded.problems == ()
    assert loaded.get("theme") == "light-panel"
    assert s.lookup("theme").parse_text("dark") == "dark-panel"
