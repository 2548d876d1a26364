"""Finding the user's chatgpt.com cookies in their browsers, through browser-cookie3.

browser-cookie3 decrypts and reads the stores; the discovery of where they are is ours, because
its own list misses Firefox's newer `~/.config/mozilla/firefox`, Flatpak Firefox and Snap
Chromium, and it stops at the first profile. Two more of its Linux habits are tamed here: it
crashes (KeyError) when there is no D-Bus session, and it asks the desktop secret store for the
browser's key even when the cookies only need the built-in one, which may pop up an unlock prompt.
Nothing here ever returns or logs a cookie's value except inside the CookieSet handed back.
"""

from __future__ import annotations

import configparser
import contextlib
import http.cookiejar
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# The domains whose cookies we read (CodexBar reads the same two); only chatgpt.com's are sent.
DOMAINS = ("chatgpt.com", "openai.com")
SEND_DOMAIN = "chatgpt.com"
SESSION_COOKIE = "__Secure-next-auth.session-token"

BROWSERS = ("firefox", "chrome", "chromium", "brave", "edge", "vivaldi", "opera")
BROWSER_TITLES = {
    "firefox": "Firefox",
    "chrome": "Chrome",
    "chromium": "Chromium",
    "brave": "Brave",
    "edge": "Edge",
    "vivaldi": "Vivaldi",
    "opera": "Opera",
}

# Profile roots, relative to HOME, in the order a user most likely has them.
_FIREFOX_ROOTS = (
    ".mozilla/firefox",
    "{config}/mozilla/firefox",  # Firefox ≥ 147 follows the XDG base directories
    "snap/firefox/common/.mozilla/firefox",
    ".var/app/org.mozilla.firefox/.mozilla/firefox",
    ".var/app/org.mozilla.firefox/config/mozilla/firefox",
)
# Chromium-family user-data folders; each holds `Default` and `Profile N` folders.
_CHROMIUM_ROOTS: dict[str, tuple[str, ...]] = {
    "chrome": (
        "{config}/google-chrome",
        "{config}/google-chrome-beta",
        "{config}/google-chrome-unstable",
        ".var/app/com.google.Chrome/config/google-chrome",
    ),
    "chromium": (
        "{config}/chromium",
        "snap/chromium/common/chromium",
        ".var/app/org.chromium.Chromium/config/chromium",
    ),
    "brave": (
        "{config}/BraveSoftware/Brave-Browser",
        "{config}/BraveSoftware/Brave-Browser-Beta",
        "snap/brave/current/.config/BraveSoftware/Brave-Browser",
        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser",
    ),
    "edge": (
        "{config}/microsoft-edge",
        "{config}/microsoft-edge-beta",
        ".var/app/com.microsoft.Edge/config/microsoft-edge",
    ),
    "vivaldi": (
        "{config}/vivaldi",
        "{config}/vivaldi-snapshot",
        ".var/app/com.vivaldi.Vivaldi/config/vivaldi",
    ),
    "opera": (
        "{config}/opera",
        "{config}/opera-beta",
        ".var/app/com.opera.Opera/config/opera",
    ),
}
# How long reading one browser may take: a secret-store unlock prompt must not hang a refresh.
READ_TIMEOUT_SECONDS = 10.0


class CookieReadError(Exception):
    """Reading the browsers failed in a way worth telling the user (no values inside)."""


@dataclass(frozen=True)
class CookieSet:
    """The cookies found in one browser profile."""

    browser: str  # "Firefox"
    profile: Path  # the cookie database
    cookies: tuple[http.cookiejar.Cookie, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)  # per domain in DOMAINS

    @property
    def header(self) -> str:
        """The Cookie header for chatgpt.com: its own cookies, each name once, unexpired."""
        seen: set[str] = set()
        parts = []
        now = time.time()
        for cookie in self.cookies:
            domain = cookie.domain.lstrip(".")
            if domain != SEND_DOMAIN or cookie.name in seen:
                continue
            if cookie.expires is not None and cookie.expires and cookie.expires < now:
                continue
            seen.add(cookie.name)
            parts.append(f"{cookie.name}={cookie.value}")
        return "; ".join(parts)

    @property
    def has_session(self) -> bool:
        return any(
            c.name.startswith(SESSION_COOKIE) and c.domain.lstrip(".") == SEND_DOMAIN
            for c in self.cookies
        )

    def describe(self) -> str:
        counts = ", ".join(f"{n} for {d}" for d, n in self.counts.items())
        return f"{self.browser} ({_display(self.profile)}): {counts}"


def _display(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def _roots(templates: tuple[str, ...], env: Mapping[str, str]) -> Iterator[Path]:
    home = _home(env)
    config = env.get("XDG_CONFIG_HOME", "").strip() or str(home / ".config")
    seen: set[Path] = set()
    for template in templates:
        if template.startswith("{config}"):
            path = Path(template.replace("{config}", config, 1))
        else:
            path = home / template
        if path not in seen:
            seen.add(path)
            yield path


def _firefox_profiles(root: Path) -> list[Path]:
    """Profiles under a Firefox root, the default (per profiles.ini) first."""
    ordered: list[Path] = []
    ini = root / "profiles.ini"
    if ini.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(ini, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            parser = configparser.ConfigParser(interpolation=None)
        defaults = [s for s in parser.sections() if s.startswith("Install")]
        default_paths = [parser[s].get("Default") for s in defaults]
        profiles = [s for s in parser.sections() if parser[s].get("Path")]
        # Install sections name the profile in use; a Default=1 profile comes next.
        profiles.sort(
            key=lambda s: (
                parser[s].get("Path") not in default_paths,
                parser[s].get("Default") != "1",
            )
        )
        for section in profiles:
            raw = parser[section]["Path"]
            relative = parser[section].get("IsRelative", "1") != "0"
            ordered.append(root / raw if relative else Path(raw))
    with contextlib.suppress(OSError):
        ordered += sorted(p for p in root.iterdir() if p.is_dir() and p not in ordered)
    return ordered


def cookie_files(browser: str, env: Mapping[str, str]) -> list[Path]:
    """Every cookie database of `browser` that exists, most likely profile first."""
    found: list[Path] = []
    if browser == "firefox":
        for root in _roots(_FIREFOX_ROOTS, env):
            if root.is_dir():
                found += [p / "cookies.sqlite" for p in _firefox_profiles(root)]
    else:
        for root in _roots(_CHROMIUM_ROOTS[browser], env):
            if not root.is_dir():
                continue
            profiles = [root / "Default"]
            with contextlib.suppress(OSError):
                profiles += sorted(root.glob("Profile *"))
            profiles.append(root)  # Opera keeps its cookies in the root itself
            for profile in profiles:
                found += [profile / "Network" / "Cookies", profile / "Cookies"]
    unique: list[Path] = []
    for path in found:
        if path.is_file() and path not in unique:
            unique.append(path)
    return unique


# browser-cookie3 asks the desktop secret store through this class; see _key_lookup.
_password_lock = threading.Lock()


@contextlib.contextmanager
def _key_lookup(allow_secret_store: bool) -> Iterator[None]:
    """Make browser-cookie3's key lookup fail closed instead of crashing or prompting.

    Without a D-Bus session it raises KeyError instead of using the built-in key; in a background
    refresh we must not ask the secret store at all (it may show an unlock prompt). In both cases
    the built-in key is used: v10 cookies still decrypt, v11 ones then fail with a clear error.
    """
    import browser_cookie3

    original = getattr(browser_cookie3, "_LinuxPasswordManager", None)
    if original is None:  # a browser-cookie3 without it: nothing to tame
        yield
        return

    class CalmPasswordManager(original):  # type: ignore[misc, valid-type]
        def get_password(self, os_crypt_name: str) -> bytes:
            if allow_secret_store:
                try:
                    return super().get_password(os_crypt_name)
                except Exception as error:  # no D-Bus, no wallet: browser-cookie3's own fallback
                    log.debug("no browser key from the secret store: %s", type(error).__name__)
            return browser_cookie3.CHROMIUM_DEFAULT_PASSWORD

    with _password_lock:
        browser_cookie3._LinuxPasswordManager = CalmPasswordManager
        try:
            yield
        finally:
            browser_cookie3._LinuxPasswordManager = original


def _matches(cookie: http.cookiejar.Cookie, domain: str) -> bool:
    host = cookie.domain.lstrip(".").lower()
    return host == domain or host.endswith("." + domain)


def read_cookie_file(browser: str, path: Path, allow_secret_store: bool) -> CookieSet:
    """The chatgpt.com and openai.com cookies in one cookie database (others are never kept)."""
    import browser_cookie3

    reader = getattr(browser_cookie3, browser)
    cookies: list[http.cookiejar.Cookie] = []
    counts: dict[str, int] = {}
    with _key_lookup(allow_secret_store):
        for domain in DOMAINS:
            # browser-cookie3 filters with `LIKE %domain%`, so "notchatgpt.com" would match too.
            jar = reader(cookie_file=str(path), domain_name=domain)
            matching = [c for c in jar if _matches(c, domain)]
            counts[domain] = len(matching)
            cookies += matching
    return CookieSet(BROWSER_TITLES[browser], path, tuple(cookies), counts)


def _run_with_timeout(function, timeout: float):  # type: ignore[no-untyped-def]
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, name="codexbar-cookies", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise CookieReadError(
            f"reading the browser's cookies took longer than {timeout:g} s "
            "(a locked keyring waiting for its password?)"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass(frozen=True)
class Discovery:
    """What a search of the browsers found: the set to use, and what else was seen."""

    chosen: CookieSet | None
    looked_at: tuple[str, ...] = ()  # "Firefox: 2 profiles", "Chrome: none"
    problems: tuple[str, ...] = ()  # "Chrome (~/.config/…/Cookies): could not decrypt…"


def find_cookies(
    browser: str, env: Mapping[str, str] | None = None, *, allow_secret_store: bool = True
) -> Discovery:
    """Search `browser` ("auto": every browser in BROWSERS order) for chatgpt.com cookies.

    The first profile holding a chatgpt.com session cookie wins; failing that, the first one with
    any chatgpt.com cookie (so the error can say "signed out" rather than "nothing found")."""
    env = os.environ if env is None else env
    browsers = BROWSERS if browser == "auto" else (browser,)
    fallback: CookieSet | None = None
    looked_at: list[str] = []
    problems: list[str] = []
    for name in browsers:
        files = cookie_files(name, env)
        looked_at.append(
            f"{BROWSER_TITLES[name]}: "
            + (f"{len(files)} profile{'s' if len(files) != 1 else ''}" if files else "none")
        )
        for path in files:
            try:
                found = _run_with_timeout(
                    lambda n=name, p=path: read_cookie_file(n, p, allow_secret_store),
                    READ_TIMEOUT_SECONDS,
                )
            except Exception as error:
                problems.append(f"{BROWSER_TITLES[name]} ({_display(path)}): {_why(error)}")
                continue
            if found.has_session:
                return Discovery(found, tuple(looked_at), tuple(problems))
            if fallback is None and found.counts.get(SEND_DOMAIN):
                fallback = found
    return Discovery(fallback, tuple(looked_at), tuple(problems))


def _why(error: BaseException) -> str:
    """A sentence about a read failure. browser-cookie3's messages hold paths, never values."""
    text = str(error)
    if "key for cookie decryption" in text or "padding" in text:
        return (
            "could not decrypt its cookies (the key is in a locked or unreachable keyring; "
            "refresh once from the command line, or paste a Cookie header instead)"
        )
    if isinstance(error, CookieReadError):
        return text
    log.debug("reading browser cookies failed: %s", type(error).__name__)
    return "could not be read"
