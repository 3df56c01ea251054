"""The dashboard in a real browser: Playwright drives Debian's Chromium against a dashboard
server started on 127.0.0.1 over a temporary store of scenarios/tiny.yaml runs.

Screenshots of every page are saved under test-artifacts/ (gitignored).
"""

from __future__ import annotations

import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import ids
from tests.dashboard.conftest import (
    ARTIFACTS,
    PLOTLY_BUNDLE,
    TINY,
    assert_plotly_drew_all,
    watch_console,
)

TINY_TEXT = TINY.read_text()

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


# the unit squares the browser draws over the plant (assets/playback.js)
UNIT_COLOURS = (
    f"() => Array.from(document.querySelectorAll('#{ids.PB_LAYOUT} svg.pt-layer .pt-units rect'))"
    ".map(r => r.getAttribute('fill')).join(',')"
)
READY = "() => window.pharmatwin && window.pharmatwin.playback.tl !== null"


def open_playback(page, url: str) -> None:
    page.goto(url)
    page.locator(f"#{ids.PB_LAYOUT} .js-plotly-plot").wait_for()
    page.wait_for_function(READY)
    page.wait_for_function(UNIT_COLOURS + ".length > 0")


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
    open_playback(page, f"{server}/playback?run={runs['base']}")
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
    # the event list around the settled cursor is drawn again: the breakdown, not grey
    page.locator(f"#{ids.PB_EVENTS} tbody tr.past", has_text="breakdown").last.wait_for()
    assert page.locator(f"#{ids.PB_EVENTS} thead th").all_inner_texts()[:2] == ["time", "kind"]
    # typing a date moves the cursor too
    box = page.locator(f"#{ids.PB_TIME}")
    box.fill("2026-01-06 12:00")
    box.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('{ids.PB_CLOCK}').innerText.includes('2026-01-06 12:00')"
    )
    box.fill("next tuesday")
    box.press("Enter")
    page.locator(f"#{ids.PB_TIME_MSG}").get_by_text("time: bad value 'next tuesday'").wait_for()
    # play: the clock runs by itself until paused
    before_clock = clock.inner_text()
    page.locator(f"#{ids.PB_PLAY}").click()
    page.wait_for_function(
        f"(c) => document.getElementById('{ids.PB_CLOCK}').innerText !== c", arg=before_clock
    )
    page.locator(f"#{ids.PB_PLAY}").click()
    page.get_by_text("▶ Play").wait_for()
    shot(page, "playback")


def test_first_frame_is_drawn_before_the_timeline_without_replotting(server, tiny_store, page):
    """The server sends the figures without what moves (units, AGVs, batches hidden; no plotly
    cursor) and the plant at the first time: the browser draws it, and the cursor lines, as
    soon as plotly has drawn the figures, with the timeline still missing, and never re-plots a
    figure to make room for its own layer."""
    from dashboard import data, figures

    root, runs = tiny_store
    page.route("**/timeline?*", lambda route: route.abort())  # the timeline never arrives
    page.add_init_script(
        """window.__plotlyCalls = [];
        (function () {
            let P;
            Object.defineProperty(window, 'Plotly', {configurable: true, get() { return P; },
                set(v) {
                    P = v;
                    for (const name of ['restyle', 'relayout', 'update', 'animate']) {
                        const f = v[name];
                        v[name] = function (...args) {
                            window.__plotlyCalls.push(name);
                            return f.apply(this, args);
                        };
                    }
                }});
        })();"""
    )
    page.goto(f"{server}/playback?run={runs['base']}&t=2026-01-06T12:00")
    page.wait_for_function(UNIT_COLOURS + ".length > 0")
    for graph in (ids.PB_GANTT, ids.PB_SERIES):
        page.locator(f"#{graph} .pb-cursor").wait_for(state="attached")
    page.wait_for_timeout(300)
    pb = data.playback(root, runs["base"], 0)
    expected = figures.plant_update(pb, 30.0)["marker.color"][0]
    assert page.evaluate(UNIT_COLOURS) == ",".join(expected)
    hidden = page.evaluate(
        f"() => document.querySelector('#{ids.PB_LAYOUT} .js-plotly-plot').data"
        ".slice(2, 5).map(t => t.visible)"
    )
    assert hidden == [False, False, False]
    assert page.evaluate("() => window.pharmatwin.playback.tl") is None
    assert "2026-01-06 12:00" in page.locator(f"#{ids.PB_CLOCK}").inner_text()
    assert page.evaluate("() => window.__plotlyCalls") == []


def test_dragging_the_slider_draws_while_dragging(server, tiny_store, page):
    """Frames are drawn while the mouse is still down, with dates on the clock, and the KPI
    cards the browser computes agree with the server's (figures.kpi_cards)."""
    from dashboard import data, figures

    root, runs = tiny_store
    open_playback(page, f"{server}/playback?run={runs['base']}")
    page.evaluate("() => { window.pharmatwin.playback.frames = []; }")
    box = page.locator(f"#{ids.PB_SLIDER}").bounding_box()
    y = box["y"] + 14
    page.mouse.move(box["x"] + 12, y)
    page.mouse.down()
    clocks = set()
    for k in range(12):
        page.mouse.move(box["x"] + 40 + k * 60, y)
        page.wait_for_timeout(40)
        clocks.add(page.locator(f"#{ids.PB_CLOCK}").inner_text())
    drawn_while_dragging = page.evaluate("() => window.pharmatwin.playback.frames.length")
    page.mouse.up()
    assert drawn_while_dragging >= 6 and len(clocks) >= 6, (drawn_while_dragging, clocks)
    assert all(re.match(r"\w{3} 2026-01-\d\d \d\d:\d\d", c) for c in clocks)
    page.wait_for_timeout(300)
    t = float(page.locator(f"#{ids.PB_DRAWN}").inner_text())
    cards = page.locator(f"#{ids.PB_KPIS} .card .value").all_inner_texts()
    expected = [v for _, v in figures.kpi_cards(data.playback(root, runs["base"], 0), t)]
    assert cards == expected


def test_link_restores_the_playback_view(server, tiny_store, page):
    _, runs = tiny_store
    url = f"{server}/playback?run={runs['base']}&rep=1&t=2026-01-07T09:30&span=72&kind=deviation"
    open_playback(page, url)
    assert "2026-01-07 09:30" in page.locator(f"#{ids.PB_CLOCK}").inner_text()
    assert page.locator(f"#{ids.PB_REP}").inner_text().strip() == "1"
    assert "3 days" in page.locator(f"#{ids.PB_SPAN}").inner_text()
    assert "deviation" in page.locator(f"#{ids.PB_KIND}").inner_text()
    # moving the cursor rewrites the URL (no reload), and that link opens the same view
    box = page.locator(f"#{ids.PB_TIME}")
    box.fill("2026-01-09 15:00")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('t=2026-01-09T15%3A00')")
    link = page.url
    fresh = page.context.new_page()
    open_playback(fresh, link)
    assert "2026-01-09 15:00" in fresh.locator(f"#{ids.PB_CLOCK}").inner_text()
    fresh.close()


def test_unknown_run_in_the_url_says_so_and_stays_put(server, page):
    navigations = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    page.goto(f"{server}/playback?run=no-such-run")
    error = page.locator(f"#{ids.PB_ERROR}")
    error.get_by_text("no such run").wait_for()
    page.wait_for_timeout(2000)  # it used to reload itself twice a second
    assert len(navigations) == 1, navigations
    assert "store" in error.inner_text() and "/tmp" not in error.inner_text()


def test_no_share_button_or_logo_and_plotly_served_locally(server, tiny_store, page):
    _, runs = tiny_store
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    open_playback(page, f"{server}/playback?run={runs['base']}")
    page.locator(f"#{ids.PB_GANTT} .js-plotly-plot").hover()
    page.locator(f"#{ids.PB_GANTT} .modebar").first.wait_for(state="attached")
    titles = page.locator(".modebar-btn").evaluate_all(
        "els => els.map(e => e.getAttribute('data-title') || '')"
    )
    assert titles and not any("Cloud" in t or "Chart Studio" in t for t in titles), titles
    assert (
        page.locator(".modebar-btn--logo, a[href*='plot.ly'], a[href*='plotly.com']").count() == 0
    )
    assert scripts and all(u.startswith(server) for u in scripts), scripts


def test_pages_draw_with_the_vendored_plotly_bundle_only(server, tiny_store, page):
    """Every page's figures are drawn by the vendored cartesian plotly.js (dcc.Graph takes the
    window.Plotly it defines): the full bundle Dash ships is never asked for, nothing comes from
    elsewhere (a CDN), the bundle is cached for a year, and every figure's trace types are
    ones the bundle draws (playback: plant, Gantt, curves; compare: box plots, utilisation
    bars, Gantts), without a console error."""
    _, runs = tiny_store
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors = watch_console(page)
    page.goto(server + "/")
    page.locator(f"#{ids.RUNS_TABLE}").get_by_text(runs["base"]).wait_for()
    open_playback(page, f"{server}/playback?run={runs['base']}")
    for graph in (ids.PB_GANTT, ids.PB_SERIES):
        page.locator(f"#{graph} .js-plotly-plot .main-svg").first.wait_for()
    assert_plotly_drew_all(page, errors)
    page.goto(f"{server}/compare?runs={runs['base']},{runs['presses']}")
    page.locator(f"#{ids.CMP_DIST} .js-plotly-plot .boxlayer path").first.wait_for()
    page.locator(f"#{ids.CMP_UTIL} .js-plotly-plot .barlayer path").first.wait_for()
    page.locator(f"#{ids.CMP_GANTT} .js-plotly-plot").nth(1).wait_for()
    assert_plotly_drew_all(page, errors)
    page.goto(server + "/what-if")
    page.locator(f"#{ids.WI_LAUNCH}").wait_for()
    assert not errors, errors
    assert requests and all(u.startswith(server + "/") for u in requests), requests
    plotly = [u for u in requests if "plotly" in u.lower()]
    assert plotly and all(f"/assets/vendor/{PLOTLY_BUNDLE.name}?m=" in u for u in plotly), plotly
    with urllib.request.urlopen(plotly[0], timeout=10) as resp:
        assert "max-age=31536000" in resp.headers["Cache-Control"]
        assert len(resp.read()) == PLOTLY_BUNDLE.stat().st_size


def test_compare_shows_two_runs_with_n_and_labels(server, tiny_store, page):
    _, runs = tiny_store
    page.goto(f"{server}/compare?runs={runs['base']},{runs['presses']},gone-run")
    table = page.locator(f"#{ids.CMP_TABLE}")
    table.get_by_text("otif_pct").first.wait_for()
    header = " ".join(table.locator("th").all_inner_texts())
    assert "tiny / base [" in header and "tiny / units.press_1.count=3 [" in header
    assert "(paired, 95% CI)" in header  # same seed: paired differences
    assert table.get_by_text("(n=2)").count() >= 1 and table.get_by_text("n=2 pairs").count() >= 1
    assert (
        "'gone-run' is not a run of this store" in page.locator(f"#{ids.CMP_MISSING}").inner_text()
    )
    assert (
        "replications all of them hold (0-1; n=2)" in page.locator(f"#{ids.CMP_NOTE}").inner_text()
    )
    page.locator(f"#{ids.CMP_GANTT} .js-plotly-plot").nth(1).wait_for()
    svg_text = "els => els.map(e => e.textContent)"
    titles = page.locator(f"#{ids.CMP_GANTT} .gtitle").evaluate_all(svg_text)
    assert any("tiny / units.press_1.count=3" in t for t in titles), titles
    legend = page.locator(f"#{ids.CMP_DIST} .legendtext").evaluate_all(svg_text)
    assert any(t.startswith("tiny / base [") for t in legend), legend
    shot(page, "compare")


def test_compare_link_restores_runs_and_kpis(server, tiny_store, page):
    _, runs = tiny_store
    page.goto(f"{server}/compare?runs={runs['presses']},{runs['base']}&kpis=wip.mean,otif_pct")
    table = page.locator(f"#{ids.CMP_TABLE}")
    table.get_by_text("wip.mean").first.wait_for()
    kpis = table.locator("td[data-dash-column=kpi]").all_inner_texts()
    assert kpis == ["wip.mean", "otif_pct"]
    header = table.locator("th").all_inner_texts()
    assert "units.press_1.count=3" in header[1] and "(reference)" in header[1]


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
    row = table.locator("tr", has_text="MTBF x2")
    row.first.wait_for()
    # delete it again, confirming the dialog
    page.on("dialog", lambda d: d.accept())
    row.first.locator("input[type=checkbox]").check()
    page.locator(f"#{ids.RUNS_DELETE}").click()
    page.locator(f"#{ids.RUNS_MESSAGE}").get_by_text("deleted 1 run").wait_for()
    assert table.locator("tr", has_text="MTBF x2").count() == 0


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


def test_bad_upload_after_a_good_one_keeps_the_page(server, page, tmp_path):
    page.goto(server + "/what-if")
    page.locator(f"#{ids.WI_FORM}").get_by_text("units (count)").wait_for()
    good = tmp_path / "plant.yaml"
    good.write_text(TINY_TEXT)
    upload = page.locator(f"#{ids.WI_UPLOAD} input[type=file]")
    upload.set_input_files(str(good))
    base = page.locator(f"#{ids.WI_BASE}")
    base.get_by_text("uploaded: plant.yaml").wait_for()
    bad = tmp_path / "broken.yaml"
    bad.write_text(TINY_TEXT.replace("press_1: {class: press, count: 2}", "press_1: {class: x}"))
    upload.set_input_files(str(bad))
    error = page.locator(f"#{ids.WI_ERROR}")
    error.get_by_text("broken.yaml: units.press_1.class: bad value 'x'").wait_for()
    page.wait_for_timeout(500)  # the old bug emptied the dropdown just after
    assert "uploaded: plant.yaml" in base.inner_text()
    assert "no scenario files" not in error.inner_text()
    assert page.locator(f"#{ids.WI_FORM}").get_by_text("units (count)").count() == 1


def test_oversize_and_billion_laughs_uploads_are_refused_with_the_reason(server, page, tmp_path):
    from dashboard import whatif
    from tests.dashboard.test_figures import billion_laughs

    page.goto(server + "/what-if")
    page.locator(f"#{ids.WI_FORM}").get_by_text("units (count)").wait_for()
    big = tmp_path / "huge.yaml"
    big.write_text("#" * (whatif.MAX_UPLOAD_BYTES + 10))
    page.locator(f"#{ids.WI_UPLOAD} input[type=file]").set_input_files(str(big))
    error = page.locator(f"#{ids.WI_ERROR}")
    error.get_by_text("huge.yaml: file too large").wait_for()
    assert "at most 1,000,000 bytes" in error.inner_text()
    lol = tmp_path / "lol.yaml"
    lol.write_text(billion_laughs())
    page.locator(f"#{ids.WI_UPLOAD} input[type=file]").set_input_files(str(lol))
    error.get_by_text("lol.yaml").wait_for(timeout=5_000)  # refused at once, server alive
    assert "alias" in error.inner_text()


def _download(page, link) -> bytes:
    with page.expect_download(timeout=TIMEOUT) as info:
        link.click()
    return Path(info.value.path()).read_bytes()


def test_downloads_arrive_parse_and_match_the_tables(server, tiny_store, page):
    import csv
    import io

    import pyarrow.parquet as pq
    from openpyxl import load_workbook

    _, runs = tiny_store
    page.goto(server + "/")
    page.locator(f"#{ids.RUNS_TABLE}").get_by_text(runs["base"]).wait_for()
    raw = _download(page, page.locator(f"#{ids.RUNS_DOWNLOADS} a", has_text="CSV"))
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    shown = page.locator(f"#{ids.RUNS_TABLE} td[data-dash-column=id]").all_inner_texts()
    assert [r["id"] for r in rows] == shown

    page.goto(f"{server}/compare?runs={runs['base']},{runs['presses']}&kpis=otif_pct,wip.mean")
    page.locator(f"#{ids.CMP_TABLE}").get_by_text("wip.mean").first.wait_for()
    raw = _download(page, page.locator(f"#{ids.CMP_DOWNLOADS} a", has_text="Excel").first)
    ws = load_workbook(io.BytesIO(raw)).active
    head, *body = list(ws.values)
    assert {"kpi", "mean", "ci95_low", "ci95_high", "n", "method"} <= set(head)
    means = {(r[head.index("kpi")], r[head.index("run_id")]): r[head.index("mean")] for r in body}
    cell = page.locator(f"#{ids.CMP_TABLE} td[data-dash-column=run0]").first.inner_text()
    assert cell.startswith(f"{means[('otif_pct', runs['base'])]:.4g}")
    raw = _download(page, page.locator(f"#{ids.CMP_DOWNLOADS} a", has_text="Parquet").last)
    per_rep = pq.read_table(io.BytesIO(raw))
    assert per_rep.column("replication").to_pylist() == [0, 1, 0, 1]

    open_playback(page, f"{server}/playback?run={runs['base']}&t=2026-01-06T12:00")
    raw = _download(page, page.locator(f"#{ids.PB_DOWNLOADS} a[href*='events.csv']"))
    events = list(csv.DictReader(io.StringIO(raw.decode())))
    first = page.locator(f"#{ids.PB_EVENTS} tbody tr").first.locator("td").all_inner_texts()
    assert events[0]["time"][5:19].replace("T", " ") == first[0]
    assert events[0]["kind"] == first[1]
    raw = _download(page, page.locator(f"#{ids.PB_DOWNLOADS} a[href*='gantt.parquet']"))
    gantt = pq.read_table(io.BytesIO(raw))
    assert gantt.num_rows > 0 and {"order", "batch", "step", "duration_h"} <= set(
        gantt.column_names
    )


def test_report_opens_offline_with_its_figures(server, tiny_store, browser, tmp_path):
    _, runs = tiny_store
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{server}/compare?runs={runs['base']},{runs['presses']}")
    page.locator(f"#{ids.CMP_TABLE}").get_by_text("otif_pct").first.wait_for()
    raw = _download(page, page.locator(f"#{ids.CMP_REPORT}"))
    path = tmp_path / "report.html"
    path.write_bytes(raw)
    context.set_offline(True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.locator(".js-plotly-plot").nth(3).wait_for()
    assert page.locator(".js-plotly-plot").count() >= 4  # distributions, utilisation, Gantts
    text = page.inner_text("body")
    assert "Paired (common random numbers)" in text and "seed" in text and "pharmatwin" in text
    assert not errors, errors
    shot(page, "report")
    context.close()


def test_live_server_checks_the_host_header_and_uses_waitress(server):
    import urllib.error
    import urllib.request

    ok = urllib.request.urlopen(urllib.request.Request(server + "/"), timeout=10)
    assert ok.status == 200 and ok.headers["X-Frame-Options"] == "DENY"
    assert "Werkzeug" not in (ok.headers.get("Server") or "")  # not Flask's development server
    req = urllib.request.Request(server + "/", headers={"Host": "rebind.attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 421
