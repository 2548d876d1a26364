"""Real browser cookie stores, built here and read through browser-cookie3 for real.

The builders (make_firefox_store, make_chrome_store) are also used by the web source's tests.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import browser_cookie3
import pytest
from Cryptodome.Cipher import AES
from Cryptodome.Protocol.KDF import PBKDF2
from Cryptodome.Util.Padding import pad

from providers import _browser_cookies as bc
from tests.conftest import SECRET_VALUES

FAR_FUTURE = int(time.time()) + 365 * 86400
# The values a signed-in chatgpt.com profile holds; every one is a secret for the suite's guard.
SESSION_TOKEN = "ffx-session-6b1f0e9a4c2d8e7f5a3b1c0d9e8f7a6b"
DEVICE_ID = "ffx-device-0a9b8c7d6e5f"
CF_CLEARANCE = "ffx-cfclear-7e6d5c4b3a29"
OPENAI_COOKIE = "ffx-openai-auth-1f2e3d4c5b6a"
OTHER_SITE = "ffx-elsewhere-99aa88bb77cc"
CHROME_SESSION = "chr-session-5d4c3b2a1f0e9d8c7b6a"
CHROME_OTHER = "chr-elsewhere-11223344556677"
SECRET_VALUES.extend(
    [
        SESSION_TOKEN,
        DEVICE_ID,
        CF_CLEARANCE,
        OPENAI_COOKIE,
        OTHER_SITE,
        CHROME_SESSION,
        CHROME_OTHER,
    ]
)

# (host, name, value): the chatgpt.com session, its helpers, openai.com, and sites to ignore.
SIGNED_IN = [
    (".chatgpt.com", "__Secure-next-auth.session-token", SESSION_TOKEN),
    ("chatgpt.com", "oai-did", DEVICE_ID),
    (".chatgpt.com", "cf_clearance", CF_CLEARANCE),
    ("auth.openai.com", "auth-session", OPENAI_COOKIE),
    (".example.com", "sid", OTHER_SITE),
    ("notchatgpt.com", "sid", OTHER_SITE),
]


def make_firefox_store(root: Path, cookies: list[tuple[str, str, str]]) -> Path:
    """A Firefox profile folder under `root` (with profiles.ini) holding `cookies`."""
    profile = root / "x7kq2v1m.default-release"
    profile.mkdir(parents=True, exist_ok=True)
    (root / "profiles.ini").write_text(
        "[Install4F96D1932A9F858E]\nDefault=x7kq2v1m.default-release\nLocked=1\n\n"
        "[Profile0]\nName=default-release\nIsRelative=1\nPath=x7kq2v1m.default-release\n"
        "Default=1\n\n[General]\nStartWithLastProfile=1\nVersion=2\n"
    )
    path = profile / "cookies.sqlite"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL "
        "DEFAULT '', name TEXT, value TEXT, host TEXT, path TEXT, expiry INTEGER, "
        "lastAccessed INTEGER, creationTime INTEGER, isSecure INTEGER, isHttpOnly INTEGER, "
        "inBrowserElement INTEGER DEFAULT 0, sameSite INTEGER DEFAULT 0, rawSameSite INTEGER "
        "DEFAULT 0, schemeMap INTEGER DEFAULT 0, isPartitionedAttributeSet INTEGER DEFAULT 0, "
        "CONSTRAINT moz_uniqueid UNIQUE (name, host, path, originAttributes))"
    )
    now_us = int(time.time() * 1e6)
    for host, name, value in cookies:
        db.execute(
            "INSERT INTO moz_cookies (name, value, host, path, expiry, lastAccessed, "
            "creationTime, isSecure, isHttpOnly) VALUES (?, ?, ?, '/', ?, ?, ?, 1, 1)",
            (name, value, host, FAR_FUTURE, now_us, now_us),
        )
    db.commit()
    db.close()
    return path


def _chrome_encrypt(
    host: str, value: str, *, password: bytes, version: int, prefix: bytes
) -> bytes:
    key = PBKDF2(password, b"saltysalt", 16, 1)
    plain = value.encode()
    if version >= 24:  # Chrome ≥ 130 prepends the SHA-256 of the host
        plain = hashlib.sha256(host.encode()).digest() + plain
    return prefix + AES.new(key, AES.MODE_CBC, b" " * 16).encrypt(pad(plain, 16))


def make_chrome_store(
    profile: Path,
    cookies: list[tuple[str, str, str]],
    *,
    version: int = 24,
    password: bytes = b"peanuts",
    prefix: bytes = b"v10",
) -> Path:
    """A Chromium `Cookies` database in `profile` whose values are encrypted like Linux Chrome's
    "basic" store (v10, the built-in "peanuts" key)."""
    profile.mkdir(parents=True, exist_ok=True)
    path = profile / "Cookies"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR)")
    db.execute("INSERT INTO meta VALUES ('version', ?)", (str(version),))
    db.execute(
        "CREATE TABLE cookies (creation_utc INTEGER NOT NULL, host_key TEXT NOT NULL, "
        "top_frame_site_key TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, value TEXT NOT NULL, "
        "encrypted_value BLOB NOT NULL DEFAULT '', path TEXT NOT NULL, expires_utc INTEGER NOT "
        "NULL, is_secure INTEGER NOT NULL, is_httponly INTEGER NOT NULL, last_access_utc "
        "INTEGER NOT NULL, has_expires INTEGER NOT NULL DEFAULT 1, is_persistent INTEGER NOT "
        "NULL DEFAULT 1, priority INTEGER NOT NULL DEFAULT 1, samesite INTEGER NOT NULL DEFAULT "
        "-1, source_scheme INTEGER NOT NULL DEFAULT 0, source_port INTEGER NOT NULL DEFAULT -1, "
        "last_update_utc INTEGER NOT NULL DEFAULT 0)"
    )
    nt_now = int((time.time() + 11644473600) * 1e6)
    nt_expiry = int((FAR_FUTURE + 11644473600) * 1e6)
    for host, name, value in cookies:
        encrypted = _chrome_encrypt(host, value, password=password, version=version, prefix=prefix)
        db.execute(
            "INSERT INTO cookies (creation_utc, host_key, name, value, encrypted_value, path, "
            "expires_utc, is_secure, is_httponly, last_access_utc) "
            "VALUES (?, ?, ?, '', ?, '/', ?, 1, 1, ?)",
            (nt_now, host, name, encrypted, nt_expiry, nt_now),
        )
    db.commit()
    db.close()
    return path


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """A fresh HOME with no D-Bus: browser-cookie3 and our discovery both look only there."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    return {"HOME": str(home)}


def _assert_only_chatgpt_and_openai(found: bc.CookieSet, session_value: str) -> None:
    hosts = {c.domain for c in found.cookies}
    assert hosts <= {".chatgpt.com", "chatgpt.com", "auth.openai.com"}
    assert OTHER_SITE not in found.header and CHROME_OTHER not in found.header
    assert f"__Secure-next-auth.session-token={session_value}" in found.header
    assert OPENAI_COOKIE not in found.header  # openai.com cookies are never sent to chatgpt.com
    assert found.has_session


@pytest.mark.parametrize(
    "root",
    [
        ".mozilla/firefox",
        ".config/mozilla/firefox",
        "snap/firefox/common/.mozilla/firefox",
        ".var/app/org.mozilla.firefox/.mozilla/firefox",
    ],
)
def test_firefox_profiles_in_every_known_place(env, root):
    make_firefox_store(Path(env["HOME"]) / root, SIGNED_IN)
    discovery = bc.find_cookies("firefox", env)
    found = discovery.chosen
    assert found is not None and found.browser == "Firefox"
    _assert_only_chatgpt_and_openai(found, SESSION_TOKEN)
    assert found.counts == {"chatgpt.com": 3, "openai.com": 1}
    assert f"oai-did={DEVICE_ID}" in found.header and f"cf_clearance={CF_CLEARANCE}" in found.header


def test_xdg_firefox_path_is_one_browser_cookie3_alone_misses(env):
    make_firefox_store(Path(env["HOME"]) / ".config/mozilla/firefox", SIGNED_IN)
    with pytest.raises(browser_cookie3.BrowserCookieError):
        browser_cookie3.firefox(domain_name="chatgpt.com")
    assert bc.find_cookies("firefox", env).chosen is not None


def test_xdg_config_home_is_honoured(env, tmp_path):
    config = tmp_path / "elsewhere-config"
    make_firefox_store(config / "mozilla/firefox", SIGNED_IN)
    assert bc.find_cookies("firefox", {**env, "XDG_CONFIG_HOME": str(config)}).chosen is not None


@pytest.mark.parametrize("version", [24, 20])
def test_chrome_v10_cookies_decrypt_without_dbus(env, version):
    make_chrome_store(
        Path(env["HOME"]) / ".config/google-chrome/Default",
        [
            (".chatgpt.com", "__Secure-next-auth.session-token", CHROME_SESSION),
            (".example.com", "sid", CHROME_OTHER),
        ],
        version=version,
    )
    found = bc.find_cookies("chrome", env).chosen
    assert found is not None and found.browser == "Chrome"
    assert found.header == f"__Secure-next-auth.session-token={CHROME_SESSION}"
    assert found.counts == {"chatgpt.com": 1, "openai.com": 0}


def test_snap_chromium_and_second_profile(env):
    make_chrome_store(
        Path(env["HOME"]) / "snap/chromium/common/chromium/Profile 2",
        [(".chatgpt.com", "__Secure-next-auth.session-token", CHROME_SESSION)],
    )
    found = bc.find_cookies("chromium", env).chosen
    assert found is not None and found.profile.parent.name == "Profile 2"


def test_auto_prefers_a_profile_that_is_signed_in(env):
    home = Path(env["HOME"])
    make_firefox_store(home / ".mozilla/firefox", [("chatgpt.com", "oai-did", DEVICE_ID)])
    make_chrome_store(
        home / ".config/google-chrome/Default",
        [(".chatgpt.com", "__Secure-next-auth.session-token", CHROME_SESSION)],
    )
    discovery = bc.find_cookies("auto", env)
    assert discovery.chosen is not None and discovery.chosen.browser == "Chrome"
    assert discovery.looked_at[:2] == ("Firefox: 1 profile", "Chrome: 1 profile")


def test_signed_out_profile_is_still_reported(env):
    make_firefox_store(
        Path(env["HOME"]) / ".mozilla/firefox", [("chatgpt.com", "oai-did", DEVICE_ID)]
    )
    found = bc.find_cookies("auto", env).chosen
    assert found is not None and not found.has_session


def test_key_from_the_secret_store_not_asked_in_background(env):
    # A v11 value needs the desktop secret store's key; a background refresh must not ask for it
    # (an unlock prompt), so it fails with a sentence that names the way out.
    make_chrome_store(
        Path(env["HOME"]) / ".config/google-chrome/Default",
        [(".chatgpt.com", "__Secure-next-auth.session-token", CHROME_SESSION)],
        password=b"a-key-from-gnome-keyring",
        prefix=b"v11",
    )
    discovery = bc.find_cookies("chrome", env, allow_secret_store=False)
    assert discovery.chosen is None
    (problem,) = discovery.problems
    assert "could not decrypt" in problem and "paste a Cookie header" in problem


def test_a_broken_store_is_a_problem_not_a_crash(env):
    profile = Path(env["HOME"]) / ".config/chromium/Default"
    profile.mkdir(parents=True)
    (profile / "Cookies").write_bytes(b"this is not sqlite" * 100)
    discovery = bc.find_cookies("auto", env)
    assert discovery.chosen is None
    assert discovery.problems and "Chromium" in discovery.problems[0]


def test_nothing_installed_means_nothing_found(env):
    discovery = bc.find_cookies("auto", env)
    assert discovery.chosen is None and discovery.problems == ()
    assert all(line.endswith("none") for line in discovery.looked_at)


def test_reading_leaves_the_stores_unchanged(env):
    path = make_firefox_store(Path(env["HOME"]) / ".mozilla/firefox", SIGNED_IN)
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    bc.find_cookies("firefox", env)
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
