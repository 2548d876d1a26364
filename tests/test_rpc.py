"""The rpc source against a fake `codex app-server` (a real child process speaking JSONL)."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from codexbar.errors import ErrorKind, SourceError
from codexbar.redact import MASK
from codexbar.sources import SourceContext
from providers import _appserver
from providers.rpc import RpcSource, merge_update, snapshot_from_rate_limits
from tests.fake_codex import gone, wait_gone


def context(tmp_path: Path, **changes) -> SourceContext:
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    return replace(SourceContext(home=home, env=dict(os.environ)), **changes)


def test_reads_the_transcript_and_stops_the_server(fake_codex, tmp_path):
    ctx = context(tmp_path)
    snapshot = RpcSource().fetch(ctx)
    windows = {w.id: w for w in snapshot.windows}
    assert windows["session"].used_percent == 18 and windows["session"].window_minutes == 300
    assert windows["weekly"].used_percent == 45
    assert windows["session"].resets_at.timestamp() == 1795226100
    assert {"spark-session", "spark-weekly"} <= set(windows)
    assert windows["spark-session"].limit_name == "GPT-5.3-Codex-Spark"
    assert snapshot.credits.balance == Decimal("112.50")
    assert snapshot.identity.email == "dev.fixture@example.com"
    assert snapshot.identity.plan == "plus"
    assert snapshot.source == "rpc"
    [launch] = fake_codex.launches()
    assert launch[2:] == ["-s", "read-only", "-a", "never", "app-server"]
    assert wait_gone(int(launch[0]))
    # Codex ran in a scratch home, removed afterwards.
    assert launch[1] != str(ctx.home) and not Path(launch[1]).exists()


def test_garbage_interleaved_notifications_and_out_of_order_replies(fake_codex, tmp_path):
    fake_codex.mode("garbage", "out_of_order")
    snapshot = RpcSource().fetch(context(tmp_path))
    assert snapshot.window("weekly").used_percent == 45
    assert snapshot.identity.email == "dev.fixture@example.com"


@pytest.mark.parametrize(
    ("flags", "kind", "words"),
    [
        (("session=2",), ErrorKind.AUTH, "API key"),
        (("session=3",), ErrorKind.AUTH, "not logged in"),
        (("session=4",), ErrorKind.NETWORK, "chatgpt.com answered with an error (HTTP 503)"),
        (("unknown_method",), ErrorKind.UNSUPPORTED, "too old"),
        (("hang_before_init",), ErrorKind.TIMEOUT, "`initialize`"),
        (("hang_after_init",), ErrorKind.TIMEOUT, "`account/rateLimits/read`"),
        (("crash_mid_reply",), ErrorKind.UNSUPPORTED, "exited with code 3"),
    ],
)
def test_failures_become_errors_the_user_can_act_on(fake_codex, tmp_path, flags, kind, words):
    fake_codex.mode(*flags)
    with pytest.raises(SourceError) as raised:
        RpcSource().fetch(context(tmp_path))
    assert raised.value.kind == kind
    assert words in raised.value.text
    assert "<html>" not in raised.value.text  # the backend's page is not pasted at the user
    for pid in fake_codex.pids():
        assert wait_gone(pid), "the fake app-server outlived the fetch"


def test_a_wham_body_inside_an_error_is_recovered(fake_codex, tmp_path):
    fake_codex.mode("body_recovery")
    snapshot = RpcSource().fetch(context(tmp_path))
    assert snapshot.window("weekly").used_percent == 37
    assert snapshot.window("session") is None  # weekly-only plan
    assert snapshot.window("spark-session").used_percent == 12
    assert snapshot.identity.plan == "pro"


def test_sigterm_ignoring_server_and_helper_are_killed(fake_codex, tmp_path):
    fake_codex.mode("ignore_sigterm", "hang_after_init")
    with pytest.raises(SourceError):
        RpcSource().fetch(context(tmp_path))
    [pid] = fake_codex.pids()
    helper = int(fake_codex.helper_pid_file.read_text())
    assert wait_gone(pid) and wait_gone(helper)


def test_background_refreshes_respect_the_launch_gate(fake_codex, tmp_path):
    fake_codex.mode("hang_before_init")
    source = RpcSource()
    background = context(tmp_path, interactive=False)
    with pytest.raises(SourceError) as first:
        source.fetch(background)
    assert first.value.kind == ErrorKind.TIMEOUT
    with pytest.raises(SourceError) as gated:
        source.fetch(background)
    assert "Background refreshes will not start the Codex CLI again" in gated.value.text
    assert len(fake_codex.launches()) == 1  # not spawned again
    fake_codex.mode()
    assert source.fetch(context(tmp_path, interactive=True)).window("weekly") is not None
    assert len(fake_codex.launches()) == 2  # a manual refresh bypasses the gate
    lifted = source.fetch(context(tmp_path, interactive=False))  # success lifted the gate
    assert lifted.window("weekly") is not None


def test_kept_alive_server_serves_many_refreshes_and_stops_on_close(fake_codex, tmp_path):
    source = RpcSource()
    ctx = context(tmp_path, keep_alive=True)
    for _ in range(3):
        assert source.fetch(ctx).window("session").used_percent == 18
    [pid] = fake_codex.pids()
    assert not gone(pid)
    source.close()
    assert wait_gone(pid)


def test_kept_alive_server_pushes_merged_notifications(fake_codex, tmp_path):
    fake_codex.mode("notify")
    updates = []
    arrived = threading.Event()

    def on_update(snapshot):
        updates.append(snapshot)
        arrived.set()

    source = RpcSource()
    try:
        source.fetch(context(tmp_path, keep_alive=True, on_update=on_update))
        assert arrived.wait(5), "no update was pushed"
    finally:
        source.close()
    pushed = updates[-1]
    assert pushed.window("session").used_percent == 28  # the update moved it
    assert pushed.window("weekly").used_percent == 45  # null in the update: kept
    assert pushed.credits.balance == Decimal("112.50")
    assert pushed.window("spark-weekly") is not None


@pytest.mark.parametrize("flag", ["die_after_read", "die_on_second_read"])
def test_a_kept_alive_server_that_died_is_restarted(fake_codex, tmp_path, flag):
    fake_codex.mode(flag)
    source = RpcSource()
    ctx = context(tmp_path, keep_alive=True)
    try:
        source.fetch(ctx)
        first = fake_codex.pids()[0]
        if flag == "die_after_read":
            assert wait_gone(first)
        assert source.fetch(ctx).window("weekly").used_percent == 45
        assert len(fake_codex.launches()) == 2
    finally:
        source.close()
    assert all(wait_gone(pid) for pid in fake_codex.pids())


def test_an_idle_kept_alive_server_is_stopped(fake_codex, tmp_path):
    source = RpcSource()
    source.idle_seconds = 0.3
    source.fetch(context(tmp_path, keep_alive=True))
    [pid] = fake_codex.pids()
    assert wait_gone(pid)
    source.close()


def test_sparse_updates_merge_non_null_fields_only():
    full = {
        "rateLimits": {"limitId": "codex", "primary": {"usedPercent": 1}, "credits": {"x": 1}},
        "rateLimitsByLimitId": {"codex": {"limitId": "codex", "primary": {"usedPercent": 1}}},
    }
    update = {"limitId": "codex", "primary": {"usedPercent": 9, "resetsAt": None}, "credits": None}
    merged = merge_update(full, update)
    assert merged["rateLimits"]["primary"] == {"usedPercent": 9}
    assert merged["rateLimits"]["credits"] == {"x": 1}
    assert merged["rateLimitsByLimitId"]["codex"]["primary"]["usedPercent"] == 9
    assert full["rateLimits"]["primary"]["usedPercent"] == 1  # the original is untouched
    spark = merge_update(full, {"limitId": "codex_bengalfox", "primary": {"usedPercent": 5}})
    assert spark["rateLimitsByLimitId"]["codex_bengalfox"]["primary"]["usedPercent"] == 5
    assert spark["rateLimits"]["primary"]["usedPercent"] == 1


# --- hostile or broken Codex binaries: noticed at once, reported in words, never a hang.


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("flags", "stderr", "words"),
    [
        (("exit_at_once=0",), "", "exited with code 0 before answering `initialize`"),
        (("exit_at_once=3",), "fatal: config is broken\n", "it said: fatal: config is broken"),
        (("no_app_server",), "", "has no app-server (it said: error: unrecognized subcommand"),
    ],
    ids=["exit-0", "exit-3-with-stderr", "unknown-subcommand"],
)
def test_a_codex_that_exits_at_once_is_reported_at_once(
    fake_codex, tmp_path, monkeypatch, flags, stderr, words
):
    # The start timeout is long here: an exit must be noticed, not waited out.
    monkeypatch.setattr(_appserver, "START_TIMEOUT_SECONDS", 30.0)
    monkeypatch.setenv("FAKE_CODEX_STDERR", stderr)
    fake_codex.mode(*flags)
    durations = []
    for _ in range(10):  # the race lost 25 of 30 runs: try it more than once
        started = time.monotonic()
        with pytest.raises(SourceError) as raised:
            RpcSource().fetch(context(tmp_path))
        durations.append(time.monotonic() - started)
        assert raised.value.kind == ErrorKind.UNSUPPORTED  # `codexbar usage` exits 3
        assert raised.value.exit_code == 3
        assert words in raised.value.text
    print(f"slowest of 10: {max(durations):.2f} s")
    assert max(durations) < 5.0


def test_a_refresh_token_in_codex_stderr_is_never_shown(fake_codex, codex_home):
    """An opaque refresh token matches no pattern: only its known value can mask it."""
    fake_codex.mode("leak_refresh_token")
    token = json.loads((codex_home / "auth.json").read_text())["tokens"]["refresh_token"]
    with pytest.raises(SourceError) as raised:
        RpcSource().fetch(replace(SourceContext(home=codex_home, env=dict(os.environ))))
    assert "token refresh failed" in raised.value.text  # the stderr is shown...
    assert token not in raised.value.text  # ...without the token
    assert MASK in raised.value.text


@pytest.mark.timeout(30)
def test_a_server_flooding_requests_without_reading_cannot_hang_close(fake_codex, tmp_path):
    fake_codex.mode("flood_requests")
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        RpcSource().fetch(context(tmp_path))
    elapsed = time.monotonic() - started
    assert raised.value.kind == ErrorKind.TIMEOUT
    print(f"flooding server stopped after {elapsed:.2f} s (start limit 1.5 s)")
    assert elapsed < 1.5 + 3.0
    assert all(wait_gone(pid) for pid in fake_codex.pids())


def test_an_unreadable_reply_fails_at_once_in_words(fake_codex, tmp_path, monkeypatch):
    monkeypatch.setattr(_appserver, "REQUEST_TIMEOUT_SECONDS", 30.0)
    fake_codex.mode("huge_number")
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        RpcSource().fetch(context(tmp_path))
    assert time.monotonic() - started < 5.0
    assert raised.value.kind == ErrorKind.PARSE
    assert "cannot read" in raised.value.text
    assert "4300" not in raised.value.text and "Exceeds" not in raised.value.text


@pytest.mark.parametrize(
    ("result", "kept"),
    [
        ({"rateLimits": {"primary": {"usedPercent": 10**30, "resetsAt": 10**40}}}, 0),
        ({"rateLimits": {"primary": {"usedPercent": 12, "windowDurationMins": 2**64}}}, 1),
        ({"rateLimits": {"secondary": {"usedPercent": 1e308, "resetsAt": -(2**63)}}}, 0),
    ],
)
def test_huge_numbers_in_a_reply_are_no_crash(result, kept):
    now = datetime.now(UTC)
    try:
        snapshot = snapshot_from_rate_limits(result, None, source="rpc", fetched_at=now)
    except SourceError as error:  # nothing usable left: a message, not a traceback
        assert error.kind == ErrorKind.PARSE
        return
    assert all(w.resets_at is None or w.resets_at.year < 10000 for w in snapshot.windows)


@pytest.mark.timeout(30)
def test_the_overall_deadline_bounds_the_start(fake_codex, tmp_path, monkeypatch):
    monkeypatch.setattr(_appserver, "START_TIMEOUT_SECONDS", 30.0)
    fake_codex.mode("hang_before_init")
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        RpcSource().fetch(context(tmp_path, deadline=time.monotonic() + 1.0))
    assert raised.value.kind == ErrorKind.TIMEOUT
    assert time.monotonic() - started < 3.0


def test_a_relative_home_reaches_codex_absolute(fake_codex, tmp_path, monkeypatch):
    home = tmp_path / "homes" / "exp"
    home.mkdir(parents=True)
    (home / "auth.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    RpcSource().fetch(SourceContext(home=Path("homes/exp"), env=dict(os.environ)))
    [seen] = fake_codex.seen()
    assert seen["auth"] == str(home / "auth.json")


def home_state(home: Path) -> dict[str, tuple[str, bytes | None]]:
    """Every file and folder under `home`: its mode and bytes."""
    return {
        str(path.relative_to(home)): (
            stat.filemode(path.lstat().st_mode),
            path.read_bytes() if path.is_file() and not path.is_symlink() else None,
        )
        for path in sorted(home.rglob("*"))
    }


def test_codex_runs_in_a_scratch_home_that_links_the_login(fake_codex, codex_home):
    """The fake rewrites its config.toml and adds files, as the real Codex does: none of it
    may reach the user's home; a token refresh written through the link would."""
    (codex_home / "config.toml").write_text('model = "gpt-5"\n')
    (codex_home / "config.toml").chmod(0o644)
    before = home_state(codex_home)
    RpcSource().fetch(SourceContext(home=codex_home, env=dict(os.environ)))
    [seen] = fake_codex.seen()
    assert seen["home"] != str(codex_home)
    assert seen["auth_is_link"] and seen["auth"] == str(codex_home / "auth.json")
    assert seen["config"] == 'model = "gpt-5"\n'
    assert home_state(codex_home) == before
    assert not Path(seen["home"]).exists()


def test_a_keyring_login_runs_codex_in_the_real_home(fake_codex, tmp_path):
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text('cli_auth_credentials_store = "keyring"\n')
    RpcSource().fetch(SourceContext(home=home, env=dict(os.environ)))
    [seen] = fake_codex.seen()
    assert seen["home"] == str(home)  # only there can Codex find the keyring entry


@pytest.mark.timeout(20)
def test_a_fifo_in_place_of_codex_config_does_not_hang(fake_codex, codex_home):
    (codex_home / "config.toml").unlink(missing_ok=True)
    os.mkfifo(codex_home / "config.toml")
    RpcSource().fetch(SourceContext(home=codex_home, env=dict(os.environ)))
    [seen] = fake_codex.seen()
    assert seen["config"] is None  # not copied: Codex runs with its defaults


def test_a_wait_for_the_limits_blames_the_network_not_the_cli(fake_codex, tmp_path):
    fake_codex.mode("hang_after_init")
    with pytest.raises(SourceError) as raised:
        RpcSource().fetch(context(tmp_path))
    assert raised.value.kind == ErrorKind.TIMEOUT
    assert "chatgpt.com" in raised.value.text and "update" not in raised.value.text.lower()
