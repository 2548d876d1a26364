"""Picks the source the user chose, or walks them in order (Auto), and records every attempt."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

from codexbar.errors import ErrorKind, SourceError
from codexbar.models import UsageSnapshot
from codexbar.redact import redact
from codexbar.sources import SourceContext, SourceRegistry, UsageSource

log = logging.getLogger(__name__)

AUTO = "auto"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Attempt:
    source: str
    ok: bool
    kind: str | None = None  # an ErrorKind value, or "skipped"
    message: str | None = None
    ms: int = 0
    uses_network: bool = False  # whether the source needed chatgpt.com


@dataclass(frozen=True)
class UsageReport:
    snapshot: UsageSnapshot | None
    attempts: tuple[Attempt, ...] = ()
    # What failed: with no snapshot, why there is none; with one, why the source that should
    # have answered did not (Auto fell back to a later source). None when nothing failed that
    # the user could act on (an absent Codex CLI is not a failure).
    error: SourceError | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


def run_source(
    source: UsageSource, ctx: SourceContext
) -> tuple[UsageSnapshot | None, Attempt, SourceError | None]:
    """Fetch from one source, timing it and turning any failure into a SourceError."""
    started = time.monotonic()
    snapshot: UsageSnapshot | None = None
    error: SourceError | None = None
    try:
        snapshot = source.fetch(ctx).with_reset_flags(ctx.now())
    except SourceError as raised:
        error = raised
    except Exception:  # a plugin bug must not take the app down
        # The details (Python's own words) go to the log for `-v`; the user reads a sentence.
        log.debug("source %s raised unexpectedly", source.name, exc_info=True)
        error = SourceError(
            ErrorKind.PARSE,
            f"{source.title} failed with an internal error.",
            "Please report this with the output of `codexbar -v doctor`.",
        )
    if error is not None:
        error = SourceError(
            error.kind, redact(error.message), redact(error.hint) if error.hint else None
        )
    ms = round((time.monotonic() - started) * 1000)
    if error is None:
        return snapshot, Attempt(source.name, True, ms=ms, uses_network=source.uses_network), None
    attempt = Attempt(source.name, False, error.kind.value, error.text, ms, source.uses_network)
    return None, attempt, error


class Engine:
    def __init__(self, registry: SourceRegistry) -> None:
        self.registry = registry

    def fetch(self, ctx: SourceContext, source: str = AUTO) -> UsageReport:
        if source == AUTO:
            return self._fetch_auto(ctx)
        chosen = self.registry.get(source)
        if chosen is None:
            known = ", ".join(self.registry.names) or "none"
            why = [e for e in self.registry.load_errors if e.startswith(f"source plugin {source} ")]
            error = SourceError(
                ErrorKind.UNSUPPORTED,
                f"There is no usage source called {source!r} (installed: {known}).",
                why[0] if why else None,
            )
            return UsageReport(None, (), error)
        error = chosen.unavailable(ctx)
        if error is not None:
            return UsageReport(
                None, (Attempt(chosen.name, False, error.kind.value, error.text),), error
            )
        snapshot, attempt, error = run_source(chosen, ctx)
        return _logged(UsageReport(snapshot, (attempt,), error))

    def _fetch_auto(self, ctx: SourceContext) -> UsageReport:
        if ctx.deadline is None:  # one overall deadline across every source Auto tries
            seconds = ctx.settings.get("auto_deadline_seconds")
            ctx = dataclasses.replace(ctx, deadline=time.monotonic() + seconds)
        attempts: list[Attempt] = []
        errors: list[SourceError] = []
        for source in self.registry.sources:
            if not source.in_auto(ctx):
                continue
            reason = source.skip_reason(tuple(attempts))
            if reason is not None:
                attempts.append(Attempt(source.name, False, SKIPPED, reason))
                continue
            error = source.unavailable(ctx)
            if error is not None:
                attempts.append(Attempt(source.name, False, error.kind.value, error.text))
                errors.append(error)
                continue
            snapshot, attempt, error = run_source(source, ctx)
            attempts.append(attempt)
            if snapshot is not None:
                return _logged(UsageReport(snapshot, tuple(attempts), _fallback_error(errors)))
            assert error is not None
            errors.append(error)
        return _logged(UsageReport(None, tuple(attempts), _headline_error(errors)))


def _logged(report: UsageReport) -> UsageReport:
    """One line per refresh for `-v`: each source tried, its result and its time."""
    parts = [
        f"{a.source} {'ok' if a.ok else a.kind} {a.ms} ms"
        if a.kind != SKIPPED
        else f"{a.source} skipped"
        for a in report.attempts
    ]
    log.info("refresh: %s", ", ".join(parts) or "no source tried")
    return report


def _fallback_error(errors: list[SourceError]) -> SourceError | None:
    """When a later source answered: the failure of an earlier one that should have, or None
    when the earlier ones were only absent (not installed, switched off)."""
    for error in errors:
        if error.kind not in (ErrorKind.DISABLED, ErrorKind.NOT_INSTALLED):
            return error
    return None


def _headline_error(errors: list[SourceError]) -> SourceError:
    """The error to lead with when every source failed: the first one the user can act on."""
    for error in errors:
        if error.kind not in (ErrorKind.DISABLED, ErrorKind.NOT_INSTALLED):
            return error
    if errors:
        return errors[0]
    return SourceError(
        ErrorKind.DISABLED,
        "No usage source is enabled.",
        "Choose a source with `codexbar config set source auto`.",
    )
