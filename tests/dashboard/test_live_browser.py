"""``twin live --demo`` in a real browser: the demo (embedded broker, emulated plant 1.3 times
slower than the model, live twin, dashboard; one process on 127.0.0.1, free ports) and its
Live page in Chromium: every unit drawn in its state, the plant clock moving every few
seconds, divergences listed, a forecast with prediction bars, rate and lag; Ctrl-C (SIGINT)
stops all of it. A screenshot goes to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard import ids
from tests.dashboard.conftest import ARTIFACTS, REPO, free_port

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium"),
]


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", "live", "--demo", "--store", str(tmp_path / "runs"),
         "--dash-port", str(port), "--demo-speed", "2400", "--demo-slower", "1.3",
         "--forecast-every", "6h", "--horizon", "2d", "-n", "4", "--for", "120"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    text = tmp_path / "demo.log"
    try:
        end = time.monotonic() + 60
        while "PharmaTwin live demo" not in text.read_text():
            assert proc.poll() is None and time.monotonic() < end, text.read_text()[-3000:]
            time.sleep(0.1)
        url = re.search(r"dashboard (http://\S+);", text.read_text()).group(1)
        yield proc, url, text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _plant(page) -> dict:
    return page.evaluate(
        f"""() => {{
        const g = document.querySelector('#{ids.LIVE_PLANT} .js-plotly-plot');
        if (!g || !g.data || g.data.length < 3) return null;
        return {{units: g.data[1].x.length, colours: g.data[1].marker.color,
                 agvs: g.data[2].x.length, title: g.layout.title.text}};
    }}"""
    )


def test_the_live_page_follows_the_demo(demo):
    proc, url, log = demo
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(45_000)
            page.goto(url)
            page.wait_for_function(
                f"() => {{ const g = document.querySelector('#{ids.LIVE_PLANT} .js-plotly-plot');"
                " return g && g.data && g.data.length > 2 && g.data[1].x.length > 0"
                " && g.data[2].x.length > 0; }"
            )
            first = _plant(page)
            assert first["units"] == 21 and first["agvs"] == 6
            assert all(c.startswith("#") for c in first["colours"])
            # the plant clock moves: the page is refreshed every two seconds
            page.wait_for_function(
                f"t => document.querySelector('#{ids.LIVE_PLANT} .js-plotly-plot')"
                ".layout.title.text !== t",
                arg=first["title"],
            )
            # the slower plant shows: divergences listed, the sync badge no longer "in sync"
            page.locator(f"#{ids.LIVE_DIVERGENCES} table.divergences tr").nth(1).wait_for()
            assert "step_too_long" in page.locator(f"#{ids.LIVE_DIVERGENCES}").inner_text()
            page.wait_for_function(
                f"() => ['drifting', 'out of sync'].includes("
                f"document.querySelector('#{ids.LIVE_SYNC}').innerText.trim())"
            )
            # a forecast with one prediction bar per order
            page.wait_for_function(
                f"() => {{ const g = document.querySelector('#{ids.LIVE_FORECAST} .js-plotly-plot');"
                " return g && g.data && g.data[0].y && g.data[0].y.length > 0; }"
            )
            page.wait_for_function(
                f"() => document.querySelector('#{ids.LIVE_RATE} .js-plotly-plot').data[0].x.length > 2"
            )
            head = page.locator(f"#{ids.LIVE_HEAD}").inner_text()
            assert "events" in head and "lag p50 / p95" in head
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)
        finally:
            browser.close()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C stops everything, cleanly
    assert proc.wait(30) == 0, log.read_text()[-3000:]
    assert "session saved in" in log.read_text()
