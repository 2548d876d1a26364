"""The usage-source protocol, and discovery of sources through the `codexbar.sources` entry points.

Shaped after keyring's backends: each source is a class with a name, an order and cheap checks of
whether it can run, and the engine walks them in order. Built-in sources register themselves in
this package's pyproject.toml exactly as a third-party plugin would.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from codexbar.errors import ErrorKind, SourceError
from codexbar.settings import Settings

if TYPE_CHECKING:
    from codexbar.engine import Attempt
    from codexbar.models import UsageSnapshot

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "codexbar.sources"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceContext:
    """Everything a source may consult: passed in, so tests control time, files and settings."""

    home: Path
    settings: Settings = field(default_factory=Settings)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: Callable[[], datetime] = utc_now
    # False for background refreshes: sources then avoid anything slow or intrusive that the user
    # did not ask for (re-spawning a CLI that just failed to launch, unlocking a keyring).
    interactive: bool = True
    # The Codex account's email when known, so a source can refuse another account's figures.
    known_email: str | None = None
    # True in the tray: a source may keep a helper (a `codex app-server`) running between fetches
    # and must stop it in `close()`. The one-shot CLI leaves it False.
    keep_alive: bool = False
    # Where a kept-alive source pushes a newer reading the moment it learns one (the tray
    # redraws); None when nobody listens.
    on_update: Callable[[UsageSnapshot], None] | None = None
    # `time.monotonic()` by which the whole fetch must be over (Auto's overall deadline); None
    # for no overall deadline. Sources bound every wait by `remaining()`.
    deadline: float | None = None

    def remaining(self, limit: float) -> float:
        """Seconds a wait may take: `limit`, or less when the overall deadline is nearer."""
        if self.deadline is None:
            return limit
        return max(0.0, min(limit, self.deadline - time.monotonic()))


class UsageSource:
    """Base class for usage sources. Subclasses set the class attributes and implement `fetch`."""

    name: ClassVar[str]  # what --source and the settings call it
    title: ClassVar[str]  # what the menu and the reports call it
    order: ClassVar[int]  # Auto tries lower numbers first
    # True when the source ends up talking to chatgpt.com: after a network failure there is no
    # point in asking it (the offline session-log source stays useful).
    uses_network: ClassVar[bool] = True

    def in_auto(self, ctx: SourceContext) -> bool:
        """Whether Auto may use this source at all (the web source needs the user's opt-in)."""
        return True

    def unavailable(self, ctx: SourceContext) -> SourceError | None:
        """A cheap check, without the network: the error that stops this source here, or None.

        Examples: the Codex CLI is not installed (not_installed), cookies are off (disabled)."""
        return None

    def skip_reason(self, attempts: Sequence[Attempt]) -> str | None:
        """Given what Auto already tried, why trying this source cannot help, or None."""
        if self.uses_network:
            for attempt in attempts:
                if attempt.kind == ErrorKind.NETWORK.value:
                    return (
                        f"skipped: {attempt.source} could not reach chatgpt.com, "
                        "and this source needs it too"
                    )
                # A source that needs chatgpt.com and timed out tells the same story: waiting
                # on it again through another client only spends the overall deadline.
                if attempt.kind == ErrorKind.TIMEOUT.value and attempt.uses_network:
                    return (
                        f"skipped: {attempt.source} timed out waiting for chatgpt.com, "
                        "and this source needs it too"
                    )
        return None

    def fetch(self, ctx: SourceContext) -> UsageSnapshot:
        """Read the usage now. Raises SourceError (and nothing else) on failure."""
        raise NotImplementedError

    def diagnostics(self, ctx: SourceContext) -> list[str]:
        """Extra lines for `codexbar doctor` (which browser, how many cookies, which binary),
        with every secret redacted."""
        return []

    def close(self) -> None:
        """Release anything kept between fetches (a kept-alive child process, say)."""


@dataclass(frozen=True)
class SourceRegistry:
    sources: tuple[UsageSource, ...]
    load_errors: tuple[str, ...] = ()

    def get(self, name: str) -> UsageSource | None:
        return next((s for s in self.sources if s.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def close(self) -> None:
        for source in self.sources:
            try:
                source.close()
            except Exception:  # a plugin's cleanup must not stop the others'
                log.exception("closing source %s failed", source.name)


def discover_sources() -> SourceRegistry:
    """Instantiate every source registered in the entry-point group, in Auto order."""
    sources: list[UsageSource] = []
    errors: list[str] = []
    seen: set[str] = set()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            source = entry.load()()
            if not isinstance(source, UsageSource):
                raise TypeError("not a codexbar.sources.UsageSource")
        except Exception as error:  # a broken plugin is reported, never fatal
            errors.append(
                f"source plugin {entry.name} ({entry.value}) could not be loaded: "
                f"{type(error).__name__}: {error}"
            )
            continue
        if source.name in seen:
            errors.append(f"source {source.name} is registered twice; using the first")
            continue
        seen.add(source.name)
        sources.append(source)
    sources.sort(key=lambda s: (s.order, s.name))
    return SourceRegistry(tuple(sources), tuple(errors))
