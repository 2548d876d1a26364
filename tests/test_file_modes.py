"""codexbar's own folders are 0700 and its files 0600 whatever the umask: the database holds
emails, account ids and project paths, the secrets file a cookie."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from codexbar import paths, secrets, settings
from codexbar.models import Identity, UsageSnapshot
from codexbar.sources import utc_now
from codexbar.store import Store


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot() -> UsageSnapshot:
    now = utc_now()
    return UsageSnapshot(
        source="oauth", fetched_at=now, observed_at=now, identity=Identity(email="a@b.example")
    )


def test_store_database_and_its_wal_and_shm_are_private(umask_000):
    store = Store()
    store.save_snapshot(snapshot())
    db = paths.store_path()
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    assert all(f.exists() for f in files)
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(db.parent) == 0o700
    store.close()


def test_an_older_world_readable_store_is_tightened(umask_000):
    db = paths.store_path()
    db.parent.mkdir(parents=True, mode=0o777)
    Store().close()
    os.chmod(db, 0o644)
    os.chmod(db.parent, 0o777)
    store = Store()
    store.save_snapshot(snapshot())
    assert mode(db) == 0o600 and mode(db.parent) == 0o700
    assert mode(Path(f"{db}-wal")) == 0o600
    store.close()


def test_missing_parents_are_created_private_too(umask_000, tmp_path, monkeypatch):
    deep = tmp_path / "xdg" / "share" / "codexbar"
    monkeypatch.setenv("CODEXBAR_DATA_DIR", str(deep))
    Store().close()
    assert mode(deep) == mode(deep.parent) == mode(deep.parent.parent) == 0o700


def test_settings_file_and_config_folder_are_private(umask_000):
    settings.save_value("refresh_minutes", 15)
    assert mode(paths.settings_path()) == 0o600
    assert mode(paths.config_dir()) == 0o700


def test_secrets_fallback_file_is_private(umask_000, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    secrets.forget_backend()
    try:
        secrets.set_secret(secrets.COOKIE_HEADER, "__Secure-next-auth.session-token=fm-1234567")
    finally:
        secrets.forget_backend()
    files = list(paths.config_dir().iterdir())
    assert files and all(mode(f) == 0o600 for f in files)
    assert mode(paths.config_dir()) == 0o700


def test_a_folder_that_is_not_ours_keeps_its_mode(umask_000, tmp_path):
    shared = tmp_path / "autostart"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    settings.atomic_write_text(shared / "codexbar.desktop", "[Desktop Entry]\n")
    assert mode(shared) == 0o755


def test_a_data_folder_that_cannot_be_made_is_said_in_words(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("in the way\n")
    monkeypatch.setenv("CODEXBAR_DATA_DIR", str(tmp_path / "a-file" / "codexbar"))
    with pytest.raises(Exception) as raised:
        Store()
    assert "a file where a folder should be" in str(raised.value)
    assert "Errno" not in str(raised.value)
