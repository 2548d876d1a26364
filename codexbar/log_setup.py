"""Logging for the `codexbar` command and the tray: our own messages, redacted, nothing else.

`-v` turns on debug logging for codexbar's own loggers only. The HTTP libraries stay at WARNING
whatever the verbosity: httpcore's debug trace prints request and response headers, an
`Authorization` echo or a `Set-Cookie` included. Every record, ours or a library's, passes through
a filter that masks the secret values this process knows (codexbar.redact) and token patterns.
"""

from __future__ import annotations

import logging
import sys

from codexbar.redact import redact

OUR_LOGGERS = ("codexbar", "providers")
# Libraries whose debug output carries headers, cookies or URLs with tokens.
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "hpack",
    "h2",
    "h11",
    "urllib3",
    "curl_cffi",
    "keyring",
    "asyncio",
    "PIL",
)
FORMAT = "codexbar: %(levelname)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Replaces a record's message with its redacted rendering (arguments included), and its
    traceback text too, so no handler ever formats a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def setup_logging(verbose: bool = False) -> logging.Handler:
    """Log to stderr: warnings from everyone, debug from codexbar itself with `verbose`.

    Safe to call more than once (the previous handler is replaced)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_codexbar", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    handler._codexbar = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
