"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

The page must load with no console errors, ask nothing of any host but the dashboard's own
127.0.0.1 address, draw its charts, and change its numbers when the range changes. Screenshots in
light and dark mode, at 1280×800 and at a phone's width, land in the test's folder (and in
$CODEXBAR_SCREENSHOTS when set, to look at them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.dashboard_helpers import build_home, running_dashboard, save_history, use_logs_source

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="Debian's chromium is not installed"
)


@pytest.fixture
def lived_in(tmp_path, isolated_dirs):
    use_logs_source(isolated_dirs / "config")
    built = build_home(tmp_path)
    from codexbar.store import Store

    store = Store()
    save_history(store, built.now)
    store.close()
    return built


def _shots_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def _open(browser, server, scheme: str, width: int, height: int, seen: dict):
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = context.new_page()
    page.on(
        "console",
        lambda m: m.type in ("error", "warning") and seen["console"].append(f"{m.type}: {m.text}"),
    )
    page.on("pageerror", lambda e: seen["console"].append(f"pageerror: {e}"))
    page.on("request", lambda r: seen["urls"].append(r.url))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return context, page


def test_the_page_in_chromium(tmp_path, lived_in):
    shots = _shots_dir(tmp_path)
    seen: dict[str, list[str]] = {"console": [], "urls": []}
    with running_dashboard([lived_in.home]) as server, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
        )
        try:
            context, page = _open(browser, server, "light", 1280, 800, seen)
            # The secret left the address bar for a cookie.
            assert "token=" not in page.url
            # Charts are drawn: bars for the cost per day, a line and pace guides for the window.
            assert page.locator("#usage-chart svg rect.seg").count() > 5
            assert page.locator("#history-chart svg path.line").count() == 1
            assert page.locator("#history-chart svg line.pace").count() >= 1
            # Limits with pace, the active session with its context bar, tables filled.
            assert "left" in page.locator("#limits").inner_text()
            assert "Pace:" in page.locator("#limits").inner_text()
            assert page.locator("#active .session").count() == 1
            assert "258K context" in page.locator("#active").inner_text()
            assert page.locator("#events tbody tr").count() > 5
            assert page.locator("#by-model tbody tr").count() == 3
            page.screenshot(path=str(shots / "light-1280x800.png"))
            page.screenshot(path=str(shots / "light-1280-full.png"), full_page=True)

            # The range picker changes the numbers.
            thirty = page.locator("#tiles .tile strong").first.inner_text()
            page.click("#range button[data-range='today']")
            page.wait_for_selector("body[data-loaded-range='today']")
            today = page.locator("#tiles .tile strong").first.inner_text()
            assert today != thirty
            # The day pickers follow the chosen range.
            assert page.input_value("#since") == page.input_value("#until")
            page.click("#range button[data-range='last30days']")
            page.wait_for_selector("body[data-loaded-range='last30days']")
            assert page.locator("#tiles .tile strong").first.inner_text() == thirty
            span = page.locator("#tiles .tile small").first.inner_text()
            assert span == f"{page.input_value('#since')} – {page.input_value('#until')}"
            # Hour buckets and tokens draw too.
            page.click("#bucket button[data-bucket='hour']")
            page.click("#metric button[data-metric='tokens']")
            # (waiting with the page's own JS would need eval, which our CSP forbids)
            page.wait_for_selector("#usage-title:text-is('Tokens per hour')")
            assert page.locator("#usage-chart svg rect.seg").count() > 5
            context.close()

            context, page = _open(browser, server, "dark", 1280, 800, seen)
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(13, 17, 23)"
            page.screenshot(path=str(shots / "dark-1280x800.png"))
            page.screenshot(path=str(shots / "dark-1280-full.png"), full_page=True)
            context.close()

            for scheme in ("light", "dark"):
                context, page = _open(browser, server, scheme, 390, 844, seen)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, "the narrow page scrolls sideways"
                page.screenshot(path=str(shots / f"{scheme}-390-full.png"), full_page=True)
                context.close()
        finally:
            browser.close()
    assert seen["console"] == []
    origin = f"http://127.0.0.1:{server.port}/"
    assert seen["urls"] and all(url.startswith(origin) for url in seen["urls"]), seen["urls"]
    if os.environ.get("CODEXBAR_SCREENSHOTS"):
        shutil.copytree(shots, os.environ["CODEXBAR_SCREENSHOTS"], dirs_exist_ok=True)
