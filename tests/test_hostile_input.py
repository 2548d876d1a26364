"""Issue 10 #4, #6 and #15 (the parsing parts): bad values from servers and files become a clear
note or message, never a healthy-looking figure, a forged line, a hang or a traceback."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from codexbar import paths
from codexbar import settings as settings_module
from codexbar.codec import snapshot_to_dict
from codexbar.codex_home import read_codex_config
from codexbar.engine import UsageReport
from codexbar.models import Identity, RateWindow, UsageSnapshot
from codexbar.reading import choose
from codexbar.report import render_text, report_to_json
from codexbar.settings import Settings
from codexbar.sources import SourceContext
from codexbar.store import Store
from codexbar.tray.menu import TrayState, build_menu
from codexbar.wham import parse_wham_usage
from providers.logs import SessionLogSource
from providers.rpc import snapshot_from_rate_limits
from tests.conftest import FIXTURES

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
WHAM = json.loads((FIXTURES / "wham_usage.json").read_text())
LEGACY = (FIXTURES / "legacy_rollout_lines.jsonl").read_text().splitlines()


def wham_with(**changes) -> dict:
    body = json.loads(json.dumps(WHAM))
    for path, value in changes.items():
        node = body
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return body


def decode(body: dict) -> UsageSnapshot:
    return parse_wham_usage(body, source="oauth", fetched_at=NOW)


def text(snapshot: UsageSnapshot) -> str:
    return render_text(choose(UsageReport(snapshot), None, NOW), {"oauth": "OAuth"})


# -- #4 out-of-range figures ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-12, -0.5, float("nan"), float("inf"), 5000, 10**400])
def test_an_impossible_percentage_is_dropped_with_a_note(bad):
    snapshot = decode(wham_with(rate_limit__primary_window__used_percent=bad))
    assert snapshot.window("session") is None  # never "100% left", never "not available"
    assert snapshot.window("weekly").used_percent == 45
    assert any(
        "session window" in note and "not a usable percentage" in note for note in snapshot.notes
    )
    report = text(snapshot)
    assert "Note:" in report and "100% left" not in report
    assert "session window" in report_to_json(choose(UsageReport(snapshot), None, NOW))["notes"][0]


def test_nan_and_infinity_literals_in_a_real_body(tmp_path):
    raw = json.dumps(WHAM).replace('"used_percent": 45', '"used_percent": NaN')
    raw = raw.replace('"used_percent": 18', '"used_percent": -Infinity')
    snapshot = decode(json.loads(raw))
    assert snapshot.windows == () or all(
        w.window_minutes not in (300, 10080) for w in snapshot.windows if w.is_main
    )
    assert len(snapshot.notes) == 2


def test_a_negative_credit_pool_or_balance_is_not_shown():
    body = wham_with(credits__balance="-50")
    body["spend_control"] = {"reached": False, "individual_limit": {"limit": "-1", "used": "5"}}
    snapshot = decode(body)
    assert snapshot.credits.balance is None and snapshot.credit_pool is None
    assert len(snapshot.notes) == 2


# -- #4 control characters from outside ---------------------------------------------------------


FORGED = "plus\n\x1b[2KSession: 100% left\r\u202e"


def test_control_characters_never_reach_text_json_or_menu():
    body = wham_with(plan_type=FORGED, email="me@example.com\nPlan: Enterprise")
    body["additional_rate_limits"] = [
        {
            "limit_name": "Spark\n\tWeekly: 100% left",
            "metered_feature": "codex_x",
            "rate_limit": WHAM["rate_limit"],
        }
    ]
    snapshot = decode(body)
    for value in (snapshot.identity.plan, snapshot.identity.email):
        assert not any(ord(c) < 32 or c == "\u202e" for c in value)
    report = text(snapshot)
    lines = report.splitlines()
    assert not any(line.startswith("Session: 100% left") for line in lines)
    assert not any(line.startswith("Plan: Enterprise") for line in lines)
    assert "\x1b" not in report and "\r" not in report
    dumped = json.dumps(report_to_json(choose(UsageReport(snapshot), None, NOW)))
    assert "\\n" not in dumped and "\\u001b" not in dumped
    rows = [row.text for row in build_menu(TrayState(snapshot=snapshot), NOW)]
    assert all("\n" not in row and "\x1b" not in row for row in rows)


def test_identity_and_limit_names_are_cleaned_whatever_the_source():
    window = RateWindow(10, 300, limit_id="x\ny", limit_name="a\x00b")
    assert (window.limit_id, window.limit_name) == ("x y", "a b")
    assert Identity(email="a@b.c\r\n", plan="\tpro").plan == "pro"


# -- #15 huge integers, odd shapes --------------------------------------------------------------


def test_huge_integers_in_reset_times_and_windows_do_not_crash_wham():
    body = wham_with(
        rate_limit__primary_window__reset_at=10**400,
        rate_limit__primary_window__reset_after_seconds=10**5000,
        rate_limit__secondary_window__limit_window_seconds=10**400,
    )
    snapshot = decode(body)
    assert snapshot.window("session").resets_at is None
    assert snapshot.window("session").used_percent == 18


def test_huge_integers_in_app_server_values_do_not_crash():
    recorded = FIXTURES / "real_cli_0.171.0" / "rate_limits_promax_reset_credits.json"
    result = json.loads(recorded.read_text())
    main = result["rateLimits"]
    main["primary"]["resetsAt"] = 10**400
    main["primary"]["windowDurationMins"] = 10**400
    main["credits"]["balance"] = 10**5000
    result["rateLimitsByLimitId"]["codex"] = main
    result["rateLimitResetCredits"]["availableCount"] = 10**400
    snapshot = snapshot_from_rate_limits(result, None, source="rpc", fetched_at=NOW)
    assert snapshot.window("window").used_percent == 37
    assert snapshot.credits.balance is None


def session_home(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "home" / "sessions" / "2026" / "11" / "21"
    folder.mkdir(parents=True)
    (folder / "rollout-x.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "home"


def fetch_logs(home: Path) -> UsageSnapshot:
    ctx = SourceContext(home=home, settings=Settings(), env={}, now=lambda: NOW)
    return SessionLogSource().fetch(ctx)


def test_a_huge_percentage_in_the_newest_log_line_costs_only_that_window(tmp_path):
    good = LEGACY[9]
    newer = json.loads(good)
    newer["timestamp"] = "2025-12-09T12:00:00.000Z"
    line = json.dumps(newer, separators=(",", ":"))
    line = line.replace('"used_percent":21.0', '"used_percent":1' + "0" * 400)
    snapshot = fetch_logs(session_home(tmp_path, [good, line]))
    assert snapshot.window("session") is None  # the newest reading, minus its bad window
    assert snapshot.window("weekly") is not None
    assert any("not a usable percentage" in note for note in snapshot.notes)


@pytest.mark.parametrize(
    "bad",
    [
        # a number too long for Python's int parser
        lambda good: good.replace('"resets_at":', '"resets_at":1' + "0" * 5000 + ',"x":'),
        # nested ten thousand deep: RecursionError in json
        lambda good: '{"timestamp":"2025-12-09T12:00:00Z","rate_limits":' + "[" * 100000,
        lambda good: '{"rate_limits":' + "[" * 100000 + "]" * 100000 + "}",
    ],
)
def test_one_bad_log_line_never_disables_the_log_source(tmp_path, bad):
    good = LEGACY[9]
    newer = json.loads(good)
    newer["timestamp"] = "2025-12-09T12:00:00.000Z"
    line = bad(json.dumps(newer, separators=(",", ":")))
    snapshot = fetch_logs(session_home(tmp_path, [good, line]))
    assert snapshot.window("session").used_percent == 21.0


def test_a_stored_reading_that_is_not_an_object_is_skipped(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    good = UsageSnapshot("oauth", NOW, NOW, (RateWindow(18, 300),))
    store.save_snapshot(good)
    later = NOW.timestamp() + 60
    for data in ("[1, 2]", '"text"', "42", "null", "{not json", '{"windows": 5}', "[" * 100000):
        store.db.execute(
            "INSERT INTO snapshots(source, fetched_at, observed_at, data) VALUES (?, ?, ?, ?)",
            ("oauth", later, later, data),
        )
    assert store.last_snapshot() == good
    assert store.snapshots_since(datetime(2020, 1, 1, tzinfo=UTC)) == [good]


def test_snapshot_round_trip_keeps_notes():
    snapshot = UsageSnapshot("oauth", NOW, NOW, (RateWindow(18, 300),), notes=("Ignored x.",))
    store_shape = snapshot_to_dict(snapshot)
    assert store_shape["notes"] == ["Ignored x."]


# -- #15 our settings file and Codex's config.toml -----------------------------------------------


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "codexbar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


DEEP_TOML = "show_used = true\nx = " + "[" * 100000 + "]" * 100000 + "\n"


def test_deeply_nested_settings_file_is_a_clear_problem_not_a_crash():
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(DEEP_TOML)
    loaded = settings_module.load()
    assert loaded.values == {} and "nested too deeply" in loaded.problems[0]
    result = run_cli("config", "list")
    assert result.returncode == 0 and "nested too deeply" in result.stderr
    result = run_cli("config", "set", "show_used", "false")
    assert result.returncode == 64 and "nested too deeply" in result.stderr
    assert path.read_text() == DEEP_TOML  # kept as it was


def test_settings_file_that_is_not_utf8_is_kept_and_explained():
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"show_used = true\n# caf\xe9\n")
    result = run_cli("config", "set", "show_used", "false")
    assert result.returncode == 64 and "not UTF-8 text" in result.stderr
    assert path.read_bytes() == b"show_used = true\n# caf\xe9\n"
    assert "not UTF-8 text" in settings_module.load().problems[0]


def test_a_folder_in_place_of_the_settings_file():
    path = paths.settings_path()
    path.mkdir(parents=True)
    result = run_cli("config", "set", "show_used", "true")
    assert result.returncode == 64 and "is a folder" in result.stderr
    assert path.is_dir()
    assert "is a folder" in run_cli("config", "list").stderr


def test_a_fifo_in_place_of_our_settings_or_codexs_config_does_not_hang(tmp_path):
    path = paths.settings_path()
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    result = run_cli("config", "get", "source", timeout=15)
    assert result.returncode == 0 and "not a regular file" in result.stderr
    assert stat.S_ISFIFO(path.stat().st_mode)

    home = tmp_path / "codex-home"
    home.mkdir()
    os.mkfifo(home / "config.toml")
    done = threading.Event()
    result_box: list = []
    worker = threading.Thread(
        target=lambda: (result_box.append(read_codex_config(home)), done.set()), daemon=True
    )
    worker.start()
    assert done.wait(5), "reading a FIFO config.toml hung"
    assert result_box == [{}]


def test_deeply_nested_codex_config_is_ignored(tmp_path):
    (tmp_path / "config.toml").write_text(DEEP_TOML)
    assert read_codex_config(tmp_path) == {}


def _as_unprivileged() -> list[str] | None:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


@pytest.mark.skipif(_as_unprivileged() is None, reason="running as root without setpriv")
def test_a_read_only_settings_folder_is_a_clear_message():
    prefix = _as_unprivileged()
    assert prefix is not None
    root = Path(tempfile.mkdtemp(prefix="codexbar-ro-"))
    try:
        root.chmod(0o755)
        config = root / "config"
        config.mkdir()
        (config / "config.toml").write_text("show_used = true\n")
        config.chmod(0o555)
        (config / "config.toml").chmod(0o444)
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "codexbar", "config", "set", "theme", "dark"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "CODEXBAR_CONFIG_DIR": str(config), "HOME": str(root)},
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 64
        assert "permission denied" in result.stderr and "nothing was changed" in result.stderr
        assert (config / "config.toml").read_text() == "show_used = true\n"
    finally:
        for path in (root / "config", root):
            path.chmod(0o755)
        shutil.rmtree(root)


def test_a_fifo_named_like_a_rollout_is_skipped_without_hanging(tmp_path):
    home = session_home(tmp_path, [LEGACY[9]])
    os.mkfifo(home / "sessions" / "2026" / "11" / "21" / "rollout-fifo.jsonl")
    box: list = []
    worker = threading.Thread(target=lambda: box.append(fetch_logs(home)), daemon=True)
    worker.start()
    worker.join(5)
    assert box, "a FIFO in sessions/ hung the log source"
    assert box[0].window("session").used_percent == 21.0
