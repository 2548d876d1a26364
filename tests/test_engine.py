"""Auto's walk through the sources, the error-kind rules, and plugin discovery."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from codexbar.engine import Engine
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import RateWindow, UsageSnapshot
from codexbar.settings import Settings
from codexbar.sources import SourceContext, SourceRegistry, UsageSource, discover_sources

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
CTX = SourceContext(home=Path("/nonexistent"), settings=Settings(), env={}, now=lambda: NOW)


def snapshot(source: str) -> UsageSnapshot:
    return UsageSnapshot(
        source=source, fetched_at=NOW, observed_at=NOW, windows=(RateWindow(10.0, 300),)
    )


class Scripted(UsageSource):
    """A source whose outcome the test decides; it counts its calls."""

    def __init__(self, name, order, outcome, uses_network=True, in_auto=True, unavailable=None):
        self.name, self.title, self.order = name, name.title(), order
        self.uses_network = uses_network
        self.outcome, self._in_auto, self._unavailable = outcome, in_auto, unavailable
        self.calls = 0

    def in_auto(self, ctx):
        return self._in_auto

    def unavailable(self, ctx):
        return self._unavailable

    def fetch(self, ctx):
        self.calls += 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return snapshot(self.name)


def engine(*sources: UsageSource) -> Engine:
    return Engine(SourceRegistry(tuple(sorted(sources, key=lambda s: s.order))))


def test_auto_returns_the_first_success_and_records_attempts():
    oauth = Scripted("oauth", 10, SourceError(ErrorKind.AUTH, "expired"))
    rpc = Scripted("rpc", 20, None)
    logs = Scripted("logs", 90, None, uses_network=False)
    report = engine(logs, rpc, oauth).fetch(CTX)
    assert report.snapshot.source == "rpc"
    assert [(a.source, a.ok, a.kind) for a in report.attempts] == [
        ("oauth", False, "auth"),
        ("rpc", True, None),
    ]
    assert logs.calls == 0
    # The answer came from a fallback: what failed first stays on the report, for the views.
    assert report.error.kind is ErrorKind.AUTH and report.error.message == "expired"


def test_an_absent_source_before_the_answer_is_not_a_failure():
    rpc = Scripted("rpc", 20, None)
    missing = Scripted(
        "pty", 15, None, unavailable=SourceError(ErrorKind.NOT_INSTALLED, "no codex")
    )
    report = engine(rpc, missing).fetch(CTX)
    assert report.snapshot is not None and report.error is None


def test_verbose_logs_one_line_per_refresh_with_source_result_and_time(caplog):
    oauth = Scripted("oauth", 10, SourceError(ErrorKind.NETWORK, "down"))
    logs = Scripted("logs", 90, None, uses_network=False)
    with caplog.at_level(logging.INFO, logger="codexbar.engine"):
        engine(oauth, logs).fetch(CTX)
    lines = [r.getMessage() for r in caplog.records if r.name == "codexbar.engine"]
    assert len(lines) == 1
    assert re.fullmatch(r"refresh: oauth network \d+ ms, logs ok \d+ ms", lines[0]), lines


def test_network_failure_skips_network_sources_but_not_logs():
    oauth = Scripted("oauth", 10, SourceError(ErrorKind.NETWORK, "down"))
    rpc = Scripted("rpc", 20, None)
    logs = Scripted("logs", 90, None, uses_network=False)
    report = engine(oauth, rpc, logs).fetch(CTX)
    assert report.snapshot.source == "logs"
    assert rpc.calls == 0
    assert report.attempts[1].kind == "skipped"


def test_sources_out_of_auto_are_not_tried():
    web = Scripted("web", 40, None, in_auto=False)
    logs = Scripted("logs", 90, None, uses_network=False)
    assert engine(web, logs).fetch(CTX).snapshot.source == "logs"
    assert web.calls == 0


def test_unavailable_source_is_recorded_not_called():
    rpc = Scripted("rpc", 20, None, unavailable=SourceError(ErrorKind.NOT_INSTALLED, "no codex"))
    logs = Scripted("logs", 90, None, uses_network=False)
    report = engine(rpc, logs).fetch(CTX)
    assert rpc.calls == 0 and report.attempts[0].kind == "not_installed"


def test_all_failing_leads_with_the_first_actionable_error():
    oauth = Scripted("oauth", 10, SourceError(ErrorKind.AUTH, "not logged in", "Run codex login."))
    rpc = Scripted("rpc", 20, None, unavailable=SourceError(ErrorKind.NOT_INSTALLED, "no codex"))
    logs = Scripted("logs", 90, SourceError(ErrorKind.PARSE, "no reading"), uses_network=False)
    report = engine(oauth, rpc, logs).fetch(CTX)
    assert report.snapshot is None
    assert report.error.kind is ErrorKind.AUTH and report.error.exit_code == 1
    assert len(report.attempts) == 3


def test_explicit_source_uses_only_that_source():
    oauth = Scripted("oauth", 10, None)
    logs = Scripted("logs", 90, SourceError(ErrorKind.PARSE, "none"), uses_network=False)
    report = engine(oauth, logs).fetch(CTX, "logs")
    assert report.error.kind is ErrorKind.PARSE and report.error.exit_code == 3
    assert oauth.calls == 0


def test_explicit_unknown_source_is_a_clear_error():
    report = engine(Scripted("oauth", 10, None)).fetch(CTX, "carrier-pigeon")
    assert report.error.kind is ErrorKind.UNSUPPORTED
    assert "carrier-pigeon" in report.error.text and "oauth" in report.error.text


def test_a_crashing_plugin_becomes_an_error_value_without_secrets():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
    broken = Scripted("broken", 10, RuntimeError(f"boom with {token}"))
    logs = Scripted("logs", 90, None, uses_network=False)
    report = engine(broken, logs).fetch(CTX)
    assert report.snapshot.source == "logs"
    message = report.attempts[0].message
    # In words: Python's own text (and any secret in it) stays in the -v log.
    assert "internal error" in message and "boom" not in message and token not in message
    assert "RuntimeError" not in message


def test_builtin_sources_are_discovered_through_entry_points():
    registry = discover_sources()
    assert {"oauth", "logs"} <= set(registry.names)
    assert registry.names.index("oauth") < registry.names.index("logs")


def test_a_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch):
    dist = tmp_path / "brokenplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[codexbar.sources]\nbroken = brokenplugin_missing_module:Source\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover_sources()
    assert "oauth" in registry.names
    assert any("broken" in e and "could not be loaded" in e for e in registry.load_errors)


def test_codexbar_never_imports_providers_by_name():
    package = Path(__file__).resolve().parents[1] / "codexbar"
    pattern = re.compile(r"^\s*(from|import)\s+providers\b", re.M)
    offenders = [p for p in package.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
