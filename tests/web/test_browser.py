"""End to end in a real browser (Debian's Chromium driven by Playwright; no browser is ever downloaded):
start `neuralab serve` on loopback, upload examples/test-data.csv through the page, wait for the analysis, see
the chart and the label, ask a question, read the answer, keep a screenshot.

Skips when Playwright for Python or /usr/bin/chromium is missing (`.ci/run` installs both)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("NEURALAB_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian package 'chromium')", allow_module_level=True)


@pytest.fixture()
def server(tmp_path, serve):
    return serve(tmp_path / "data", tmp_path / "server.log")[1]


def test_upload_see_the_analysis_and_ask_in_chromium(server, tmp_path):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server + "/")
            page.set_input_files("#file", str(ROOT / "examples" / "test-data.csv"))
            page.click("input[type=submit]")
            page.wait_for_url("**/analyses/*", timeout=30_000)
            label = page.locator("#label")
            label.wait_for(state="visible", timeout=90_000)
            assert "contextual anomaly" in label.inner_text().lower()
            chart = page.locator("#chart")
            chart.wait_for(state="visible")
            page.wait_for_function("document.getElementById('chart').complete && "
                                   "document.getElementById('chart').naturalWidth > 0", timeout=30_000)
            assert page.locator("#events tr").count() >= 2  # a header and at least one event
            assert "not a diagnosis" in page.content()
            page.fill("#question", "Why is this a context anomaly, and what could cause it?")
            page.click("#ask input[type=submit]")
            answer = page.locator("#answers .qa").last
            answer.wait_for(state="visible", timeout=30_000)
            text = answer.inner_text()
            assert "contextual" in text and "bpm" in text, text
            out = Path(os.environ.get("NEURALAB_SCREENSHOTS", tmp_path))
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / "analysis-page.png"), full_page=True)
            assert (out / "analysis-page.png").stat().st_size > 10_000
            # history lists it, with its label
            page.goto(server + "/history")
            assert "test-data.csv" in page.content() and "contextual" in page.content().lower()
        finally:
            browser.close()
