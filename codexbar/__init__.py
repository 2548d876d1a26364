"""codexbar: how much of your OpenAI Codex plan is left, in the tray and on the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("codexbar")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

USER_AGENT = f"codexbar/{__version__}"
