"""The secret store: a real file-backed keyring backend, no keyring at all, and one that hangs."""

from __future__ import annotations

import stat
import threading

import keyring.backend
import pytest

from codexbar import paths, secrets
from tests.conftest import SECRET_VALUES

HEADER = "__Secure-next-auth.session-token=sec-4e3d2c1b0a99887766; oai-did=sec-did-5544"
OTHER_HEADER = "__Secure-next-auth.session-token=sec-7f6e5d4c3b2a1900"
SECRET_VALUES.extend([HEADER, OTHER_HEADER, "sec-4e3d2c1b0a99887766", "sec-7f6e5d4c3b2a1900"])

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
NULL = "keyring.backends.null.Keyring"
FAIL = "keyring.backends.fail.Keyring"


# Blocks every call until the test ends: an unlock prompt nobody answers.
release_hanging_keyring = threading.Event()


class HangingKeyring(keyring.backend.KeyringBackend):
    priority = 5  # type: ignore[assignment]

    def get_password(self, service, username):
        release_hanging_keyring.wait(60)
        return None

    def set_password(self, service, username, password):
        release_hanging_keyring.wait(60)

    def delete_password(self, service, username):
        release_hanging_keyring.wait(60)


@pytest.fixture(autouse=True)
def fresh_probe(tmp_path, monkeypatch):
    """Each test probes again, and keyrings.alt writes under tmp_path, never the real home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    secrets.forget_backend()
    yield
    secrets.forget_backend()


def _fallback_file():
    return paths.config_dir() / "secrets.json"


def test_named_file_keyring_holds_the_secret_and_our_file_stays_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    where = secrets.set_secret(secrets.COOKIE_HEADER, HEADER)
    assert "PlaintextKeyring" in where and "PYTHON_KEYRING_BACKEND" in where
    assert "may not encrypt" in where  # keyring rates it below "recommended": say so
    assert secrets.describe_backend() == where
    assert secrets.get_secret(secrets.COOKIE_HEADER) == HEADER
    assert not _fallback_file().exists()
    # The value really is in keyrings.alt's own file, under our service name.
    stored = (tmp_path / "data" / "python_keyring" / "keyring_pass.cfg").read_text()
    assert "[codexbar]" in stored
    secrets.delete_secret(secrets.COOKIE_HEADER)
    assert secrets.get_secret(secrets.COOKIE_HEADER) is None
    secrets.delete_secret(secrets.COOKIE_HEADER)  # twice is fine


def test_no_keyring_falls_back_to_a_0600_file(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL)
    where = secrets.set_secret(secrets.COOKIE_HEADER, HEADER)
    assert "secrets.json" in where and "0600, not encrypted: no keyring available" in where
    path = _fallback_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.get_secret(secrets.COOKIE_HEADER) == HEADER
    secrets.set_secret(secrets.COOKIE_HEADER, OTHER_HEADER)  # replaced atomically, still 0600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.get_secret(secrets.COOKIE_HEADER) == OTHER_HEADER
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".secrets.json.")]
    secrets.delete_secret(secrets.COOKIE_HEADER)
    assert secrets.get_secret(secrets.COOKIE_HEADER) is None and not path.exists()


def test_disabled_keyring_also_uses_the_file(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NULL)
    assert "the keyring is disabled" in secrets.set_secret(secrets.COOKIE_HEADER, HEADER)
    assert secrets.get_secret(secrets.COOKIE_HEADER) == HEADER


def test_auto_detection_never_picks_a_plaintext_backend_silently():
    # Here there is no Secret Service (no D-Bus) but keyrings.alt is installed: keyring itself
    # would pick its plaintext file. We use our own, clearly labelled, file instead.
    where = secrets.describe_backend()
    assert where.startswith("in ") and "secrets.json" in where and "not encrypted" in where


def test_other_secrets_in_the_file_survive_a_delete(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL)
    secrets.set_secret("api-key", OTHER_HEADER)
    secrets.set_secret(secrets.COOKIE_HEADER, HEADER)
    secrets.delete_secret(secrets.COOKIE_HEADER)
    assert secrets.get_secret("api-key") == OTHER_HEADER


def test_a_copy_left_in_the_file_moves_to_the_keyring(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL)
    secrets.set_secret(secrets.COOKIE_HEADER, HEADER)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)  # a keyring became available
    secrets.set_secret(secrets.COOKIE_HEADER, OTHER_HEADER)
    assert not _fallback_file().exists()
    assert secrets.get_secret(secrets.COOKIE_HEADER) == OTHER_HEADER


def test_an_unreadable_fallback_file_reads_as_nothing(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL)
    _fallback_file().parent.mkdir(parents=True, exist_ok=True)
    _fallback_file().write_text("{not json")
    assert secrets.get_secret(secrets.COOKIE_HEADER) is None


@pytest.mark.timeout(30)
def test_a_hanging_keyring_is_given_up_on(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.test_secrets.HangingKeyring")
    monkeypatch.setattr(secrets, "PROBE_TIMEOUT_SECONDS", 0.3)
    try:
        where = secrets.set_secret(secrets.COOKIE_HEADER, HEADER)
        assert "did not answer within 0.3 s" in where and "secrets.json" in where
        assert secrets.get_secret(secrets.COOKIE_HEADER) == HEADER
        assert stat.S_IMODE(_fallback_file().stat().st_mode) == 0o600
    finally:
        release_hanging_keyring.set()


def test_cookie_header_cleaning_never_quotes_the_input():
    assert secrets.clean_cookie_header("Cookie:  a=1;b=2 ;\n") == "a=1; b=2"
    with pytest.raises(ValueError) as raised:
        secrets.clean_cookie_header("sec-no-pairs-here-1234")
    assert "sec-no-pairs" not in str(raised.value)
    with pytest.raises(ValueError):
        secrets.clean_cookie_header("   ")
