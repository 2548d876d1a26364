"""How `codexbar watch` looks: a pure function from the Screen to a Rich renderable.

Top to bottom: what failed and how old the figures are (before any figure), the limits with
bars and pace, the cost of today / 7 days / 30 days, then the newest responses, as many as the
terminal has rows for. Everything fits 80 columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from codexbar import formatting as fmt
from codexbar.pace import pace_text
from codexbar.report import credits_text, display_windows, status_lines, window_line_parts
from codexbar.watch.feed import Screen

BAR_WIDTH = 24
FOLDER_WIDTH = 22
LABEL_WIDTH = 16
QUIT_HINT = "q quits"


def _colour(left: float, thresholds: Sequence[int]) -> str:
    """The tray's colours: red when used up, yellow below the lowest warning threshold."""
    if left <= 0:
        return "red"
    if thresholds and left < min(thresholds):
        return "yellow"
    return "green"


def _title(screen: Screen, titles: Mapping[str, str], now: datetime) -> Text:
    text = Text("Codex usage", style="bold")
    reading = screen.reading
    snapshot = reading.snapshot if reading is not None else None
    if snapshot is not None:
        identity = snapshot.identity
        who = " · ".join(p for p in (identity.email, fmt.plan_name(identity.plan)) if p)
        if who:
            text.append(f"  {who}")
        source = titles.get(snapshot.source, snapshot.source)
        text.append(f"  · {fmt.age(snapshot.observed_at, now)} via {source}", style="dim")
    if screen.fetching:
        text.append("  · reading…", style="dim")
    text.append(f"  · {QUIT_HINT}", style="dim")
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _limits(
    screen: Screen, now: datetime, show_used: bool, thresholds: Sequence[int]
) -> list[RenderableType]:
    """One line per row: a window's bar and figures, then its pace."""
    reading = screen.reading
    if reading is None:
        return [Text("Reading the limits…")]
    if reading.snapshot is None:
        return [Text("No reading of the limits.", style="bold red")]  # the failure is above
    snapshot = reading.snapshot.with_reset_flags(now)
    dim = "dim" if reading.stale else ""
    rows: list[RenderableType] = []
    if snapshot.blocked:
        rows.append(_row(Text("Blocked", style="bold red"), Text(snapshot.blocked, style="red")))
    for window in display_windows(snapshot):
        amount, reset = window_line_parts(window, now, show_used=show_used)
        if window.reset_passed:
            rows.append(_row(window.label, Text(amount, style="dim")))
            continue
        left = window.remaining_percent
        bar = ProgressBar(
            total=100,
            completed=window.clamped_used_percent if show_used else left,
            width=BAR_WIDTH,
            complete_style=_colour(left, thresholds) if not reading.stale else "grey50",
        )
        rows.append(_row(Text(window.label, style=dim), bar, Text(f"{amount}  {reset}", style=dim)))
        pace = screen.paces.get(window.id)
        if pace is not None:
            rows.append(Text(" " * (LABEL_WIDTH + 1) + pace_text(pace, now), style="dim"))
    if snapshot.credit_pool is not None:
        pool = snapshot.credit_pool
        amount, reset = window_line_parts(pool, now, show_used=show_used)
        rows.append(_row(pool.label, Text(f"{amount}  {reset}", style=dim)))
    if snapshot.credits is not None and (credits := credits_text(snapshot.credits)):
        rows.append(_row("Credits", Text(credits, style=dim)))
    if not snapshot.windows and snapshot.credit_pool is None:
        rows.append(_row("Limits", "not available for this account"))
    return rows


def _row(label: RenderableType, *cells: RenderableType) -> Table:
    """One line: the label column, then a bar and its figures, or one text."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=LABEL_WIDTH, no_wrap=True)
    if len(cells) == 2:
        grid.add_column(width=BAR_WIDTH)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    grid.add_row(label, *cells)
    return grid


def _cost(screen: Screen) -> Text:
    summary = screen.costs
    text = Text("Cost ", style="bold")
    if summary is None:
        return text.append("totalling the session logs…", style="dim")
    for label, figures in (
        ("today", summary.today),
        ("7 days", summary.last_7_days),
        ("30 days", summary.range),
    ):
        text.append(f"{label} ")
        text.append(fmt.dollars(figures.cost_usd), style="bold")
        text.append(f" ({fmt.tokens(figures.total_tokens)})  ", style="dim")
    return text.append("API prices", style="dim")


def _folder(path: str) -> str:
    """The end of the session's folder, which is what tells sessions apart."""
    if len(path) <= FOLDER_WIDTH:
        return path
    return "…" + path[-(FOLDER_WIDTH - 1) :]


def _responses(screen: Screen, rows: int) -> RenderableType:
    if not screen.responses:
        return Text("No model responses in the last week's session logs yet.", style="dim")
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("Time", no_wrap=True)
    table.add_column("Session folder", width=FOLDER_WIDTH, no_wrap=True)
    table.add_column("Model", no_wrap=True, max_width=22, overflow="ellipsis")
    table.add_column("Tokens", justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True)
    today = datetime.now().astimezone().date()
    for response in screen.responses[: max(1, rows)]:
        local = response.at.astimezone()
        when = f"{local:%H:%M:%S}" if local.date() == today else f"{local:%b %d %H:%M}"
        table.add_row(
            when,
            _folder(response.folder),
            response.model,
            fmt.tokens(response.tokens),
            fmt.dollars(response.cost),
        )
    return table


def render(
    screen: Screen,
    now: datetime,
    *,
    height: int,
    titles: Mapping[str, str],
    show_used: bool = False,
    thresholds: Sequence[int] = (50, 20),
) -> RenderableType:
    parts: list[RenderableType] = [_title(screen, titles, now)]
    reading = screen.reading
    lines = [*screen.problems]
    if reading is not None:
        lines += status_lines(reading, titles)
    for line in lines:
        parts.append(Text(line, style="yellow"))
    limits = _limits(screen, now, show_used, thresholds)
    parts += [Text(""), *limits, Text(""), _cost(screen), Text("")]
    # The title, the status lines, three blank lines, the limits, the cost and the heading.
    used = 1 + len(lines) + 3 + len(limits) + 2
    parts.append(_responses(screen, height - used))
    return Group(*parts)
