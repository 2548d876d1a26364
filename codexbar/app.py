"""Wiring shared by the CLI and the tray: settings, the Codex homes, sources, engine and store.

Every configured Codex home is an account. Its limits are read with a source registry of its
own (a source may keep state between fetches, such as a Codex app-server for one home) and on a
thread of its own, each with its own deadline, so one account that hangs never delays another's
figures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from codexbar import settings as settings_module
from codexbar.at_once import each_at_once

# codex_homes lives with the other home lookups, so `codexbar cost` need not import the engine.
from codexbar.codex_home import codex_homes
from codexbar.engine import Engine, UsageReport
from codexbar.models import UsageSnapshot
from codexbar.reading import Reading, choose
from codexbar.settings import Settings
from codexbar.sources import SourceContext, SourceRegistry, discover_sources, utc_now
from codexbar.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountReading:
    """One account's reading: the Codex home it lives in and what to show for it."""

    home: Path
    reading: Reading

    @property
    def email(self) -> str | None:
        snapshot = self.reading.snapshot
        return snapshot.identity.email if snapshot is not None else None

    @property
    def snapshot(self) -> UsageSnapshot | None:
        return self.reading.snapshot

    @property
    def name(self) -> str:
        """What the user calls the account: its email, or before any reading its home."""
        return self.email or str(self.home)


@dataclass
class App:
    settings: Settings
    homes: list[Path]
    registry: SourceRegistry = field(default_factory=discover_sources)
    _registries: dict[Path, SourceRegistry] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, explicit_homes: tuple[str, ...] = ()) -> App:
        settings = settings_module.load()
        return cls(settings=settings, homes=codex_homes(settings, explicit_homes))

    @property
    def home(self) -> Path:
        """The Codex home whose account the limits are read for (the first one)."""
        return self.homes[0]

    def registry_for(self, home: Path) -> SourceRegistry:
        """The sources that read `home`'s account: the first home uses `registry`, every
        other home a registry of its own (kept, so kept-alive sources stay per account)."""
        if home == self.homes[0]:
            return self.registry
        if home not in self._registries:
            self._registries[home] = discover_sources()
        return self._registries[home]

    def close(self) -> None:
        """Release what every account's sources keep between fetches."""
        for registry in (self.registry, *self._registries.values()):
            registry.close()
        self._registries.clear()  # the homes may change next (the tray's settings)

    @property
    def titles(self) -> Mapping[str, str]:
        return self.registry.titles

    def context(
        self,
        *,
        interactive: bool = True,
        known_email: str | None = None,
        home: Path | None = None,
    ) -> SourceContext:
        return SourceContext(
            home=home or self.home,
            settings=self.settings,
            env=dict(os.environ),
            now=utc_now,
            interactive=interactive,
            known_email=known_email,
        )

    def fetch_usage(
        self,
        source: str | None = None,
        *,
        interactive: bool = True,
        store: Store | None = None,
        home: Path | None = None,
    ) -> Reading:
        """Read one account's usage now (the first home's unless `home` is given) and choose
        what to show (codexbar.reading's rule, against that account's last good reading);
        remember a new reading that is shown."""
        home = home or self.home
        last_good = self.last_good(store, home)
        report, now = self._report(home, source, interactive, last_good)
        reading = choose(report, last_good, now, self.settings.get("refresh_minutes"))
        remember(store, reading, home)
        return reading

    def fetch_accounts(
        self,
        source: str | None = None,
        *,
        interactive: bool = True,
        store: Store | None = None,
        homes: list[Path] | None = None,
    ) -> Iterator[AccountReading]:
        """Read every account (or those of `homes`) at once, yielding each reading as soon as
        it is there (so in the order they finish, not the order of the homes). The store is
        used on the caller's thread only."""
        homes = list(dict.fromkeys(homes or self.homes))
        last_good = {home: self.last_good(store, home) for home in homes}
        refresh = self.settings.get("refresh_minutes")

        def read(home: Path) -> tuple[UsageReport, datetime]:
            return self._report(home, source, interactive, last_good[home])

        # The store is used here, on the caller's thread, as each account's reading comes in.
        for home, (report, now) in each_at_once(read, homes, name="codexbar-account"):
            reading = choose(report, last_good[home], now, refresh)
            remember(store, reading, home)
            yield AccountReading(home, reading)

    def last_good(self, store: Store | None, home: Path) -> UsageSnapshot | None:
        """The reference reading of `home`'s account for the reading rule, or None."""
        if store is None:
            return None
        try:
            # Readings kept before they had a home were all of the first home's account.
            return store.last_snapshot(home, or_unplaced=home == self.homes[0])
        except Exception:  # a locked or damaged database must not stop a reading
            log.warning("the last reading could not be read from the database", exc_info=True)
            return None

    def _report(
        self, home: Path, source: str | None, interactive: bool, last_good: UsageSnapshot | None
    ) -> tuple[UsageReport, datetime]:
        ctx = self.context(
            interactive=interactive,
            known_email=last_good.identity.email if last_good else None,
            home=home,
        )
        engine = Engine(self.registry_for(home))
        return engine.fetch(ctx, source or self.settings.get("source")), ctx.now()


def remember(store: Store | None, reading: Reading, home: Path | None = None) -> None:
    """Save this refresh's reading when it is the one shown; a refused, older fallback reading
    is never saved (it would otherwise become "the last reading" next time)."""
    snapshot = reading.report.snapshot
    if store is None or snapshot is None or reading.from_store:
        return
    try:
        store.save_snapshot(snapshot, home)
    except Exception:  # a full disk must not hide a good reading
        log.warning("could not save the reading", exc_info=True)
