"""The one error a usage source raises, with a kind the engine can reason about."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    AUTH = "auth"  # not logged in, expired or rejected credentials
    NETWORK = "network"  # the backend could not be reached or failed (4xx/5xx, DNS, Cloudflare)
    NOT_INSTALLED = "not_installed"  # the Codex CLI (or another needed program) is missing
    TIMEOUT = "timeout"  # something did not answer in time
    PARSE = "parse"  # an answer arrived but held no usable limits
    UNSUPPORTED = "unsupported"  # this source cannot serve this account or Codex version
    DISABLED = "disabled"  # the user has turned the source off


# CodexBar's exit codes, which scripts written against it already understand.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_NOT_INSTALLED = 2
EXIT_PARSE = 3
EXIT_TIMEOUT = 4
EXIT_USAGE = 64

_EXIT_BY_KIND = {
    ErrorKind.NOT_INSTALLED: EXIT_NOT_INSTALLED,
    ErrorKind.PARSE: EXIT_PARSE,
    ErrorKind.UNSUPPORTED: EXIT_PARSE,
    ErrorKind.TIMEOUT: EXIT_TIMEOUT,
}


class SourceError(Exception):
    """A failure the user can act on: `message` says what happened, `hint` what to do about it."""

    def __init__(self, kind: ErrorKind | str, message: str, hint: str | None = None) -> None:
        self.kind = ErrorKind(kind)
        self.message = message
        self.hint = hint
        super().__init__(self.text)

    @property
    def text(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    @property
    def exit_code(self) -> int:
        return _EXIT_BY_KIND.get(self.kind, EXIT_UNEXPECTED)

    def __repr__(self) -> str:
        return f"SourceError({self.kind.value!r}, {self.text!r})"
