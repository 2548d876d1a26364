"""How numbers, times and plans read, everywhere: the CLI, the tray menu, notifications."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

# Codex's plan slugs as Codex's own /status screen names them; unknown slugs are title-cased.
PLAN_NAMES = {
    "free": "Free",
    "go": "Go",
    "plus": "Plus",
    "pro": "Pro",
    "prolite": "Pro Lite",
    "pro_lite": "Pro Lite",
    "team": "Team",
    "business": "Business",
    "self_serve_business_prolite": "Business Pro Lite",
    "self_serve_business_usage_based": "Business (usage-based)",
    "enterprise": "Enterprise",
    "enterprise_cbp_automation": "Enterprise",
    "enterprise_cbp_usage_based": "Enterprise (usage-based)",
    "ent26": "Enterprise",
    "edu": "Edu",
    "education": "Edu",
    "edu_plus": "Edu Plus",
    "edu_pro": "Edu Pro",
    "free_workspace": "Free Workspace",
    "k12": "K12",
    "promax": "Pro Max",
    "pro_max": "Pro Max",
    "sci": "Sci",
    "sci_plus": "Sci Plus",
    "unknown": "Unknown plan",
}


def plan_name(plan: str | None) -> str | None:
    if not plan:
        return None
    key = plan.strip().lower()
    if key in PLAN_NAMES:
        return PLAN_NAMES[key]
    return " ".join(part.capitalize() for part in key.replace("-", "_").split("_") if part)


def percent(value: float) -> str:
    """`82%`, `<1%` for a sliver, clamped to 0-100, halves rounded up."""
    value = max(0.0, min(100.0, value))
    if 0 < value < 1:
        return "<1%"
    return f"{math.floor(value + 0.5)}%"


def bar(fraction_percent: float, cells: int = 12) -> str:
    """A text bar `[========----]` filled to the (floored) percent."""
    filled = math.floor(max(0.0, min(100.0, fraction_percent)) / 100 * cells)
    return "[" + "=" * filled + "-" * (cells - filled) + "]"


def reset_countdown(resets_at: datetime, now: datetime) -> str:
    """`in 11m`, `in 3h 31m`, `in 1d 2h`, `in 1d 5m`, `in 1d` or `now` (CodexBar's table)."""
    seconds = (resets_at - now).total_seconds()
    if seconds < 1:
        return "now"
    minutes = max(1, math.ceil(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        if hours:
            return f"in {days}d {hours}h"
        return f"in {days}d {minutes}m" if minutes else f"in {days}d"
    if hours:
        return f"in {hours}h {minutes}m" if minutes else f"in {hours}h"
    return f"in {minutes}m"


def short_date(moment: datetime) -> str:
    """`Dec 1` in local time."""
    local = moment.astimezone()
    return f"{local:%b} {local.day}"


def clock(moment: datetime, now: datetime) -> str:
    """`06:30` when the moment falls on today's local date, else `06:30 on Nov 24`."""
    local, today = moment.astimezone(), now.astimezone()
    if local.date() == today.date():
        return f"{local:%H:%M}"
    return f"{local:%H:%M} on {short_date(moment)}"


def message_range(pair: tuple[int, int]) -> str:
    """`≈22–137`: the backend's estimate of how many messages a balance buys."""
    low, high = pair
    return f"≈{low:,}" if low == high else f"≈{low:,}–{high:,}"


def age(moment: datetime, now: datetime) -> str:
    """How long ago: `just now`, `4 min ago`, `3 h ago`, `2 days ago`."""
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day ago" if days == 1 else f"{days} days ago"


def tokens(count: int) -> str:
    """`987`, `1.2K`, `12K`, `3.4M`, `1.1B`: one decimal below ten, a trailing `.0` dropped."""
    if count < 0:
        return "-" + tokens(-count)
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size:
            scaled = count / size
            text = f"{scaled:.1f}" if scaled < 10 else f"{scaled:.0f}"
            if text.endswith(".0"):
                text = text[:-2]
            if text == "1000" and suffix != "B":  # 999,950 rounds up into the next unit
                return tokens(size * 1000)
            return text + suffix
    return str(count)


def dollars(amount: Decimal | float | None) -> str:
    """`$1,234.56`; `—` when the amount is unknown (an unpriced model)."""
    if amount is None:
        return "—"
    return f"${Decimal(str(amount)).quantize(Decimal('0.01')):,}"


def credits_balance(balance: Decimal | None) -> str | None:
    """`112.50`, `1,204`: up to two decimals, trailing zeros kept only for cents."""
    if balance is None:
        return None
    if balance == balance.to_integral_value():
        return f"{int(balance):,}"
    return f"{balance.quantize(Decimal('0.01')):,}"
