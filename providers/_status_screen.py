"""Reading the `/status` card from a rendered terminal screen (plain text lines, no escapes).

The card's rows are `<Label>:   <value>`, optionally inside a `│ … │` box. Window rows read
`[bar] NN% left (resets HH:MM)`; older builds wrote `NN% used`. A `(resets …)` that does not fit
wraps onto the next line. An extra bucket (GPT-5.3-Codex-Spark) is a heading row with no value
followed by its own window rows. Reset times are local wall-clock times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal

from codexbar.errors import ErrorKind, SourceError
from codexbar.formatting import PLAN_NAMES
from codexbar.models import (
    MAIN_LIMIT_ID,
    CreditPool,
    Credits,
    Identity,
    RateWindow,
    UsageSnapshot,
)
from codexbar.parsing import clean_text

_ROW = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9 .\-]*?):(?:\s+(.*))?$")
_WINDOW_LABEL = re.compile(r"^(?:(\d+)h|(Weekly)|(Monthly)|(Annual)|(\d+)-hour) limit$", re.I)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)%\s+(left|used)", re.I)
_RESETS = re.compile(r"\(resets\s+([^)]*)\)?", re.I)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?:\s+on\s+(\d{1,2})\s+([A-Za-z]{3})[a-z]*)?$")
_TIME_MONTH_FIRST = re.compile(r"^(\d{1,2}):(\d{2})\s+on\s+([A-Za-z]{3})[a-z]*\s+(\d{1,2})$")
_ACCOUNT = re.compile(r"^(\S+@\S+)\s+\((.+)\)$")
_CREDITS = re.compile(r"^([\d][\d,.]*)\s+credits?\b", re.I)
_POOL_AMOUNTS = re.compile(r"([\d][\d,.]*)\s+of\s+([\d][\d,.]*)\s+credits?\s+used", re.I)
POOL_LABEL = "monthly credit limit"
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_PLAN_KEYS = {display.lower(): key for key, display in reversed(list(PLAN_NAMES.items()))}
_BORDERS = "│┃|"

NOT_YET_MESSAGE = "Codex has no rate-limit reading yet (/status says: data not available yet)."
STATUS_MARKERS = ("5h limit", "Weekly limit", "Credits:", "Limits:")


def clean_lines(lines: Iterable[str]) -> list[str]:
    """The screen's lines with the card's box borders removed and trailing blanks dropped."""
    cleaned = []
    for line in lines:
        text = line.rstrip()
        stripped = text.strip()
        if stripped[:1] in _BORDERS:
            stripped = stripped[1:]
            if stripped.rstrip()[-1:] in _BORDERS:
                stripped = stripped.rstrip()[:-1]
            text = stripped.rstrip()
        cleaned.append(text)
    return cleaned


def has_status_card(lines: Sequence[str]) -> bool:
    text = "\n".join(lines)
    return any(marker in text for marker in STATUS_MARKERS)


def _last_card(lines: list[str]) -> list[str]:
    """Only the newest card: a screen can hold an older one above it."""
    starts = [i for i, line in enumerate(lines) if re.match(r"^\s*Model:\s", line)]
    return lines[starts[-1] :] if starts else lines


def _window_minutes(label: str) -> int | None:
    match = _WINDOW_LABEL.match(label)
    if not match:
        return None
    hours, weekly, monthly, annual, hours_alt = match.groups()
    if hours or hours_alt:
        return int(hours or hours_alt) * 60
    if weekly:
        return 10080
    if monthly:
        return 43200
    return 525600 if annual else None


def resolve_reset(text: str, now: datetime, tz: tzinfo | None) -> datetime | None:
    """`01:55` or `06:30 on 24 Nov` as an aware datetime. `tz` None means the system's local
    zone, with its DST.

    Codex writes a bare time only for a reset on the capture's own date, so `01:55` is today
    even when that has passed (a stale card). A date is taken in the year that puts it nearest
    to now: `1 Jan` seen on 30 Dec is next year, and a reset that has passed stays in the past
    rather than being pushed a year ahead."""
    text = " ".join(text.split())
    match = _TIME.match(text)
    day = month = None
    if match:
        hour, minute, day_text, month_text = match.groups()
    else:
        match = _TIME_MONTH_FIRST.match(text)
        if not match:
            return None
        hour, minute, month_text, day_text = match.groups()
    if month_text:
        month = _MONTHS.get(month_text.lower())
        if month is None:
            return None
        day = int(day_text)
    local_now = now.astimezone(tz) if tz else now.astimezone()

    def local(year: int, month: int, day: int) -> datetime | None:
        try:
            naive = datetime(year, month, day, int(hour), int(minute))
        except ValueError:
            return None
        return naive.replace(tzinfo=tz) if tz else naive.astimezone()

    if month is None:
        return local(local_now.year, local_now.month, local_now.day)
    assert day is not None
    candidates = [
        moment
        for year in (local_now.year - 1, local_now.year, local_now.year + 1)
        if (moment := local(year, month, day)) is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda moment: abs(moment - local_now))


def _plan_key(display: str) -> str:
    lowered = display.strip().lower()
    return _PLAN_KEYS.get(lowered, lowered.replace(" ", "_"))


def _amount(text: str) -> Decimal | None:
    """`7,761`, `100,000`, `12.5`: Codex groups thousands with commas in the card."""
    try:
        return Decimal(text.replace(",", ""))
    except ArithmeticError:
        return None


def _credit_pool(
    value: str, following: Sequence[str], now: datetime, tz: tzinfo | None
) -> CreditPool | None:
    """`[bar] 92% left (resets 08:00 on 1 Jul)` and, on the next line,
    `7,761 of 100,000 credits used`."""
    text = " ".join([value, *(line.strip() for line in following if not _ROW.match(line))])
    amounts = _POOL_AMOUNTS.search(text)
    if amounts is None:
        return None
    used, limit = _amount(amounts.group(1)), _amount(amounts.group(2))
    if used is None or limit is None or limit <= 0:
        return None
    resets = _RESETS.search(text)
    resets_at = resolve_reset(resets.group(1), now, tz) if resets else None
    return CreditPool(limit=limit, used=used, resets_at=resets_at)


def _credits(value: str) -> Credits | None:
    if value.strip().lower() == "unlimited":
        return Credits(balance=None, has_credits=True, unlimited=True)
    match = _CREDITS.match(value.strip())
    if not match:
        return None
    return Credits(balance=Decimal(match.group(1).replace(",", "")), has_credits=True)


def parse_status_screen(
    lines: Sequence[str], *, source: str, now: datetime, tz: tzinfo | None = None
) -> UsageSnapshot:
    """The newest `/status` card on the screen as a snapshot; SourceError when it holds none."""
    card = _last_card(clean_lines(lines))
    windows: list[RateWindow] = []
    credits: Credits | None = None
    pool: CreditPool | None = None
    email = plan = None
    bucket_id, bucket_name = MAIN_LIMIT_ID, None
    for index, line in enumerate(card):
        row = _ROW.match(line)
        if not row:
            continue
        label, value = row.group(1).strip(), (row.group(2) or "").strip()
        if label.lower() == POOL_LABEL:
            pool = _credit_pool(value, card[index + 1 : index + 3], now, tz)
            continue
        if label.endswith(" limit") and not value:
            bucket_name = label.removesuffix(" limit").strip()
            bucket_id = bucket_name
            continue
        minutes = _window_minutes(label)
        if minutes is not None:
            window = _window_row(value, card[index + 1 : index + 3], minutes, now, tz)
            if window is not None:
                used, resets_at = window
                windows.append(
                    RateWindow(used, minutes, resets_at, limit_id=bucket_id, limit_name=bucket_name)
                )
        elif label == "Credits":
            credits = _credits(value)
        elif label == "Account" and (account := _ACCOUNT.match(value)):
            email, plan = clean_text(account.group(1)), _plan_key(account.group(2))
        elif label == "Account" and value.lower() in _PLAN_KEYS:
            plan = _plan_key(value)  # drawn before Codex had read the account: no email yet
        elif label == "Limits":
            _raise_for_limits(value)
    if not windows and credits is None and pool is None:
        raise SourceError(
            ErrorKind.PARSE,
            "Could not find the limits on Codex's /status screen.",
            "Codex may have changed its layout; try `--source rpc`.",
        )
    return UsageSnapshot(
        source=source,
        fetched_at=now,
        observed_at=now,
        windows=tuple(windows),
        credits=credits,
        identity=Identity(email=email, plan=plan),
        credit_pool=pool,
    )


def _window_row(
    value: str, following: Sequence[str], minutes: int, now: datetime, tz: tzinfo | None
) -> tuple[float, datetime | None] | None:
    percent = _PERCENT.search(value)
    if percent is None:
        return None
    number = float(percent.group(1))
    used = 100.0 - number if percent.group(2).lower() == "left" else number
    text = value
    # A `(resets …)` that did not fit wraps onto the next line (indented, with no label); a long
    # date can even split inside the parentheses.
    for extra in following:
        if _ROW.match(extra) or not extra.strip():
            break
        if "(resets" in text and ")" in text[text.index("(resets") :]:
            break
        text += " " + extra.strip()
    resets = _RESETS.search(text)
    resets_at = resolve_reset(resets.group(1), now, tz) if resets else None
    return used, resets_at


def _raise_for_limits(value: str) -> None:
    lowered = value.lower()
    if "not available yet" in lowered:
        raise SourceError(
            ErrorKind.PARSE,
            NOT_YET_MESSAGE,
            "Try again in a minute.",
        )
    if "not available" in lowered or "visit chatgpt.com" in lowered:
        raise SourceError(
            ErrorKind.UNSUPPORTED,
            "Codex shows no plan limits for this account (an API key or a custom provider).",
            "Sign in with ChatGPT (`codex login`) to see plan limits.",
        )
