"""Start the tray at login: an XDG autostart .desktop file on Linux, the HKCU Run key on Windows,
a LaunchAgent on macOS. Each entry starts `python -m codexbar tray` with this interpreter, so it
keeps working from a virtual environment."""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from codexbar import paths
from codexbar.settings import atomic_write_text

APP_ID = "codexbar"
LAUNCH_AGENT_LABEL = "io.github.codexbar.tray"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
REPO_ICON = Path(__file__).resolve().parents[2] / "icons" / "codexbar.png"


@dataclass(frozen=True)
class AutostartStatus:
    enabled: bool
    where: str  # the file or registry value, for `codexbar autostart status`


def tray_command(python: str | None = None) -> list[str]:
    python = python or sys.executable
    if os.name == "nt":  # pythonw: no console window at login
        candidate = Path(python).with_name("pythonw.exe")
        python = str(candidate) if candidate.exists() else python
    return [python, "-m", "codexbar", "tray"]


def icon_path() -> Path:
    """The app icon from icons/ (a source checkout), or one drawn into our data folder."""
    if REPO_ICON.exists():
        return REPO_ICON
    target = paths.data_dir() / "codexbar.png"
    if not target.exists():
        from codexbar.tray.icon import app_icon

        target.parent.mkdir(parents=True, exist_ok=True)
        app_icon(256).save(target)
    return target


# -- Linux (XDG) -----------------------------------------------------------------------------


def desktop_file_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    config_home = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "autostart" / f"{APP_ID}.desktop"


def _desktop_exec(command: list[str]) -> str:
    # The Desktop Entry spec quotes with double quotes and escapes `"`, `` ` ``, `$` and `\`.
    def quote(arg: str) -> str:
        if arg and all(c.isalnum() or c in "-_./=:" for c in arg):
            return arg
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        return f'"{escaped}"'

    return " ".join(quote(a) for a in command)


def desktop_entry(command: list[str], icon: Path) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=codexbar\n"
        "Comment=How much of your OpenAI Codex plan is left\n"
        f"Exec={_desktop_exec(command)}\n"
        f"Icon={icon}\n"
        "Terminal=false\n"
        "Categories=Utility;\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
    )


# -- macOS -------------------------------------------------------------------------------------


def launch_agent_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def launch_agent(command: list[str]) -> bytes:
    # RunAtLoad without KeepAlive: quitting the tray must not make launchd start it again.
    return plistlib.dumps(
        {"Label": LAUNCH_AGENT_LABEL, "ProgramArguments": command, "RunAtLoad": True}
    )


# -- the three platforms behind one interface ----------------------------------------------------


def _platform() -> str:
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def enable(platform: str | None = None) -> AutostartStatus:
    platform = platform or _platform()
    command = tray_command()
    if platform == "windows":
        import winreg

        value = " ".join(f'"{a}"' if " " in a else a for a in command)
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, APP_ID, 0, winreg.REG_SZ, value)
        return status(platform)
    if platform == "macos":
        path = launch_agent_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(launch_agent(command))
        return status(platform)
    atomic_write_text(desktop_file_path(), desktop_entry(command, icon_path()))
    return status(platform)


def disable(platform: str | None = None) -> AutostartStatus:
    platform = platform or _platform()
    if platform == "windows":
        import winreg

        access = winreg.KEY_SET_VALUE
        with (
            winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, access) as key,
            contextlib.suppress(FileNotFoundError),
        ):
            winreg.DeleteValue(key, APP_ID)
        return status(platform)
    path = launch_agent_path() if platform == "macos" else desktop_file_path()
    path.unlink(missing_ok=True)
    return status(platform)


def status(platform: str | None = None) -> AutostartStatus:
    platform = platform or _platform()
    if platform == "windows":
        import winreg

        where = rf"HKCU\{RUN_KEY}\{APP_ID}"
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, APP_ID)
            return AutostartStatus(True, where)
        except FileNotFoundError:
            return AutostartStatus(False, where)
    path = launch_agent_path() if platform == "macos" else desktop_file_path()
    if platform == "linux" and path.exists():
        # A user may have switched it off in their desktop's settings (Hidden=true).
        text = path.read_text(encoding="utf-8", errors="replace")
        hidden = any(line.strip().lower() == "hidden=true" for line in text.splitlines())
        return AutostartStatus(not hidden, str(path))
    return AutostartStatus(path.exists(), str(path))


def describe(state: AutostartStatus) -> str:
    return ("on" if state.enabled else "off") + f" ({state.where})"


def command_line() -> str:
    return shlex.join(tray_command())
