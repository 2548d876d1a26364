"""Finding `codex`, stopping its process group, and 200 refreshes that leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codexbar.codex_cli import LaunchGate, find_codex, install_dirs, popen_group, stop_popen
from codexbar.errors import ErrorKind, SourceError
from codexbar.sources import SourceContext
from providers.rpc import RpcSource
from tests.fake_codex import install_fake_codex, wait_gone

NOT_FOUND = (
    "Codex CLI not found; install it with `npm i -g @openai/codex` or set its path in the "
    "preferences."
)


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_the_setting_wins_over_path(tmp_path):
    configured = executable(tmp_path / "custom" / "codex")
    on_path = executable(tmp_path / "bin" / "codex")
    env = {"PATH": str(on_path.parent)}
    assert find_codex(str(configured), env) == configured
    assert find_codex(str(configured.parent), env) == configured  # a folder is fine too
    assert find_codex("", env) == on_path


def test_a_wrong_setting_says_so(tmp_path):
    with pytest.raises(SourceError) as raised:
        find_codex(str(tmp_path / "nope"), {"PATH": ""})
    assert raised.value.kind == ErrorKind.NOT_INSTALLED
    assert (
        "codex_path setting" in raised.value.text and "npm i -g @openai/codex" in raised.value.text
    )


def test_usual_install_places_are_searched_when_path_lacks_it(tmp_path):
    home = tmp_path / "home"
    env = {"PATH": str(tmp_path / "empty"), "HOME": str(home)}
    local = executable(home / ".local" / "bin" / "codex")
    assert find_codex(None, env, install_dirs(env)) == local
    local.unlink()
    global_npm = executable(home / ".npm-global" / "bin" / "codex")
    assert find_codex(None, env, install_dirs(env)) == global_npm
    global_npm.unlink()
    (home / ".npmrc").write_text("registry=https://example.invalid\nprefix=~/npm-prefix\n")
    from_npmrc = executable(home / "npm-prefix" / "bin" / "codex")
    assert find_codex(None, env) == from_npmrc
    from_npmrc.unlink()
    prefixed = executable(tmp_path / "prefix" / "bin" / "codex")
    assert find_codex(None, {**env, "NPM_CONFIG_PREFIX": str(tmp_path / "prefix")}) == prefixed
    nvm = executable(home / ".nvm" / "versions" / "node" / "v20.1.0" / "bin" / "codex")
    assert nvm.parent in install_dirs(env, home)


def test_nothing_found_is_not_installed_with_the_install_hint(tmp_path):
    with pytest.raises(SourceError) as raised:
        find_codex(None, {"PATH": str(tmp_path)}, extra_dirs=[tmp_path / "nothing"])
    assert raised.value.kind == ErrorKind.NOT_INSTALLED
    assert raised.value.text == NOT_FOUND
    assert raised.value.exit_code == 2


def test_rpc_is_unavailable_without_a_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    ctx = SourceContext(home=tmp_path, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    error = RpcSource().unavailable(ctx)
    if error is None:  # a codex in /usr/local/bin or Homebrew on this machine
        pytest.skip("a system-wide codex is installed here")
    assert error.kind == ErrorKind.NOT_INSTALLED and error.text == NOT_FOUND


def test_cli_exits_2_when_codex_is_missing(tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", "usage", "--source", "rpc"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if "not found" not in result.stdout:
        pytest.skip("a system-wide codex is installed here")
    assert result.returncode == 2
    assert "npm i -g @openai/codex" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_stop_popen_kills_a_group_that_ignores_sigterm(tmp_path):
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = popen_group([sys.executable, "-c", script], os.environ)
    helper = int(process.stdout.readline())
    stop_popen(process)
    assert process.returncode is not None
    assert wait_gone(process.pid) and wait_gone(helper)


def test_launch_gate_pauses_background_launches_for_30_minutes():
    now = [1000.0]
    gate = LaunchGate(clock=lambda: now[0])
    gate.check(interactive=False)  # nothing remembered
    gate.failed(SourceError(ErrorKind.TIMEOUT, "The Codex CLI did not answer."))
    gate.check(interactive=True)  # the user asked: always try
    with pytest.raises(SourceError) as raised:
        gate.check(interactive=False)
    assert raised.value.kind == ErrorKind.TIMEOUT and "30 min" in raised.value.text
    now[0] += 29 * 60
    with pytest.raises(SourceError):
        gate.check(interactive=False)
    now[0] += 61
    gate.check(interactive=False)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_soak_200_refreshes_leave_no_process_or_descriptor(fake_codex, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    source = RpcSource()
    before_fds = len(os.listdir("/proc/self/fd"))
    for cycle in range(200):
        # Every tenth cycle the server crashes mid-reply: the error path must clean up too.
        fake_codex.mode("crash_mid_reply" if cycle % 10 == 9 else "")
        ctx = SourceContext(home=home, env=dict(os.environ))
        try:
            source.fetch(ctx)
        except SourceError as error:
            assert cycle % 10 == 9, error
    assert len(fake_codex.launches()) == 200
    assert _children(os.getpid()) == []
    assert len(os.listdir("/proc/self/fd")) <= before_fds
    assert all(wait_gone(pid, 1.0) for pid in fake_codex.pids())


def test_fake_wrapper_is_what_path_finds(tmp_path):
    path = install_fake_codex(tmp_path / "bin", "app_server.py")
    assert find_codex(None, {"PATH": str(path.parent)}) == path


def test_the_desktop_apps_bundled_codex_is_found_when_no_cli_is_installed(tmp_path):
    root, home = tmp_path / "root", tmp_path / "home"
    env = {"PATH": str(tmp_path / "empty"), "HOME": str(home)}
    for bundle in ("opt/Codex/resources/codex", "usr/lib/codex/resources/codex"):
        bundled = executable(root / bundle)
        assert find_codex(None, env, install_dirs(env, home, root=root)) == bundled
        bundled.unlink()
    # A CLI the user installed wins over the app's copy.
    executable(root / "opt/Codex/resources/codex")
    local = executable(home / ".local" / "bin" / "codex")
    assert find_codex(None, env, install_dirs(env, home, root=root)) == local


def test_the_real_install_dirs_include_the_desktop_app():
    dirs = install_dirs({"HOME": "/home/someone"})
    assert Path("/opt/Codex/resources") in dirs and Path("/usr/lib/codex/resources") in dirs
    assert dirs.index(Path("/opt/Codex/resources")) > dirs.index(Path("/usr/local/bin"))
