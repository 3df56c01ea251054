"""The planner's decoder is a replay of the twin: for random small plants and random segment
lists, every decoded operation starts and ends, on its unit, exactly when the deterministic
twin following the plan starts and ends it.

The plants draw on every rule the two share (``twin.rules``): minor/major/matrix/campaign
cleaning, dirty-hold and clean-hold limits, cleaners and operators on shift calendars, unit
calendars, setups, preventive maintenance every N hours or N batches with technicians, direct
transfers and hold times. Durations mix exact quarter hours (ties at the same instant) with
inexact decimals (float drift).
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.aps import to_plan
from optimizer.aps_data import ApsData
from optimizer.aps_schedule import decode, segments_of
from twin.deterministic import with_mean_durations
from twin.kpi import LogView
from twin.scenario import load, load_dict
from twin.simulate import simulate

from ..conftest import SCENARIOS

HOURS = st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.1, 1.5, 2.0, 2.5, 3.0, 3.3, 4.0, 6.0, 7.7, 12.0])
SHIFTS = {
    "days": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["06:00-22:00"]},
    "early": {"hours": ["06:00-14:00"]},
    "nights": {"days": ["mon", "tue", "wed", "thu"], "hours": ["22:00-06:00"]},
}


@st.composite
def plants(draw) -> dict[str, Any]:
    n_classes = draw(st.integers(1, 3))
    classes = [f"c{i}" for i in range(n_classes)]
    products = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    staff = {"op": {"count": draw(st.integers(1, 3))}}
    if draw(st.booleans()):
        staff["op"]["shift"] = draw(st.sampled_from(sorted(SHIFTS)))
    staff["cleaner"] = {
        "count": draw(st.integers(1, 2)),
        "shift": draw(st.sampled_from(["days", "early"])),
    }
    staff["tech"] = {"count": 1}
    ecs: dict[str, Any] = {}
    for c in classes:
        cleaning: dict[str, Any] = {"minor": draw(HOURS), "major": draw(HOURS)}
        if draw(st.booleans()):
            frm, *to = draw(st.permutations(products))
            if to:
                cleaning["matrix"] = {frm: {to[0]: draw(HOURS)}}
        if draw(st.booleans()):
            cleaning["campaign_batches"] = draw(st.integers(2, 4))
            cleaning["campaign"] = draw(HOURS)
        if draw(st.booleans()):
            cleaning["dirty_hold"] = draw(st.sampled_from([2.0, 5.0, 8.5, 24.0]))
        if draw(st.booleans()):
            cleaning["clean_hold"] = draw(st.sampled_from([3.0, 10.0, 30.0]))
        if draw(st.booleans()):
            cleaning["operators"] = {"qualification": "cleaner"}
        ec: dict[str, Any] = {"cleaning": cleaning}
        if draw(st.integers(0, 3)) == 0:
            ec["shift"] = draw(st.sampled_from(sorted(SHIFTS)))
        m = draw(st.integers(0, 3))
        if m == 1:
            ec["maintenance"] = {
                "every": draw(st.sampled_from([20.0, 31.5, 50.0])),
                "duration": draw(HOURS),
                "qualification": "tech",
            }
        elif m == 2:
            ec["maintenance"] = {
                "every_batches": draw(st.integers(2, 4)),
                "duration": draw(HOURS),
                "qualification": "tech",
            }
        ecs[c] = ec
    units = {f"u_{c}": {"class": c, "count": draw(st.integers(1, 2))} for c in classes}
    prods: dict[str, Any] = {}
    for p in products:
        n_steps = draw(st.integers(1, 3))
        seq = [draw(st.sampled_from(classes)) for _ in range(n_steps)]
        recipe = []
        for i, c in enumerate(seq):
            step: dict[str, Any] = {"name": f"s{i}", "equipment_class": c, "duration": draw(HOURS)}
            if draw(st.booleans()):
                step["setup"] = draw(HOURS)
            if draw(st.booleans()):
                step["operators"] = {"qualification": "op", "count": 1}
            last = i == n_steps - 1
            if not last and seq[i + 1] != c and draw(st.integers(0, 3)) == 0:
                step["transfer"] = "direct"
            elif not last and draw(st.integers(0, 3)) == 0:
                step["max_hold"] = draw(st.sampled_from([0.5, 2.0, 6.0]))
            recipe.append(step)
        prods[p] = {"batch_size": 100, "recipe": recipe}
    orders = []
    for k in range(draw(st.integers(1, 5))):
        orders.append(
            {
                "id": f"o{k}",
                "product": draw(st.sampled_from(products)),
                "quantity": 100 * draw(st.integers(1, 3)),
                "release": draw(st.sampled_from([0.0, 0.0, 5.0, 13.25, 40.0])),
                "due": 200.0,
            }
        )
    return {
        "name": "random_plant",
        "start": "2026-01-05T06:00:00",
        "simulation": {"horizon": "52w"},  # the run stops when the orders are done
        "dispatch": "fifo",
        "shifts": SHIFTS,
        "staff": staff,
        "equipment_classes": ecs,
        "units": units,
        "products": prods,
        "orders": orders,
    }


def _actual(run) -> dict[tuple[str, int, int], list]:
    """(order, batch index, step) -> [unit, processing start, end] from a run's log."""
    v = LogView(run.events)
    rel = v.kind("batch_release")
    index, count = {}, {}
    for b, o in zip(v.batch[rel].tolist(), v.strings("order", rel), strict=True):
        count[o] = count.get(o, 0) + 1
        index[b] = (o, count[o])
    out: dict[tuple[str, int, int], list] = {}
    st_, en = v.kind("step_start"), v.kind("step_end")
    for b, s, u, t in zip(
        v.batch[st_].tolist(),
        v.step[st_].tolist(),
        v.strings("unit", st_),
        v.t[st_].tolist(),
        strict=True,
    ):
        out[(*index[b], s)] = [u, t, None]
    for b, s, t in zip(v.batch[en].tolist(), v.step[en].tolist(), v.t[en].tolist(), strict=True):
        out[(*index[b], s)][2] = t
    return out


def assert_twin_replays_decoder(scenario, order_seed: int) -> int:
    det = with_mean_durations(scenario)
    data = ApsData.from_scenario(det)
    segs = segments_of(data)
    order = list(range(len(segs)))
    random.Random(order_seed).shuffle(order)
    sched = decode(data, segs, order)
    if not all(math.isfinite(s) for s in sched.start):
        return 0  # a list the decoder cannot place (e.g. a unit that never opens): nothing to run
    plan = to_plan(data, sched)
    run = simulate(det, seed=0, plan=plan)
    actual = _actual(run)
    for op in plan.operations:
        a = actual.get((op.order, op.batch, op.step))
        assert a is not None, f"{op} never started in the twin"
        assert a[0] == op.unit, f"{op} ran on {a[0]}"
        assert a[1] == pytest.approx(op.start, abs=1e-6), f"{op} started at {a[1]}"
        assert a[2] == pytest.approx(op.end, abs=1e-6), f"{op} ended at {a[2]}"
    return len(plan.operations)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(plant=plants(), order_seed=st.integers(0, 10_000))
def test_decoded_times_are_the_deterministic_twins_times(plant, order_seed):
    assert_twin_replays_decoder(load_dict(plant, "random plant"), order_seed)


@pytest.mark.slow
@pytest.mark.parametrize("order_seed", [0, 1, 2])
def test_reference_plant_four_weeks_replays_exactly(order_seed):
    """osd_plant without material flow (the planner plans without it): 455 operations of
    four weeks, random segment lists."""
    from optimizer.plan_commands import scenario_for_horizon
    from twin.deterministic import without_material_flow

    sc = without_material_flow(scenario_for_horizon(load(SCENARIOS / "osd_plant.yaml"), 672.0))
    assert assert_twin_replays_decoder(sc, order_seed) > 400
