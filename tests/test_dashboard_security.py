"""The dashboard's guards: the secret, the Host check, 127.0.0.1 only, the CSP, quiet logs."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys

import httpx
import pytest

from codexbar.dashboard.server import CSP
from tests.conftest import FIXTURE_HOME
from tests.dashboard_helpers import running_dashboard, use_logs_source


@pytest.fixture
def server(isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    with running_dashboard([FIXTURE_HOME]) as running:
        yield running


def get(server, path: str, headers: dict | None = None) -> httpx.Response:
    return httpx.get(
        f"http://127.0.0.1:{server.port}{path}",
        headers=headers or {},
        timeout=30,
        follow_redirects=False,
    )


@pytest.mark.parametrize("path", ["/", "/app.js", "/api/summary", "/api/pricing", "/api/limits"])
def test_no_secret_no_answer(server, path):
    response = get(server, path)
    assert response.status_code == 401
    assert response.headers["Content-Security-Policy"] == CSP
    assert "secret" in response.text
    assert get(server, path, {"Authorization": "Bearer wrong"}).status_code == 401
    assert get(server, path + "?token=wrong").status_code == 401
    assert get(server, path, {"Cookie": "codexbar_dashboard=wrong"}).status_code == 401


def test_a_put_without_the_secret_changes_nothing(server, isolated_dirs):
    response = httpx.put(
        f"http://127.0.0.1:{server.port}/api/pricing",
        json={"models": {"gpt-5.5": {"input": 0, "output": 0}}},
        timeout=30,
    )
    assert response.status_code == 401
    assert not (isolated_dirs / "config" / "pricing.json").exists()


def test_the_token_becomes_a_strict_http_only_cookie(server):
    response = get(server, f"/?token={server.secret}")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"codexbar_dashboard={server.secret};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    page = get(server, "/", {"Cookie": f"codexbar_dashboard={server.secret}"})
    assert page.status_code == 200 and "<title>codexbar dashboard</title>" in page.text
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
        assert name in page.headers
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    bearer = get(server, "/api/homes", {"Authorization": f"Bearer {server.secret}"})
    assert bearer.status_code == 200 and bearer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1:1", "localhost", "127.0.0.1", "", "[::1]:{port}"]
)
def test_a_wrong_host_is_refused_even_with_the_secret(server, host):
    headers = {"Authorization": f"Bearer {server.secret}", "Host": host.format(port=server.port)}
    response = get(server, "/api/homes", headers)
    assert response.status_code == 403
    assert "Host" in response.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_the_two_right_hosts_are_accepted(server, host):
    headers = {"Authorization": f"Bearer {server.secret}", "Host": host.format(port=server.port)}
    assert get(server, "/api/homes", headers).status_code == 200


def _other_local_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_bound_to_127_0_0_1_only(server):
    assert server.server_address[0] == "127.0.0.1"
    # Linux answers all of 127/8 on the loopback device: a server bound to every address would
    # accept 127.0.0.2 too. So would it on the machine's network address, where it has one.
    others = ["127.0.0.2", *filter(None, [_other_local_address()])]
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=5).close()
    socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_the_command_prints_its_url_serves_and_logs_no_secret(isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "codexbar",
            "-v",
            "dashboard",
            "--no-browser",
            "--print-url",
            "--home",
            str(FIXTURE_HOME),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the dashboard printed no URL"
        url = process.stdout.readline().strip()
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]{40,})", url)
        assert match, url
        port, secret = match.groups()
        with httpx.Client(timeout=30) as client:
            page = client.get(url, follow_redirects=True)
            assert page.status_code == 200 and "Codex dashboard" in page.text
            assert (
                client.get(f"http://127.0.0.1:{port}/api/summary?range=alltime").json()["totals"][
                    "total_tokens"
                ]
                == 207_078
            )
            assert httpx.get(f"http://127.0.0.1:{port}/api/homes").status_code == 401
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert secret not in stderr
    assert "GET /" in stderr  # -v logs the requests, without their query


def test_two_runs_have_different_secrets_and_ports(isolated_dirs):
    with running_dashboard([FIXTURE_HOME]) as first, running_dashboard([FIXTURE_HOME]) as second:
        assert first.secret != second.secret and first.port != second.port
        assert len(first.secret) >= 40
        response = get(first, "/api/homes", {"Authorization": f"Bearer {second.secret}"})
        assert response.status_code == 401
