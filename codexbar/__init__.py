"""codexbar: how much of your OpenAI Codex plan is left, in the tray and on the command line."""

# A constant, not importlib.metadata: reading the installed metadata cost a tenth of every
# command's start-up. tests/test_cli_startup.py checks it against pyproject.toml.
__version__ = "0.1.0"

USER_AGENT = f"codexbar/{__version__}"
