"""The Forecast page in Chromium: a stored forecast drawn as one prediction bar per order,
coloured by on-time probability, with the KPI table; reached from the nav. A screenshot goes
to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import ids
from tests.dashboard.conftest import (
    ARTIFACTS,
    CHROMIUM,
    assert_plotly_drew_all,
    served_page,
    watch_console,
)
from tests.dashboard.test_forecast_figures import stored_forecast

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium"),
]


def test_the_forecast_page_shows_the_stored_forecast(tmp_path):
    root = tmp_path / "runs"
    fid = stored_forecast(root)
    with served_page(root, tmp_path / "server.log", height=900) as (page, base):
        errors = watch_console(page)
        page.goto(f"{base}/")
        page.get_by_role("link", name="Forecast").click()
        page.wait_for_function(
            f"() => {{ const g = document.querySelector('#{ids.FC_ORDERS} .js-plotly-plot');"
            " return g && g.data && g.data[0].y && g.data[0].y.length > 0; }"
        )
        colours = page.evaluate(
            f"() => document.querySelector('#{ids.FC_ORDERS} .js-plotly-plot').data[0].marker.color"
        )
        assert colours and all(c.startswith("#") for c in colours)
        assert fid in page.locator(f"#{ids.FC_PICK}").inner_text()
        assert "OTIF %" in page.locator(f"#{ids.FC_KPIS}").inner_text()
        assert_plotly_drew_all(page, errors)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-forecast.png"), full_page=True)
