"""Dashboard data and figures as plain functions (no browser)."""

from __future__ import annotations

import base64
import json
import math
import time

import numpy as np
import pytest

from dashboard import compare_figures, data, figures, timeline, whatif
from dashboard.plant_layout import spread
from dashboard.playback_data import parse_when
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
    # where the Gantt opens: the first step start
    assert pb.first_activity == pb.bar_start[pb.bar_batch >= 0].min() < pb.t1


def _direct_hours(pb, t):
    """Unit-hours per state up to t, summed unit by unit (the definition)."""
    acc: dict[str, float] = {}
    for times, codes in zip(pb.st_times, pb.st_codes, strict=True):
        k = int(np.searchsorted(times, t, side="right"))
        ends = np.append(times[1:k], t)
        for c, d in zip(codes[:k], ends - times[:k], strict=True):
            acc[pb.states[c]] = acc.get(pb.states[c], 0.0) + float(d)
    return acc


def test_accumulated_state_hours_match_the_per_unit_sums(pb):
    for t in (0.0, 7.3, pb.first_activity + 1.0, (pb.t0 + pb.t1) / 2, pb.t1):
        direct = _direct_hours(pb, t)
        acc = pb.state_hours_until(t)
        for s in ("processing", "down", "cleaning"):
            assert acc[s] == pytest.approx(direct.get(s, 0.0), abs=1e-6), (s, t)
        assert acc["all"] == pytest.approx(sum(direct.values()), abs=1e-6)


def test_plant_figure_colours_units_by_state_and_names_agvs(pb):
    t = pb.next_time("breakdown", 0.0) + 1e-6
    fig = figures.plant_figure(pb, t)
    units = fig["data"][figures.PLANT_UNITS]
    assert units["marker"]["color"][0] == figures.STATE_COLOURS["down"]
    labels = fig["data"][figures.PLANT_LABELS]
    assert labels["mode"] == "text" and set(pb.units) <= set(labels["text"])  # every unit named
    assert "annotations" not in fig["layout"]  # one text trace: plotly lays it out faster
    assert len(labels["textposition"]) == len(labels["text"]) == len(labels["textfont"]["color"])
    assert fig["layout"]["title"]["text"] and "metres" in fig["layout"]["title"]["text"]
    assert fig["layout"]["showlegend"] is False  # the page draws the legend in HTML
    names = [n for n, _, _ in figures.plant_legend(pb)]
    assert "down" in names and "processing" in names
    json.dumps(fig)  # plain JSON: what plotly.js receives
    # for the page: units, AGVs and batches hidden (its browser layer draws them), the rest
    # computed once per replication
    page = figures.plant_figure(pb, t, moving=False)
    moving = (figures.PLANT_UNITS, figures.PLANT_AGVS, figures.PLANT_BATCHES)
    assert [page["data"][i].get("visible", True) for i in moving] == [False] * 3
    assert page["data"][figures.PLANT_UNITS]["marker"]["color"][0] == figures.STATE_COLOURS["down"]
    assert page["layout"] is fig["layout"] and page["data"][0] is fig["data"][0]
    upd = figures.plant_update(pb, 0.0)
    assert len(upd["x"]) == len(upd["y"]) == len(upd["marker.color"]) == 3
    assert upd["marker.color"][0] != units["marker"]["color"]


def test_plant_labels_never_overlap_and_agvs_spread():
    """Units, rooms and docks of both reference layouts are named without two names overlapping
    (layout B had "dock_inrm_store" and a clipped "ckaging_2")."""
    from types import SimpleNamespace

    from dashboard.plant_layout import CHAR_PX, LINE_PX, label_box, unit_positions

    for name in ("osd_plant.yaml", "osd_plant_layout_b.yaml"):
        sc = load(REPO / "scenarios" / name)
        pos, rooms = unit_positions(sc)
        nodes = {n: (nd.x, nd.y, nd.kind) for n, nd in sc.layout.nodes.items()}
        fake = SimpleNamespace(
            units=list(pos), unit_xy=np.array(list(pos.values())),
            unit_room=[rooms[u] for u in pos], nodes=nodes,
        )  # fmt: skip
        special = {n: p for n, p in nodes.items() if p[2] not in ("waypoint", "station")}
        wh_at = {nodes[w.gate][:2]: n for n, w in sc.warehouses.items() if w.gate in nodes}
        _, notes = figures._plant_labels(fake, special, wh_at)
        texts = [a["text"] for a in notes]
        assert "dock_in" in texts and "rm_store" in texts and set(rooms.values()) <= set(texts)
        scale = figures.plant_scale(fake)
        boxes = [
            label_box(a["x"], a["y"], (len(a["text"]) * CHAR_PX + 4) * scale, LINE_PX * scale,
                      a["xanchor"], a["yanchor"])
            for a in notes
        ]  # fmt: skip
        for i in range(len(boxes)):
            for j in range(i):
                a, b = boxes[i], boxes[j]
                dx, dy = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
                assert dx <= 1e-9 or dy <= 1e-9, (name, texts[i], texts[j])
    parked = np.array([[10.0, 5.0]] * 3 + [[50.0, 5.0]])
    out = spread(parked, radius=4.0)
    assert len({tuple(p) for p in out}) == 4  # all four visible
    assert out[3].tolist() == [50.0, 5.0]  # a vehicle alone stays where it is
    assert np.allclose(out[:3, 0], 10.0) and np.ptp(out[:3, 1]) == pytest.approx(8.0)


def _lab(colour: str) -> tuple[float, float, float]:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in (r, g, b)]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883

    def f(v: float) -> float:
        return v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_product_colours_cannot_be_read_as_states():
    states = [*figures.STATE_COLOURS.values(), *figures._SHADE.values()]
    for p in figures.PRODUCT_PALETTE:
        nearest = min(math.dist(_lab(p), _lab(s)) for s in states)
        assert nearest >= 25, (p, nearest)  # CIE76 distance: clearly another colour


def test_gantt_sends_only_the_window_with_full_hover(pb):
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
    product = next(tr for tr in whole["data"] if tr["name"] == "tab_a")
    hover = product["customdata"][0]
    for word in ("order o", "batch", "step granulation" if "granulation" in hover else "step ",
                 "start 2026-", "end 2026-", "duration"):  # fmt: skip
        assert word in hover, hover
    assert product["marker"]["color"] in figures.PRODUCT_PALETTE
    cleaning = next(tr for tr in whole["data"] if tr["name"] == "cleaning")
    assert cleaning["marker"]["pattern"]["shape"] == "/"  # states are hatched
    assert whole["layout"]["yaxis"]["fixedrange"] and whole["layout"]["dragmode"] == "zoom"
    assert whole["layout"]["title"]["text"] and "date" in whole["layout"]["xaxis"]["title"]["text"]


def test_series_and_cards(pb):
    fig = figures.series_figure(pb, 10.0)
    wip = fig["data"][0]
    assert wip["type"] == "scatter" and len(wip["x"]) == len(wip["y"])  # few points: SVG
    assert wip["line"]["shape"] == "hv" and len(wip["x"]) == len(pb.wip_t) + 1  # the steps
    assert max(wip["y"]) == pb.wip_v.max()
    # times as milliseconds of the calendar: the same instants as the dates of the axis
    ms = np.datetime64(pb.start, "ms").astype(np.int64) + pb.wip_t[0] * 3_600_000
    assert wip["x"][0] == pytest.approx(float(ms))
    assert np.datetime64(int(wip["x"][-1]), "ms") == np.datetime64(
        fig["layout"]["xaxis"]["range"][1]
    )
    assert fig["layout"]["shapes"][0]["visible"]  # a cursor at 10 h
    page = figures.series_figure(pb)  # the page's: no plotly cursor (the browser draws it)
    assert not page["layout"]["shapes"][0]["visible"]
    assert figures.series_figure(pb) is page  # computed once per replication
    for axis in ("xaxis", "yaxis"):  # tick labels drawn without a per-label overflow check
        assert page["layout"][axis]["ticklabeloverflow"] == "allow"
    assert "batches" in fig["layout"]["yaxis"]["title"]["text"] and fig["layout"]["title"]["text"]
    early = dict(figures.kpi_cards(pb, 1.0))
    late = dict(figures.kpi_cards(pb, pb.t1))
    assert int(late["batches released"]) >= int(early["batches released"])
    assert int(late["breakdowns"]) == len(pb.marks["breakdown"])
    rows = pb.events_around(30.0, before=3, after=2)
    assert len(rows) == 5 and [r["now"] for r in rows] == [True] * 3 + [False] * 2


def test_figures_kept_per_replication_are_dropped_when_the_run_is_stored_again(
    tiny_store, tmp_path
):
    """What the page keeps per replication (``Playback.memo``) lives on the cached playback,
    which is read again when the replication's event file changes."""
    import os
    import shutil

    root, runs = tiny_store
    store = tmp_path / "store"
    shutil.copytree(root, store)
    pb = data.playback(store, runs["base"], 0)
    series, plant = figures.series_figure(pb), figures.plant_figure(pb, 1.0, moving=False)
    assert figures.series_figure(pb) is series
    assert data.playback(store, runs["base"], 0) is pb
    events = store / runs["base"] / "rep-0000" / "events.parquet"
    later = events.stat().st_mtime + 5
    os.utime(events, (later, later))  # the replication stored again
    again = data.playback(store, runs["base"], 0)
    assert again is not pb
    assert figures.series_figure(again) is not series and figures.series_figure(again) == series
    assert figures.plant_figure(again, 1.0, moving=False)["layout"] is not plant["layout"]


def test_timeline_round_trip(pb):
    raw = timeline.timeline_bytes(pb)
    header, arrays = timeline.decode(raw)
    assert header["units"] == pb.units and header["states"] == pb.states
    assert np.array_equal(arrays["st_t"], np.concatenate(pb.st_times))
    assert arrays["st_off"][-1] == sum(len(x) for x in pb.st_times)
    for name, (_, offset, _) in header["arrays"].items():
        assert offset % 8 == 0, name  # typed arrays need aligned offsets
    import gzip

    assert gzip.decompress(timeline.timeline_bytes(pb, compress=True)) == raw
    h = pb.state_hours_until(50.0)
    k = int(np.searchsorted(arrays["cum_t"], 50.0, side="right")) - 1
    js = arrays["cum_h_processing"][k] + arrays["cum_n_processing"][k] * (50.0 - arrays["cum_t"][k])
    assert js == pytest.approx(h["processing"], rel=1e-5)  # what the browser computes


def test_typed_times(pb):
    assert parse_when("2026-01-06 12:00", pb) == pytest.approx(30.0)
    assert parse_when("2026-01-06T12:00:00", pb) == pytest.approx(30.0)
    assert parse_when("30h", pb) == pytest.approx(30.0)
    assert parse_when("1999-01-01", pb) == pb.t0  # clamped to the run
    with pytest.raises(ValueError, match=r"time: bad value 'next tuesday': expected a date"):
        parse_when("next tuesday", pb)


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


def test_compare_figures_have_titles_and_units(tiny_store):
    from dashboard import comparison

    root, runs = tiny_store
    samples = comparison.kpi_samples(root, [runs["base"], runs["presses"]])
    flat = {rid: list(s.values()) for rid, s in samples.items()}
    dist = compare_figures.distribution_figure(flat, ["otif_pct", "lead_time_h.mean"], {})
    assert len(dist.data) == 4 and dist.layout.title.text
    assert [a.text for a in dist.layout.annotations] == ["otif_pct (%)", "lead_time_h.mean (h)"]
    util = compare_figures.utilisation_figure(flat, {})
    assert {tr.name for tr in util.data} >= {"processing", "idle"} and util.layout.title.text


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
    name = whatif.describe(sets, 2.0, 2.0)  # what the run is called: no JSON
    assert "{" not in name and "MTBF x2" in name and "order volume x2" in name
    assert "units.press_1.count=2" in name
    assert whatif.describe([]) == "base"


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


def billion_laughs() -> str:
    """A 351-byte YAML file whose aliases expand to 9^9 strings."""
    text, prev = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n', "a"
    for k in "bcdefghi":
        text += f"{k}: &{k} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = k
    return text + "name: *i\n"


def test_billion_laughs_upload_is_refused_quickly():
    t = time.perf_counter()
    with pytest.raises(ScenarioError, match=r"lol.yaml: .*alias"):
        whatif.read_upload(_upload(billion_laughs()), "lol.yaml")
    assert time.perf_counter() - t < 2.0


def test_jobs_run_a_what_if_into_the_store(tmp_path):
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
    from dashboard.jobs import Jobs
    from twin.store import Store

    jobs = Jobs(str(tmp_path))
    variant = whatif.make_variant(str(TINY), ["dispatch=fifo"], name="dispatch=fifo")
    job = jobs.submit(variant, seed=1, replications=2, plan_seconds=2.0)
    deadline = time.time() + 120
    while jobs.running() and time.time() < deadline:
        time.sleep(0.05)
    (state,) = [j for j in jobs.list() if j["id"] == job]
    assert state["state"] == "done", state
    assert state["label"] == "dispatch=fifo, optimised plan (2 s)"
    info = Store(tmp_path).get(state["run_id"])
    assert info.meta["variant"] == "dispatch=fifo, optimised plan (2 s)"  # the run says so too
    kpis = Store(tmp_path).kpis(state["run_id"])
    assert len(kpis) == 2
    assert all(
        k["plan"]["operations_started"] == k["plan"]["operations_planned"] for k in kpis.values()
    )
