"""A process plant in Chromium: Playback of a stored mab_plant run draws the tank levels (one
panel per tank) with the browser's cursor line over them and the levels at the cursor, which
follow a typed date; Compare shows the runs' mean tank levels side by side. Screenshots go to
test-artifacts/."""

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
from tests.dashboard.test_process_figures import make_process_store

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium"),
]

GRAPH = "document.querySelector('#{} .js-plotly-plot')"


def test_playback_of_a_process_plant_shows_tank_levels(tmp_path):
    root = tmp_path / "runs"
    runs = make_process_store(root)
    with served_page(root, tmp_path / "server.log") as (page, base):
        errors = watch_console(page)
        page.goto(f"{base}/playback?run={runs['base']}&t=2026-01-20T08:00")
        tanks = GRAPH.format(ids.PB_TANKS)
        page.wait_for_function(f"() => {tanks} && {tanks}.data.length > 0")
        names = page.evaluate(f"() => {tanks}.data.map(d => d.name)")
        assert "media" in names and "media capacity" in names
        # the browser's own cursor line over the tank levels
        line = f"#{ids.PB_TANKS} .pb-cursor"
        page.wait_for_function(
            f"() => {{ const l = document.querySelector('{line}');"
            " return l && l.style.display === 'block'; }"
        )
        assert page.locator(f"#{ids.PB_UTILITIES} .js-plotly-plot").count() == 1
        assert page.locator(f"#{ids.PB_SERIES}").count() == 0  # no WIP for a process
        levels = page.locator(f"#{ids.PB_LEVELS}")
        assert "Levels at 2026-01-20 08:00" in levels.inner_text()
        box = page.locator(f"#{ids.PB_TIME}")
        box.fill("2026-02-10 08:00")
        box.press("Enter")
        levels.get_by_text("Levels at 2026-02-10 08:00").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-process-playback.png"), full_page=True)
        page.goto(f"{base}/compare?runs={runs['base']},{runs['fewer']}")
        levels_graph = GRAPH.format(ids.CMP_LEVELS)
        page.wait_for_function(f"() => {levels_graph} && {levels_graph}.data.length > 0")
        assert page.locator(f"#{ids.CMP_LEVELS}").is_visible()
        assert "demand_fill_pct" in page.locator(f"#{ids.CMP_TABLE}").inner_text()
        assert_plotly_drew_all(page, errors)
        page.screenshot(path=str(ARTIFACTS / "dashboard-process-compare.png"), full_page=True)
