"""Scoring forecasts against what the plant then did (``twin.forecast_accuracy``), the naive
baseline, and the completion times a forecast measures from a replication's log."""

from __future__ import annotations

import math
from collections import Counter

import pyarrow.compute as pc
import pytest

from tests.conftest import SCENARIOS
from twin.forecast import forecast, measure_completions
from twin.forecast_accuracy import Errors, Point, naive_forecast, outcomes, points_of, window_items
from twin.scenario import load
from twin.simulate import simulate
from twin.state import state_from_events

TINY = SCENARIOS / "tiny.yaml"


def test_errors_clip_at_the_window_and_score_interval_and_probability():
    pts = {
        "a": Point("a", due=10, point=8, p10=6, p90=12, p_on_time=0.9),  # done at 9: on time
        "b": Point("b", due=20, point=None, p10=30, p90=None, p_on_time=0.2),  # done at 22
        "c": Point("c", due=50, point=40, p10=35, p90=45, p_on_time=None),  # not done by 24
    }
    truth = {"a": 9.0, "b": 22.0}
    items = window_items(0.0, 24.0, truth, [pts])
    assert items == {"a", "b"}  # c is expected after the window and was not done in it
    e = Errors()
    e.add(pts, truth, 0.0, 24.0, items)
    # a: |8 - 9|; b: predicted after the window (24) against 22
    assert e.abs_err == [1.0, 2.0]
    # only a's interval ends within the window (b's and c's end after it), and 9 is in [6, 12]
    assert e.covered == [True]
    # due within the window: a (0.9 vs on time), b (0.2 vs late)
    assert e.brier == pytest.approx([0.01, 0.04])
    s = e.summary()
    assert s["mae_h"] == 1.5 and s["coverage"] == 1.0 and s["n_brier"] == 2
    assert Errors().summary()["mae_h"] is None


def test_coverage_is_scored_on_the_items_the_forecast_puts_in_the_window():
    """Chosen by the forecast, not by the outcome: an early outcome of an item expected later
    does not count, an item expected within the window and not done by then is not covered."""
    pts = {
        "early": Point("early", due=99, point=30, p10=20, p90=40, p_on_time=None),  # done at 5
        "inside": Point("inside", due=99, point=10, p10=8, p90=12, p_on_time=None),  # done 11
        "missed": Point("missed", due=99, point=10, p10=8, p90=12, p_on_time=None),  # not done
        "low": Point("low", due=99, point=10, p10=8, p90=12, p_on_time=None),  # done at 3
    }
    truth = {"early": 5.0, "inside": 11.0, "low": 3.0}
    e = Errors()
    e.add(pts, truth, 0.0, 24.0, set())
    assert sorted(e.covered) == [False, False, True]  # inside yes; missed and low no


@pytest.fixture(scope="module")
def tiny_at_day_two():
    sc = load(TINY)
    run = simulate(sc, seed=5)
    history = run.events.filter(pc.less_equal(run.events.column("t"), 48.0))
    return sc, run, history, state_from_events(sc, history, at=48.0)


def test_outcomes_are_what_the_plant_did_after_the_state(tiny_at_day_two):
    sc, run, _, state = tiny_at_day_two
    done = outcomes(state, run.events)
    kind = run.events.column("kind").to_pylist()
    t = run.events.column("t").to_pylist()
    order = run.events.column("order").to_pylist()
    finished = {o: ti for k, ti, o in zip(kind, t, order, strict=True) if k == "order_complete"}
    assert done["orders"] == {o: ti for o, ti in finished.items() if ti > 48.0}
    assert all(ti > 48.0 for ti in done["batches"].values())


def test_a_forecast_scores_against_the_same_run(tiny_at_day_two):
    sc, run, history, state = tiny_at_day_two
    fc = forecast(sc, state, 120.0, 6, seed=2)
    pts = points_of(fc)
    assert set(pts["orders"]) == {p.id for p in fc.orders}
    naive = naive_forecast(history, state, min_n=1)
    assert set(naive["orders"]) == {o.id for o in state.orders.values() if o.completed is None}
    for p in naive["orders"].values():
        assert p.point is None or p.point >= state.time
        assert p.p_on_time is None or 0.0 <= p.p_on_time <= 1.0
    truth = outcomes(state, run.events)["orders"]
    e = Errors()
    e.add(
        pts["orders"],
        truth,
        state.time,
        120.0,
        window_items(state.time, 120.0, truth, [pts["orders"]]),
    )
    assert e.summary()["n_mae"] > 0 and math.isfinite(e.summary()["mae_h"])


def _slow_completions(made, keys, events):
    """measure_completions as it read every row (before it filtered by kind first)."""
    count, key_of, orders, batches = Counter(made), dict(keys), {}, {}
    cols = [events.column(c).to_pylist() for c in ("kind", "t", "order", "batch")]
    for k, ti, o, b in zip(*cols, strict=True):
        if k == "batch_release":
            count[o] += 1
            key_of[b] = f"{o}/{count[o]}"
        elif k == "qc_release" and b in key_of:
            batches[key_of[b]] = ti
        elif k == "order_complete":
            orders[o] = ti
    return {"orders": orders, "batches": batches}


def test_measured_completions_read_only_the_rows_that_matter(tiny_at_day_two):
    sc, run, _, state = tiny_at_day_two
    made = {o.id: o.made for o in state.orders.values()}
    keys = {b.id: b.key for b in state.batches.values()}
    got = measure_completions(made, keys, run.events)
    assert got == _slow_completions(made, keys, run.events) and got["batches"]
