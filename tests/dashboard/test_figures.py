"""Dashboard data and figures as plain functions (no browser)."""

from __future__ import annotations

import base64
import inspect
import json

import numpy as np
import pytest

from dashboard import data, figures, whatif
from dashboard.app import DEFAULT_HOST, create_app, serve
from tests.dashboard.conftest import REPO, TINY
from twin.scenario import ScenarioError, load


@pytest.fixture(scope="module")
def pb(tiny_store):
    root, runs = tiny_store
    return data.playback(root, runs["base"], 0)


def test_playback_units_and_states(pb, tiny_store):
    assert pb.units == ["gran_1", "press_1", "press_1#2"]
    assert pb.unit_states(-1.0) == ["idle"] * 3
    t = pb.next_time("breakdown", 0.0)
    assert t is not None
    assert pb.unit_states(t + 1e-6)[0] == "down"
    assert pb.count_until("breakdown", t) == 1
    assert pb.next_time("breakdown", t, forward=False) is None
    root, runs = tiny_store
    assert data.playback(root, runs["base"], 0) is pb  # cached per run and file


def test_plant_figure_colours_units_by_state(pb):
    t = pb.next_time("breakdown", 0.0) + 1e-6
    fig = figures.plant_figure(pb, t)
    units = fig["data"][figures.PLANT_UNITS]
    assert units["text"] == pb.units
    assert units["marker"]["color"][0] == figures.STATE_COLOURS["down"]
    names = [tr.get("name") for tr in fig["data"]]
    assert "down" in names and "processing" in names  # legend entries
    json.dumps(fig)  # plain JSON: what plotly.js receives
    upd = figures.plant_update(pb, 0.0)
    assert len(upd["x"]) == len(upd["y"]) == len(upd["marker.color"]) == 3
    assert upd["marker.color"][0] != units["marker"]["color"]


def test_gantt_sends_only_the_window(pb):
    whole = figures.gantt_figure(pb, pb.t0, pb.t1)
    part = figures.gantt_figure(pb, 24.0, 48.0, t=30.0)

    def bars(fig):
        return sum(len(tr["x"]) for tr in fig["data"])

    assert 0 < bars(part) < bars(whole)
    names = {tr["name"] for tr in whole["data"]}
    assert {"tab_a", "tab_b", "cleaning"} <= names
    for tr in part["data"]:
        assert all(x >= 0 for x in tr["x"])  # clipped to the window
    assert part["layout"]["shapes"][0]["x0"] == figures.cursor_date(pb, 30.0)
    assert part["layout"]["xaxis"]["range"][0].startswith("2026-01-06T06:00")


def test_series_and_cards(pb):
    fig = figures.series_figure(pb, 10.0)
    wip = fig["data"][0]
    assert wip["type"] == "scatter" and len(wip["x"]) == len(wip["y"])  # few points: SVG
    assert max(wip["y"]) == pb.wip_v.max()
    early = dict(figures.kpi_cards(pb, 1.0))
    late = dict(figures.kpi_cards(pb, pb.t1))
    assert int(late["batches released"]) >= int(early["batches released"])
    assert int(late["breakdowns"]) == len(pb.marks["breakdown"])
    rows = pb.events_around(30.0, before=3, after=2)
    assert len(rows) == 5 and [r["now"] for r in rows] == [True] * 3 + [False] * 2


def test_unit_positions_from_layout_and_grid():
    osd = load(REPO / "scenarios" / "osd_plant.yaml")
    pos, rooms = data.unit_positions(osd)
    assert rooms["press_1"] == "compression_1"
    st = osd.layout.nodes["st_disp"]
    assert abs(pos["disp_1"][0] - st.x) < 10 and abs(pos["disp_2"][0] - st.x) < 10
    assert pos["disp_1"] != pos["disp_2"]
    tiny = load(TINY)
    pos, rooms = data.unit_positions(tiny)  # no layout: a column per class
    assert pos["press_1"][0] == pos["press_1#2"][0] != pos["gran_1"][0]


def test_runs_rows_and_compare(tiny_store):
    root, runs = tiny_store
    rows = data.runs_rows(root)
    ids = {r["id"] for r in rows}
    assert {runs["base"], runs["presses"]} <= ids
    row = next(r for r in rows if r["id"] == runs["base"])
    assert row["replications"] == "2/2" and row["otif_pct"] is not None
    samples = data.kpi_samples(root, [runs["base"], runs["presses"]])
    table = data.compare_rows(samples, {runs["base"]: 1, runs["presses"]: 1}, ["otif_pct"])
    assert table[0]["kpi"] == "otif_pct" and "(paired)" in table[0]["diff1"]
    table = data.compare_rows(samples, {runs["base"]: 1, runs["presses"]: 2}, ["otif_pct"])
    assert "(Welch)" in table[0]["diff1"]
    flat = data.flat_samples(samples)
    assert len(figures.distribution_figure(flat, ["otif_pct"], {}).data) == 2
    util = figures.utilisation_figure(flat, {})
    assert {tr.name for tr in util.data} >= {"processing", "idle"}


def test_whatif_overrides_scale_what_the_form_changes():
    osd = load(REPO / "scenarios" / "osd_plant.yaml")
    assert whatif.overrides(osd, units={"press_1": 1}, staff={"operator": 10}) == []
    sets = whatif.overrides(osd, units={"press_1": 2}, staff={"packer": 6}, fleet=8,
                            dispatch="fifo", mtbf_factor=2.0, volume_factor=2.0)  # fmt: skip
    assert "units.press_1.count=2" in sets and "staff.packer.count=6" in sets
    assert "fleet.size=8" in sets and "dispatch=fifo" in sets
    v = whatif.make_variant(str(REPO / "scenarios" / "osd_plant.yaml"), sets)
    sc = v.scenario
    old = osd.equipment_classes["tablet_press"].failures.mtbf
    new = sc.equipment_classes["tablet_press"].failures.mtbf
    assert new.mean == pytest.approx(2 * old.mean)
    old_ia = osd.order_generator.products["paracetamol_500"].interarrival.mean
    assert sc.order_generator.products["paracetamol_500"].interarrival.mean == pytest.approx(
        old_ia / 2
    )
    assert sc.units["press_1"].count == 2 and sc.fleet.size == 8


def _upload(text: str) -> str:
    return "data:application/x-yaml;base64," + base64.b64encode(text.encode()).decode()


def test_read_upload_is_safe_and_clear():
    good = TINY.read_text()
    assert whatif.read_upload(_upload(good), "tiny.yaml")["name"] == "tiny"
    with pytest.raises(ScenarioError, match=r"bad.yaml: units.press_1.class: bad value 'x'"):
        whatif.read_upload(_upload(good.replace("{class: press, count: 2}", "{class: x}")),
                           "bad.yaml")  # fmt: skip
    with pytest.raises(ScenarioError, match="expected valid YAML"):
        whatif.read_upload(_upload("a: !!python/object/apply:os.system ['true']\n"), "e.yaml")
    with pytest.raises(ScenarioError, match="file too large"):
        whatif.read_upload(_upload("#" * 2000), "big.yaml", limit=1000)
    with pytest.raises(ScenarioError, match="UTF-8"):
        whatif.read_upload("data:x;base64," + base64.b64encode(b"\xff\xfe").decode(), "b.yaml")


def test_app_factory_and_safe_defaults(tiny_store):
    root, _ = tiny_store
    app = create_app(root)
    client = app.server.test_client()
    for path in ("/", "/playback", "/compare", "/what-if"):
        assert client.get(path).status_code == 200
    other = create_app(root).server.test_client()  # a second app has its own callbacks
    other.get("/")
    deps = client.get("/_dash-dependencies").json
    assert len(other.get("/_dash-dependencies").json) == len(deps) > 10
    sig = inspect.signature(serve)
    assert sig.parameters["host"].default == DEFAULT_HOST == "127.0.0.1"
    assert "debug=True" not in inspect.getsource(serve)
    assert np.isfinite(app.server.config["MAX_CONTENT_LENGTH"])


def test_jobs_run_a_what_if_into_the_store(tmp_path):
    import time

    from dashboard.jobs import Jobs
    from twin.store import Store

    jobs = Jobs(str(tmp_path))
    variant = whatif.make_variant(str(TINY), ["units.press_1.count=1"])
    job = jobs.submit(variant, seed=3, replications=1)
    deadline = time.time() + 60
    while jobs.running() and time.time() < deadline:
        time.sleep(0.05)
    (state,) = [j for j in jobs.list() if j["id"] == job]
    assert state["state"] == "done", state
    assert state["done"] == state["total"] == 1
    info = Store(tmp_path).get(state["run_id"])
    assert info.meta["overrides"] == ["units.press_1.count=1"] and info.complete


@pytest.mark.solver
def test_jobs_follow_an_optimised_plan(tmp_path):
    import time

    from dashboard.jobs import Jobs
    from twin.store import Store

    jobs = Jobs(str(tmp_path))
    variant = whatif.make_variant(str(TINY), [])
    job = jobs.submit(variant, seed=1, replications=2, plan_seconds=2.0)
    deadline = time.time() + 120
    while jobs.running() and time.time() < deadline:
        time.sleep(0.05)
    (state,) = [j for j in jobs.list() if j["id"] == job]
    assert state["state"] == "done", state
    assert "optimised plan" in state["label"]
    kpis = Store(tmp_path).kpis(state["run_id"])
    assert len(kpis) == 2
    assert all(k["plan"]["operations_started"] == k["plan"]["operations_planned"] for k in kpis.values())
