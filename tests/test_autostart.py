"""Launch at login: the XDG .desktop file for real, the macOS plist's content, the CLI."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys

from codexbar import settings as settings_module
from codexbar.tray import autostart


def test_enable_writes_an_xdg_autostart_entry_and_disable_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    state = autostart.enable("linux")
    path = tmp_path / "autostart" / "codexbar.desktop"
    assert state.enabled and state.where == str(path)
    text = path.read_text()
    assert "Type=Application" in text
    assert f"Exec={sys.executable} -m codexbar tray" in text
    icon = next(line for line in text.splitlines() if line.startswith("Icon="))[5:]
    assert os.path.exists(icon)
    assert not autostart.disable("linux").enabled and not path.exists()


def test_a_desktop_that_hid_the_entry_counts_as_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    autostart.enable("linux")
    path = tmp_path / "autostart" / "codexbar.desktop"
    path.write_text(path.read_text() + "Hidden=true\n")
    assert not autostart.status("linux").enabled


def test_exec_line_quotes_paths_with_spaces():
    entry = autostart.desktop_entry(["/opt/my venv/bin/python", "-m", "codexbar", "tray"], "/i.png")
    assert 'Exec="/opt/my venv/bin/python" -m codexbar tray' in entry


def test_launch_agent_runs_at_load_without_keep_alive():
    plist = plistlib.loads(autostart.launch_agent(["/usr/bin/python3", "-m", "codexbar", "tray"]))
    assert plist["RunAtLoad"] is True and "KeepAlive" not in plist
    assert plist["ProgramArguments"][-2:] == ["codexbar", "tray"]


def test_cli_autostart_on_status_off_keeps_the_setting_in_step(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "codexbar", "autostart", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    on = run("on")
    assert on.returncode == 0 and "Launch at login: on" in on.stdout
    assert settings_module.load()["launch_at_login"] is True
    assert "Launch at login: on" in run("status").stdout
    off = run("off")
    assert "Launch at login: off" in off.stdout
    assert settings_module.load()["launch_at_login"] is False
    assert not (tmp_path / "autostart" / "codexbar.desktop").exists()
