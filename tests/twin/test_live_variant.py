"""A "real plant" slower than the model: the divergence indicator and the forecast error both
show it, and calibrating the model on the live log (``twin.fit``) closes the gap. A faithful
plant, for contrast, gives no divergence and a drift of one."""

from __future__ import annotations

import dataclasses

import pyarrow.compute as pc
import pytest

from twin.fit import fit_log, write_variant
from twin.live.emulator import events_of
from twin.live.events import encode_event
from twin.live.lookahead import Lookahead
from twin.live.rig import slower_steps
from twin.live.shadow import ShadowTwin
from twin.scenario import load, load_dict
from twin.simulate import simulate
from twin.variants import deep_merge, resolve

BASE = "scenarios/osd_plant.yaml"
WEEKS = 7
FIT_UNTIL = 5 * 168.0  # the live log the model is fitted on
FORECASTS_AT = tuple(5 * 168.0 + 36 * k for k in range(5))


def plant_log(scenario):
    sim = scenario.simulation.model_copy(update={"horizon": WEEKS * 168.0})
    return simulate(scenario.model_copy(update={"simulation": sim}), seed=5).events


def follow(model, table):
    """The live twin holding ``model`` following the plant's log, forecasting (7 days, 10
    replications) at a few instants; its status at the end."""
    look = Lookahead(model, 168.0, 10, seed=1)
    twin = ShadowTwin(model, lookahead=look, say=lambda _m: None)
    marks = list(FORECASTS_AT)
    for i, e in enumerate(events_of(table)):
        if marks and e.t > marks[0]:
            marks.pop(0)
            while twin.step(0) or twin.sequencer.held:
                pass
            twin.forecast_now()
            look.wait(120)
        twin.submit(encode_event(e, f"p:{i}", model.start, "p", i))
    while twin.step(0) or twin.sequencer.held:
        pass
    look.close()
    return twin.status()


@pytest.fixture(scope="module")
def model():
    return load(BASE)


@pytest.fixture(scope="module")
def slow_plant(model):
    return load_dict(deep_merge(model.to_dict(), slower_steps(model, 1.3)), "slow plant")


@pytest.fixture(scope="module")
def slow_status(model, slow_plant):
    table = plant_log(slow_plant)
    return table, follow(model, table)


def test_a_faithful_plant_is_in_sync(model):
    s = follow(model, plant_log(model))
    assert s["divergences"]["total"] == 0
    assert s["sync"]["status"] == "in sync" and 0.9 < s["sync"]["drift"] < 1.1
    assert s["forecast_error"]["n"] >= 10


def test_a_slower_plant_shows_in_divergences_drift_and_forecast_error(slow_status):
    _, s = slow_status
    assert s["divergences"]["by_reason"].get("step_too_long", 0) >= 100
    assert 1.2 < s["sync"]["drift"] < 1.4
    assert s["sync"]["status"] != "in sync"
    fe = s["forecast_error"]
    assert fe["n"] >= 10 and fe["bias_h"] > 3.0  # the plant finishes later than forecast


def test_fitting_the_model_on_the_live_log_closes_the_gap(model, slow_status, tmp_path):
    """``twin fit`` on five weeks of the live log; the variant keeps the step durations (what
    the divergences pointed at: every other quantity is as the model has it, and refitting QC
    lead times or order arrivals from a handful of observations only adds noise)."""
    table, before = slow_status
    live_log = table.filter(pc.less_equal(table.column("t"), FIT_UNTIL))
    result = fit_log(BASE, live_log, bootstrap=0)
    steps = [q for q in result.fitted if q.kind == "step" and q.written is not None]
    assert len(steps) >= 20
    base = {
        q.path: model.products[q.segments[1]].recipe[q.segments[3]].duration.mean for q in steps
    }
    assert sum(q.mean > 1.15 * base[q.path] for q in steps) >= 0.8 * len(steps)  # it sees 1.3x
    only_steps = dataclasses.replace(result, quantities=tuple(
        q if q.kind == "step" else dataclasses.replace(q, written=None) for q in result.quantities
    ))  # fmt: skip
    fitted = resolve(BASE, [write_variant(only_steps, tmp_path / "fitted.yaml")]).scenario
    after = follow(fitted, table)
    assert 0.9 < after["sync"]["drift"] < 1.1 and after["sync"]["status"] == "in sync"
    too_long = after["divergences"]["by_reason"].get("step_too_long", 0)
    assert too_long <= 0.25 * before["divergences"]["by_reason"]["step_too_long"]
    assert abs(after["forecast_error"]["bias_h"]) < 0.5 * before["forecast_error"]["bias_h"]
