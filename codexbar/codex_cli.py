"""Finding the `codex` executable, and starting and stopping it as a process group.

Both CLI sources (the app-server over JSON-RPC and the `/status` screen in a pseudo-terminal) use
these helpers, so every child they start is torn down the same way: stdin closed, SIGTERM to the
whole group, a short grace, SIGKILL, reaped. Codex spawns helpers of its own; killing only the
direct child would leave them behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codexbar.codex_home import read_codex_config
from codexbar.errors import ErrorKind, SourceError
from codexbar.safe_files import UnreadableFile, read_bytes

if TYPE_CHECKING:
    from codexbar.sources import SourceContext

log = logging.getLogger(__name__)

IS_WINDOWS = sys.platform == "win32"
EXECUTABLE_NAMES = ("codex.cmd", "codex.exe", "codex") if IS_WINDOWS else ("codex",)
# How long a child gets between SIGTERM and SIGKILL: Codex exits within ~30 ms of losing stdin.
TERMINATE_GRACE_SECONDS = 0.4
# After a failed launch, background refreshes leave the CLI alone for this long.
LAUNCH_GATE_SECONDS = 30 * 60

INSTALL_HINT = "install it with `npm i -g @openai/codex` or set its path in the preferences"


def start_failure(binary: str | Path, error: BaseException) -> SourceError:
    """Why the Codex CLI could not be started, in words (never an errno or exception text)."""
    reasons = {
        errno.ENOENT: "it does not exist",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOEXEC: "it is not a program this system can run",
        errno.ENOTDIR: "a folder on its path is a file",
    }
    reason = reasons.get(getattr(error, "errno", None) or -1, "it could not be started")
    return SourceError(
        ErrorKind.NOT_INSTALLED,
        f"Could not start the Codex CLI ({binary}): {reason}.",
        "Check the codex_path setting, or reinstall with `npm i -g @openai/codex`.",
    )


def not_installed_error(detail: str | None = None) -> SourceError:
    message = f"Codex CLI not found; {INSTALL_HINT}."
    if detail:
        message = f"{detail} {message}"
    return SourceError(ErrorKind.NOT_INSTALLED, message)


def _is_executable(path: Path) -> bool:
    return path.is_file() and (IS_WINDOWS or os.access(path, os.X_OK))


def _npm_prefix_from_npmrc(home: Path) -> Path | None:
    """The `prefix=` a user set in ~/.npmrc (read, not asked of npm: that would cost a spawn)."""
    try:
        lines = (home / ".npmrc").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        value = os.path.expandvars(value.strip())
        if key.strip() == "prefix" and value:
            return home / value[2:] if value.startswith("~/") else Path(value)
    return None


# Where the official Codex desktop app keeps the `codex` it bundles, relative to the file-system
# root (Linux deb/rpm: Electron apps install under /opt/<Name> or /usr/lib/<name>, the binary in
# `resources`; macOS: the app bundle; Windows: the per-user install). Tried after every CLI
# install: a CLI the user installed is the one they keep up to date.
_BUNDLE_DIRS = (
    "opt/Codex/resources",
    "opt/Codex/resources/bin",
    "opt/codex/resources",
    "opt/codex/resources/bin",
    "opt/OpenAI Codex/resources",
    "usr/lib/codex/resources",
    "usr/lib/codex/resources/bin",
    "usr/lib/codex-desktop/resources",
    "usr/lib/codex",
    "usr/share/codex/resources",
    "Applications/Codex.app/Contents/Resources",
    "Applications/ChatGPT.app/Contents/Resources",
)
_HOME_BUNDLE_DIRS = (
    "Applications/Codex.app/Contents/Resources",
    "Applications/ChatGPT.app/Contents/Resources",
    ".local/share/Codex/resources",
)


def app_bundle_dirs(env: Mapping[str, str], home: Path, root: Path = Path(os.sep)) -> list[Path]:
    """Folders in which the Codex desktop app bundles its own `codex`."""
    dirs = [root / folder for folder in _BUNDLE_DIRS]
    dirs += [home / folder for folder in _HOME_BUNDLE_DIRS]
    if IS_WINDOWS and env.get("LOCALAPPDATA"):
        dirs.append(Path(env["LOCALAPPDATA"]) / "Programs" / "Codex" / "resources")
    return dirs


def install_dirs(
    env: Mapping[str, str], home: Path | None = None, root: Path = Path(os.sep)
) -> list[Path]:
    """Folders `npm i -g`, pip-style installers and Homebrew put `codex` in, most specific
    first, then the desktop app's bundle. A tray started by the desktop often has a shorter PATH
    than the user's shell."""
    home = home or Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    dirs: list[Path] = []
    if IS_WINDOWS:
        for var in ("APPDATA", "LOCALAPPDATA"):
            if env.get(var):
                dirs.append(Path(env[var]) / "npm")
    prefixes = [env.get("NPM_CONFIG_PREFIX") or env.get("npm_config_prefix")]
    npmrc_prefix = _npm_prefix_from_npmrc(home)
    for prefix in [*prefixes, str(npmrc_prefix) if npmrc_prefix else None]:
        if prefix:
            dirs.append(Path(prefix) if IS_WINDOWS else Path(prefix) / "bin")
    dirs += [home / ".local" / "bin", home / ".npm-global" / "bin", home / ".bun" / "bin"]
    # nvm keeps one folder per Node version; the newest is most likely the one in use.
    nvm_bins = sorted((home / ".nvm" / "versions" / "node").glob("*/bin"), reverse=True)
    dirs += nvm_bins
    if not IS_WINDOWS:
        dirs += [
            Path("/usr/local/bin"),
            Path("/opt/homebrew/bin"),
            Path("/home/linuxbrew/.linuxbrew/bin"),
            home / ".linuxbrew" / "bin",
        ]
    return dirs + app_bundle_dirs(env, home, root)


def find_codex(
    configured: str | None,
    env: Mapping[str, str],
    extra_dirs: Iterable[Path] | None = None,
) -> Path:
    """The `codex` to run: the `codex_path` setting, else PATH, else the usual install places.

    Raises a not_installed SourceError naming what was looked at."""
    if configured and configured.strip():
        path = Path(configured.strip()).expanduser()
        if path.is_dir():
            for name in EXECUTABLE_NAMES:
                if _is_executable(path / name):
                    return path / name
        if _is_executable(path):
            return path
        raise not_installed_error(f"The codex_path setting ({path}) is not an executable file.")
    search_path = env.get("PATH", os.defpath)
    found = shutil.which("codex", path=search_path)
    if found:
        return Path(found)
    dirs = install_dirs(env) if extra_dirs is None else list(extra_dirs)
    for folder in dirs:
        for name in EXECUTABLE_NAMES:
            if _is_executable(folder / name):
                return folder / name
    raise not_installed_error()


def missing_codex(ctx: SourceContext) -> SourceError | None:
    """The not-installed error of a source that runs the Codex CLI, or None when it is found."""
    try:
        find_codex(ctx.settings.get("codex_path"), ctx.env)
    except SourceError as error:
        return error
    return None


def binary_diagnostics(ctx: SourceContext) -> list[str]:
    """`doctor`'s line naming the Codex binary in use and its version."""
    try:
        binary = find_codex(ctx.settings.get("codex_path"), ctx.env)
    except SourceError:
        return []
    return [f"binary: {binary} ({codex_version(binary, ctx.env) or 'version unknown'})"]


def child_env(env: Mapping[str, str], codex_home: Path, binary: Path) -> dict[str, str]:
    """The environment for a Codex child: the caller's, with `CODEX_HOME` set to the home in use
    and the binary's folder appended to PATH (the npm wrapper is a `#!/usr/bin/env node` script,
    and under nvm `node` lives next to it, off the PATH a desktop session gives the tray)."""
    child = dict(env)
    # Absolute: Codex runs in another folder (the pty probe's temporary one), where a relative
    # home would name nothing.
    child["CODEX_HOME"] = os.path.abspath(codex_home)
    folder = str(binary.parent)
    parts = [p for p in child.get("PATH", "").split(os.pathsep) if p]
    if folder not in parts:
        child["PATH"] = os.pathsep.join([*parts, folder])
    return child


# Codex's config.toml is a few KB; the copy refuses anything that could not be one.
MAX_CONFIG_BYTES = 1 << 20
# Read by Codex, written by it only when missing: linked, so the copy keeps the user's id.
_LINKED_FILES = ("auth.json", "installation_id")


class ScratchHome:
    """A throwaway CODEX_HOME for a Codex child, so that Codex never writes the user's home.

    Run against the real home, Codex 0.171 rewrites `config.toml` (appends `[tui]
    screen_reader_detection_done` and makes it 0600; no `-c` override stops that) and creates
    databases, locks, shell snapshots and skills there. The scratch home holds a *copy* of
    config.toml and *links* to auth.json: a token refresh Codex makes is written through the
    link into the real file, in place (checked with 0.171.0), so the login never forks.

    A login kept in the system keyring is filed under a hash of the home's path, which a scratch
    home cannot match: `usable()` is False then and the caller decides."""

    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = Path(os.path.abspath(home))
        self.path = Path(tempfile.mkdtemp(prefix="codexbar-codex-home-"))
        try:
            self._fill(env)
        except BaseException:
            self.remove()
            raise

    def _fill(self, env: Mapping[str, str]) -> None:
        for name in _LINKED_FILES:
            if name == "auth.json" and env.get("CODEX_AUTH_HOME", "").strip():
                continue  # Codex finds it there through the inherited variable
            if os.path.lexists(self.home / name):
                (self.path / name).symlink_to(self.home / name)
        try:
            config = read_bytes(self.home / "config.toml", MAX_CONFIG_BYTES)
        except UnreadableFile:
            return  # missing, or not a file Codex could read either: run with defaults
        fd = os.open(self.path / "config.toml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(config)

    @staticmethod
    def usable(home: Path, env: Mapping[str, str]) -> bool:
        """False when Codex keeps this home's login in the keyring instead of auth.json."""
        if env.get("CODEX_AUTH_HOME", "").strip() or os.path.lexists(Path(home) / "auth.json"):
            return True
        return read_codex_config(home).get("cli_auth_credentials_store") not in ("keyring", "auto")

    @classmethod
    def make(cls, home: Path, env: Mapping[str, str]) -> ScratchHome | None:
        """A scratch home for `home`, or None when Codex must use the real one: a keyring
        login, or a system where the link cannot be made (Windows without the privilege)."""
        if not cls.usable(home, env):
            return None
        try:
            return cls(home, env)
        except OSError as error:
            log.debug("no scratch Codex home (%s); using the real one", type(error).__name__)
            return None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> ScratchHome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def codex_version(binary: Path, env: Mapping[str, str]) -> str | None:
    """`codex-cli 0.169.0`, or None when the binary does not say within 5 s (for doctor)."""
    try:
        result = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=5,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            start_new_session=not IS_WINDOWS,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.strip().splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else None


def popen_group(
    argv: list[str], env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new process group, with pipes on stdin, stdout, stderr."""
    kwargs: dict = {}
    if IS_WINDOWS:
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=str(cwd) if cwd else None,
        close_fds=True,
        **kwargs,
    )


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_until(done: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop_group(
    pid: int, has_exited: Callable[[], bool], grace: float = TERMINATE_GRACE_SECONDS
) -> None:
    """SIGTERM the process group led by `pid`, wait `grace` seconds for the leader, then SIGKILL
    the whole group (helpers that ignored SIGTERM or outlived the leader go too).

    `has_exited` must reap the leader when it has exited (Popen.poll, pexpect's isalive)."""
    if IS_WINDOWS:
        subprocess.run(
            ["taskkill", "/T", "/F", "/PID", str(pid)],
            capture_output=True,
            check=False,
            timeout=10,
        )
        _wait_until(has_exited, grace)
        return
    _signal_group(pid, signal.SIGTERM)
    _wait_until(has_exited, grace)
    _signal_group(pid, signal.SIGKILL)
    if not _wait_until(has_exited, grace):  # practically never: SIGKILL cannot be ignored
        _wait_until(has_exited, 5.0)


def stop_popen(process: subprocess.Popen[bytes]) -> None:
    """Close stdin (Codex's app-server exits on EOF), stop the group, reap, close the pipes."""
    with contextlib.suppress(OSError, ValueError):
        if process.stdin is not None:
            process.stdin.close()
    stop_group(process.pid, lambda: process.poll() is not None)
    for stream in (process.stdout, process.stderr):
        with contextlib.suppress(OSError, ValueError):
            if stream is not None:
                stream.close()


@dataclass
class LaunchFailure:
    at: float
    kind: ErrorKind
    message: str


class LaunchGate:
    """Remembers a failed launch so background refreshes do not spawn a broken CLI every few
    minutes (CodexBar pauses them for 30 minutes); a refresh the user asked for always tries."""

    def __init__(
        self, seconds: float = LAUNCH_GATE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.failure: LaunchFailure | None = None

    def check(self, interactive: bool) -> None:
        """Raise the remembered error when a background refresh should not launch the CLI."""
        failure = self.failure
        if interactive or failure is None:
            return
        waited = self.clock() - failure.at
        if waited >= self.seconds:
            return
        minutes = max(1, round((self.seconds - waited) / 60))
        raise SourceError(
            failure.kind,
            f"{failure.message} Background refreshes will not start the Codex CLI again "
            f"for {minutes} min.",
            "Refresh from the menu to try now.",
        )

    def failed(self, error: SourceError) -> None:
        self.failure = LaunchFailure(self.clock(), error.kind, error.message)

    def succeeded(self) -> None:
        self.failure = None
