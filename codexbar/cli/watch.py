"""`codexbar watch`: the limits, the cost and the newest responses, live, full screen."""

from __future__ import annotations

import sys

import click

from codexbar.cli.options import home_option

TICK_SECONDS = 1.0  # how often the screen looks for new responses and redraws its countdowns


@click.command(short_help="A live full-screen view of the limits, the cost and each response.")
@home_option
def watch(homes: tuple[str, ...]) -> None:
    """A full-screen view that follows Codex as it works: the limits with bars and pace, the
    cost of today, 7 and 30 days, and each model response as Codex writes it. q or Ctrl-C
    quits."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.ClickException(
            "codexbar watch needs a terminal; for a status bar use codexbar bar or codexbar waybar"
        )
    from rich.console import Console
    from rich.live import Live

    from codexbar.sources import utc_now
    from codexbar.statusbar import BarSession
    from codexbar.watch.feed import Feed
    from codexbar.watch.keys import keypresses
    from codexbar.watch.view import render

    session = BarSession(homes)
    feed = Feed(session)
    console = Console()
    settings = session.settings
    try:
        feed.start()
        with (
            keypresses() as read_key,
            Live(console=console, screen=True, auto_refresh=False, transient=True) as live,
        ):
            while True:
                feed.poll()
                view = render(
                    feed.screen,
                    utc_now(),
                    height=console.size.height,
                    titles=feed.titles,
                    show_used=settings.get("show_used"),
                    thresholds=settings.get("notify.thresholds"),
                )
                live.update(view, refresh=True)
                if read_key(TICK_SECONDS) in ("q", "Q"):
                    break
    except KeyboardInterrupt:
        pass
    finally:
        feed.stop()
        session.close()
