"""Parameter uncertainty in forecasts: an ensemble of fitted plants (``twin.fit_ensemble``)
and a forecast whose replications spread over it (``forecast(..., members=...)``)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SCENARIOS
from twin.fit import fit_log, write_variant
from twin.fit_ensemble import ensemble, member_theta
from twin.forecast import ForecastError, forecast
from twin.scenario import load
from twin.simulate import simulate
from twin.state import state_from_events
from twin.variants import resolve

TINY = SCENARIOS / "tiny.yaml"


def test_members_spread_around_the_estimate_and_past_a_small_samples_range():
    rng = np.random.default_rng(1)
    x = rng.uniform(10.0, 20.0, 12)
    est = (float(x.min()), float(x.max()))  # the uniform's ML ends: inside the true ones
    draws = np.array([member_theta("uniform", est, 12, rng) for _ in range(400)])
    assert np.all(draws[:, 0] < draws[:, 1])
    # basic bootstrap: the ends move outwards on average (a sample's range is too narrow)
    assert draws[:, 0].mean() < est[0] and draws[:, 1].mean() > est[1]
    # a scale parameter stays positive and centres on the estimate
    means = np.array([member_theta("exponential", (100.0,), 30, rng)[0] for _ in range(400)])
    assert np.all(means > 0) and 90 < np.median(means) < 110
    tri = member_theta("triangular", (2.0, 3.0, 5.0), 20, rng)
    assert 0 <= tri[0] <= tri[1] <= tri[2]


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    sc = load(TINY)
    run = simulate(sc, seed=6)
    res = fit_log(TINY, run.events, bootstrap=0, only=["steps", "qc"])
    folder = tmp_path_factory.mktemp("members")
    plants = [
        resolve(TINY, [write_variant(m, folder / f"m{k}.yaml")]).scenario
        for k, m in enumerate(ensemble(res, 4, seed=3))
    ]
    return sc, run, res, plants


def test_an_ensemble_of_fitted_plants(tiny_fit):
    _, _, res, plants = tiny_fit
    members = ensemble(res, 4, seed=3)
    assert members[0] is res and len(members) == 4
    written = [q.path for q in res.quantities if q.written is not None]
    assert written
    differ = [p for p in written if members[1].get(p).written != res.get(p).written]
    assert differ  # drawn values, not copies
    assert ensemble(res, 4, seed=3)[2].get(differ[0]).written == members[2].get(differ[0]).written
    assert {p.name for p in plants} == {"tiny"}
    with pytest.raises(ValueError, match="members: bad value 0"):
        ensemble(res, 0)


def test_a_forecast_over_members(tiny_fit):
    sc, run, _, plants = tiny_fit
    state = state_from_events(sc, run.events, at=48.0)
    fc = forecast(sc, state, 96.0, 8, seed=1, members=plants)
    assert fc.meta["members"] == 4 and fc.replications == 8 and fc.orders
    # one member is a forecast of that plant alone
    one = forecast(sc, state, 96.0, 8, seed=1, members=plants[:1])
    assert (
        one.to_dict()["orders"] == forecast(plants[0], state, 96.0, 8, seed=1).to_dict()["orders"]
    )
    other = sc.model_copy(update={"name": "other"})
    with pytest.raises(ForecastError, match="members: plant 'other'"):
        forecast(sc, state, 96.0, 4, members=[other])


def test_a_factor_moves_only_the_factor():
    from twin.fit_ensemble import member_factor

    rng = np.random.default_rng(2)
    draws = [member_factor("triangular", (90.0, 120.0, 210.0), 12, rng) for _ in range(200)]
    ratios = np.array([d[2] / 210.0 for d in draws])
    for d, r in zip(draws, ratios, strict=True):
        assert d == pytest.approx((90.0 * r, 120.0 * r, 210.0 * r))
    assert 0.97 < np.median(ratios) < 1.03 and ratios.std() > 0.01
