"""The store's integrity check reads the whole database, so it runs only when needed: after a
process ended without closing it (killed, crashed), or when `doctor` asks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codexbar import store as store_module
from codexbar.store import Store


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = Store._check

    def counting(db):
        calls.append("check")
        return real(db)

    monkeypatch.setattr(store_module.Store, "_check", staticmethod(counting))
    return calls


def test_clean_opens_skip_the_check(tmp_path, checks):
    path = tmp_path / "db.sqlite3"
    for _ in range(3):
        Store(path).close()
    assert checks == []
    assert not [p for p in tmp_path.iterdir() if ".open-" in p.name]


def test_a_process_killed_with_the_store_open_makes_the_next_open_check(tmp_path, checks):
    path = tmp_path / "db.sqlite3"
    Store(path).close()
    script = (
        "import os, sys; from pathlib import Path; from codexbar.store import Store; "
        "s = Store(Path(sys.argv[1])); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], timeout=60)
    Store(path).close()
    assert checks == ["check"]
    Store(path).close()  # the stale marker is gone: clean again
    assert checks == ["check"]


def test_another_running_process_holding_the_store_is_not_an_unclean_shutdown(tmp_path, checks):
    path = tmp_path / "db.sqlite3"
    holder = Store(path)  # this process: alive
    Store(path).close()
    holder.close()
    assert checks == []


def test_doctor_always_checks(tmp_path, checks):
    path = tmp_path / "db.sqlite3"
    Store(path).close()
    Store(path, check_integrity=True).close()
    assert checks == ["check"]
