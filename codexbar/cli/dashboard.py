"""`codexbar dashboard`: the local web dashboard (history, pace, cost, sessions), on 127.0.0.1."""

from __future__ import annotations

import click

from codexbar.cli.options import home_option, warn


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one chosen at random).",
)
@click.option("--no-browser", is_flag=True, help="Do not open the page in the browser.")
@click.option(
    "--print-url", is_flag=True, help="Print the full address, with its secret, and keep serving."
)
@click.option(
    "--listen",
    metavar="ADDR:PORT",
    default=None,
    help="Bind this address instead (for a Prometheus elsewhere to scrape GET /metrics); "
    "needs the metrics.token setting. The page stays reachable by 127.0.0.1 only.",
)
@home_option
def dashboard(
    port: int, no_browser: bool, print_url: bool, listen: str | None, homes: tuple[str, ...]
) -> None:
    """Serve the local dashboard and open it in the browser (Ctrl-C stops it)."""
    import webbrowser

    from codexbar.app import codex_homes
    from codexbar.dashboard.api import Dashboard
    from codexbar.dashboard.limits import limits_fetcher
    from codexbar.dashboard.server import HOST, DashboardServer
    from codexbar.settings import load as load_settings
    from codexbar.store import Store

    settings = load_settings()
    for problem in settings.problems:
        warn(problem)
    host, port = _listen_address(listen, port)
    token = settings.get("metrics.token").strip()
    if host != HOST and len(token) < MIN_TOKEN_LENGTH:
        raise click.UsageError(
            f"listening on {host} needs a metrics token of {MIN_TOKEN_LENGTH} characters or "
            "more, so that only your scraper can read the metrics: run "
            "codexbar config set metrics.token <a long random text> first"
        )
    try:
        store = Store()
    except Exception as error:
        raise click.ClickException(f"the codexbar database cannot be opened: {error}") from None
    for message in store.warnings:
        warn(message)
    board = Dashboard(codex_homes(settings, homes), store, fetch_usage=limits_fetcher(settings))
    try:
        server = DashboardServer(board, port, host=host, metrics_token=token or None)
    except OSError as error:
        store.close()
        reason = error.strerror or "it cannot be opened"
        raise click.ClickException(f"port {port} on {host} is not available ({reason})") from None
    if host != HOST:
        shown = f"[{host}]" if ":" in host else host
        click.echo(
            f"metrics on http://{shown}:{server.port}/metrics "
            "(Authorization: Bearer <metrics.token>)"
        )
    if print_url:
        click.echo(server.url)
    else:
        click.echo(f"codexbar dashboard on http://127.0.0.1:{server.port}/ (Ctrl-C stops it)")
    if not no_browser and not webbrowser.open(server.url):
        warn("no browser could be opened; run again with --print-url to get the address")
    elif no_browser and not print_url:
        warn("the page needs its secret: run with --print-url to get the full address")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()


MIN_TOKEN_LENGTH = 16


def _listen_address(listen: str | None, port: int) -> tuple[str, int]:
    """`ADDR:PORT` (`[::1]:9464` for IPv6) as (address, port); 127.0.0.1 and --port without it."""
    if listen is None:
        return "127.0.0.1", port
    host, sep, number = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not number.isdigit() or not 0 <= int(number) <= 65535:
        raise click.BadParameter(
            f"{listen!r} is not ADDR:PORT (for example 0.0.0.0:9464)", param_hint="--listen"
        )
    return host, int(number)
