"""Start-up cost of the CLI: `--help` imports no command, a command imports only what it runs,
and the version is a constant (reading package metadata was a tenth of every start-up)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import codexbar
from codexbar.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def loaded_after(*argv: str) -> set[str]:
    script = (
        "import sys\n"
        "from codexbar.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=60
    )
    marker = done.stdout.rsplit("MODULES ", 1)
    assert len(marker) == 2, done.stderr
    return set(marker[1].split())


def test_help_imports_no_command_module():
    modules = loaded_after("--help")
    assert not {m for m in modules if m.startswith(("codexbar.cli.", "codexbar.cost"))}
    assert "importlib.metadata" not in modules and "httpx" not in modules


def test_the_cost_command_imports_neither_the_engine_nor_the_network():
    modules = loaded_after("cost", "--help")
    assert "codexbar.cli.cost" in modules
    assert not {"codexbar.engine", "codexbar.sources", "httpx"} & modules


def test_a_cost_run_imports_nothing_it_does_not_use(tmp_path, monkeypatch):
    """A warm `cost` run is mostly start-up: the settings writer (tomlkit), the readings'
    modules, platformdirs (Linux has XDG) and importlib.resources were a third of it."""
    monkeypatch.setenv("CODEXBAR_DATA_DIR", str(tmp_path / "data"))
    loaded_after("cost", "--json", f"--home={tmp_path / 'home'}")  # creates the database
    modules = loaded_after("cost", "--json", f"--home={tmp_path / 'home'}")
    assert "codexbar.cost.summary" in modules
    unused = {"tomlkit", "codexbar.history", "codexbar.codec", "importlib.resources", "tempfile"}
    if sys.platform.startswith("linux"):
        unused.add("platformdirs")
    assert not unused & modules


@pytest.mark.parametrize(
    "env",
    [{}, {"XDG_CONFIG_HOME": "/x/config", "XDG_DATA_HOME": "/x/data"}, {"XDG_DATA_HOME": " "}],
)
def test_codexbars_folders_are_where_platformdirs_puts_them(env, monkeypatch):
    import platformdirs

    from codexbar import paths

    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "CODEXBAR_CONFIG_DIR", "CODEXBAR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert str(paths.config_dir()) == platformdirs.user_config_dir("codexbar", appauthor=False)
    assert str(paths.data_dir()) == platformdirs.user_data_dir("codexbar", appauthor=False)


def test_one_named_source_imports_only_that_source(tmp_path):
    """`usage --source logs` needs neither the HTTP stack nor the terminal emulator of the
    other sources; Auto still walks (and imports) them all."""
    home = tmp_path / "codex_home"
    home.mkdir()
    modules = loaded_after("usage", "--source", "logs", "--home", str(home))
    assert "providers.logs" in modules
    assert not {"providers.oauth", "providers.pty", "providers.web", "httpx", "pyte"} & modules
    assert "codexbar.statusbar" not in modules  # the bars' module is the bars' alone
    everything = loaded_after("usage", "--source", "auto", "--home", str(home))
    assert {"providers.oauth", "providers.pty", "providers.logs"} <= everything


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_help_line_is_the_commands_own(name):
    module, attribute, help_line = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert command.name == name
    assert command.get_short_help_str(limit=200) == help_line


def test_the_version_constant_matches_the_package_metadata():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M)[1] == codexbar.__version__
    done = subprocess.run(
        [sys.executable, "-m", "codexbar", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == f"codexbar, version {codexbar.__version__}"
