"""A "real plant" slower than the model: the divergence indicator and the forecast error both
show it, and calibrating the model on the live log (``twin.fit``) closes the gap. A faithful
plant, for contrast, gives no divergence and a drift of one."""

from __future__ import annotations

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
FORECASTS_AT = (5 * 168.0, 5 * 168.0 + 48, 5 * 168.0 + 96)


def plant_log(scenario):
    sim = scenario.simulation.model_copy(update={"horizon": WEEKS * 168.0})
    return simulate(scenario.model_copy(update={"simulation": sim}), seed=5).events


def follow(model, table):
    """The live twin holding ``model`` following the plant's log, forecasting (7 days, 8
    replications) at a few instants; its status at the end."""
    look = Lookahead(model, 168.0, 8, seed=1)
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
    table, before = slow_status
    live_log = table.filter(pc.less_equal(table.column("t"), FIT_UNTIL))
    result = fit_log(BASE, live_log, bootstrap=0)
    fitted_steps = [q for q in result.fitted if q.kind == "step"]
    assert len(fitted_steps) >= 20
    variant = write_variant(result, tmp_path / "fitted.yaml")
    fitted = resolve(BASE, [variant]).scenario
    after = follow(fitted, table)
    assert 0.9 < after["sync"]["drift"] < 1.1
    too_long = after["divergences"]["by_reason"].get("step_too_long", 0)
    assert too_long <= 0.25 * before["divergences"]["by_reason"]["step_too_long"]
    assert abs(after["forecast_error"]["bias_h"]) < 0.6 * before["forecast_error"]["bias_h"]
