"""Wiring shared by the CLI and the tray: settings, the Codex home, sources, engine and store."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from codexbar import settings as settings_module

# codex_homes lives with the other home lookups, so `codexbar cost` need not import the engine.
from codexbar.codex_home import codex_homes
from codexbar.engine import Engine, UsageReport
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
    def titles(self) -> dict[str, str]:
        return {s.name: s.title for s in self.registry.sources}

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
    ) -> UsageReport:
        """Read the usage now and remember a successful reading in the store."""
        last_email = None
        if store is not None and (last := store.last_snapshot()) is not None:
            last_email = last.identity.email
        ctx = self.context(interactive=interactive, known_email=last_email)
        report = Engine(self.registry).fetch(ctx, source or self.settings.get("source"))
        if report.snapshot is not None and store is not None:
            try:
                store.save_snapshot(report.snapshot)
            except Exception:  # a full disk must not hide a good reading
                log.warning("could not save the reading", exc_info=True)
        return report
