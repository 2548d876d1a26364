"""`codexbar tray`, `codexbar prefs` and `codexbar autostart on|off|status`.

`codexbar` with no command calls `start_tray` too: the tray where there is a desktop, the usage
report once (and how to start the tray) where there is none."""

from __future__ import annotations

import click

from codexbar import settings as settings_module
from codexbar.cli.options import home_option, warn
from codexbar.errors import EXIT_UNEXPECTED


def start_tray(homes: tuple[str, ...] = ()) -> int:
    from codexbar.tray.run import run_tray

    result = run_tray(homes)
    if result.started:
        return 0
    if result.show_report:
        from codexbar.cli.usage import usage

        if result.message:
            click.echo(result.message, err=True)
        return click.get_current_context().invoke(usage, homes=homes)
    if result.message:
        click.echo(result.message)
    return 0


@click.command()
@home_option
def tray(homes: tuple[str, ...] = ()) -> int:
    """Start the tray icon (what `codexbar` with no command does)."""
    return click.get_current_context().exit(start_tray(homes))


@click.command()
def prefs() -> int:
    """Open the preferences window."""
    from codexbar.tray.prefs import PrefsUnavailable, run_window

    try:
        run_window()
    except PrefsUnavailable as error:
        click.echo(str(error), err=True)
        return click.get_current_context().exit(EXIT_UNEXPECTED)
    return 0


@click.command()
@click.argument("state", type=click.Choice(["on", "off", "status"]))
def autostart(state: str) -> int:
    """Start the tray at login (on), stop doing so (off), or show the setting (status)."""
    from codexbar.tray import autostart as autostart_module

    try:
        if state == "on":
            result = autostart_module.enable()
        elif state == "off":
            result = autostart_module.disable()
        else:
            result = autostart_module.status()
    except OSError as error:
        click.echo(f"Could not change launch at login: {error}", err=True)
        return click.get_current_context().exit(EXIT_UNEXPECTED)
    if state != "status":
        try:  # keep the preference in step, so the preferences window shows the truth
            settings_module.save_value("launch_at_login", state == "on")
        except settings_module.SettingsError as error:
            warn(str(error))
    click.echo(f"Launch at login: {autostart_module.describe(result)}")
    if result.enabled:
        click.echo(f"Starts: {autostart_module.command_line()}")
    return 0
