"""Metrics as Prometheus reads them: `promtool` checks `codexbar metrics`, and a real Prometheus
(Debian's package) scrapes the dashboard's GET /metrics and answers a PromQL query."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from codexbar.dashboard.api import Dashboard
from codexbar.dashboard.server import DashboardServer
from codexbar.engine import UsageReport
from codexbar.metrics import limit_families, source_up
from codexbar.reading import choose
from codexbar.report import report_to_json
from codexbar.store import Store
from tests.bars_helpers import run_codexbar, save_reading
from tests.dashboard_helpers import build_home, running_dashboard, use_logs_source
from tests.tray_helpers import reading as snapshot_at

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
TOKEN = "scrape-token-0123456789abcdef"

needs_promtool = pytest.mark.skipif(
    not os.access(PROMTOOL, os.X_OK), reason="promtool is not installed (Debian: prometheus)"
)
needs_prometheus = pytest.mark.skipif(
    not os.access(PROMETHEUS, os.X_OK), reason="prometheus is not installed (Debian: prometheus)"
)


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from the Prometheus text."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


# -- codexbar metrics ----------------------------------------------------------------------------


@needs_promtool
def test_codexbar_metrics_passes_promtool_and_holds_the_figures(tmp_path):
    lived = build_home(tmp_path)
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC) - timedelta(seconds=20)))
    result = run_codexbar("metrics", "--home", str(lived.home))
    assert result.returncode == 0, result.stderr
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=result.stdout, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    values = samples(result.stdout)
    account = 'account="dev.fixture@example.com"'
    assert values[f'codexbar_window_used_ratio{{{account},window="session"}}'] == 0.18
    assert values[f'codexbar_window_used_ratio{{{account},window="weekly"}}'] == 0.45
    assert values[f"codexbar_source_up{{{account}}}"] == 1
    assert values[f"codexbar_reading_current{{{account}}}"] == 1
    assert values[f"codexbar_credits_balance{{{account}}}"] == 112.5
    assert values['codexbar_tokens_total{model="gpt-5.5",type="input"}'] > 0
    assert values['codexbar_cost_usd_total{model="gpt-5.5"}'] > 0
    assert "codexbar_scan_duration_seconds" in values


def test_openmetrics_ends_with_eof(tmp_path):
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC)))
    result = run_codexbar("metrics", "--openmetrics", "--home", str(tmp_path / "none"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("# EOF\n")
    assert "# TYPE codexbar_tokens counter" in result.stdout


def _body(snapshot, now, error_kind=None, from_store=False):
    reading = choose(UsageReport(snapshot=snapshot), None, now, 5)
    body = report_to_json(reading)
    if error_kind:
        body["error"] = {"kind": error_kind, "message": "…"}
    body["from_store"] = from_store
    return body


def _values(families) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (family.name, tuple(sample.labels.values())): sample.value
        for family in families
        for sample in family.samples
    }


def test_an_expired_login_is_a_source_down_and_a_passed_reset_is_left_out():
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    later = at + timedelta(hours=2)  # past the session window's reset (at + 1h50m)
    body = _body(snapshot_at(90, 45, at=at), later, error_kind="auth", from_store=True)
    assert not source_up(body)
    values = _values(limit_families([body], later))
    account = "dev.fixture@example.com"
    assert ("codexbar_window_used_ratio", (account, "session")) not in values
    assert values[("codexbar_window_used_ratio", (account, "weekly"))] == 0.45
    assert values[("codexbar_source_up", (account,))] == 0
    assert values[("codexbar_source_error", (account, "auth"))] == 1
    assert values[("codexbar_reading_age_seconds", (account, "oauth"))] == 7200
    assert values[("codexbar_reading_current", (account,))] == 0
    fresh = _body(snapshot_at(18, 45, at=at), at + timedelta(seconds=5))
    assert source_up(fresh)


# -- the dashboard's GET /metrics ----------------------------------------------------------------


def get(server_host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection(server_host, port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_metrics_endpoint_wants_a_token(tmp_path, isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    lived = build_home(tmp_path)
    with running_dashboard([lived.home], metrics_token=TOKEN) as server:
        host = {"Host": f"127.0.0.1:{server.port}"}
        status, text = get("127.0.0.1", server.port, "/metrics", host)
        assert status == 401 and "metrics.token" in text
        wrong = {**host, "Authorization": "Bearer not-the-token"}
        assert get("127.0.0.1", server.port, "/metrics", wrong)[0] == 401
        ok = {"Host": "scraper.example:1", "Authorization": f"Bearer {TOKEN}"}
        status, text = get("127.0.0.1", server.port, "/metrics", ok)
        assert status == 200
        # No email in the session logs: the account is named by its Codex home.
        account = f'account="{os.path.abspath(lived.home)}"'
        assert f'codexbar_window_used_ratio{{{account},window="session"}} 0.62' in text
        # The dashboard's own secret works too, through the usual Host check.
        own = {**host, "Authorization": f"Bearer {server.secret}"}
        assert get("127.0.0.1", server.port, "/metrics", own)[0] == 200
        assert TOKEN not in text and server.secret not in text


def test_another_address_needs_a_token_and_keeps_the_page_local(tmp_path, isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    lived = build_home(tmp_path)
    store = Store()
    try:
        with pytest.raises(ValueError):
            DashboardServer(Dashboard([lived.home], store, fetch_usage=None), host="127.0.0.2")
    finally:
        store.close()
    with running_dashboard([lived.home], host="127.0.0.2", metrics_token=TOKEN) as server:
        remote = {"Host": f"127.0.0.2:{server.port}"}
        page = get("127.0.0.2", server.port, f"/?token={server.secret}", remote)
        assert page[0] == 403  # the page answers only to 127.0.0.1 and localhost
        scraped = get(
            "127.0.0.2", server.port, "/metrics", {**remote, "Authorization": f"Bearer {TOKEN}"}
        )
        assert scraped[0] == 200 and "codexbar_source_up" in scraped[1]


def test_dashboard_listen_refuses_without_a_token(tmp_path):
    result = run_codexbar("dashboard", "--no-browser", "--listen", "127.0.0.2:0")
    assert result.returncode == 64
    assert "metrics token" in result.stderr and "config set metrics.token" in result.stderr
    bad = run_codexbar("dashboard", "--no-browser", "--listen", "nowhere")
    assert bad.returncode == 64 and "ADDR:PORT" in bad.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


@needs_prometheus
def test_a_real_prometheus_scrapes_the_dashboard(tmp_path, isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    lived = build_home(tmp_path)
    with running_dashboard([lived.home], metrics_token=TOKEN) as server:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: codexbar\n"
            "    metrics_path: /metrics\n"
            f"    authorization:\n      credentials: {TOKEN}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n"
        )
        port = _free_port()
        log = (tmp_path / "prometheus.log").open("w")
        prometheus = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            result: list[dict] = []
            while time.monotonic() < deadline and prometheus.poll() is None:
                try:
                    result = _query(port, 'codexbar_window_used_ratio{window="session"}')
                except OSError:
                    result = []  # not listening yet
                if result:
                    break
                time.sleep(0.5)
            assert result, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert float(result[0]["value"][1]) == 0.62
            assert result[0]["metric"]["job"] == "codexbar"
            up = _query(port, 'up{job="codexbar"}')
            assert up and up[0]["value"][1] == "1"
        finally:
            prometheus.terminate()
            prometheus.wait(20)
            log.close()
