"""Which reading to show after a refresh, and whether it may be called current.

One rule for the CLI and the tray: readings never go backwards. The last good reading (the
store's most recently observed one) is the reference. When the source that should have answered
failed and Auto fell back to a reading observed *before* the last good one (the session logs of
last week, say), that older reading is never the answer: the last good reading is shown instead,
marked stale, with the failure. A fallback reading newer than the last good one may be shown,
labelled with its source and age. A reading is current only when this refresh produced it and
it was observed within the refresh interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from codexbar.engine import UsageReport
from codexbar.errors import EXIT_OK, EXIT_UNEXPECTED, SourceError
from codexbar.models import UsageSnapshot

# A reading older than this is not current, whatever its source (the tray's default interval;
# also the interval for "manual only", where there is none).
DEFAULT_CURRENT_MINUTES = 5


@dataclass(frozen=True)
class Reading:
    """What a view shows after one refresh."""

    report: UsageReport  # what the engine tried and got
    snapshot: UsageSnapshot | None  # the reading to show; None when there is none at all
    failure: SourceError | None  # what failed (the source that should have answered), if any
    stale: bool  # not current: kept from before, or observed longer ago than the interval
    from_store: bool  # the shown reading is the last good one, not this refresh's
    # A fallback reading that was refused because it is older than the last good one.
    refused: UsageSnapshot | None
    now: datetime

    @property
    def age_seconds(self) -> float | None:
        if self.snapshot is None:
            return None
        return max(0.0, (self.now - self.snapshot.observed_at).total_seconds())

    @property
    def current(self) -> bool:
        return self.snapshot is not None and not self.stale

    @property
    def answered(self) -> bool:
        """This refresh produced the reading shown, and it is current."""
        return self.current and not self.from_store

    @property
    def exit_code(self) -> int:
        """0 only for a current reading; else the failure's code (1 when nothing failed but
        the only reading there is, from the session logs say, is old)."""
        if self.current:
            return EXIT_OK
        return self.failure.exit_code if self.failure is not None else EXIT_UNEXPECTED


def current_minutes(refresh_minutes: int) -> int:
    """How old a reading may be and still count as current."""
    return refresh_minutes if refresh_minutes > 0 else DEFAULT_CURRENT_MINUTES


def _same_account(a: UsageSnapshot, b: UsageSnapshot) -> bool:
    """False only when both readings name an account and the accounts differ: another
    account's last reading is no reference for this one."""
    ids = (a.identity.account_id, b.identity.account_id)
    if all(ids):
        return ids[0] == ids[1]
    emails = (a.identity.email, b.identity.email)
    return not all(emails) or emails[0] == emails[1]


def choose(
    report: UsageReport,
    last_good: UsageSnapshot | None,
    now: datetime,
    refresh_minutes: int = DEFAULT_CURRENT_MINUTES,
) -> Reading:
    """Apply the rule to one refresh's report and the store's last good reading."""
    candidate = report.snapshot
    failure = report.error
    if candidate is not None and last_good is not None and not _same_account(candidate, last_good):
        last_good = None
    shown, from_store, refused = candidate, False, None
    if candidate is None:
        shown, from_store = last_good, last_good is not None
    elif (
        failure is not None
        and last_good is not None
        and candidate.observed_at < last_good.observed_at
    ):
        shown, from_store, refused = last_good, True, candidate
    stale = True
    if shown is not None and not from_store:
        age = (now - shown.observed_at).total_seconds()
        stale = age > current_minutes(refresh_minutes) * 60
    return Reading(
        report=report,
        snapshot=shown,
        failure=failure,
        stale=stale,
        from_store=from_store,
        refused=refused,
        now=now,
    )
