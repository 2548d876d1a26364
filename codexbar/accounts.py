"""Several accounts (one per Codex home): picking one by email or home, and which one a single
figure (the tray icon, a status bar) should show when the user did not pick."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from codexbar.codex_auth import read_auth
from codexbar.models import UsageSnapshot
from codexbar.report import binding_window
from codexbar.store import Store


def _same_path(a: Path, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(os.path.expanduser(b))


def home_email(home: Path, store: Store | None, env: Mapping[str, str]) -> str | None:
    """The email of the account in `home` without asking the network: its last reading's, else
    its login's (auth.json); None when neither tells."""
    if store is not None:
        try:
            last = store.last_snapshot(home)
        except Exception:  # a locked database: the login may still tell
            last = None
        if last is not None and last.identity.email:
            return last.identity.email
    try:
        return read_auth(home, env).email
    except Exception:  # no login, or an unreadable one: the home still names the account
        return None


def homes_for(
    wanted: str, homes: Iterable[Path], store: Store | None, env: Mapping[str, str]
) -> list[Path]:
    """The homes `--account EMAIL|HOME` names: the home with that path, else those whose
    account has that email (case does not matter in an email)."""
    homes = list(homes)
    by_path = [h for h in homes if _same_path(h, wanted)]
    if by_path:
        return by_path
    email = wanted.strip().casefold()
    return [h for h in homes if (home_email(h, store, env) or "").casefold() == email]


class Account(Protocol):
    """What choosing an account needs: an AccountReading, or the tray's per-account state."""

    @property
    def home(self) -> Path | None: ...
    @property
    def snapshot(self) -> UsageSnapshot | None: ...


A = TypeVar("A", bound=Account)


def left_percent(snapshot: UsageSnapshot | None, now: datetime) -> float | None:
    """The lowest percent left among the windows that matter, None without figures."""
    if snapshot is None:
        return None
    window = binding_window(snapshot.with_reset_flags(now))
    return None if window is None else window.remaining_percent


def most_constrained(accounts: Iterable[A], now: datetime) -> A | None:
    """The account with the lowest "left" among the windows that matter; an account with no
    figures comes after every account with some (the first of them when none has any)."""

    def key(account: A) -> float:
        left = left_percent(account.snapshot, now)
        return float("inf") if left is None else left

    return min(accounts, key=key, default=None)


def is_account(account: Account, wanted: str) -> bool:
    """Whether `wanted` (an email, any case, or a Codex home) names this account."""
    snapshot = account.snapshot
    email = (snapshot.identity.email if snapshot is not None else None) or ""
    if email and email.casefold() == wanted.strip().casefold():
        return True
    return account.home is not None and _same_path(account.home, wanted.strip())


def shown_account(accounts: Iterable[A], picked: str, now: datetime) -> A | None:
    """The account a single figure shows: the one the user picked (an email or a home; empty
    for automatic), or the most constrained one when the pick is empty or names none."""
    accounts = list(accounts)
    if picked.strip():
        for account in accounts:
            if is_account(account, picked):
                return account
    return most_constrained(accounts, now)
