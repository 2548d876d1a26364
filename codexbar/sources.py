"""The usage-source protocol, and discovery of sources through the `codexbar.sources` entry points.

Shaped after keyring's backends: each source is a class with a name, an order and cheap checks of
whether it can run, and the engine walks them in order. Built-in sources register themselves in
this package's pyproject.toml exactly as a third-party plugin would.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import EntryPoint, entry_points
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


class SourceRegistry:
    """The installed sources, imported on first use.

    Asking for one source by name imports only that one (`usage --source logs` never pays for
    httpx or the terminal emulator); walking them all (Auto, doctor, the tray) imports them all.
    Built from instances (tests) or from entry points (`discover_sources`)."""

    def __init__(
        self,
        sources: Sequence[UsageSource] = (),
        load_errors: Sequence[str] = (),
        entries: Sequence[EntryPoint] = (),
    ) -> None:
        self._sources: list[UsageSource] = list(sources)
        self._errors: list[str] = list(load_errors)
        self._pending: list[EntryPoint] = list(entries)  # not imported yet

    def _load(self, entries: list[EntryPoint]) -> None:
        for entry in entries:
            self._pending.remove(entry)
            try:
                source = entry.load()()
                if not isinstance(source, UsageSource):
                    raise TypeError("not a codexbar.sources.UsageSource")
            except Exception as error:  # a broken plugin is reported, never fatal
                self._errors.append(
                    f"source plugin {entry.name} ({entry.value}) could not be loaded: "
                    f"{type(error).__name__}: {error}"
                )
                continue
            if any(known.name == source.name for known in self._sources):
                self._errors.append(f"source {source.name} is registered twice; using the first")
                continue
            self._sources.append(source)

    @property
    def sources(self) -> tuple[UsageSource, ...]:
        """Every source, in Auto order."""
        self._load(list(self._pending))
        return tuple(sorted(self._sources, key=lambda s: (s.order, s.name)))

    @property
    def load_errors(self) -> tuple[str, ...]:
        self._load(list(self._pending))
        return tuple(self._errors)

    def get(self, name: str) -> UsageSource | None:
        found = next((s for s in self._sources if s.name == name), None)
        if found is None and self._pending:
            # Entry points are named like their source; a plugin that is not gets found too.
            self._load([e for e in self._pending if e.name == name])
            found = next((s for s in self._sources if s.name == name), None)
            if found is None:
                found = next((s for s in self.sources if s.name == name), None)
        return found

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    @property
    def titles(self) -> Mapping[str, str]:
        """Source names to what people call them, importing a source only when asked."""
        return _Titles(self)

    def close(self) -> None:
        for source in self._sources:  # only the imported ones can hold anything
            try:
                source.close()
            except Exception:  # a plugin's cleanup must not stop the others'
                log.exception("closing source %s failed", source.name)


class _Titles(Mapping[str, str]):
    def __init__(self, registry: SourceRegistry) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> str:
        source = self._registry.get(name)
        if source is None:
            raise KeyError(name)
        return source.title

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.names)

    def __len__(self) -> int:
        return len(self._registry.names)


def discover_sources() -> SourceRegistry:
    """Every source registered in the entry-point group, imported as it is first needed."""
    return SourceRegistry(entries=tuple(entry_points(group=ENTRY_POINT_GROUP)))
