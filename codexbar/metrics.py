"""Prometheus / OpenMetrics text for `codexbar metrics` and the dashboard's `GET /metrics`.

The figures come from what the other views already build: each account's `usage --json` object
(codexbar.report.report_to_json, with pace) and the cost summary. Nothing here fetches, parses or
totals. The official `prometheus-client` writes the text, so the format (escaping, HELP/TYPE
lines, OpenMetrics' `# EOF`) is the library's, not ours.

A figure that is not current is still exported, with `codexbar_reading_age_seconds` and
`codexbar_reading_current` beside it, so an alert can tell "low" from "old". A window whose reset
has passed since the reading is left out: its old percent is no longer true.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from codexbar.cost.summary import CostSummary
from codexbar.errors import ErrorKind

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("cached_input", "cached_input_tokens"),
    ("output", "output_tokens"),
    ("reasoning_output", "reasoning_output_tokens"),
)


def _epoch(text: str | None) -> float | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def account_label(body: Mapping[str, Any]) -> str:
    """Who the figures belong to: the email, else the account id, else the Codex home."""
    identity = body.get("identity") or {}
    return identity.get("email") or identity.get("account_id") or str(body.get("home") or "default")


def source_up(body: Mapping[str, Any]) -> bool:
    """False when the login is expired or rejected, or when no source gave a reading this time
    (what is shown is then the last good reading, from the store)."""
    error = body.get("error") or {}
    if error.get("kind") == ErrorKind.AUTH.value:
        return False
    return body.get("source") is not None and not body.get("from_store")


def _gauge(name: str, doc: str, labels: Sequence[str], unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels), unit=unit)


def limit_families(accounts: Iterable[Mapping[str, Any]], now: datetime) -> list[Metric]:
    """The limits of each account: windows, pace, credits, blocked, reading age, source health."""
    used = _gauge(
        "codexbar_window_used_ratio", "Share of the window used (0-1).", ("account", "window")
    )
    resets = _gauge(
        "codexbar_window_resets_at_seconds",
        "When the window resets, as a Unix time.",
        ("account", "window"),
    )
    pace = _gauge(
        "codexbar_window_pace_delta_ratio",
        "Used minus the share of the window elapsed (positive: ahead of an even spread).",
        ("account", "window"),
    )
    runs_out = _gauge(
        "codexbar_window_runs_out_at_seconds",
        "When the window is projected to be used up before its reset, as a Unix time "
        "(absent when it lasts until the reset).",
        ("account", "window"),
    )
    credits = _gauge("codexbar_credits_balance", "Prepaid credit balance.", ("account",))
    blocked = _gauge(
        "codexbar_blocked",
        "1 when the account cannot be used now whatever the percents say.",
        ("account",),
    )
    age = _gauge(
        "codexbar_reading_age_seconds", "How old the reading shown is.", ("account", "source")
    )
    current = _gauge(
        "codexbar_reading_current",
        "1 when the reading was taken within the refresh interval by a source that answered.",
        ("account",),
    )
    up = _gauge(
        "codexbar_source_up",
        "0 when the Codex login expired or was rejected, or when every source failed.",
        ("account",),
    )
    failure = _gauge(
        "codexbar_source_error",
        "1 for the kind of the failure of the last refresh (auth means: log in to Codex again).",
        ("account", "kind"),
    )
    for body in accounts:
        account = account_label(body)
        for window in body.get("windows") or []:
            if window.get("reset_passed"):
                continue
            labels = [account, str(window["id"])]
            used.add_metric(labels, float(window["used_percent"]) / 100)
            reset_at = _epoch(window.get("resets_at"))
            if reset_at is not None:
                resets.add_metric(labels, reset_at)
            window_pace = window.get("pace")
            if window_pace:
                pace.add_metric(labels, window_pace["delta_percent"] / 100)
                out_at = _epoch(window_pace.get("runs_out_at"))
                if out_at is not None:
                    runs_out.add_metric(labels, out_at)
        balance = (body.get("credits") or {}).get("balance")
        if balance is not None:
            credits.add_metric([account], float(balance))
        if body.get("source") is not None:
            blocked.add_metric([account], 1.0 if body.get("blocked") else 0.0)
            observed = _epoch(body.get("observed_at"))
            if observed is not None:
                age.add_metric([account, body["source"]], max(0.0, now.timestamp() - observed))
        current.add_metric([account], 0.0 if body.get("stale", True) else 1.0)
        up.add_metric([account], 1.0 if source_up(body) else 0.0)
        error = body.get("error")
        if error:
            failure.add_metric([account, error["kind"]], 1.0)
    return [used, resets, pace, runs_out, credits, blocked, age, current, up, failure]


def cost_families(summary: CostSummary) -> list[Metric]:
    """Token and cost totals by model over all the local session logs, and the scan's timings.

    The totals only grow while the logs are kept; deleting logs makes them drop, which
    Prometheus' rate() and increase() treat as a counter reset."""
    tokens = CounterMetricFamily(
        "codexbar_tokens", "Tokens of the local Codex sessions.", labels=["model", "type"]
    )
    cost = CounterMetricFamily(
        "codexbar_cost_usd",
        "API-price estimate of the local Codex sessions, in US dollars (not a bill).",
        labels=["model"],
    )
    responses = CounterMetricFamily(
        "codexbar_responses", "Model responses of the local Codex sessions.", labels=["model"]
    )
    for model, figures in sorted(summary.models.items()):
        for kind, attribute in TOKEN_KINDS:
            tokens.add_metric([model, kind], getattr(figures, attribute))
        if figures.cost_usd is not None:
            cost.add_metric([model], float(figures.cost_usd))
        responses.add_metric([model], figures.responses)
    scan = summary.scan
    return [
        tokens,
        cost,
        responses,
        _single(
            "codexbar_scan_duration_seconds", "How long the last cost scan took.", scan.ms / 1000
        ),
        _single("codexbar_scan_files", "Session files the last cost scan looked at.", scan.files),
        _single(
            "codexbar_scan_files_cached",
            "Of those, files whose totals came from the cache unread.",
            scan.files_from_cache,
        ),
        _single("codexbar_scan_read_bytes", "Bytes the last cost scan read.", scan.bytes_read),
    ]


def _single(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(families: list[Metric], accept: str | None = None) -> tuple[bytes, str]:
    """The text and its content type: OpenMetrics when `accept` asks for it (Prometheus
    does), else the classic Prometheus text format."""
    from prometheus_client.exposition import choose_encoder

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def metrics_text(
    accounts: Iterable[Mapping[str, Any]],
    summary: CostSummary | None,
    now: datetime,
    accept: str | None = None,
    extra: Sequence[Metric] = (),
) -> tuple[bytes, str]:
    families = limit_families(accounts, now)
    if summary is not None:
        families += cost_families(summary)
    return exposition([*families, *extra], accept)
