"""Logging as the CLI sets it up: codexbar's own debug lines with -v, never a library's, and
every record (arguments and tracebacks included) masked of the secret values we know."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from codexbar import log_setup
from codexbar.redact import MASK, remember
from tests.conftest import SECRET_VALUES

OPAQUE = "Zt4opaque8Qw2Lk6Hn1Vb9Xc3"
SECRET_VALUES.append(OPAQUE)


@pytest.fixture
def captured(monkeypatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    monkeypatch.setattr(log_setup.sys, "stderr", stream)
    saved = {n: logging.getLogger(n).level for n in (*log_setup.OUR_LOGGERS, "httpcore", "")}
    log_setup.setup_logging(verbose=True)
    yield stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_codexbar", False):
            root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_known_values_are_masked_in_messages_arguments_and_tracebacks(captured):
    remember([OPAQUE])
    log = logging.getLogger("codexbar.test")
    log.debug("refresh with %s failed", OPAQUE)
    try:
        raise RuntimeError(f"server said {OPAQUE}")
    except RuntimeError:
        log.exception("while refreshing")
    logging.getLogger("somelib").warning("Set-Cookie: session=%s", "abc123def456")
    text = captured.getvalue()
    assert OPAQUE not in text and "abc123def456" not in text
    assert text.count(MASK) >= 3
    assert "codexbar: DEBUG: refresh with" in text


def test_http_libraries_stay_quiet_even_with_verbose(captured):
    logging.getLogger("httpcore.http11").debug("send_request_headers.started headers=x")
    logging.getLogger("httpx").info("HTTP Request: GET https://chatgpt.com/")
    logging.getLogger("codexbar.http").debug("GET /backend-api/wham/usage: HTTP 200")
    text = captured.getvalue()
    assert "send_request_headers" not in text and "HTTP Request" not in text
    assert "wham/usage: HTTP 200" in text


def test_without_verbose_only_warnings(captured, monkeypatch):
    monkeypatch.setattr(log_setup.sys, "stderr", captured)  # pytest swaps it between phases
    log_setup.setup_logging(verbose=False)
    logging.getLogger("codexbar.x").debug("chatty")
    logging.getLogger("codexbar.x").warning("worth saying")
    assert "chatty" not in captured.getvalue() and "worth saying" in captured.getvalue()
