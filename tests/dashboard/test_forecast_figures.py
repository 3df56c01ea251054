"""The Forecast page's pure functions: a stored forecast as prediction bars (most at risk on
top, coloured by on-time probability), its KPIs with intervals, the store's listing."""

from __future__ import annotations

import pytest

from dashboard import forecast_figures as ff
from tests.dashboard.conftest import TINY
from twin.forecast import forecast, list_forecasts, load_forecast, save_forecast
from twin.scenario import load
from twin.simulate import simulate
from twin.state import state_from_events


def stored_forecast(root) -> str:
    """A 4-replication, 5-day forecast of tiny from its state after a day, in the store."""
    sc = load(TINY)
    sim = sc.simulation.model_copy(update={"horizon": 24.0})
    run = simulate(sc.model_copy(update={"simulation": sim}), seed=2)
    state = state_from_events(sc, run.events, at=24.0)
    return save_forecast(root, forecast(sc, state, 120.0, 4, seed=1), state)


def _order(oid, p, due, p10, p50, p90):
    return {"id": oid, "due": due, "p_on_time": p, "beyond_horizon": 0.0,
            "completion": {"mean": p50, "p10": p10, "p50": p50, "p90": p90}}  # fmt: skip


HAND = {
    "id": "f1", "scenario": "tiny", "at": "2026-01-06T06:00", "horizon_h": 48.0,
    "replications": 10, "seed": 0,
    "orders": [
        _order("ok", 1.0, "2026-01-07T20:00", "2026-01-06T10:00", "2026-01-06T12:00",
               "2026-01-06T16:00"),
        _order("late", 0.1, "2026-01-06T12:00", "2026-01-06T11:00", "2026-01-06T20:00",
               "2026-01-07T02:00"),
        _order("open", None, "2026-01-10T06:00", "2026-01-07T06:00", None, None),
        _order("watch", 0.9, "2026-01-07T06:00", "2026-01-06T10:00", "2026-01-06T12:00",
               "2026-01-06T16:00"),
    ],
    "kpis": {"otif_pct": {"mean": 87.5, "low": 80.0, "high": 95.0, "n": 10, "level": 0.95},
             "wip.mean": {"mean": 3.2, "low": None, "high": None, "n": 1}},
}  # fmt: skip


def test_orders_most_at_risk_on_top_coloured_by_on_time_probability():
    fig = ff.orders_figure(HAND)
    bars, medians, dues = fig["data"]
    # drawn bottom to top: the most at risk (lowest probability) is last, undecided first
    assert bars["y"] == ["open (-)", "ok (100%)", "watch (90%)", "late (10%)"]
    assert bars["marker"]["color"] == ["#9aa3ad", "#2ca02c", "#f2a900", "#d62728"]
    late = bars["y"].index("late (10%)")
    assert bars["base"][late] == "2026-01-06T11:00"
    assert bars["x"][late] == pytest.approx(15 * 3_600_000)  # p10 11:00 to p90 02:00
    assert medians["x"][late] == "2026-01-06T20:00" and dues["x"][late] == "2026-01-06T12:00"
    # a p90 past the horizon is drawn to its end (48 h after the start)
    assert bars["x"][0] == pytest.approx(24 * 3_600_000) and medians["x"][0] is None
    assert "4 orders" in fig["layout"]["title"]["text"]
    assert ff.orders_figure(None)["data"][0]["y"] == []


def test_kpis_with_intervals_and_headline():
    rows = ff.kpi_rows(HAND)
    assert rows[0] == {"kpi": "OTIF %", "mean": "87.5", "ci": "[80, 95]", "level": "95%",
                       "n": "10"}  # fmt: skip
    assert rows[1]["ci"] == ""  # a single replication has no interval
    cards = dict(ff.headline(HAND))
    assert cards["at risk (< 80%)"] == "1" and cards["not decided yet"] == "1"
    assert cards["horizon"] == "2 d"


def test_a_forecast_from_the_store_is_drawn(tmp_path):
    fid = stored_forecast(tmp_path)
    (opt,) = ff.forecast_options(list_forecasts(tmp_path))
    assert opt["value"] == fid and "tiny" in opt["label"]
    fc = load_forecast(tmp_path, fid)
    fig = ff.orders_figure(fc)
    assert len(fig["data"][0]["y"]) == len(fc["orders"]) > 0
    rows = ff.order_rows(fc)
    ps = [2.0 if r["p_on_time"] is None else r["p_on_time"] for r in rows]
    assert ps == sorted(ps)
    assert {r["kpi"] for r in ff.kpi_rows(fc)} >= {"OTIF %", "WIP (mean)"}
