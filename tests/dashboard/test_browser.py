"""The dashboard in a real browser: Playwright drives Debian's Chromium against a dashboard
server started on 127.0.0.1 over a temporary store of scenarios/tiny.yaml runs.

Screenshots of every page are saved under test-artifacts/ (gitignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import ids
from tests.dashboard.conftest import ARTIFACTS

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs chromium (scripts/ensure-browser.sh)"
    ),
]
TIMEOUT = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    yield pg
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


UNIT_COLOURS = (
    f"() => document.querySelector('#{ids.PB_LAYOUT} .js-plotly-plot')"
    ".data[2].marker.color.join(',')"
)


def test_runs_table_lists_a_stored_run(server, tiny_store, page):
    _, runs = tiny_store
    page.goto(server + "/")
    table = page.locator(f"#{ids.RUNS_TABLE}")
    table.get_by_text(runs["base"]).wait_for()
    assert table.get_by_text(runs["presses"]).count() == 1
    assert table.get_by_text("units.press_1.count=3").count() == 1
    shot(page, "runs")


def test_playback_moves_the_cursor_and_units_change_colour(server, tiny_store, page):
    _, runs = tiny_store
    page.goto(f"{server}/playback?run={runs['base']}")
    page.locator(f"#{ids.PB_LAYOUT} .js-plotly-plot").wait_for()
    clock = page.locator(f"#{ids.PB_CLOCK}")
    before_clock = clock.inner_text()
    before = page.evaluate(UNIT_COLOURS)
    page.locator(f"#{ids.PB_NEXT}").click()  # next breakdown
    page.wait_for_function(
        f"(c) => document.getElementById('{ids.PB_CLOCK}').innerText !== c", arg=before_clock
    )
    page.wait_for_function(UNIT_COLOURS.replace("() =>", "(c) =>") + " !== c", arg=before)
    after = page.evaluate(UNIT_COLOURS)
    assert after != before
    assert "#d62728" in after  # the unit that broke down is drawn red (down)
    # typing an hour moves the cursor too
    box = page.locator(f"#{ids.PB_TIME}")
    box.fill("30")
    box.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('{ids.PB_CLOCK}').innerText.includes('2026-01-06 12:00')"
    )
    # play: the clock runs by itself until paused
    before_clock = clock.inner_text()
    page.locator(f"#{ids.PB_PLAY}").click()
    page.wait_for_function(
        f"(c) => document.getElementById('{ids.PB_CLOCK}').innerText !== c", arg=before_clock
    )
    page.locator(f"#{ids.PB_PLAY}").click()
    page.get_by_text("▶ Play").wait_for()
    shot(page, "playback")


def test_compare_shows_two_runs(server, tiny_store, page):
    _, runs = tiny_store
    page.goto(f"{server}/compare?runs={runs['base']},{runs['presses']}")
    table = page.locator(f"#{ids.CMP_TABLE}")
    table.get_by_text("otif_pct").first.wait_for()
    header = table.locator("th").all_inner_texts()
    assert any(runs["base"] in h for h in header)
    assert any(runs["presses"] in h for h in header)
    assert table.get_by_text("(paired)").count() >= 1  # same seed: paired differences
    page.locator(f"#{ids.CMP_GANTT} .js-plotly-plot").nth(1).wait_for()
    shot(page, "compare")


def test_what_if_launched_from_the_page_appears_in_runs(server, page):
    page.goto(server + "/what-if")
    page.locator(f"#{ids.WI_FORM}").get_by_text("units (count)").wait_for()
    page.locator(f"#{ids.WI_REPS}").fill("1")
    page.locator(f"#{ids.WI_MTBF}").fill("2")
    page.locator(f"#{ids.WI_LAUNCH}").click()
    jobs = page.locator(f"#{ids.WI_JOBS}")
    jobs.get_by_text("done").wait_for(timeout=60_000)
    assert "failed" not in jobs.inner_text()
    shot(page, "what-if")
    page.goto(server + "/")
    table = page.locator(f"#{ids.RUNS_TABLE}")
    row = table.locator("tr", has_text="failures.mtbf")
    row.first.wait_for()
    # delete it again, confirming the dialog
    page.on("dialog", lambda d: d.accept())
    row.first.locator("input[type=checkbox]").check()
    page.locator(f"#{ids.RUNS_DELETE}").click()
    page.locator(f"#{ids.RUNS_MESSAGE}").get_by_text("deleted 1 run").wait_for()
    assert table.locator("tr", has_text="failures.mtbf").count() == 0


def test_invalid_uploaded_scenario_shows_the_clear_error(server, page, tmp_path):
    page.goto(server + "/what-if")
    page.locator(f"#{ids.WI_FORM}").get_by_text("units (count)").wait_for()
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        (Path(__file__).parents[2] / "scenarios" / "tiny.yaml")
        .read_text()
        .replace("press_1: {class: press, count: 2}", "press_1: {class: presss}")
    )
    page.locator(f"#{ids.WI_UPLOAD} input[type=file]").set_input_files(str(bad))
    error = page.locator(f"#{ids.WI_ERROR}")
    error.get_by_text("error:").wait_for()
    text = error.inner_text()
    assert "broken.yaml: units.press_1.class: bad value 'presss'" in text, text
    shot(page, "upload-error")
    # a YAML file that asks for Python objects is refused by the safe loader, not executed
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['touch /tmp/pwned']\n")
    page.locator(f"#{ids.WI_UPLOAD} input[type=file]").set_input_files(str(evil))
    page.wait_for_function(
        f"() => document.getElementById('{ids.WI_ERROR}').innerText.includes('evil.yaml')"
    )
    assert "expected valid YAML" in error.inner_text()
