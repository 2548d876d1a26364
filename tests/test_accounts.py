"""Several accounts: two Codex homes, each logged in to its own account and pointed at its own
local backend (different emails and figures), through `usage` (text and JSON), the tray model
and the dashboard API; and one backend that accepts and never answers must not delay the other
account's figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codexbar import settings as settings_module
from codexbar.app import App
from codexbar.dashboard.api import Dashboard
from codexbar.dashboard.limits import limits_fetcher
from codexbar.store import Store
from codexbar.tray.app import TrayApp
from tests.conftest import (
    FIXTURES,
    SECRET_VALUES,
    _reissue_jwt,
    point_home_at,
    write_fresh_auth,
)
from tests.conftest import (
    run_codexbar as run,
)
from tests.fake_backend import FakeBackend, Reply
from tests.tray_helpers import RecordingTray, fresh_wham

USAGE_PATH = "/backend-api/wham/usage"
AUTH_CLAIM = "https://api.openai.com/auth"
HANG_SECONDS = 120.0  # the hanging backend holds the request this long (ended at teardown)
OAUTH_TIMEOUT_SECONDS = 15.0  # providers/oauth.py: the hang's deadline
WELL_BEFORE_SECONDS = 10.0


@dataclass
class Account:
    home: Path
    email: str
    account_id: str
    plan: str
    backend: FakeBackend


def wham(session_used: float, weekly_used: float, balance: str, account: Account) -> dict:
    """The fixture's usage body with these figures, for this account."""
    body = fresh_wham(FIXTURES / "wham_usage.json")
    body.update(email=account.email, account_id=account.account_id, plan_type=account.plan)
    body["rate_limit"]["primary_window"]["used_percent"] = session_used
    body["rate_limit"]["secondary_window"]["used_percent"] = weekly_used
    body["credits"]["balance"] = balance
    return body


def make_account(root: Path, name: str, email: str, account_id: str, plan: str) -> Account:
    """A Codex home logged in as `email` (its own account id and plan), talking to a backend of
    its own."""
    home = root / name
    path = write_fresh_auth(home)
    data = json.loads(path.read_text())
    tokens = data["tokens"]
    claims = {"chatgpt_account_id": account_id, "chatgpt_plan_type": plan}
    tokens["id_token"] = _reissue_jwt(tokens["id_token"], email=email, **{AUTH_CLAIM: claims})
    tokens["account_id"] = account_id
    SECRET_VALUES.append(tokens["id_token"])
    path.write_text(json.dumps(data, indent=2))
    backend = FakeBackend().start()
    point_home_at(home, backend)
    return Account(home, email, account_id, plan, backend)


@pytest.fixture
def accounts(tmp_path) -> Iterator[tuple[Account, Account]]:
    """Work (plenty left) and personal (nearly used up), both configured in the settings."""
    work = make_account(tmp_path, "work", "work@example.com", "acct-work", "pro")
    personal = make_account(tmp_path, "personal", "me@example.org", "acct-me", "plus")
    work.backend.routes[USAGE_PATH] = Reply(200, wham(10, 20, "50.25", work))
    personal.backend.routes[USAGE_PATH] = Reply(200, wham(70, 85, "3.25", personal))
    settings_module.save_value("codex_homes", [str(work.home), str(personal.home)])
    settings_module.save_value("source", "oauth")
    yield work, personal
    work.backend.stop()
    personal.backend.stop()


def hang(account: Account) -> None:
    account.backend.routes[USAGE_PATH] = Reply(200, {}, delay=HANG_SECONDS)


# -- codexbar usage -------------------------------------------------------------------------------


def test_usage_prints_a_block_per_account(accounts):
    work, personal = accounts
    result = run("usage")
    assert result.returncode == 0, result.stderr
    blocks = {}
    for block in result.stdout.split("== ")[1:]:
        title, _, body = block.partition("\n")
        blocks[title] = body
    assert set(blocks) == {
        f"work@example.com ({work.home})",
        f"me@example.org ({personal.home})",
    }
    work_text = blocks[f"work@example.com ({work.home})"]
    personal_text = blocks[f"me@example.org ({personal.home})"]
    assert "90% left" in work_text and "80% left" in work_text and "50.25" in work_text
    assert "30% left" in personal_text and "15% left" in personal_text and "3.25" in personal_text
    assert "first Codex home only" not in result.stderr


def test_usage_json_lists_the_accounts_in_the_order_of_the_homes(accounts):
    work, personal = accounts
    result = run("usage", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert list(body) == ["accounts"]
    first, second = body["accounts"]
    assert (first["home"], first["identity"]["email"]) == (str(work.home), work.email)
    assert (second["home"], second["identity"]["email"]) == (str(personal.home), personal.email)
    assert first["identity"]["plan"] == "pro" and second["identity"]["plan"] == "plus"
    used = {w["id"]: w["used_percent"] for w in second["windows"]}
    assert used == {"session": 70.0, "weekly": 85.0}
    assert first["credits"]["balance"] == "50.25" and second["credits"]["balance"] == "3.25"
    one = run("usage", "--json", "--home", str(work.home))  # one home: today's object
    assert "accounts" not in json.loads(one.stdout) and "home" not in json.loads(one.stdout)
    assert set(json.loads(one.stdout)) == set(first) - {"home"}


@pytest.mark.parametrize("pick", ["email", "EMAIL", "home"])
def test_account_picks_one_by_email_or_home(accounts, pick):
    _work, personal = accounts
    wanted = {"email": personal.email, "EMAIL": personal.email.upper(), "home": str(personal.home)}
    result = run("usage", "--json", "--account", wanted[pick])
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert "accounts" not in body and body["identity"]["email"] == personal.email
    assert personal.backend.requests and not accounts[0].backend.requests  # only that one read


def test_an_unknown_account_is_refused_in_words(accounts):
    result = run("usage", "--account", "nobody@example.com")
    assert result.returncode == 64
    assert "no configured account has the email or Codex home nobody@example.com" in result.stderr
    assert "Traceback" not in result.stderr


def test_exit_code_is_not_zero_when_one_account_is_not_current(accounts):
    _work, personal = accounts
    personal.backend.routes[USAGE_PATH] = Reply(503, {"detail": "down"})
    result = run("usage", "--json")
    assert result.returncode != 0
    first, second = json.loads(result.stdout)["accounts"]
    assert first["stale"] is False and first["error"] is None
    assert second["error"] is not None and second["stale"] is True


def test_a_hanging_backend_does_not_delay_the_other_accounts_block(accounts):
    work, personal = accounts
    hang(work)  # the first home hangs: its block cannot come first
    started, rest = time.monotonic(), ""
    process = subprocess.Popen(
        [sys.executable, "-m", "codexbar", "usage"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        first_title = process.stdout.readline()
        arrived = time.monotonic() - started
        assert first_title == f"== me@example.org ({personal.home})\n"
        assert process.poll() is None  # the hanging account is still being read
        assert arrived < WELL_BEFORE_SECONDS, f"the answering account took {arrived:.1f} s"
        watchdog = threading.Timer(60, process.kill)  # a hang guard for the read below
        watchdog.start()
        rest = process.stdout.read()  # the rest of the first block, then the hanging one's
        watchdog.cancel()
        process.wait(10)
    finally:
        process.kill()
        process.wait()
        if process.stderr is not None:
            errors = process.stderr.read()
            assert not any(secret in errors + rest for secret in SECRET_VALUES)
    assert "30% left" in rest  # the answering account's figures, then the hanging one's block
    assert f"== {work.home}\n" in rest and "Codex usage is unavailable." in rest
    assert process.returncode == 4  # a timeout: the hanging account is not current


def test_fetch_accounts_yields_the_fast_account_first(accounts):
    """The library's own promise, without a process around it."""
    work, personal = accounts
    hang(work)
    app = App.load()
    started = time.monotonic()
    readings = app.fetch_accounts(interactive=False, store=Store())
    try:
        first = next(readings)
        arrived = time.monotonic() - started
        assert first.home == personal.home and first.email == personal.email
        assert first.reading.current and arrived < WELL_BEFORE_SECONDS
        second = next(readings)
        assert second.home == work.home and not second.reading.current
        assert second.reading.failure is not None
    finally:
        readings.close()
        app.close()


# -- the store -----------------------------------------------------------------------------------


def test_each_account_keeps_its_own_last_reading(accounts):
    """The reading rule's reference is per account: a failing account shows its own last
    reading, never the other one's."""
    work, personal = accounts
    assert run("usage").returncode == 0
    # The other account's reading is now the store's newest of all.
    assert run("usage", "--account", personal.email).returncode == 0
    work.backend.routes[USAGE_PATH] = Reply(503, {"detail": "down"})
    body = json.loads(run("usage", "--json").stdout)
    shown = {a["home"]: a for a in body["accounts"]}
    kept = shown[str(work.home)]
    assert kept["from_store"] is True and kept["identity"]["email"] == work.email
    assert {w["id"]: w["used_percent"] for w in kept["windows"]} == {"session": 10, "weekly": 20}
    store = Store()
    assert store.last_snapshot(work.home).identity.email == work.email
    assert store.last_snapshot(personal.home).identity.email == personal.email


# -- the tray ------------------------------------------------------------------------------------


def make_tray() -> tuple[TrayApp, RecordingTray]:
    tray = RecordingTray()
    return TrayApp(App.load(), tray, cost=None), tray


def sections(texts: list[str]) -> list[str]:
    return [t for t in texts if t.startswith("Codex — ")]


def test_the_tray_has_a_section_per_account_and_shows_the_most_constrained(accounts):
    work, _personal = accounts
    app, tray = make_tray()
    try:
        assert app.refresh_once()
        texts = tray.texts
        assert sections(texts) == [
            "Codex — work@example.com · Pro",
            "Codex — me@example.org · Plus",
        ]
        work_at = texts.index("Codex — work@example.com · Pro")
        personal_at = texts.index("Codex — me@example.org · Plus")
        work_rows = texts[work_at:personal_at]
        personal_rows = texts[personal_at : texts.index("-", personal_at)]
        assert any(t.startswith("Session: 90% left") for t in work_rows)
        assert "Credits: 50.25" in " ".join(work_rows)
        assert any(t.startswith("Session: 30% left") for t in personal_rows)
        assert any(t.startswith("Weekly: 15% left") for t in personal_rows)
        assert any(t.startswith("Updated just now via OAuth") for t in personal_rows)
        # The icon and tooltip show the most constrained account: 15% left in its week.
        view = tray.views[-1]
        assert view.tooltip.title == "Codex usage — me@example.org"
        assert view.title.startswith("Codex: session 30% left · weekly 15% left")
        # The user picks the other one.
        settings_module.save_value("tray.account", work.email)
        assert app.check_settings()
        view = tray.views[-1]
        assert view.tooltip.title == "Codex usage — work@example.com"
        assert view.title.startswith("Codex: session 90% left · weekly 80% left")
        assert sections(tray.texts) == sections(texts)  # the menu still shows both
    finally:
        app.quit()


def test_tray_notifications_name_the_account(accounts):
    _work, personal = accounts
    app, _tray = make_tray()
    sent: list[str] = []
    app.notifier.send = lambda title, body, icon=None: sent.append(title) or True
    try:
        app.refresh_once()  # the baseline; 85% of the week used already warns of its pace
        assert sent == ["Codex weekly window may run out early — me@example.org"]
        personal.backend.routes[USAGE_PATH] = Reply(200, wham(100, 85, "3.25", personal))
        app.refresh_once()
        assert sent[1:] == ["Codex session window used up — me@example.org"]
    finally:
        app.quit()


def shown_texts(tray: RecordingTray) -> list[str]:
    return tray.texts if tray.updates else []


def test_a_hanging_account_does_not_delay_the_trays_other_figures(accounts):
    work, _personal = accounts
    hang(work)
    app, tray = make_tray()
    done = threading.Event()
    thread = threading.Thread(target=lambda: (app.refresh_once(), done.set()), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        while not any(
            t.startswith("Session: 30% left") for t in (tray.texts if tray.updates else [])
        ):
            assert time.monotonic() - started < 60, "the answering account never showed"
            time.sleep(0.05)
        arrived = time.monotonic() - started
        assert not done.is_set()  # the hanging account is still being read
        assert arrived < WELL_BEFORE_SECONDS, f"the answering account took {arrived:.1f} s"
        assert "Codex — me@example.org · Plus" in tray.texts
        assert done.wait(OAUTH_TIMEOUT_SECONDS + 30)
        texts = tray.texts
        assert f"Codex — {work.home}" in texts  # named by its home: it never answered
        assert any("timed out" in t.lower() or "did not answer" in t.lower() for t in texts)
    finally:
        app.quit()


# -- the dashboard -------------------------------------------------------------------------------


def test_dashboard_limits_show_each_account_and_the_picker_works_per_home(accounts):
    work, personal = accounts
    store = Store()
    board = Dashboard(
        [work.home, personal.home], store, fetch_usage=limits_fetcher(settings_module.load())
    )
    try:
        both = board.api_limits({})["accounts"]
        assert [(a["home_index"], a["identity"]["email"]) for a in both] == [
            (0, work.email),
            (1, personal.email),
        ]
        assert {w["id"]: w["used_percent"] for w in both[1]["windows"]} == {
            "session": 70,
            "weekly": 85,
        }
        (only,) = board.api_limits({"home": "1"}, ttl=0)["accounts"]
        assert only["identity"]["email"] == personal.email
        homes = board.api_homes({})["homes"]
        assert [(h["path"], h["email"]) for h in homes] == [
            (str(work.home), work.email),
            (str(personal.home), personal.email),
        ]
    finally:
        store.close()


def test_dashboard_limits_are_not_held_up_by_a_hanging_account(accounts):
    """/api/limits reads the accounts at once: the answering account's reading is in (and
    saved) while the hanging one is still being read."""
    work, personal = accounts
    hang(work)
    store = Store()
    board = Dashboard(
        [work.home, personal.home], store, fetch_usage=limits_fetcher(settings_module.load())
    )
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(board.api_limits({})), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        watcher = Store()
        while watcher.last_snapshot(personal.home) is None:
            assert time.monotonic() - started < 60, "the answering account was never read"
            time.sleep(0.05)
        arrived = time.monotonic() - started
        assert thread.is_alive()  # the hanging account is still being read
        assert arrived < WELL_BEFORE_SECONDS, f"the answering account took {arrived:.1f} s"
        thread.join(OAUTH_TIMEOUT_SECONDS + 30)
        fast = answer["accounts"][1]
        assert fast["identity"]["email"] == personal.email and fast["stale"] is False
        assert answer["accounts"][0]["error"] is not None
        (only,) = board.api_limits({"home": "1"})["accounts"]  # the picker: that home alone
        assert only["identity"]["email"] == personal.email
        watcher.close()
    finally:
        store.close()


# -- status bars and metrics ---------------------------------------------------------------------


def test_bar_shows_the_most_constrained_account_or_the_picked_one(accounts):
    work, _personal = accounts
    result = run("bar", "--format", "{account} {session_left} {weekly_left}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "me@example.org 30 15"
    settings_module.save_value("tray.account", str(work.home))
    assert run("bar", "--format", "{account} {left}").stdout.strip() == "work@example.com 80"


def test_metrics_give_each_account_its_label_set(accounts):
    result = run("metrics", "--no-fetch")  # nothing stored yet: no figures, but no mix-up
    assert "work@example.com" not in result.stdout
    assert run("usage").returncode == 0  # now both accounts are stored
    result = run("metrics", "--no-fetch")
    assert result.returncode == 0, result.stderr
    values = {}
    for line in result.stdout.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    figures = (("work@example.com", 0.1, 0.2), ("me@example.org", 0.7, 0.85))
    for email, session, weekly in figures:
        ratio = f'codexbar_window_used_ratio{{account="{email}",window='
        assert values[ratio + '"session"}'] == session
        assert values[ratio + '"weekly"}'] == weekly
        assert values[f'codexbar_source_up{{account="{email}"}}'] == 1


def test_a_home_named_twice_is_one_account(accounts):
    work, _personal = accounts
    result = run("usage", "--json", "--home", str(work.home), "--home", str(work.home) + "/")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["identity"]["email"] == work.email  # one object
