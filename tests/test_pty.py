"""The pty source driving a fake interactive `codex` through a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from codexbar.engine import Attempt
from codexbar.errors import ErrorKind, SourceError
from codexbar.sources import SourceContext
from providers import pty as pty_module
from providers.pty import PtySource
from tests.conftest import FIXTURES, write_fresh_auth
from tests.fake_codex import install_fake_codex
from tests.test_rpc import wait_gone

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

CAPTURED_AT = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)  # when the fixture screens were taken


class FakeTui:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        bin_dir = tmp_path / "bin"
        install_fake_codex(bin_dir, "tui.py")
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        self.log = tmp_path / "launches.log"
        self.marker = tmp_path / "forbidden.log"
        monkeypatch.setenv("FAKE_CODEX_LOG", str(self.log))
        monkeypatch.setenv("FAKE_CODEX_MARKER", str(self.marker))
        monkeypatch.setenv(
            "FAKE_CODEX_UPDATE_SCREEN", str(FIXTURES / "status_screen_update_available.txt")
        )
        monkeypatch.setenv(
            "FAKE_CODEX_NOT_YET_SCREEN", str(FIXTURES / "status_screen_limits_unavailable.txt")
        )
        self.screen("status_screen.txt")
        self.mode("")
        # Reset times on the card are local wall-clock times; make "local" UTC here.
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        self.home = tmp_path / "home"
        self.home.mkdir()

    def screen(self, name: str | Path) -> None:
        self.monkeypatch.setenv("FAKE_CODEX_SCREEN", str(FIXTURES / name))

    def mode(self, mode: str) -> None:
        self.monkeypatch.setenv("FAKE_CODEX_MODE", mode)

    def context(self, **changes) -> SourceContext:
        ctx = SourceContext(home=self.home, env=dict(os.environ), now=lambda: CAPTURED_AT)
        return replace(ctx, **changes)

    def launches(self) -> list[list[str]]:
        return [line.split(" ") for line in self.log.read_text().splitlines()]

    def forbidden(self) -> str:
        return self.marker.read_text() if self.marker.exists() else ""

    def all_gone(self) -> bool:
        return all(wait_gone(int(launch[0])) for launch in self.launches())


@pytest.fixture
def tui(tmp_path, monkeypatch):
    fake = FakeTui(tmp_path, monkeypatch)
    yield fake
    monkeypatch.undo()
    time.tzset()


def test_reads_the_plus_card(tui):
    snapshot = PtySource().fetch(tui.context())
    session, weekly = snapshot.window("session"), snapshot.window("weekly")
    assert (session.used_percent, weekly.used_percent) == (18, 45)
    assert session.resets_at == datetime(2026, 11, 21, 1, 55, tzinfo=UTC)
    assert weekly.resets_at == datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
    assert snapshot.credits.balance == Decimal(113)
    assert snapshot.identity.email == "dev.fixture@example.com"
    assert snapshot.identity.plan == "plus"
    [launch] = tui.launches()
    assert launch[1] == "200x60"
    assert "features.daemon_auto_start=false" in launch  # no daemon left behind by 0.169.0
    assert launch[2:6] == ["-s", "read-only", "-a", "never"]
    assert tui.all_gone()


def test_reads_the_pro_card_with_spark_and_wrapped_resets(tui):
    tui.screen("status_screen_pro_spark_stale.txt")
    snapshot = PtySource().fetch(tui.context())
    assert snapshot.window("session") is None
    assert snapshot.window("weekly").used_percent == 37
    assert snapshot.window("weekly").resets_at == datetime(2026, 11, 25, 19, 12, tzinfo=UTC)
    assert snapshot.window("spark-session").used_percent == 12
    assert snapshot.window("spark-weekly").resets_at == datetime(2026, 11, 27, 22, 41, tzinfo=UTC)
    assert snapshot.identity.plan == "pro"


def test_the_update_modal_is_skipped_never_accepted(tui):
    tui.mode("update")
    snapshot = PtySource().fetch(tui.context())
    assert snapshot.window("weekly").used_percent == 45
    assert tui.forbidden() == ""


def test_a_one_time_announcement_is_dismissed(tui):
    tui.mode("announce")
    assert PtySource().fetch(tui.context()).window("session").used_percent == 18


def test_sign_in_screen_is_auth_and_no_login_starts(tui):
    tui.mode("signin")
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context())
    assert raised.value.kind == ErrorKind.AUTH and "codex login" in raised.value.text
    assert tui.forbidden() == ""
    assert tui.all_gone()


def test_trust_prompt_stops_the_probe(tui):
    tui.mode("trust")
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context())
    assert "trust" in raised.value.text
    assert tui.all_gone()


def test_a_cut_off_card_is_retried_in_a_larger_terminal(tui):
    tui.mode("narrow")
    snapshot = PtySource().fetch(tui.context())
    assert snapshot.window("weekly").used_percent == 45
    assert [launch[1] for launch in tui.launches()] == ["200x60", "220x70"]
    assert tui.all_gone()


def test_an_empty_card_drawn_during_start_up_is_asked_for_again(tui):
    tui.mode("notyet")
    snapshot = PtySource().fetch(tui.context())
    assert snapshot.window("session").used_percent == 18
    assert len(tui.launches()) == 1


def test_an_account_row_without_email_is_completed_from_the_login(tui, tmp_path):
    card = (FIXTURES / "status_screen.txt").read_text()
    card = card.replace("dev.fixture@example.com (Plus)", "Plus                          ")
    (tmp_path / "card.txt").write_text(card)
    tui.screen(tmp_path / "card.txt")
    write_fresh_auth(tui.home)
    snapshot = PtySource().fetch(tui.context())
    assert snapshot.identity.email == "dev.fixture@example.com"
    assert snapshot.identity.plan == "plus"


def test_limits_not_available(tui):
    tui.screen("status_screen_limits_unavailable.txt")
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context())
    assert raised.value.kind == ErrorKind.UNSUPPORTED


def test_a_silent_tui_hits_the_hard_limit_and_is_killed(tui, monkeypatch):
    monkeypatch.setattr(pty_module, "HARD_LIMIT_SECONDS", 2.5)
    tui.mode("silent")
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context())
    assert raised.value.kind == ErrorKind.TIMEOUT
    assert tui.all_gone()


@pytest.mark.timeout(30)
def test_a_tui_flooding_cursor_queries_cannot_hang_the_probe(tui, monkeypatch):
    """It never reads our answers: the pty's input fills, and a blocking send would hang."""
    monkeypatch.setattr(pty_module, "HARD_LIMIT_SECONDS", 3.0)
    tui.mode("cursor_flood")
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context())
    elapsed = time.monotonic() - started
    print(f"flooding TUI stopped after {elapsed:.2f} s (limit 3 s)")
    assert raised.value.kind in (ErrorKind.TIMEOUT, ErrorKind.UNSUPPORTED)
    assert elapsed < 3.0 + 2.0
    assert tui.all_gone()


def test_the_overall_deadline_bounds_the_probe(tui):
    tui.mode("silent")
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context(deadline=time.monotonic() + 1.5))
    assert raised.value.kind == ErrorKind.TIMEOUT
    assert time.monotonic() - started < 1.5 + 2.0
    assert tui.all_gone()


def test_the_tui_never_touches_the_real_home(tui, tmp_path, monkeypatch):
    """The fake rewrites config.toml on start, as Codex 0.171 does: in a scratch copy only."""
    monkeypatch.setenv("FAKE_CODEX_SEEN", str(tmp_path / "seen.jsonl"))
    (tui.home / "config.toml").write_text('model = "gpt-5"\n')
    (tui.home / "config.toml").chmod(0o644)
    PtySource().fetch(tui.context())
    assert (tui.home / "config.toml").read_text() == 'model = "gpt-5"\n'
    assert stat.S_IMODE((tui.home / "config.toml").stat().st_mode) == 0o644
    assert sorted(p.name for p in tui.home.iterdir()) == ["config.toml"]
    seen = json.loads((tmp_path / "seen.jsonl").read_text())
    assert seen["config"] == 'model = "gpt-5"\n' and not Path(seen["home"]).exists()


def test_a_keyring_login_is_not_probed(tui):
    (tui.home / "config.toml").write_text('cli_auth_credentials_store = "keyring"\n')
    with pytest.raises(SourceError) as raised:
        PtySource().fetch(tui.context())
    assert raised.value.kind == ErrorKind.UNSUPPORTED and "keyring" in raised.value.message
    assert not tui.log.exists()


@pytest.mark.parametrize(
    ("rpc_kind", "tried"),
    [
        ("unsupported", True),
        ("parse", True),
        ("timeout", True),
        ("auth", False),
        ("network", False),
        ("not_installed", False),
    ],
)
def test_auto_tries_pty_only_after_rpc_failures_it_can_get_around(rpc_kind, tried):
    attempts = (Attempt("oauth", False, "auth", "expired"), Attempt("rpc", False, rpc_kind, "x"))
    reason = PtySource().skip_reason(attempts)
    assert (reason is None) == tried


def test_a_network_failure_anywhere_skips_pty():
    attempts = (Attempt("oauth", False, "network", "down"),)
    assert "chatgpt.com" in PtySource().skip_reason(attempts)
