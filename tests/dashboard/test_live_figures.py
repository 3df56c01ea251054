"""The Live page's figures as plain functions of a live session's status: every unit and AGV
drawn in its state's colour, prediction bars per order coloured by risk, divergences newest
first, rate and lag curves, and the page's header."""

from __future__ import annotations

import time

import pytest

from dashboard import live_figures as lf
from dashboard.figures import AGV_COLOURS, STATE_COLOURS
from twin.live.emulator import events_of
from twin.live.events import encode_event
from twin.live.lookahead import Lookahead
from twin.live.shadow import ShadowOptions, ShadowTwin
from twin.scenario import load
from twin.simulate import simulate


@pytest.fixture(scope="module")
def live():
    """A live twin that followed two weeks of osd_plant, forecast once, and saw one
    impossible event."""
    sc = load("scenarios/osd_plant.yaml")
    table = simulate(sc.model_copy(update={"simulation": sc.simulation.model_copy(
        update={"horizon": 336.0})}), seed=4).events  # fmt: skip
    look = Lookahead(sc, 96.0, 4, seed=1)
    twin = ShadowTwin(sc, lookahead=look, options=ShadowOptions(), say=lambda _m: None)
    for i, e in enumerate(events_of(table)):
        twin.submit(encode_event(e, f"p:{i}", sc.start, "p", i, time.time()))
    twin.submit(b'{"id": "bad", "kind": "state", "t": 337, "unit": "gran_1", "state": "melting"}')
    while twin.step(0) or twin.sequencer.held:
        pass
    twin.forecast_now()
    look.wait(60)
    look.close()
    twin.write_status(time.time())  # one point of history
    status = twin.status()
    status["history"] = list(twin.history)
    return sc, status


def test_plant_figure_draws_every_unit_and_agv_in_its_states_colour(live):
    sc, status = live
    fig = lf.plant_figure(sc, status)
    units, agvs = fig["data"][lf.LIVE_UNITS], fig["data"][lf.LIVE_AGVS]
    assert sorted(units["text"]) == sorted(n for n, _ in sc.unit_names())
    for name, colour, state in zip(units["text"], units["marker"]["color"], units["customdata"],
                                   strict=True):  # fmt: skip
        assert state == status["units"][name]["state"] and colour == STATE_COLOURS[state]
    assert len(agvs["x"]) == len(status["vehicles"]) > 0
    assert all(c == AGV_COLOURS[s] for c, s in zip(agvs["marker"]["color"], agvs["customdata"],
                                                   strict=True))  # fmt: skip
    held = [h for h in units["hovertext"] if "batch" in h]
    assert held or not any(u["batch"] for u in status["units"].values())
    assert status["plant_at"] in fig["layout"]["title"]["text"]
    assert fig["data"][0]["x"]  # the layout's paths


def test_forecast_figure_has_one_prediction_bar_per_order_coloured_by_risk(live):
    _, status = live
    fig = lf.forecast_figure(status)
    bars, medians, dues = fig["data"]
    orders = status["forecast"]["orders"][:12]
    assert len(bars["y"]) == len(orders) > 0
    assert bars["y"][-1].startswith(orders[0]["order"])  # most at risk on top
    for o, colour in zip(reversed(orders), bars["marker"]["color"], strict=True):
        p = o["p_on_time"]
        expected = (
            "#9aa3ad"
            if p is None
            else "#d62728"
            if p < 0.8
            else "#f2a900"
            if p < 0.95
            else "#2ca02c"
        )
        assert colour == expected
    assert all(w > 0 for w in bars["x"]) and len(dues["x"]) == len(orders)
    none = lf.forecast_figure({**status, "forecast": None})
    assert "none yet" in none["layout"]["title"]["text"] and none["data"][0]["y"] == []


def test_risk_colours_follow_the_thresholds():
    status = {"start": "2026-01-05T06:00:00", "forecast": {"at_h": 0, "horizon_h": 48,
              "replications": 3, "orders": [
                  {"order": "a", "p_on_time": 0.2, "due_h": 10, "p10_h": 5, "p50_h": 12, "p90_h": 20},
                  {"order": "b", "p_on_time": 0.9, "due_h": 30, "p10_h": 5, "p50_h": 12, "p90_h": 20},
                  {"order": "c", "p_on_time": 1.0, "due_h": 40, "p10_h": None, "p50_h": None,
                   "p90_h": None}]}}  # fmt: skip
    bars = lf.forecast_figure(status)["data"][0]
    assert bars["marker"]["color"] == ["#2ca02c", "#f2a900", "#d62728"]
    assert bars["y"] == ["c (100%)", "b (90%)", "a (20%)"]
    assert bars["base"][2] == "2026-01-05T11:00" and bars["x"][2] == pytest.approx(15 * 3_600_000)


def test_divergences_newest_first_and_the_header_says_it(live):
    _, status = live
    rows = lf.divergence_rows(status)
    assert rows[0]["reason"] == "invalid" and "melting" in rows[0]["message"]
    head = dict(lf.headline(status))
    assert head["divergences"] == "1" and head["events"] == f"{status['counts']['applied']:,}"
    assert head["sync"] == status["sync"]["status"]
    assert lf.sync_class({"sync": {"status": "in sync"}}) == "sync-ok"
    assert lf.sync_class({"sync": {"status": "out of sync"}}) == "sync-bad"


def test_rate_figure_plots_the_history(live):
    _, status = live
    fig = lf.rate_figure(status)
    rate, p50, p95 = fig["data"]
    assert len(rate["x"]) == len(status["history"]) >= 1
    assert p95["yaxis"] == "y2" and "lag" in fig["layout"]["title"]["text"]
