"""The preferences form: validation, one atomic save, the cookie header into the secret store."""

from __future__ import annotations

import pytest

from codexbar import secrets
from codexbar import settings as settings_module
from codexbar.paths import settings_path
from codexbar.tray.prefs import form_from_settings, save_form, validate_form
from tests.conftest import SECRET_VALUES

PASTED = "Cookie: __Secure-next-auth.session-token=prefs-test-secret-value; other=1"
SECRET_VALUES.append("prefs-test-secret-value")


@pytest.fixture(autouse=True)
def file_secrets(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    secrets.forget_backend()
    yield
    secrets.forget_backend()


def form(**changes):
    values = form_from_settings(settings_module.load())
    values.update(changes)
    return values


def test_defaults_round_trip_without_errors():
    assert validate_form(form()).errors == []


def test_every_field_is_validated_before_anything_is_written(tmp_path):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('# my comment\nsource = "logs"\n')
    result = validate_form(
        form(
            **{
                "refresh_minutes": "7",
                "notify.thresholds": "50, 120",
                "cost_days": "0",
                "codex_homes": str(tmp_path / "missing"),
            }
        )
    )
    assert len(result.errors) == 4
    assert any(e.startswith("Refresh every") for e in result.errors)
    assert any(e.startswith("Warn below (% left)") for e in result.errors)
    with pytest.raises(settings_module.SettingsError):
        save_form(result)
    assert settings_path().read_text() == '# my comment\nsource = "logs"\n'


def test_save_writes_all_values_and_keeps_comments(tmp_path):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('# my comment\nsource = "logs"\n')
    result = validate_form(
        form(
            **{
                "source": "oauth",
                "refresh_minutes": "15",
                "notify.thresholds": "30, 10",
                "codex_homes": f"{tmp_path}\n",
                "theme": "light-panel",
                "show_used": True,
            }
        )
    )
    assert result.errors == []
    save_form(result)
    loaded = settings_module.load()
    assert loaded["source"] == "oauth" and loaded["refresh_minutes"] == 15
    assert loaded["notify.thresholds"] == [30, 10] and loaded["codex_homes"] == [str(tmp_path)]
    assert loaded["theme"] == "light-panel" and loaded["show_used"] is True
    assert settings_path().read_text().startswith("# my comment")


def test_pasted_cookie_header_goes_to_the_secret_store_not_the_settings(capsys):
    result = validate_form(form(**{"web.cookies": "manual", "cookie_header": PASTED}))
    assert result.errors == []
    messages = save_form(result)
    assert any("Cookie header stored" in m for m in messages)
    assert secrets.get_secret(secrets.COOKIE_HEADER).startswith("__Secure-next-auth")
    assert "prefs-test-secret-value" not in settings_path().read_text()
    assert "prefs-test-secret-value" not in " ".join(messages)


def test_manual_cookies_without_a_header_is_an_error():
    result = validate_form(form(**{"web.cookies": "manual"}))
    assert any(e.startswith("Cookie header") for e in result.errors)


def test_bad_cookie_header_is_refused_without_quoting_it():
    result = validate_form(form(cookie_header="not a header prefs-test-secret-value"))
    assert result.errors and "prefs-test-secret-value" not in result.errors[0]


def test_typing_mistakes_are_explained_in_words():
    result = validate_form(
        form(**{"refresh_minutes": "five", "cost_days": "3.5", "notify.thresholds": "50, x"})
    )
    assert result.errors == [
        "Refresh every: enter a whole number",
        "Warn below (% left): enter whole percentages between 1 and 99, separated by commas",
        "Cost window (days): enter a whole number",
    ]
    assert not any("invalid literal" in e or "int()" in e for e in result.errors)


def test_codex_cli_path_is_checked_and_saved(tmp_path):
    wrong = validate_form(form(codex_path=str(tmp_path / "nowhere" / "codex")))
    assert wrong.errors == [
        "Codex CLI path: not an executable file, nor a folder that holds the codex program"
    ]
    program = tmp_path / "bin" / "codex"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    for typed in (str(program), str(program.parent)):  # the program, or its folder
        right = validate_form(form(codex_path=f"  {typed} "))
        assert right.errors == [] and right.values["codex_path"] == typed
    save_form(validate_form(form(codex_path=str(program))))
    assert settings_module.load()["codex_path"] == str(program)
    assert form_from_settings(settings_module.load())["codex_path"] == str(program)


def test_os_errors_read_as_words():
    from codexbar.tray.prefs import in_words

    error = PermissionError(13, "Permission denied", "/home/me/.config/autostart")
    assert in_words(error) == "permission denied (/home/me/.config/autostart)"
