"""Wiring shared by the CLI and the tray: settings, the Codex home, sources, engine and store."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from codexbar import settings as settings_module

# codex_homes lives with the other home lookups, so `codexbar cost` need not import the engine.
from codexbar.codex_home import codex_homes
from codexbar.engine import Engine
from codexbar.models import UsageSnapshot
from codexbar.reading import Reading, choose
from codexbar.settings import Settings
from codexbar.sources import SourceContext, SourceRegistry, discover_sources, utc_now
from codexbar.store import Store

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    homes: list[Path]
    registry: SourceRegistry = field(default_factory=discover_sources)

    @classmethod
    def load(cls, explicit_homes: tuple[str, ...] = ()) -> App:
        settings = settings_module.load()
        return cls(settings=settings, homes=codex_homes(settings, explicit_homes))

    @property
    def home(self) -> Path:
        """The Codex home whose account the limits are read for (the first one)."""
        return self.homes[0]

    @property
    def ignored_homes_note(self) -> str | None:
        """Limits belong to one account, and accounts are not a feature yet: say so when more
        than one Codex home is configured, rather than silently show only the first."""
        if len(self.homes) < 2:
            return None
        others = ", ".join(str(h) for h in self.homes[1:])
        return (
            f"Showing the limits of the first Codex home only ({self.home}); not shown: {others}."
        )

    @property
    def titles(self) -> Mapping[str, str]:
        return self.registry.titles

    def context(self, *, interactive: bool = True, known_email: str | None = None) -> SourceContext:
        return SourceContext(
            home=self.home,
            settings=self.settings,
            env=dict(os.environ),
            now=utc_now,
            interactive=interactive,
            known_email=known_email,
        )

    def fetch_usage(
        self, source: str | None = None, *, interactive: bool = True, store: Store | None = None
    ) -> Reading:
        """Read the usage now and choose what to show (codexbar.reading's rule, against the
        store's last good reading); remember a new reading that is shown."""
        last_good = _last_good(store)
        ctx = self.context(
            interactive=interactive, known_email=last_good.identity.email if last_good else None
        )
        report = Engine(self.registry).fetch(ctx, source or self.settings.get("source"))
        reading = choose(report, last_good, ctx.now(), self.settings.get("refresh_minutes"))
        remember(store, reading)
        return reading


def _last_good(store: Store | None) -> UsageSnapshot | None:
    if store is None:
        return None
    try:
        return store.last_snapshot()
    except Exception:  # a locked or damaged database must not stop a reading
        log.warning("the last reading could not be read from the database", exc_info=True)
        return None


def remember(store: Store | None, reading: Reading) -> None:
    """Save this refresh's reading when it is the one shown; a refused, older fallback reading
    is never saved (it would otherwise become "the last reading" next time)."""
    snapshot = reading.report.snapshot
    if store is None or snapshot is None or reading.from_store:
        return
    try:
        store.save_snapshot(snapshot)
    except Exception:  # a full disk must not hide a good reading
        log.warning("could not save the reading", exc_info=True)
