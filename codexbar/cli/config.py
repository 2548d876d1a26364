"""`codexbar config`: where the settings live, and reading and changing them."""

from __future__ import annotations

import click

from codexbar import paths
from codexbar import settings as settings_module
from codexbar.cli.options import warn
from codexbar.errors import EXIT_UNEXPECTED, EXIT_USAGE


@click.group()
def config() -> None:
    """Show or change codexbar's settings."""


@config.command("path")
def config_path() -> None:
    """Print the settings file's path."""
    click.echo(str(paths.settings_path()))


@config.command("get")
@click.argument("key")
def config_get(key: str) -> int:
    """Print one setting's value (its default when unset)."""
    try:
        settings_module.lookup(key)
    except settings_module.SettingsError as error:
        click.echo(str(error), err=True)
        return click.get_current_context().exit(EXIT_USAGE)
    loaded = settings_module.load()
    for problem in loaded.problems:
        warn(problem)
    click.echo(settings_module.format_value(loaded.get(key)))
    return 0


# `config set refresh_minutes -1` must reach our validation, not click's "No such option '-1'".
@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> int:
    """Change one setting (lists are comma-separated: `notify.thresholds 50,20`)."""
    try:
        _check_before_saving(key, value)
        stored = settings_module.set_from_text(key, value)
    except settings_module.SettingsError as error:
        click.echo(str(error), err=True)
        return click.get_current_context().exit(EXIT_USAGE)
    shown = "(set)" if settings_module.lookup(key).secret else settings_module.format_value(stored)
    click.echo(f"{key} = {shown}")
    if key == "launch_at_login":
        return _apply_launch_at_login(bool(stored))
    return 0


def _check_before_saving(key: str, value: str) -> None:
    """Checks that need the machine, not just the value: `codex_path` must name a program."""
    if key == "codex_path" and value.strip():
        from codexbar.codex_cli import find_codex
        from codexbar.errors import SourceError

        try:
            find_codex(value, {})
        except SourceError as error:
            raise settings_module.SettingsError(
                f"Invalid value for codex_path: {error.message}"
            ) from None


def _apply_launch_at_login(enabled: bool) -> int:
    """Create or remove the autostart entry, exactly as `codexbar autostart on|off` does."""
    from codexbar.tray import autostart

    try:
        result = autostart.enable() if enabled else autostart.disable()
    except OSError as error:
        reason = error.strerror or "the file system refused"
        click.echo(f"Could not change launch at login: {reason}.", err=True)
        return click.get_current_context().exit(EXIT_UNEXPECTED)
    click.echo(f"Launch at login: {autostart.describe(result)}")
    return 0


@config.command("list")
def config_list() -> None:
    """Every setting with its value and what it does."""
    loaded = settings_module.load()
    for problem in loaded.problems:
        warn(problem)
    for setting in settings_module.SETTINGS:
        value = settings_module.format_value(loaded.get(setting.key))
        if setting.secret and loaded.get(setting.key):
            value = "(set; `codexbar config get` shows it)"
        marker = "" if setting.key in loaded.values else " (default)"
        click.echo(f"{setting.key} = {value}{marker}\n    {setting.doc}")


@config.command("set-cookie")
def config_set_cookie() -> int:
    """Store a chatgpt.com Cookie header for the web source, read from standard input.

    Never from the command line, so it stays out of your shell history: paste it at the hidden
    prompt, or pipe it in (`wl-paste | codexbar config set-cookie`)."""
    import sys

    from codexbar import secrets

    if sys.stdin.isatty():
        text = click.prompt("Cookie header (input hidden)", hide_input=True)
    else:
        text = sys.stdin.read()
    try:
        header = secrets.clean_cookie_header(text)
        where = secrets.set_secret(secrets.COOKIE_HEADER, header)
    except (ValueError, secrets.SecretStoreError) as error:
        click.echo(f"Not stored: {error}", err=True)
        return click.get_current_context().exit(EXIT_USAGE)
    count = len(header.split("; "))
    click.echo(f"Stored the Cookie header ({count} cookies) {where}.")
    if settings_module.load().get("web.cookies") != "manual":
        click.echo("The web source uses it once you run `codexbar config set web.cookies manual`.")
    return 0


@config.command("clear-cookie")
def config_clear_cookie() -> int:
    """Forget the stored chatgpt.com Cookie header."""
    from codexbar import secrets

    try:
        secrets.delete_secret(secrets.COOKIE_HEADER)
    except secrets.SecretStoreError as error:
        click.echo(f"Not removed: {error}", err=True)
        return click.get_current_context().exit(EXIT_USAGE)
    click.echo("The stored Cookie header is gone.")
    return 0
